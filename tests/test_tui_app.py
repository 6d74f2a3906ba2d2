"""Pilot tests driving each TUI mode: replay with seek, live (the demo stack's real actors on the bus, step gate,
time travel through the stack and through a fake StackControl), attach to an events endpoint over HTTP, help,
screenshot. The scenario and walkthrough modes (the tours, on the real stack) are in tests/test_tui_walkthrough.py."""
from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from sim.events import read_trace
from tui.app import LpdevApp
from tui.control import GateAdapter, predict
from tui.feed import fetch_events, serve
from sim.events import EventBus
from stack.demo import demo_spec, demo_stack, record_demo_trace
from stack.policy import SCENARIO
from stack.stack import Stack
from tui.widgets.dialogs import ConfirmAction, HelpScreen
from tui.widgets.inspector import PaymentInspector
from tui.widgets.timeline import FlowTimeline

SIZE = (120, 40)


@pytest.fixture(scope="module")
def trace_small(tmp_path_factory):
    path = tmp_path_factory.mktemp("tui") / "t30.jsonl"
    record_demo_trace(path, 30, mine_every=10)
    return path


def _inspector_text(app) -> str:
    return app.query_one(PaymentInspector).plain()


async def test_replay_seek_home_end_next_prev_jump(trace_small):
    app = LpdevApp.replay(trace_small, start="home")
    _, evs = read_trace(trace_small)
    evs = list(evs)
    async with app.run_test(size=SIZE) as pilot:
        assert app.pos == 0
        await pilot.press("end")
        assert app.pos == len(evs)
        assert app.query_one(FlowTimeline).row_count == min(len(evs), app.window)
        await pilot.press("home", "n", "n")
        assert app.pos == 2
        await pilot.press("left")
        assert app.pos == 1
        # jump to a seq: the 20th event's seq
        await pilot.press("g")
        await pilot.pause()
        for ch in str(evs[19].seq):
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        assert app.pos == 20
        # jump to a time: every event up to t0 + 12 s (the dialog's "12s" path, without typing it)
        app.seek_to_time(12.0)
        assert app.pos == sum(1 for e in evs if e.t <= evs[0].t + 12)


async def test_replay_inspector_shows_the_selected_payment(trace_small):
    app = LpdevApp.replay(trace_small, start="home")
    _, evs = read_trace(trace_small)
    evs = list(evs)
    first_pay = next(i for i, e in enumerate(evs) if e.kind == "signer.payment")
    async with app.run_test(size=SIZE) as pilot:
        app.seek(first_pay + 1)
        await pilot.pause()
        text = _inspector_text(app)
        d = evs[first_pay].data
        assert f"nonces {d['nonce_first']}–{d['nonce_last']}" in text
        assert "preload" in text and "StateID" in text


async def test_live_in_process_bus_appends_rows_and_keeps_window():
    async with Stack(demo_spec(), SCENARIO) as st:
        app = LpdevApp(mode="live", bus=st.bus, window=50)
        async with app.run_test(size=SIZE) as pilot:
            g = st.gateways["gateway"]
            await g.start()
            for _ in range(20):
                await g.pay_once()
            await pilot.pause(0.3)
            tl = app.query_one(FlowTimeline)
            assert app.model.count == len(st.bus.recent)
            assert tl.row_count == 50  # window, not one row per event
            assert len(app.model.payments) == 20


async def _until(pilot, pred, limit_s: float = 20.0) -> None:
    for _ in range(int(limit_s / 0.05)):
        if pred():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def _paid(st) -> int:
    return sum(1 for e in st.bus.recent if e.kind == "gateway.payment" and e.data.get("status") == 200)


def _cycles(st) -> int:
    """Payment cycles the gateway loop finished, whatever their outcome (paid, or 482: the preload still covers
    the fee, so the signer makes no ticket)."""
    loop = st.loops.get("gateway")
    return sum(loop.outcomes.values()) if loop else 0


async def test_live_step_mode_gateway_waits_for_the_key():
    """lpdev tui --demo --step: the real gateway waits at the step gate; n lets one payment through."""
    async with demo_stack(paused=True, speed=100) as st:
        loops = asyncio.create_task(st.run())
        app = LpdevApp(mode="live", bus=st.bus, control=st, stepper=GateAdapter(st.gate, asyncio.get_running_loop()))
        try:
            async with app.run_test(size=SIZE) as pilot:
                await _until(pilot, lambda: st.gate.waiting is not None)
                await pilot.pause(0.3)
                assert _cycles(st) == 0 and _paid(st) == 0  # paused: the gateway waits
                await pilot.press("n")
                await _until(pilot, lambda: _cycles(st) == 1)
                await _until(pilot, lambda: st.gate.waiting is not None)
                await pilot.pause(0.2)
                assert _cycles(st) == 1 and _paid(st) == 1  # one key, one payment (the first one always pays)
                await pilot.press("space")  # run freely
                await _until(pilot, lambda: _cycles(st) >= 3)
        finally:
            st.request_stop()
            await loops


