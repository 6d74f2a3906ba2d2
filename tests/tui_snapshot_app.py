"""The TUI's snapshot entry point: deterministic apps for named frames (tests/test_tui_snapshots.py).

Everything on screen comes from seeded data (the demo stack on the real PM core, a virtual clock), a fixed
terminal size, and no blinking cursor, so a frame changes only when the TUI's output changes.
"""
from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

from tui.app import LpdevApp
from tui.synth import DemoBus, DemoConfig, DemoStack, synthetic_trace

SIZE = (120, 40)
_TRACE: Path | None = None


def trace_path() -> Path:
    """A 60-payment synthetic trace (seeded: identical bytes every run), written once per process."""
    global _TRACE
    if _TRACE is None or not _TRACE.exists():
        d = Path(tempfile.mkdtemp(prefix="lpdev-tui-snap-"))
        _TRACE = d / "snapshot-trace.jsonl"
        synthetic_trace(_TRACE, 60, mine_every=20)
    return _TRACE


class SnapshotControl:
    """A StackControl with fixed facts, so the consequence text is stable."""

    def facts(self) -> dict:
        return {"last_block": 100, "expiration_block": 140, "current_round": 12, "round_length": 50,
                "price": Fraction(1200, 7), "initial_price": Fraction(1200, 7), "max_price": None,
                "pending_winners": 1}

    def mine_blocks(self, n):  # pragma: no cover - frames only show the confirmation
        pass

    advance_round = expire_auth_token = restart_orchestrator = mine_blocks

    def raise_price(self, factor):  # pragma: no cover
        pass


def replay_app() -> LpdevApp:
    return LpdevApp.replay(trace_path(), start="end")


def live_app() -> LpdevApp:
    bus = DemoBus(None)
    stack = DemoStack(DemoConfig(), bus=bus)
    stack.start()
    for _ in range(4):
        stack.pay()
    return LpdevApp(mode="live", bus=bus, control=SnapshotControl(), source_name="demo stack")


def walkthrough_app(name: str = "happy-path") -> LpdevApp:
    return LpdevApp.scenario(name, walkthrough=True)


async def no_blink(pilot) -> None:
    """Cursor blink off everywhere (inputs appear in dialogs)."""
    from textual.widgets import Input

    for screen in pilot.app.screen_stack:
        for w in screen.query(Input):
            w.cursor_blink = False
    await pilot.pause()


def first_480_seq() -> int:
    from sim.events import read_trace

    _, evs = read_trace(trace_path())
    return next(e.seq for e in evs if e.kind == "signer.payment" and e.data.get("status") == 480)


def _jump_keys(seq: int) -> list[str]:
    return ["g", *str(seq), "enter", "_"]


# name -> (factory, keys)
FRAMES = {
    "replay-end": (replay_app, ["_"]),
    "replay-step-3": (replay_app, ["home", "n", "n", "n"]),
    "replay-480-refresh": (replay_app, _jump_keys(first_480_seq() + 2)),
    "replay-tickets-winners": (replay_app, ["2", "w", "_"]),
    "replay-balances": (replay_app, ["3", "_"]),
    "live-mine-consequence": (live_app, ["M", "_"]),
    "walkthrough-intro": (walkthrough_app, ["_"]),
    "walkthrough-first-payment": (walkthrough_app, ["n", "n", "_"]),
    "walkthrough-480": (lambda: walkthrough_app("param-expiry"), ["n", "n", "n", "_"]),
    "walkthrough-winner": (lambda: walkthrough_app("winning-ticket"), ["n", "n", "_"]),
}
