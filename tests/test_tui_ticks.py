"""Block ticks in the flow timeline: a run of ``orch.chain`` (and a ticker's one-block ``stack.chain`` mine) events
is one row showing the latest block and the count, whichever path built the timeline (replay seek forward and
back, the cached end model, live events one by one); the model still applies every event."""
from __future__ import annotations

from sim.events import Event
from tui.app import LpdevApp
from tui.model import FlowModel
from tui.widgets.inspector import PaymentInspector
from tui.widgets.timeline import FlowTimeline

SIZE = (140, 40)


def ev(seq, actor, kind, **data):
    return Event(seq, 1000.0 + seq / 2, actor, kind, data)


def pay(seq, call):
    return ev(seq, "signer", "signer.payment", call=call, status=200, fee=1000, num_tickets=1,
              nonce_start=seq, nonce_end=seq, balance_after=500)


def trace(ticks=50, *, tail=True):
    """payment, ``ticks`` blocks seen by the orchestrator (blocks 100…), then (``tail``) another payment."""
    evs = [pay(1, "c1")]
    evs += [ev(2 + i, "orch", "orch.chain", block=100 + i, round=7, gas_price=1) for i in range(ticks)]
    if tail:
        evs.append(pay(2 + ticks, "c2"))
    return evs


def table(app) -> list[tuple[str, str]]:
    """The timeline as the user sees it: (row key, the row's cells as text) in order."""
    tl = app.query_one(FlowTimeline)
    out = []
    for row in tl.ordered_rows:
        cells = tl.get_row(row.key)
        out.append((row.key.value, " ".join(str(c) for c in cells)))
    return out


def test_model_collapses_a_run_of_ticks_into_one_row_and_keeps_exact_facts():
    m = FlowModel()
    m.apply_many(trace(50))
    assert [r.kind for r in m.rows] == ["signer.payment", "orch.chain", "signer.payment"]
    tick = m.rows[1]
    assert tick.ticks == 50 and tick.seq == 2 and tick.last_seq == 51
    assert "block 149" in tick.text and "(×50)" in tick.text and len(tick.text) <= 24
    assert m.facts["block"] == 149 and m.facts["round"] == 7
    assert m.count == 52 and m.kind_counts["orch.chain"] == 50
    assert m.payment_for(m.rows[2]).key == "c2"


def test_other_rows_end_a_run_and_each_ticker_keeps_its_own_row():
    m = FlowModel()
    evs = [ev(1, "orch", "orch.chain", block=1), ev(2, "o2", "orch.chain", block=1),
           ev(3, "stack", "stack.chain", op="mine", blocks=1, to_block=2, round=1),
           ev(4, "orch", "orch.chain", block=2), ev(5, "o2", "orch.chain", block=2),
           ev(6, "stack", "stack.chain", op="mine", blocks=40, to_block=42, round=2),  # time travel: a row of its own
           ev(7, "orch", "orch.chain", block=42), ev(8, "orch", "orch.chain", block=43)]
    m.apply_many(evs)
    got = [(r.seq, r.ev.actor, r.ticks) for r in m.rows]
    assert got == [(1, "orch", 2), (2, "o2", 2), (3, "stack", 1), (6, "stack", 1), (7, "orch", 2)]
    assert m.rows[0].text.startswith("chain block 2 (×2)")
    assert m.rows[3].text == "mined 40 blocks to 42 round 2"  # the 40 blocks were not collapsed
    # the rows events after seq 5 touched: the time travel row and the new run, not the older run
    assert [r.seq for r in m.rows_after(5)] == [6, 7]
    assert [r.seq for r in m.rows_after(7)] == [7]


def test_stack_actor_shows_in_the_lane_of_the_actor_it_names():
    m = FlowModel()
    m.apply(ev(1, "o-east", "orch.params_issued", price=5))  # this actor's events put it in the orch lane
    a = m.apply(ev(2, "stack", "stack.actor", name="o-east", action="restart"))
    b = m.apply(ev(3, "stack", "stack.actor", name="orch", action="kill"))  # known by its name alone
    c = m.apply(ev(4, "stack", "stack.actor", name="mystery", action="kill"))
    assert (a.lane, b.lane, c.lane) == ("orch", "orch", "scenario")
    assert a.text == "restart o-east"


async def test_replay_seek_back_into_a_run_and_forward_gives_the_same_rows():
    evs = trace(50)
    app = LpdevApp(mode="replay", events=evs, start="home")
    async with app.run_test(size=SIZE) as pilot:
        app.seek(len(evs))  # a rebuild ("show") path
        await pilot.pause()
        end = table(app)
        assert len(end) == 3
        assert "block 149 (×50)" in end[1][1] and end[1][0] == "2"
        assert "block 149" in str(app.status_text())  # the exact last block
        app.seek(26)  # back into the middle of the run: blocks 100…124
        await pilot.pause()
        mid = table(app)
        assert len(mid) == 2 and "block 124 (×25)" in mid[1][1]
        for _ in range(len(evs) - 26):  # forward event by event: the append path updates the run's row
            await pilot.press("n")
        await pilot.pause()
        assert table(app) == end
        app.seek(10)
        app.seek(len(evs))  # one forward step of 42 events on the append path
        await pilot.pause()
        assert table(app) == end
        # row selection -> inspector: the collapsed row shows its latest tick, the next row its payment
        tl = app.query_one(FlowTimeline)
        tl.move_cursor(row=1, animate=False)
        await pilot.pause()
        assert app._selected == 2 and "149" in app.query_one(PaymentInspector).plain()
        tl.move_cursor(row=2, animate=False)
        await pilot.pause()
        assert app._selected == 52 and app.model.payment_for(app._rows_by_seq[52]).key == "c2"


async def test_replay_end_model_updates_the_run_row_it_ends_in():
    evs = trace(50, tail=False)  # the trace ends inside the run
    app = LpdevApp(mode="replay", events=evs, start="home")
    async with app.run_test(size=SIZE) as pilot:
        app.seek(len(evs))  # builds and caches the end model
        app.seek(len(evs) - 1)  # rebuild: ×49
        await pilot.pause()
        assert "block 148 (×49)" in table(app)[-1][1]
        app.seek(len(evs))  # the cached end model and a one-event append
        await pilot.pause()
        rows = table(app)
        assert len(rows) == 2 and "block 149 (×50)" in rows[-1][1]
        assert app._rows_by_seq[2].ticks == 50


async def test_live_events_one_by_one_give_the_same_rows_as_a_replay():
    evs = trace(50)
    replay = LpdevApp(mode="replay", events=evs, start="home")
    async with replay.run_test(size=SIZE) as pilot:
        replay.seek(len(evs))
        await pilot.pause()
        want = table(replay)
    assert len(want) == 3
    live = LpdevApp(mode="live")
    async with live.run_test(size=SIZE) as pilot:
        for e in evs:  # as a bus delivers them: one drain per event
            live.inbox.append(e)
            live.drain()
        await pilot.pause()
        assert table(live) == want
    burst = LpdevApp(mode="live")  # several ticks in one drain, a run split across drains
    async with burst.run_test(size=SIZE) as pilot:
        for chunk in (evs[:3], evs[3:30], evs[30:]):
            burst.inbox.extend(chunk)
            burst.drain()
        await pilot.pause()
        assert table(burst) == want
        assert burst.model.facts["block"] == 149
