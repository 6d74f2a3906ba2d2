"""The TUI's snapshot entry point: deterministic apps for named frames (tests/test_tui_snapshots.py).

Everything on screen comes from seeded runs of the real actors (replay: a recorded run of the demo stack; live:
the demo stack stepped on a virtual clock; walkthroughs: the tours' library scenarios -- all on the real signer,
orchestrator and mock chain), a fixed terminal size, and no blinking cursor, so a frame changes only when the
TUI's output changes.
"""
from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

from tui.app import LpdevApp
from stack.demo import record_demo, record_demo_trace

SIZE = (120, 40)
_TRACE: Path | None = None


def trace_path() -> Path:
    """A recorded 60-payment run of the demo stack (seeded: identical bytes every run), written once per process."""
    global _TRACE
    if _TRACE is None or not _TRACE.exists():
        d = Path(tempfile.mkdtemp(prefix="lpdev-tui-snap-"))
        _TRACE = d / "snapshot-trace.jsonl"
        record_demo_trace(_TRACE, 60, mine_every=20)
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


_RUNNER_TRACE: Path | None = None
RUNNER_SCENARIO = "runner-expires-mid-session"


def runner_trace_path() -> Path:
    """A seeded run of scenarios/runner-expires-mid-session.yaml on the mock chain (a Live Runner, a paid session,
    the runner's expiry and re-registration; identical bytes every run), written once per process (in a thread:
    callers may already be inside an event loop)."""
    global _RUNNER_TRACE
    if _RUNNER_TRACE is None or not _RUNNER_TRACE.exists():
        import asyncio
        import threading

        from stack.scenario.library import find_scenario
        from stack.scenario.model import load_scenario
        from stack.scenario.runner import run_scenario

        path = Path(tempfile.mkdtemp(prefix="lpdev-tui-runner-")) / "runner-trace.jsonl"
        sc = load_scenario(find_scenario(RUNNER_SCENARIO))
        t = threading.Thread(target=lambda: asyncio.run(run_scenario(sc, trace=path)))
        t.start()
        t.join()
        _RUNNER_TRACE = path
    return _RUNNER_TRACE


def runner_app() -> LpdevApp:
    return LpdevApp.replay(runner_trace_path(), start="end")


def runner_seq(kind: str, nth: int = 0, **where) -> int:
    """The seq of the runner trace's ``nth`` event of ``kind`` (whose data has ``where``)."""
    from sim.events import read_trace

    _, evs = read_trace(runner_trace_path())
    return [e.seq for e in evs if e.kind == kind and all(e.data.get(k) == v for k, v in where.items())][nth]