class FakeControl:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def facts(self) -> dict:
        return {"last_block": 130, "expiration_block": 160, "current_round": 5, "round_length": 50,
                "price": Fraction(3), "initial_price": Fraction(3), "max_price": None, "pending_winners": 2}

    def mine_blocks(self, n):
        self.calls.append(("mine_blocks", n))

    def advance_round(self):
        self.calls.append(("advance_round",))

    def expire_auth_token(self):
        self.calls.append(("expire_auth_token",))

    async def raise_price(self, factor):
        self.calls.append(("raise_price", factor))

    def restart_orchestrator(self):
        self.calls.append(("restart_orchestrator",))


async def test_time_travel_keys_show_the_consequence_then_call_the_control():
    # R and A go through the same path (their predictions are checked below, without the UI)
    ctl = FakeControl()
    app = LpdevApp(mode="live", bus=EventBus(None), control=ctl)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("M")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmAction)
        assert "480" in app.screen.consequence and "160" in app.screen.consequence
        assert ctl.calls == []  # nothing happens before confirming
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert ctl.calls == [("mine_blocks", 40)]
        await pilot.press("P")
        await pilot.pause()
        assert "481" in app.screen.consequence
        await pilot.press("escape")  # cancel: no call
        await app.workers.wait_for_complete()
        assert ctl.calls == [("mine_blocks", 40)]
        await pilot.press("P", "enter")
        await app.workers.wait_for_complete()
        assert ctl.calls[-1] == ("raise_price", Fraction(5, 2))
        for key, call in (("K", "restart_orchestrator"),):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, ConfirmAction)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            assert ctl.calls[-1] == (call,)


def test_predictions_follow_the_protocol_rules():
    assert "480" not in predict("mine_blocks", {"last_block": 100, "expiration_block": 160}, (40,))
    assert "480" in predict("mine_blocks", {"last_block": 100, "expiration_block": 141}, (40,))
    assert "480" in predict("expire_auth_token", {})
    # docs/remote-signer.md#price-ceilings: with state, the session's initial price is itself a ceiling, so any rise
    # above it is a 481
    rise = predict("raise_price", {"price": 3, "initial_price": 3, "max_price": None}, (Fraction(3, 2),))
    assert "481" in rise and "initial session price" in rise
    # no state yet: only the configured maximum applies
    ok = predict("raise_price", {"price": 3, "initial_price": None, "max_price": 10}, (Fraction(3, 2),))
    assert "481" not in ok
    assert "481" in predict("raise_price", {"price": 3, "initial_price": None, "max_price": 4}, (Fraction(3, 2),))


async def test_time_travel_on_the_demo_stack_really_gives_480():
    async with demo_stack(paused=True, speed=100) as st:
        loops = asyncio.create_task(st.run())
        app = LpdevApp(mode="live", bus=st.bus, control=st, stepper=GateAdapter(st.gate, asyncio.get_running_loop()))
        try:
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("n")  # a first payment: the gateway holds ticket params now
                await _until(pilot, lambda: _cycles(st) == 1 and st.gate.waiting is not None)
                await pilot.press("M")
                await pilot.pause()
                assert "480" in app.screen.consequence
                await pilot.press("enter")
                await app.workers.wait_for_complete()
                await _until(pilot, lambda: not isinstance(app.screen, ConfirmAction))
                await pilot.press("n")
                await _until(pilot, lambda: _cycles(st) == 2)
                await pilot.pause(0.2)
                assert app.model.status_counts.get(480, 0) >= 1  # the real signer answered 480, then refreshed
        finally:
            st.request_stop()
            await loops


@pytest.mark.slow
async def test_attach_to_an_events_endpoint_over_http():
    async with Stack(demo_spec(), SCENARIO) as st:
        g = st.gateways["gateway"]
        await g.start()
        await g.pay_once()
        bus = st.bus
        runner, url = await serve(bus)
        try:
            got = await fetch_events(url, since=2)
            assert [e.seq for e in got] == [e.seq for e in bus.recent if e.seq > 2]
            app = LpdevApp(mode="live", attach_url=url)
            async with app.run_test(size=SIZE) as pilot:
                await _until(pilot, lambda: app.model.count == len(bus.recent))
                await g.pay_once()  # new events stream in
                await _until(pilot, lambda: app.model.count == len(bus.recent))
                assert len(app.model.payments) == 2
                app.workers.cancel_all()
        finally:
            await runner.cleanup()


async def test_events_endpoint_rejects_bad_since():
    from aiohttp import ClientSession

    runner, url = await serve(EventBus(None))
    try:
        async with ClientSession() as s:
            async with s.get(url + "/events?since=abc") as r:
                assert r.status == 400 and "since" in await r.text()
            async with s.get(url + "/kinds") as r:
                assert r.status == 200 and "scenario.step" in await r.json()
    finally:
        await runner.cleanup()


