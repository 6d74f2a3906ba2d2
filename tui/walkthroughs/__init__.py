"""Walkthrough scripts: a scenario cut into steps, each with a plain-words explanation that quotes this
run's real numbers (computed by the PM core, never typed in).

A script is a list of :class:`Step`. ``run`` acts on the stack (pay, mine blocks, ...); ``explain`` reads the
events that step produced (``ctx``) and returns Markdown. The same scripts are the TUI's scenario mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

from sim.events import Event
from tui.synth import DemoConfig, DemoStack

__all__ = ["Step", "Script", "Ctx", "SCRIPTS", "get_script", "wei", "frac"]


@dataclass
class Ctx:
    stack: DemoStack
    events: list[Event]
    all_events: list[Event]

    def last(self, kind: str, **match: Any) -> dict:
        """Data of the last event of this step whose kind contains ``kind`` (and whose fields match)."""
        for e in reversed(self.events):
            if kind in e.kind and all(e.data.get(k) == v for k, v in match.items()):
                return e.data
        return {}

    def first(self, kind: str, **match: Any) -> dict:
        for e in self.events:
            if kind in e.kind and all(e.data.get(k) == v for k, v in match.items()):
                return e.data
        return {}

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if kind in e.kind)

    def ever(self, kind: str, **match: Any) -> dict:
        for e in reversed(self.all_events):
            if kind in e.kind and all(e.data.get(k) == v for k, v in match.items()):
                return e.data
        return {}


@dataclass
class Step:
    title: str
    run: Callable[[DemoStack], None] | None
    explain: Callable[[Ctx], str]


@dataclass
class Script:
    name: str
    title: str
    summary: str
    steps: list[Step]
    config: Callable[[], DemoConfig] = field(default=DemoConfig)


def frac(v: Any) -> Fraction:
    return Fraction(str(v)) if v is not None else Fraction(0)


def wei(v: Any) -> str:
    """Exact wei for prose: an int with separators, or ``≈x.xxx wei (exactly n/d)`` for a fraction."""
    if v is None:
        return "—"
    f = frac(v)
    if f.denominator == 1:
        return f"{f.numerator:,} wei"
    rat = f"{f.numerator}/{f.denominator}"
    if len(rat) > 40:
        rat = f"a {len(str(f.numerator))}-digit over {len(str(f.denominator))}-digit fraction"
    return f"≈{float(f):,.3f} wei (exactly {rat})"


def winprob(wp: Any) -> str:
    p = Fraction(int(wp), 2**256 - 1)
    return f"1 in {float(1 / p):,.1f}"


SCRIPTS: dict[str, Script] = {}


def register(script: Script) -> Script:
    SCRIPTS[script.name] = script
    return script


def get_script(name: str) -> Script:
    _load()
    if name not in SCRIPTS:
        raise KeyError(f"unknown walkthrough {name!r}; known: {', '.join(sorted(SCRIPTS))}")
    return SCRIPTS[name]


def _load() -> None:
    from tui.walkthroughs import happy_path, param_expiry, winning_ticket  # noqa: F401 - registers


def all_scripts() -> list[Script]:
    _load()
    return list(SCRIPTS.values())
