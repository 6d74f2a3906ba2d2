"""The scenario library: the YAML files in ``scenarios/`` at the top of the project, found by name."""
from __future__ import annotations

from pathlib import Path

__all__ = ["scenario_dir", "find_scenario", "list_scenarios", "UnknownScenario"]


class UnknownScenario(LookupError):
    """No scenario by that name or path; the message lists the known ones."""


def scenario_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "scenarios"


def list_scenarios() -> list[dict]:
    from stack.scenario.model import load_scenario
    from stack.yamlines import ScenarioError

    out = []
    for p in sorted(scenario_dir().glob("*.yaml")):
        try:
            sc = load_scenario(p)
            out.append({"name": sc.name, "file": p.name, "description": sc.description,
                        "chain": sc.stack.chain, "steps": len(sc.steps)})
        except ScenarioError as exc:
            out.append({"name": p.stem, "file": p.name, "description": "", "error": str(exc)})
    return out


def find_scenario(name: str) -> Path:
    """A library scenario by name (``refresh-params-expired``) or a path to a ``.yaml`` file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise UnknownScenario(f"scenario file {name} does not exist")
        if p.is_dir():
            raise UnknownScenario(f"{name} is a directory, not a scenario file")
        return p
    for cand in (scenario_dir() / f"{name}.yaml", scenario_dir() / f"{name}.yml"):
        if cand.exists():
            return cand
    known = ", ".join(s["name"] for s in list_scenarios())
    raise UnknownScenario(f"unknown scenario {name!r}; known: {known} (or give a .yaml file)")