async def test_help_and_screenshot(tmp_path, trace_small):
    app = LpdevApp.replay(trace_small, screenshot_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert "home" in keys and "M" not in keys  # replay: no time travel keys
        await pilot.press("escape")
        await pilot.press("s")
        await pilot.pause()
    svgs = list(tmp_path.glob("*.svg"))
    assert len(svgs) == 1 and svgs[0].read_text().lstrip().startswith("<svg")


async def test_command_palette_lists_lpdev_commands(trace_small):
    from lpdev.cli import command_list
    from tui.app import LpdevCommands

    commands = command_list()  # the CLI hands the TUI its command list (the TUI does not import lpdev)
    names = [n for n, _, _ in commands]
    assert "tui" in names and "walkthrough" in names
    app = LpdevApp.replay(trace_small, commands=commands)
    async with app.run_test(size=SIZE) as pilot:
        titles = [t for t, _, _ in LpdevCommands(app.screen)._commands()]
        assert "lpdev walkthrough" in titles and "Replay: jump to end" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"


async def test_live_app_serves_its_bus_as_an_events_endpoint():
    async with Stack(demo_spec(), SCENARIO) as st:
        await st.gateways["gateway"].start()
        app = LpdevApp(mode="live", bus=st.bus, serve_events="127.0.0.1:0")
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: bool(app.events_url))
            assert app.events_url in app.conn_state
            got = await fetch_events(app.events_url)
            assert [e.seq for e in got] == [e.seq for e in st.bus.recent]


# ---- a malformed trace: numeric fields as strings, None, huge numbers, nested values -----------------------------
HUGE = 10**99  # the largest a bounded trace line carries (100 digits)
ODD = ("abc", None, HUGE, {"n": 1}, [1, 2], "1e99999999", "²", -1, 1.5, "125/7", True)


def _malformed_trace(path) -> int:
    """Events of every kind the model reads numbers from, each numeric field in turn one of ODD's values."""
    from sim.events import Event, write_events

    kinds = [
        ("signer", "signer.payment", ("status", "fee", "num_tickets", "billable_secs", "units", "win_prob", "ev",
                                      "face_value", "nonce_first", "nonce_last", "nonces", "balance_after",
                                      "balance_before", "initial_price", "price", "ceiling_price", "call")),
        ("gateway", "gateway.signer_reply", ("status", "tickets", "call")),
        ("orch", "orch.payment_received", ("tickets", "balance", "manifest_id", "status")),
        ("orch", "orch.credit", ("balance", "manifest_id")),
        ("orch", "orch.debit", ("fee", "balance", "units", "manifest_id")),
        ("orch", "runner.challenge", ("price", "unit")),
        ("orch", "runner.session_reserved", ("balance",)),
        ("orch", "runner.proxied", ("bytes_in", "bytes_out", "status")),
        ("orch", "runner.expired", ("silent_s", "ttl_s", "sessions_released")),
        ("orch", "runner.heartbeat", ("capacity_used", "capacity")),
        ("orch", "runner.registered", ("capacity", "price_info")),
        ("orch", "orch.ticket.received", ("nonce", "face_value", "winning", "ticket_hash")),
        ("orch", "orch.winner_stored", ("nonce", "face_value", "ticket_hash")),
        ("chain", "chain.redeem", ("gas_used", "face_value", "amount_paid", "deposit", "reserve", "block",
                                   "tx_hash")),
        ("orch", "orch.redemption_mined", ("gas_used", "face_value", "fees", "round")),
        ("orch", "orch.sender_funds", ("deposit", "reserve")),
        ("orch", "orch.chain", ("block", "round", "expiration_block")),
        ("stack", "stack.chain", ("blocks", "to_block", "round")),
    ]
    events, seq = [], 0
    for i, odd in enumerate(ODD):
        for actor, kind, fields in kinds:
            seq += 1
            data = {f: odd for f in fields}
            data.setdefault("session_id", "session_s1")
            data.setdefault("manifest_id", "session_s1")
            if kind == "stack.chain":
                data["op"] = "mine"
            if kind == "orch.debit":
                data["ok"] = True
            events.append(Event(seq, float(i) + seq / 1000, actor, kind, data))
    write_events(path, events)
    return len(events)


async def test_replay_of_a_malformed_trace_renders(tmp_path):
    """The model is tolerant (a field it cannot read shows as —): a trace whose numeric fields are text, null,
    huge, negative, nested or unhashable replays to the end, every row selected, every tab drawn, and the tours'
    explanations of the same events are written, without an exception."""
    from sim.events import read_trace
    from tui.explain import explain_events
    from tui.model import FlowModel

    path = tmp_path / "malformed.jsonl"
    n = _malformed_trace(path)
    _, evs = read_trace(path)
    evs = list(evs)
    assert len(evs) == n
    m = FlowModel()
    m.apply_many(evs)
    assert [r.label(40) for r in m.rows]  # every row has a text
    assert explain_events(evs)
    app = LpdevApp.replay(path, start="home")
    async with app.run_test(size=SIZE) as pilot:
        for pos in range(1, n + 1):
            app.seek(pos)
            if pos % 7 == 0 or pos == n:
                await pilot.pause()
                assert _inspector_text(app) is not None
        for tab in ("2", "3", "4", "1"):
            await pilot.press(tab)
            await pilot.pause()
        await pilot.press("x")  # exact wei
        await pilot.pause()
        assert app.pos == n
