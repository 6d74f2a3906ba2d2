"""Walkthrough tours: a library scenario run on the real stack, explained step by step with this run's numbers.

A tour (:class:`Script`) names a scenario (``scenarios/<name>.yaml``: real remote signer, orchestrator, scripted
gateway and chain; mock chain and a fixed seed by default, so a tour tells the same story every time) and gives
one :class:`Step` per scenario step. The scenario runner waits at its step gate before each step; when it stops
there, the TUI calls the previous step's ``explain`` with the events that step produced (:class:`Ctx`), and shows
the Markdown it returns. Nothing in an explanation is typed in: every number comes from an event of this run.

An explanation says what happened, never which key to press: the app adds that under each page, and it knows
whether the steps are being run one by one (n) or all at once (space). Amounts read as ETH / gwei (``wei``); where
the exact fraction is the point, ``exact_wei`` says it. Deeper explanations are in docs/ (``docs_link``).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from sim.events import Event
from sim.pm.money import float_string, format_wei, rat_string

__all__ = ["Step", "Script", "Ctx", "SCRIPTS", "get_script", "all_scripts", "script_for_scenario", "wei", "exact_wei",
           "frac", "winprob", "short", "checks", "cast", "nonces", "nonce_of", "plural", "register", "docs_link",
           "SCENARIO_DIR"]

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
MAX_WIN_PROB = 2**256 - 1  # win prob is a number out of this (docs/tickets.md#the-win-test)


@dataclass
class Ctx:
    """What one step did: its events (from its ``scenario.step`` marker to the next gate) and the run so far."""

    events: list[Event]
    all_events: list[Event]

    def of(self, kind: str, **match: Any) -> list[dict]:
        """Data of this step's events of exactly ``kind`` whose fields equal ``match``."""
        return [e.data for e in self.events if e.kind == kind and _matches(e.data, match)]

    def first(self, kind: str, **match: Any) -> dict:
        found = self.of(kind, **match)
        return found[0] if found else {}

    def last(self, kind: str, **match: Any) -> dict:
        found = self.of(kind, **match)
        return found[-1] if found else {}

    def count(self, kind: str, **match: Any) -> int:
        return len(self.of(kind, **match))

    def ever(self, kind: str, **match: Any) -> list[dict]:
        """Data of every event of ``kind`` in the run so far (this step included)."""
        return [e.data for e in self.all_events if e.kind == kind and _matches(e.data, match)]

    def before(self, kind: str, **match: Any) -> dict:
        """The last event of ``kind`` before this step (e.g. the params the gateway held when the step began)."""
        start = self.events[0].seq if self.events else None
        found = [e.data for e in self.all_events
                 if e.kind == kind and _matches(e.data, match) and (start is None or e.seq < start)]
        return found[-1] if found else {}


def _matches(data: dict, match: dict) -> bool:
    return all(data.get(k) == v for k, v in match.items())


@dataclass
class Step:
    """How to explain one scenario step; its title is the step's ``name:`` in the scenario file."""

    explain: Callable[[Ctx], str]


@dataclass
class Script:
    name: str
    title: str
    summary: str
    scenario: str  # a library scenario: scenarios/<scenario>.yaml
    steps: list[Step]
    intro: Callable[[Ctx], str] | None = None  # before step 1, from the stack's start-up events (default: cast)
    finale: Callable[[Ctx], str] | None = None  # after the last step (and the runner's settle)
    next_tour: str = ""

    @property
    def path(self) -> Path:
        return SCENARIO_DIR / f"{self.scenario}.yaml"

    def load_scenario(self):
        """The scenario, checked against this tour: one explanation per step."""
        from stack.scenario.model import load_scenario

        sc = load_scenario(self.path)
        if len(sc.steps) != len(self.steps):
            raise ValueError(f"tour {self.name!r} explains {len(self.steps)} steps but {self.path.name} has "
                             f"{len(sc.steps)}")
        return sc


def frac(v: Any) -> Fraction:
    return Fraction(str(v)) if v is not None else Fraction(0)


