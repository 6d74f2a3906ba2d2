"""The TUI's flow model: built from events alone, tolerant of unknown kinds and missing fields, bounded."""
from __future__ import annotations

import asyncio
from fractions import Fraction

from sim.events import Event, read_trace
from sim.pm.accounting import balance_update, billable_units
from tui.model import DASH, FlowModel, decode_state, fmt_num, lane_of, state_diff, status_of, summarize
from stack.demo import demo_spec, record_demo_trace
from stack.policy import SCENARIO
from stack.stack import Stack


def ev(seq, actor, kind, **data):
    return Event(seq, 1000.0 + seq, actor, kind, data)


def test_lanes_and_statuses_from_actor_or_kind():
    assert lane_of(ev(1, "gateway", "gateway.signer_reply")) == "gateway"
    assert lane_of(ev(1, "orchestrator", "orch.ticket")) == "orch"
    assert lane_of(ev(1, "o-2", "orch.credit")) == "orch"  # actor unknown: the kind's namespace decides
    assert lane_of(ev(1, "scenario", "scenario.step")) == "scenario"
    assert status_of(ev(1, "signer", "signer.payment", status=480)) == 480
    assert status_of(ev(1, "orch", "orch.redemption_failed", ok=False)) == "fail"
    assert status_of(ev(1, "x", "x.y")) is None


def test_unknown_kinds_and_missing_fields_still_show():
    m = FlowModel()
    r = m.apply(ev(1, "weird", "thing.happened"))
    assert r.lane == "scenario" and r.text.startswith("happened")
    r2 = m.apply(ev(2, "signer", "signer.payment", status=200))  # a payment with no numbers at all
    p = m.payment_for(r2)
    assert p is not None and p.get("fee") is None
    assert fmt_num(p.get("fee")) == DASH


def test_real_actor_event_shapes_build_payments_and_tickets():
    # Field names as the gateway (sim/gateway/session.py) and orchestrator (sim/orchestrator/node.py) emit them.
    m = FlowModel()
    m.apply(ev(1, "gateway", "gateway.signer_reply", signer="s0", status=200, tickets=2, nonces=[1, 2],
               recipient_rand_hash="0xab", face_value=1000, win_prob=7))
    m.apply(ev(2, "orch0", "orch.ticket", manifest_id="m1", nonce=1, won=False, credited=True, ev="7/2"))
    m.apply(ev(3, "orch0", "orch.ticket", manifest_id="m1", nonce=2, won=True, credited=True, ev="7/2"))
    m.apply(ev(4, "orch0", "orch.winner_stored", ticket_hash="0xfeed", nonce=2, face_value=1000))
    m.apply(ev(5, "orch0", "orch.credit", manifest_id="m1", amount=7, tickets=2, balance=7))
    m.apply(ev(6, "orch0", "orch.redemption_mined", ticket_hash="0xfeed", tx_hash="0xbeef", gas_used=90_000,
               face_value=1000))
    m.apply(ev(7, "gateway", "gateway.signer_reply", status=482, tickets=0, message="no tickets"))
    assert len(m.payments) == 2
    first = list(m.payments.values())[0]
    assert first.status == 200 and first.get("num_tickets") == 2 and first.orch.get("balance") == 7
    win = m.ticket_rows(winners_only=True)
    assert len(win) == 1
    w = win[0]
    assert (w.nonce, w.ticket_hash, w.stored, w.redeemed_tx, w.gas_used) == (2, "0xfeed", True, "0xbeef", 90_000)
    assert m.series["orch credit m1"].last == 7
    assert m.series["orchestrator fees"].last == 1000
    assert m.status_counts[482] == 1


def test_failed_redemption_reason_is_kept():
    m = FlowModel()
    m.apply(ev(1, "orch", "orch.winner_stored", ticket_hash="0x01", nonce=5, face_value=10))
    m.apply(ev(2, "orch", "orch.redemption_failed", ticket_hash="0x01", reason="transaction failed: ticket is used",
               retry=False))
    w = m.ticket_rows(winners_only=True)[0]
    assert w.failed == "transaction failed: ticket is used" and w.redeemed_tx is None


def _demo(drive) -> list[Event]:
    """Run ``drive(stack, gateway)`` on the demo stack (real signer, orchestrator, mock chain; stepped virtual
    clock) and return every event."""
    async def go():
        async with Stack(demo_spec(), SCENARIO) as st:
            g = st.gateways["gateway"]
            await g.start()
            await drive(st, g)
            return list(st.bus.recent)

    return asyncio.run(go())


