"""One stack: every door -- `lpdev up` (and --scenario), `lpdev scenario run`, the walkthrough tours, `lpdev tui`
(--demo, --scenario, --make-trace) and the benches -- builds the same class, stack.stack.Stack, from a spec and a
policy; no other module assembles actors into a stack; the floors import only downwards."""
from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import stack.stack as stack_mod
from lpdev.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def built(monkeypatch):
    """Every Stack built while the test runs: (policy name, chain backend)."""
    seen: list[tuple[str, str]] = []
    real_init = stack_mod.Stack.__init__

    def spy(self, spec, policy=stack_mod.SCENARIO, **kw):
        seen.append((policy.name, spec.chain))
        real_init(self, spec, policy, **kw)

    monkeypatch.setattr(stack_mod.Stack, "__init__", spy)
    return seen


def test_lpdev_up_builds_the_stack_with_the_live_policy(built, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["up", "--headless", "--any-port", "--chain", "mock", "--exit-after-ready"]) == 0
    assert main(["up", "--headless", "--any-port", "--chain", "mock", "--exit-after-ready",
                 "--scenario", "happy-path-fixed"]) == 0
    assert built == [("live", "mock"), ("live-scenario", "mock")]


def test_scenario_run_and_make_trace_build_the_stack_with_the_scenario_policy(built, tmp_path, capsys):
    assert main(["scenario", "run", "happy-path-fixed"]) == 0
    assert main(["tui", "--make-trace", str(tmp_path / "t.jsonl"), "--payments", "3"]) == 0
    assert built == [("scenario", "mock"), ("scenario", "mock")]


def test_benches_build_the_stack(built, capsys):
    assert main(["bench", "scenario", "--payments", "100"]) == 0
    assert main(["bench", "tui", "--payments", "3"]) == 0
    # bench scenario: the HTTP run and its in-process baseline; bench tui: the recorded demo run
    assert built == [("scenario", "mock"), ("scenario", "mock"), ("scenario", "mock")]


async def test_tui_doors_build_the_stack(built):
    """`lpdev walkthrough` (a tour), `lpdev tui --scenario` and `lpdev tui --demo`, driven headless."""
    from lpdev.commands.tui import run_demo
    from tui.app import LpdevApp

    for app in (LpdevApp.scenario("happy-path", walkthrough=True), LpdevApp.scenario("param-expiry")):
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(600):  # until the scenario runner waits at its first step
                if getattr(app.stepper, "waiting", None):
                    break
                await pilot.pause(0.05)
            assert app.stepper.waiting
    assert built == [("scenario", "mock"), ("scenario", "mock")]

    class Quits(LpdevApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.set_timer(0.3, self.exit)

    await asyncio.wait_for(run_demo(app_factory=Quits, headless=True), 60)
    assert built[-1] == ("demo", "mock")


ACTORS = {"SignerServer", "OrchestratorServer", "GatewaySession"}


def _constructs(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ACTORS:
                out.add(name)
    return out


def test_only_the_stack_module_assembles_actors():
    """A module that constructs two kinds of actor (signer, orchestrator, gateway) is assembling a stack: only
    stack/stack.py may. One actor against a chain (`lpdev signer`, a single-actor bench) is fine."""
    offenders = {}
    for sub in ("sim", "devnet", "stack", "tui", "lpdev", "bench"):
        for p in (ROOT / sub).rglob("*.py"):
            kinds = _constructs(p)
            if len(kinds) >= 2 and p != ROOT / "stack" / "stack.py":
                offenders[str(p.relative_to(ROOT))] = sorted(kinds)
    assert offenders == {}
    assert _constructs(ROOT / "stack" / "stack.py") == ACTORS


FLOORS = {  # package -> floor (README.md#where-each-protocol-concept-lives): imports go to the same floor or below
    "sim.pm": 0, "sim.wire": 0, "sim.events": 0, "sim.clock": 0,
    "devnet": 1, "sim": 1,
    "stack": 2,
    "tui": 3,
    "lpdev": 4, "bench": 4,
}


def _floor(module: str) -> int | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in FLOORS:
            return FLOORS[key]
    return None


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_imports_go_only_downwards():
    """sim/pm, sim/wire (pure) -> devnet and the actors (sim/*) -> stack (+ scenarios) -> tui -> lpdev, bench."""
    upward = []
    for sub in ("sim", "devnet", "stack", "tui", "lpdev", "bench"):
        for p in (ROOT / sub).rglob("*.py"):
            mod = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            here = _floor(mod)
            for imp in _imports(p):
                there = _floor(imp)
                if here is not None and there is not None and there > here:
                    upward.append(f"{mod} imports {imp}")
    assert upward == []


def test_no_import_cycle_between_modules():
    """Imports form no cycle, counting those inside functions too (the orchestrator's lv2v and live_runner
    modules used to import each other). ``from pkg import mod`` depends on the module, not on the package; a
    package's ``__init__`` loading its own submodules (a registry of plug-ins) is not counted as a dependency."""
    graph: dict[str, set[str]] = {}
    mods = {}
    for sub in ("sim", "devnet", "stack", "tui", "lpdev", "bench"):
        for p in (ROOT / sub).rglob("*.py"):
            mods[".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = p
    for mod, p in mods.items():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    deps.add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        is_pkg = p.name == "__init__.py"
        graph[mod] = {d for d in deps if d in mods and d != mod and not (is_pkg and d.startswith(mod + "."))}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> bool:
        state[m] = 1
        for d in graph.get(m, ()):
            if state.get(d) == 1:
                cycle.extend(path[path.index(d):] + [m, d] if d in path else [m, d])
                return True
            if state.get(d) is None and visit(d, path + [m]):
                return True
        state[m] = 2
        return False

    for m in sorted(graph):
        if state.get(m) is None and visit(m, []):
            break
    assert cycle == []