# A cast document shaped like the one `lpdev up` writes to .lpdev/stack.json (stack/cast.py cast_document), with
# anvil's well-known throwaway dev accounts: what the live TUI's cast tab shows.
CAST = {
    "note": "PUBLIC throwaway dev keys from the anvil mnemonic: never send real funds to them",
    "backend": "anvil", "eth_url": "http://127.0.0.1:8545", "chain_id": 31337,
    "controller": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "contracts": {"Controller": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                  "TicketBroker": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                  "RoundsManager": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"},
    "accounts": [{"role": "sender", "address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                  "private_key": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"},
                 {"role": "orchestrator", "address": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
                  "private_key": "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"}],
    "signer_url": "https://127.0.0.1:7936", "signer_http_url": "http://127.0.0.1:7937",
    "signer_address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "signers": [{"name": "signer", "url": "https://127.0.0.1:7936", "http_url": "http://127.0.0.1:7937",
                 "address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "role": "sender"}],
    "orchestrators": [{"name": "orchestrator", "url": "https://127.0.0.1:8935",
                       "address": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "role": "orchestrator"}],
    "sender": {"address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "deposit": 100 * 10**18,
               "reserve": 100 * 10**18},
    "ticket": {"ev": 10**15, "max_face_value": 5 * 10**15, "win_prob": "1/5", "price_per_unit": 10**7,
               "pixels_per_unit": 1},
    "token": "eyJvcmNoZXN0cmF0b3JzIjpbImh0dHBzOi8vMTI3LjAuMC4xOjg5MzUiXSwic2lnbmVyIjoiaHR0cHM6Ly8xMjcuMC4wLjE6NzkzNiJ9",
    "sdk_commands": ["python examples/get_orchestrator_info.py 127.0.0.1:8935 --signer 127.0.0.1:7936"],
}


_FOUR: list | None = None


def _four_payments() -> list:
    """The demo stack's events for four payments, recorded once per process (in a thread: callers may already
    be inside an event loop)."""
    global _FOUR
    if _FOUR is None:
        import asyncio
        import threading

        events: list = []
        t = threading.Thread(target=lambda: asyncio.run(record_demo(4, mine_every=0, settle=False,
                                                                    on_event=events.append)))
        t.start()
        t.join()
        _FOUR = events
    return list(_FOUR)


def live_app() -> LpdevApp:
    """Live mode after four payments of the demo stack (its events, replayed onto a bus the app follows)."""
    from sim.events import EventBus

    bus = EventBus(None)
    bus.recent.extend(_four_payments())
    return LpdevApp(mode="live", bus=bus, control=SnapshotControl(), source_name="demo stack", cast=CAST)


def walkthrough_app(name: str = "happy-path") -> LpdevApp:
    return LpdevApp.scenario(name, walkthrough=True)


async def wait_for_gate(pilot, previous: int | None = -1, limit_s: float = 60.0) -> None:
    """Until the scenario runner waits at its step gate past step ``previous`` (or the run is over)."""
    app = pilot.app
    for _ in range(int(limit_s / 0.02)):
        waiting = getattr(app.stepper, "waiting", None)
        if app.summary is not None or app.conn_state.startswith("scenario error"):
            break
        if waiting and (previous is None or waiting[0] > previous):
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError(f"the scenario did not reach its gate: {app.conn_state!r}")
    app.drain()
    await pilot.pause()


async def walk(pilot, steps: int) -> None:
    """Start a tour and run ``steps`` of its steps with the n key, each to its end (the gate or the finish)."""
    await wait_for_gate(pilot)
    for _ in range(steps):
        waiting = pilot.app.stepper.waiting
        await pilot.press("n")
        await wait_for_gate(pilot, waiting[0] if waiting else None)


def walked(steps: int, *keys: str):
    """A ``run_before`` for a tour frame: ``steps`` steps, then ``keys``."""
    async def run(pilot) -> None:
        await walk(pilot, steps)
        pilot.app.clear_notifications()  # toasts leave on a wall-clock timer: not in a frame
        if keys:
            await pilot.press(*keys)
        # Events arrived over several ticks: whatever the batching was, scroll the timeline home and back to its
        # tail, so its scrollbar (which can miss a scroll made before it was shown) is drawn from scroll_y.
        pilot.app.w_timeline.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        pilot.app.w_timeline._cursor_to_end()
        pilot.app._refresh_views(force=True)
        await no_blink(pilot)
    return run


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
    return next(e.seq for e in evs if e.kind.startswith("signer.payment") and e.data.get("status") == 480)


def _jump_keys(seq: int) -> list[str]:
    return ["g", *str(seq), "enter", "_"]


# name -> (factory, keys, run_before or None: no_blink)
def payment_seq(nth: int = 10) -> int:
    """The seq of the trace's ``nth`` accepted signer payment (an ordinary one, mid-run)."""
    from sim.events import read_trace

    _, evs = read_trace(trace_path())
    return [e.seq for e in evs if e.kind == "signer.payment" and e.data.get("status") == 200][nth]


def pressed(*keys: str):
    """A ``run_before`` that presses ``keys`` and clears the toast they raise (toasts leave on a wall-clock timer)."""
    async def run(pilot) -> None:
        await pilot.press(*keys)
        await pilot.pause()
        pilot.app.clear_notifications()
        await no_blink(pilot)
    return run


SIZES = {"80x24": (80, 24), "120x40": (120, 40), "160x50": (160, 50)}

# name -> (factory, keys, run_before or None: no_blink, terminal size)
FRAMES = {
    "replay-end": (replay_app, ["_"], None, SIZE),
    "replay-step-3": (replay_app, ["home", "n", "n", "n"], None, SIZE),
    "replay-480-refresh": (replay_app, _jump_keys(first_480_seq() + 2), None, SIZE),
    "replay-tickets-winners": (replay_app, ["2", "w", "_"], None, SIZE),
    "replay-balances": (replay_app, ["3", "_"], None, SIZE),
    "live-mine-consequence": (live_app, ["M", "_"], None, SIZE),
    "live-cast": (live_app, ["_"], pressed("4"), SIZE),
    "live-exact-wei": (live_app, ["_"], pressed("x"), SIZE),
    # Tours run their scenario on the real stack: each frame waits for the runner's gate, then shoots.
    "walkthrough-intro": (walkthrough_app, ["_"], walked(0), SIZE),
    "walkthrough-first-payment": (walkthrough_app, ["_"], walked(2), SIZE),
    "walkthrough-480": (lambda: walkthrough_app("param-expiry"), ["_"], walked(4), SIZE),
    "walkthrough-winner": (lambda: walkthrough_app("winning-ticket"), ["_"], walked(2, "2", "w"), SIZE),
    "walkthrough-redeemed": (lambda: walkthrough_app("winning-ticket"), ["_"], walked(3, "2", "w"), SIZE),
}
# Live Runners: the runner lane around the runner's expiry (its session released, the client's call refused), and
# the inspector on that refusal: the session's reservation, payments, debits, proxied traffic and why it ended.
FRAMES["runner-120x40"] = (runner_app, _jump_keys(runner_seq("runner.rejected", status=401) + 2), None, SIZE)
FRAMES["runner-session-120x40"] = (runner_app, _jump_keys(runner_seq("runner.rejected", status=404)), None, SIZE)
# The three main views at the three common terminal sizes (issue 16: readable at 80, 120 and 160 columns).
for _name, _size in SIZES.items():
    FRAMES[f"live-{_name}"] = (live_app, ["_"], None, _size)
    FRAMES[f"walkthrough-{_name}"] = (walkthrough_app, ["_"], walked(2), _size)
    FRAMES[f"inspector-{_name}"] = (replay_app, _jump_keys(payment_seq()), None, _size)