def test_demo_stack_numbers_are_the_pm_core_numbers():
    async def two(st, g):
        await g.pay_once()
        await st.clock.sleep(5)
        await g.pay_once()

    events = _demo(two)
    pays = [e for e in events if e.kind == "signer.payment"]
    a, b = pays[0].data, pays[1].data
    price = Fraction(70_000_001, 7)
    units0 = billable_units("lv2v", 0.0, 0)
    assert a["units"] == units0 and Fraction(a["fee"]) == units0 * price
    upd = balance_update(units0 * price, Fraction(a["ev"]), Fraction(0))
    assert a["tickets"] == upd.num_tickets and Fraction(a["balance_after"]) == upd.balance_after
    assert a["nonce_first"] == 1 and a["nonce_last"] == upd.num_tickets
    assert b["billable_secs"] == 5.0 and b["units"] == billable_units("lv2v", 5.0, 0)
    assert Fraction(b["balance_before"]) == upd.balance_after  # the state carried the signer's balance
    assert b["nonce_first"] == 1  # /payment replied with fresh params: a new recipientRandHash restarts nonces
    m = FlowModel()
    m.apply_many(events)
    p = list(m.payments.values())[1]
    diff = dict((k, (x, y)) for k, x, y in state_diff(p.prev_state, decode_state(p.signer)))
    assert diff["SequenceNumber"] == (0, 1)
    assert diff["SenderNonce"] == (a["nonce_last"], b["nonce_last"])
    assert diff["PMSessionID"] == (a["recipient_rand_hash"], b["recipient_rand_hash"])
    assert "StateID" not in diff


def test_state_blob_base64_is_decoded():
    import base64, json

    st = {"StateID": "ab", "Balance": "5/7"}
    d = decode_state({"state_blob": base64.b64encode(json.dumps(st).encode()).decode()})
    assert d == st
    assert decode_state({"state_blob": "%%%"}) is None


def test_thousand_payment_trace_is_bounded(tmp_path):
    path = tmp_path / "t.jsonl"
    n = record_demo_trace(path, 600)  # a recorded run of the real stack: ~20 events per payment
    header, events = read_trace(path)
    events = list(events)
    assert len(events) == n and header["payments"] == 600
    m = FlowModel(row_cap=2000, payment_cap=500, ticket_cap=500, series_points=300)
    m.apply_many(events)
    assert m.count == n
    assert len(m.rows) == 2000 and len(m.payments) == 500 and len(m.tickets) <= 500
    assert all(len(s.xs) <= 300 for s in m.series.values())
    # The signer's exact last balance survives decimation.
    last = [e for e in events if e.kind == "signer.payment" and e.data.get("status") == 200][-1]
    assert m.series["signer credit"].last == Fraction(last.data["balance_after"])
    assert summarize(m.rows[-1].ev)


def test_demo_time_travel_follows_the_protocol():
    """The stack's time-travel keys (A, P, M) on the real actors give the protocol's answers."""
    async def expire_then_raise(st, g):
        await g.pay_once()
        await st.expire_auth_token()  # the token enters its last 180 s: 480, refresh, retry
        await st.clock.sleep(5)
        out = await g.pay_once()
        assert out.status == "paid" and out.refreshes == 1
        st.raise_price()  # above the session's initial price: 481 once the gateway holds the new params
        await st.clock.sleep(5)
        assert (await g.pay_once()).status == "paid"  # still the old params; the /payment reply has the new price
        await st.clock.sleep(5)
        out = await g.pay_once()
        assert out.signer_status == 481 and "initial" in out.message, out

    pays = [e.data for e in _demo(expire_then_raise) if e.kind.startswith("signer.payment")]
    assert [p["status"] for p in pays] == [200, 480, 200, 200, 481]
    assert pays[2]["billable_secs"] == 5.0  # only the payment interval is billed
    assert pays[2]["nonce_first"] == 1  # new params: a new recipientRandHash, the nonce restarts

    async def mine(st, g):
        await g.pay_once()
        await st.mine_blocks(40)
        await st.clock.sleep(5)
        assert (await g.pay_once()).status == "paid"

    assert [e.data["status"] for e in _demo(mine) if e.kind.startswith("signer.payment")] == [200, 480, 200]


async def test_header_names_each_signers_profile():
    """The TUI header says which dialect the stack's signers speak (signer.started carries the profile)."""
    import sim.signer.http  # noqa: F401 - registers signer.started
    from sim.events import EventBus
    from tui.app import LpdevApp

    bus = EventBus(None)
    app = LpdevApp(mode="live", bus=bus)
    async with app.run_test(size=(120, 40)) as pilot:
        bus.emit("go", "signer.started", profile="go-livepeer", url="http://a")
        await pilot.pause(0.3)
        assert "signer go-livepeer" in app.status_text().plain
        bus.emit("node", "signer.started", profile="livepeer-node", url="http://b")
        await pilot.pause(0.3)
        assert "signer go go-livepeer, node livepeer-node" in app.status_text().plain