def wei(v: Any) -> str:
    """An amount for prose: ``0.1 ETH``, ``≈0.02844 ETH``, ``8 gwei`` (``≈`` when rounded; exact rounding, never a
    float)."""
    if v is None or v == "":
        return "—"
    return format_wei(frac(v))


def exact_wei(v: Any) -> str:
    """The exact amount in wei, for where exactness is the lesson: ``199065600000000000/7 wei``."""
    if v is None or v == "":
        return "—"
    return f"{rat_string(frac(v))} wei"


def docs_link(where: str) -> str:
    """A pointer to a section of lpdev's protocol guide, e.g. ``docs_link("docs/tickets.md#nonces")``, as code
    (tests/test_docs_references.py checks that the page and the heading exist)."""
    return f"`{where}`"


def winprob(wp: Any) -> str:
    """``1 in N`` for a winProb out of 2²⁵⁶−1 (docs/tickets.md#the-win-test), N to one decimal by exact rounding."""
    if not wp:
        return "never"
    whole, _, dec = float_string(Fraction(MAX_WIN_PROB, int(wp)), 1).partition(".")
    return f"1 in {int(whole):,}.{dec}"


def short(h: Any, n: int = 10) -> str:
    """A hash cut for prose: ``0x1234abcd…``."""
    s = str(h or "—")
    return s if len(s) <= n + 2 else s[: n + 2] + "…"


SCRIPTS: dict[str, Script] = {}


def register(script: Script) -> Script:
    SCRIPTS[script.name] = script
    return script


def get_script(name: str) -> Script:
    _load()
    if name not in SCRIPTS:
        raise KeyError(f"unknown walkthrough {name!r}; known: {', '.join(sorted(SCRIPTS))}")
    return SCRIPTS[name]


def script_for_scenario(scenario_name: str) -> Script | None:
    """The tour that explains this library scenario, if there is one."""
    _load()
    return next((s for s in SCRIPTS.values() if s.scenario == scenario_name), None)


def _load() -> None:
    from tui.walkthroughs import happy_path, param_expiry, winning_ticket  # noqa: F401 - registers


def all_scripts() -> list[Script]:
    _load()
    return list(SCRIPTS.values())


def plural(n: Any, word: str) -> str:
    """``1 ticket``, ``2 tickets``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def nonces(first: Any, last: Any) -> str:
    """``nonce **1**`` or ``nonces **1–29**``."""
    return f"nonce **{first}**" if first == last else f"nonces **{first}–{last}**"


def nonce_of(c: Ctx, ticket_hash: Any) -> Any:
    """A winning ticket's nonce, from the orchestrator's ``orch.winner_stored`` for that ticket hash."""
    stored = c.ever("orch.winner_stored", ticket_hash=ticket_hash)
    return stored[0].get("nonce") if stored else "—"


CHAINS = {
    "mock": "a mock chain with the TicketBroker's rules (deterministic: with the tour's seed, every run tells the "
            "same story)",
    "embedded": "py-evm running the real PM contracts",
    "anvil": "anvil running the real PM contracts",
}


def cast(c: Ctx) -> str:
    """Who is on stage, from the stack's start-up events."""
    chain = c.first("orch.chain")
    orch = c.first("orch.started")
    kind = c.first("stack.ready").get("chain")
    return (
        f"The stack is up, the chain at block **{chain.get('block', '—')}** (round {chain.get('round', '—')}): a "
        "remote signer that holds the sender's key (a throwaway dev key), an orchestrator "
        f"({short(orch.get('address'), 8)}) and a scripted gateway. They talk over real HTTP and gRPC on loopback; "
        f"the chain is {CHAINS.get(kind, kind or 'a local chain')}."
    )


def checks(c: Ctx) -> str:
    """The scenario's verdicts so far (expectations and invariants), one line each."""
    rows = c.ever("scenario.expectation")
    if not rows:
        return ""
    lines = [f"- {'✓' if d.get('passed') else '✗'} {d.get('name')}: {d.get('detail', '')}" for d in rows[:12]]
    return "Checks of this run:\n\n" + "\n".join(lines)

