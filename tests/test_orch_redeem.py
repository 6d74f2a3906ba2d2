"""Winning tickets: stored before /payment answers, redeemed by go-livepeer's queue rules (docs/chain.md), and settled
from SQLite after a restart (mock chain, in process; the kill -9 test on anvil is test_orch_crash.py)."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

import devnet
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.probe import Payer, get_orchestrator
from sim.orchestrator.winners import FAILED, QUEUED, REDEEMED, SENDING, WinnerStore
from sim.pm.params import PARAMS_EXPIRATION_BLOCK
from sim.wire.gojson import b64encode


@pytest.fixture
def chain():
    # Rounds must be longer than the 40-block params expiry, or no ticket can ever be redeemed: go-livepeer waits
    # for the params to expire, and the contract refuses tickets from two rounds ago.
    c = devnet.open_chain("mock", config=devnet.DevnetConfig(round_length=100))
    yield c
    c.close()


def server(chain, tmp_path, **kw):
    return OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=3600,
                              faults={"win_prob_max": True}, **kw)


async def pay(o, payer: Payer, tickets) -> int:
    pay_pb, seg = payer.payment(tickets), payer.segment()
    async with aiohttp.ClientSession() as s:
        async with s.post(o.url + "/payment", ssl=False, headers={
                "Livepeer-Payment": b64encode(pay_pb.SerializeToString()),
                "Livepeer-Segment": b64encode(seg.SerializeToString())}) as r:
            await r.read()
            return r.status


async def fresh(o, payer):
    payer.use(await asyncio.to_thread(get_orchestrator, o.url, payer.request()))


def expire(chain) -> None:
    """Mine past the params' expiry and initialize the round we land in (ticket stays in its validity window)."""
    chain.mine(PARAMS_EXPIRATION_BLOCK)
    if chain.current_round() != chain.last_initialized_round():
        assert chain.initialize_round(chain.key("deployer")).ok


def sender_funds(chain, addr) -> int:
    info = chain.sender_info(addr)
    return info.deposit + info.reserve


async def test_winners_wait_for_expiry_then_redeemed_once(chain, tmp_path):
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        ts = payer.tickets(3)
        assert await pay(o, payer, ts) == 200
        rows = o.orch.store.all()
        assert [w.status for w in rows] == [QUEUED] * 3  # durable before the reply
        before = sender_funds(chain, payer.address)
        fees0 = chain.pending_fees(o.orch.address)
        assert (await o.redeem_now())["redeemed"] == 0  # params still usable by the sender
        chain.mine(PARAMS_EXPIRATION_BLOCK - 1)
        assert (await o.redeem_now())["waiting"] == 3  # expiration block not reached yet
        chain.mine(1)
        res = await o.redeem_now()
        assert res == {"redeemed": 3, "failed": 0, "waiting": 0}
        total = sum(t.ticket.face_value for t in ts)
        assert sender_funds(chain, payer.address) == before - total
        assert chain.pending_fees(o.orch.address) - fees0 == total
        assert all(chain.is_used_ticket(t.ticket.hash()) for t in ts)
        rows = o.orch.store.all()
        assert all(w.status == REDEEMED and w.tx_hash for w in rows)
        assert o.orch.store.redeemed_face_value() == total
        assert (await o.redeem_now())["redeemed"] == 0  # nothing twice
        kinds = [e.kind for e in o.orch.bus.recent]
        assert kinds.count("orch.redemption_sent") == 3 and kinds.count("orch.redemption_mined") == 3
        mined = o.orch.bus.of_kind("orch.redemption_mined")
        assert sum(e.get("amount_paid") for e in mined) == total  # fully funded: paid = face value
        ticket_events = {e.get("nonce"): e.get("ticket_hash") for e in o.orch.bus.of_kind("orch.ticket")}
        assert all(ticket_events[t.ticket.sender_nonce] == "0x" + t.ticket.hash().hex() for t in ts)


async def test_winners_after_non_fatal_error_are_redeemed(chain, tmp_path):
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        t1, t2, t3 = payer.tickets(3)
        bad = type(t1)(t1.ticket, t1.sig[:3] + bytes([t1.sig[3] ^ 1]) + t1.sig[4:])
        assert await pay(o, payer, [bad, t2, t3]) == 400
        assert o.orch.ledger.balance(payer.address, payer.manifest_id) is None  # nothing credited
        expire(chain)
        assert (await o.redeem_now())["redeemed"] == 2
        assert chain.is_used_ticket(t2.ticket.hash()) and chain.is_used_ticket(t3.ticket.hash())
        assert not chain.is_used_ticket(t1.ticket.hash())


async def test_stop_redeeming_knob_and_validity_window(chain, tmp_path):
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        assert await pay(o, payer, payer.tickets(1)) == 200
        o.orch.faults.update({"stop_redeeming": True})
        expire(chain)
        assert (await o.redeem_now()) == {"redeemed": 0, "failed": 0, "waiting": 1}
        for _ in range(3):  # creationRound < lastInitializedRound - 2: never redeemable
            chain.advance_round()
        o.orch.faults.update({"stop_redeeming": False})
        res = await o.redeem_now()
        assert res["failed"] == 1
        [w] = o.orch.store.all()
        assert w.status == FAILED and "validity window" in w.reason


