"""The timeline's runner lane and the inspector's runner session (issue 13, item 7), read back from the screen.

The frames are a seeded run of scenarios/runner-expires-mid-session.yaml replayed (tests/tui_snapshot_app.py,
the same frames as the snapshots): at 80x24 (one text column, ``G S O R C`` arrows), 120x40 and 160x50 (five
lanes) the lane titles are whole, nothing essential is cut (tests/test_tui_readability.py's detector), every
runner row on screen says what happened (registered, heartbeat, expired, released, a proxied request with its
status and bytes), heartbeats in a row share one row per runner, and the inspector shows the session whole.
"""
from __future__ import annotations

import re

import pytest

from sim.events import Event
from tests.test_tui_readability import cut_problems, raw_wei, screen_text
from tests.tui_snapshot_app import SIZES
from tui.model import FlowModel, RUNNER_LANES, lane_of, summarize

LANE_HEADERS = ("gateway", "signer", "orchestrator", "runner", "chain")


def _row_line(lines: list[str], seq: int) -> str | None:
    return next((ln for ln in lines if re.match(rf"\s*{seq}\s", ln)), None)


@pytest.mark.parametrize("size", list(SIZES))
async def test_runner_lane_is_whole_at_every_size(size):
    lines, app = await screen_text("runner-120x40", SIZES[size])
    text = "\n".join(lines)
    assert cut_problems(lines) == [] and raw_wei(lines) == []
    tl = app.w_timeline
    assert tl.lanes == RUNNER_LANES
    if tl.layout_key[0] == "lanes":
        header = next(ln for ln in lines if ln.lstrip().startswith("seq"))
        assert re.search(r"gateway\s+signer\s+orchestrator\s+runner\s+chain", header), header
    else:  # compact: one arrow column names the five lanes
        assert "G S O R C" in text
        assert size == "80x24"
    shown = {r.seq: r for r in tl._rows.values() if _row_line(lines, r.seq) is not None}
    runner_rows = [r for r in shown.values() if r.lane == "runner"]
    # the runner's expiry (its session released with it), its 401 and its registration again; 80x24 shows the end
    want = {"runner.registered"} if size == "80x24" else {"runner.expired", "runner.session_released",
                                                         "runner.registered"}
    assert {r.kind for r in runner_rows} >= want
    for r in runner_rows:
        line = _row_line(lines, r.seq)
        word = {"runner.expired": "expired", "runner.session_released": "released", "runner.heartbeat": "heartbeat",
                "runner.registered": "registered", "runner.proxied": "POST", "stack.runner": r.ev.data.get("action"),
                "runner.session_reserved": "reserved"}.get(r.kind)
        assert word and re.search(rf"(^|\s){re.escape(word)}(\s|$)", line), (r.kind, line)
    refused = [r for r in shown.values() if r.kind == "runner.rejected"]
    assert refused and all(str(r.ev.data["status"]) in _row_line(lines, r.seq) for r in refused)
    # the selected row is the runner's registration: the inspector shows that event, not someone's last payment
    assert tl._rows[max(tl._rows)].kind == "runner.registered"
    assert "runner.registered by orch" in app.w_inspector.plain() and "call " not in app.w_inspector.plain()


@pytest.mark.parametrize("size", list(SIZES))
async def test_inspector_shows_the_runner_session(size):
    lines, app = await screen_text("runner-session-120x40", SIZES[size])
    assert cut_problems(lines) == [] and raw_wei(lines) == []
    row = app.w_timeline._rows[max(app.w_timeline._rows)]
    assert row.kind == "runner.rejected" and row.session is not None
    rs = row.session
    whole = app.w_inspector.plain(width=200)
    assert f"runner session  {rs.session_id}" in whole and "released" in whole
    assert "paid after a 402 challenge" in whole and "per second" in whole
    assert re.search(r"debits\s+5, ≈[\d,.]+ gwei in all", whole), whole
    assert "POST /hello → 200" in whole and "runner expired" in whole and "404: runner not found" in whole
    screen = "\n".join(lines)
    for must in (rs.session_id, "paid after a 402 challenge"):  # the top of the session table is on screen
        assert must in screen, must


def _ev(seq: int, kind: str, actor: str = "orch", **data) -> Event:
    return Event(seq, 1_780_000_000.0 + seq, actor, kind, data)


def test_heartbeats_collapse_per_runner_and_other_rows_end_the_run():
    m = FlowModel()
    for i in range(1, 7):
        m.apply(_ev(i, "runner.heartbeat", runner_id="runner_a" if i % 2 else "runner_b", capacity=4,
                    capacity_used=1))
    assert [(r.ev.data["runner_id"], r.ticks) for r in m.rows] == [("runner_a", 3), ("runner_b", 3)]
    assert "heartbeat runner_a (×3) 1/4 used" == m.rows[0].label(48)
    assert m.rows[0].label(16) == "heartbeat (×3)"  # narrow: the runner id goes first, the count stays whole
    m.apply(_ev(7, "runner.session_reserved", session_id="s1", paid=False, runner_id="runner_a"))
    m.apply(_ev(8, "runner.heartbeat", runner_id="runner_a", capacity=4, capacity_used=2))
    assert len(m.rows) == 4 and m.rows[-1].ticks == 1


def test_runner_events_have_their_lane_and_words():
    assert lane_of(_ev(1, "runner.proxied")) == "runner" and lane_of(_ev(1, "stack.runner", "stack")) == "runner"
    assert lane_of(_ev(1, "runner.challenge")) == "orch" and lane_of(_ev(1, "runner.rejected")) == "orch"
    assert lane_of(_ev(1, "gateway.runner_reserve", "app")) == "gateway"
    assert summarize(_ev(1, "runner.proxied", method="POST", path="/x", status=200, bytes_in=14, bytes_out=2048,
                         session_id="session_ab12cd34")) == "POST /x 200 14B→2.0kB ab12cd34"
    assert summarize(_ev(1, "runner.session_released", session_id="ab", reason="runner expired", debits=5),
                     width=24) == "released runner expired"
    m = FlowModel()
    for i, (kind, d) in enumerate([
            ("runner.challenge", {"manifest_id": "m1", "price": "3333", "unit": "seconds"}),
            ("orch.payment_received", {"manifest_id": "m1", "tickets": 2}),
            ("runner.session_reserved", {"session_id": "m1", "paid": True, "price": "3333", "unit": "seconds"}),
            ("orch.debit", {"manifest_id": "m1", "units": 5, "fee": "16665", "ok": True, "balance": "100"}),
            ("runner.proxied", {"session_id": "m1", "method": "GET", "path": "/a", "status": 200, "bytes_in": 0,
                                "bytes_out": 10}),
            ("runner.session_released", {"session_id": "m1", "reason": "stopped"})], 1):
        m.apply(_ev(i, kind, **d))
    rs = m.sessions["m1"]
    assert (rs.paid, rs.tickets, rs.debits, rs.debited, rs.requests, rs.bytes_out, rs.state) == \
        (True, 2, 1, 16665, 1, 10, "released")
    assert all(r.session is rs for r in m.rows)


async def test_a_runner_scenario_walkthrough_explains_the_runners_steps():
    """``lpdev walkthrough runner-expires-mid-session``: any library scenario runs in the TUI on the real stack, each
    step explained from its own events -- here the 402 and the paid reservation, the expiry, the 401."""
    from stack.scenario.library import find_scenario
    from stack.scenario.model import load_scenario
    from tests.tui_snapshot_app import wait_for_gate
    from tui.app import LpdevApp

    app = LpdevApp.yaml_scenario(load_scenario(find_scenario("runner-expires-mid-session")), walkthrough=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_gate(pilot)
        await pilot.press("space")
        await wait_for_gate(pilot, None)
        for _ in range(200):
            if app.summary is not None:
                break
            await pilot.pause(0.05)
        assert app.summary is not None and app.summary["passed"], app.conn_state
        app.drain()
        pages = "\n".join(md for _, md in app.lessons)
        for must in ("answered the reservation with **402**", "reserved (paid)", "**expired**, 1 session(s) released",
                     "released: its runner stopped heartbeating", "refused with **401** `invalid registration "
                     "authorization`", "went through the orchestrator's proxy"):
            assert must in pages, must
        assert app.w_timeline.lanes[3] == "runner"