async def test_already_used_ticket_is_non_retryable(chain, tmp_path):
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        [t] = payer.tickets(1)
        assert await pay(o, payer, [t]) == 200
        [w] = o.orch.store.all()
        expire(chain)
        assert chain.redeem_winning_ticket(t.ticket, t.sig, w.recipient_rand, from_key=chain.key("orchestrator")).ok
        assert (await o.redeem_now())["failed"] == 1
        [w] = o.orch.store.all()
        assert (w.status, w.reason) == (REDEEMED, "ticket already used")  # paid to us, not by this send
        assert [e.data["reason"] for e in o.orch.bus.recent if e.kind == "orch.redemption_failed"] == [
            "ticket already used"]
        assert not [e for e in o.orch.bus.recent if e.kind == "orch.redemption_sent"]


async def test_restart_resumes_queue_and_settles_sending_rows(chain, tmp_path):
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        ts = payer.tickets(3)
        assert await pay(o, payer, ts) == 200
        rows = {w.ticket.sender_nonce: w for w in o.orch.store.all()}
    expire(chain)
    # Simulate a crash between "sending" and the answer: ticket 1 really went out, ticket 2 never left.
    okey = chain.key("orchestrator")
    w1, w2 = rows[1], rows[2]
    assert chain.redeem_winning_ticket(w1.ticket, w1.sig, w1.recipient_rand, from_key=okey).ok
    st = WinnerStore(tmp_path / "winners.sqlite")
    st.set_status(w1.ticket.hash(), SENDING)
    st.set_status(w2.ticket.hash(), SENDING)
    st.close()
    fees = chain.pending_fees(bytes.fromhex(chain.address("orchestrator")[2:]))
    async with server(chain, tmp_path) as o2:  # new process: new secret, same data dir
        res = await o2.redeem_now()
        assert res["redeemed"] == 2  # ticket 2 resent, ticket 3 redeemed; ticket 1 settled without a send
        by = {w.ticket.sender_nonce: w for w in o2.orch.store.all()}
        assert all(w.status == REDEEMED for w in by.values())
        assert "found used on chain" in by[1].reason
        total_new = by[2].ticket.face_value + by[3].ticket.face_value
        assert chain.pending_fees(o2.orch.address) - fees == total_new
        sent = [e for e in o2.orch.bus.recent if e.kind == "orch.redemption_sent"]
        assert len(sent) == 2


async def test_waits_for_round_initialization(chain, tmp_path):
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        assert await pay(o, payer, payer.tickets(2)) == 200
        chain.mine(chain.config.round_length - chain.last_block() % chain.config.round_length)  # next round
        assert chain.current_round() == chain.last_initialized_round() + 1
        assert (await o.redeem_now()) == {"redeemed": 0, "failed": 0, "waiting": 2}
        assert {w.reason for w in o.orch.store.all()} == {"current round is not initialized"}
        assert chain.initialize_round(chain.key("deployer")).ok
        assert (await o.redeem_now())["redeemed"] == 2


async def test_round_boundary_between_check_and_send_requeues_the_winner(chain, tmp_path):
    """The queue checked an initialized round, then the round ended before the send: the contract reverts with
    "current round is not initialized". The ticket is unused, so it must go back in the queue, not be dropped."""
    async with server(chain, tmp_path) as o:
        payer = Payer(chain.key("sender"))
        await fresh(o, payer)
        assert await pay(o, payer, payer.tickets(1)) == 200
        expire(chain)
        real_redeem = chain.redeem_winning_ticket

        def cross_boundary_then_redeem(*a, **kw):
            chain.mine(chain.config.round_length - chain.last_block() % chain.config.round_length)
            chain.redeem_winning_ticket = real_redeem  # only the first send races the boundary
            return real_redeem(*a, **kw)

        chain.redeem_winning_ticket = cross_boundary_then_redeem
        assert (await o.redeem_now()) == {"redeemed": 0, "failed": 0, "waiting": 1}
        [w] = o.orch.store.all()
        assert (w.status, w.reason) == (QUEUED, "current round is not initialized")
        assert chain.initialize_round(chain.key("deployer")).ok
        assert (await o.redeem_now())["redeemed"] == 1
        assert chain.is_used_ticket(w.ticket.hash())


@pytest.mark.parametrize("validity,outcome", [(2, "failed"), (4, "redeemed")])
async def test_validity_window_is_read_from_the_ticket_broker(tmp_path, validity, outcome):
    """The redeemer reads ``TicketBroker.ticketValidityPeriod()``: a winner created in round R that is still unredeemed
    at round R+3 is lost with the protocol's 2 rounds (the contract would say "ticket is expired") but redeemed on a
    chain whose period is 4."""
    c = devnet.open_chain("mock", config=devnet.DevnetConfig(round_length=100, ticket_validity_period=validity))
    try:
        async with server(c, tmp_path) as o:
            payer = Payer(c.key("sender"))
            await fresh(o, payer)
            (t,) = payer.tickets(1)
            assert await pay(o, payer, [t]) == 200
            created = t.ticket.creation_round
            for _ in range(3):
                c.advance_round()
            assert c.current_round() == created + 3
            await asyncio.to_thread(o.orch.watch.refresh)
            res = await o.redeem_now()
            assert o.redeemer.validity_period == validity
            (row,) = o.orch.store.all()
            if outcome == "failed":
                assert res["failed"] == 1 and row.status == FAILED
                assert "ticketValidityPeriod 2" in row.reason and not c.is_used_ticket(t.ticket.hash())
            else:
                assert res["redeemed"] == 1 and row.status == REDEEMED and c.is_used_ticket(t.ticket.hash())
    finally:
        c.close()
