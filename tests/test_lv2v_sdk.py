"""The real livepeer-gateway SDK (1.0.0) runs a paid ``noop`` live-video-to-video job against the stack `lpdev up`
runs (stack.stack.Stack with the LIVE policy on anvil: chain, lpdev's signer, lpdev's orchestrator with /live-video-to-video):

* ``start_lv2v(..., model_id="noop")`` pays upfront through lpdev's signer, publishes generated MPEG-TS segments
  with the SDK's publisher and gets every one back, byte for byte, on ``subscribe_url``; the SDK's payment sender
  pays (signer -> /payment) for at least three cycles; the orchestrator's ledger equals credits minus debits;
  winning tickets are redeemed on chain during the run.
* With its signer down, the job is stopped by the orchestrator for insufficient balance with go's message, and
  the trace shows the moment, fee and balance.

The SDK pays on output segments at most every 5 s (hard-coded in ``lv2v._payment_sender``), so the paid test
publishes ~11 s of video. Economics: ticket EV 1e15 wei, face value capped at 2e15 => every ticket wins with
probability >= 1/2; 2e7 wei/pixel => the upfront 60 s preload alone is ~34 tickets, so P(no winner) < 1e-9.
"""
from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import pytest

pytest.importorskip("livepeer_gateway", reason="the livepeer-gateway SDK is installed by `make` (see README)")

from livepeer_gateway.lv2v import StartJobRequest, start_lv2v  # noqa: E402

from tests.stacks import up_spec  # noqa: E402
from stack.thread import StackThread as UpStackThread  # noqa: E402
from tests.trickle_client import read_all
from sim.clock import VirtualClock  # noqa: E402
from sim.media import mpegts  # noqa: E402
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, insufficient_balance_message  # noqa: E402
from sim.pm.ticket import MAX_WIN_PROB  # noqa: E402

pytestmark = [pytest.mark.sdk, pytest.mark.anvil, pytest.mark.slow]

TICKET_EV = 10**15
PRICE = 2 * 10**7


@pytest.fixture(scope="module")
def up():
    cfg = up_spec(chain="anvil", orchestrators=1, signers=2, gateway=False, seed=8, block_time=0, ticket_ev=TICKET_EV, max_face_value=2 * TICKET_EV,
                   price_per_unit=PRICE)
    with UpStackThread(cfg) as t:
        seen = []
        t.stack.bus.subscribe(seen.append)  # every event, whatever the bus keeps in memory
        t.seen = seen
        yield t


def _keccak(data: bytes) -> bytes:
    from Crypto.Hash import keccak  # pycryptodome directly, not sim.pm's wrapper

    return keccak.new(digest_bits=256, data=data).digest()


def recheck_winner(w) -> bytes:
    """Recheck a stored winner without sim.pm: the ticket hash from its preimage (docs/tickets.md, Solidity
    ``abi.encodePacked``), the sender's personal_sign over it (recovered with coincurve), recipientRandHash =
    keccak(u256(recipientRand)) and the win test keccak(sig ‖ u256(recipientRand)) < winProb as integers.
    Returns the ticket hash."""
    import coincurve

    t = w.ticket
    u256 = lambda n: n.to_bytes(32, "big")  # noqa: E731
    aux = b"" if t.creation_round == 0 and bytes(t.creation_round_block_hash) == bytes(32) else (
        u256(t.creation_round) + bytes(t.creation_round_block_hash))
    preimage = (bytes(t.recipient) + bytes(t.sender) + u256(t.face_value) + u256(t.win_prob) + u256(t.sender_nonce)
                + bytes(t.recipient_rand_hash) + aux)
    assert len(preimage) == 20 + 20 + 4 * 32 + len(aux)
    ticket_hash = _keccak(preimage)
    sig = bytes(w.sig)
    assert len(sig) == 65 and sig[64] in (27, 28)
    signed = _keccak(b"\x19Ethereum Signed Message:\n32" + ticket_hash)
    pub = coincurve.PublicKey.from_signature_and_message(sig[:64] + bytes([sig[64] - 27]), signed, hasher=None)
    assert _keccak(pub.format(compressed=False)[1:])[-20:] == bytes(t.sender), "not signed by the sender"
    assert _keccak(u256(w.recipient_rand)) == bytes(t.recipient_rand_hash)
    win_value = int.from_bytes(_keccak(sig + u256(w.recipient_rand)), "big")
    assert win_value < t.win_prob, f"stored as a winner but {win_value:#x} >= winProb {t.win_prob:#x}"
    return ticket_hash


def bare(url: str) -> str:
    return url.split("://", 1)[1]


def ev(t, kind, **match):
    return [e for e in list(t.seen) if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]


def rat(s) -> Fraction:
    return Fraction(str(s))


async def test_sdk_paid_noop_job_end_to_end_with_redemption(up):
    o, s = up.stack.orchestrators["orch"], up.stack.signers["signer"]
    orch = o.server.orch
    o.server.lv2v.config.payment_interval_s = 1.0  # debit every second (go default 5 s)
    # start at a round boundary: the 41 + <= 41 blocks mined below stay inside one initialized round (a poll that
    # lands between a round change and its initialization would see the redemption revert)
    up.call(up.stack.advance_round())
    job = await asyncio.to_thread(start_lv2v, [bare(o.url)], StartJobRequest(model_id="noop"),
                                  signer_url=bare(s.url), start_payments=False)
    mid = job.manifest_id
    assert job.publish_url == f"{o.url}/ai/trickle/{mid}" and job.subscribe_url == job.publish_url + "-out"
    assert job.control_url == job.publish_url + "-control" and job.events_url == job.publish_url + "-events"
    assert len(mid) == 8 and int(mid, 16) >= 0
    payer = s.address.lower()
    started = ev(up, "orch.lv2v_started", manifest_id=mid)
    assert len(started) == 1 and started[0].data["sender"] == payer
    assert rat(started[0].data["price"]) == PRICE  # the session price = the initial payment's expected price
    pay_task = job.start_payment_sender()
    assert pay_task is not None

    got: list[bytes] = []
    reader = asyncio.create_task(read_all(job.subscribe_url, got))
    t0 = time.monotonic()

    async def expire_params_mid_run():
        # 41 blocks: the upfront payment's params expire, so its winners become redeemable while the job runs,
        # and the signer's next payment answers 480, which the SDK handles with a fresh GetOrchestrator
        await asyncio.sleep(3.0)
        await asyncio.to_thread(up.call, up.stack.mine_blocks(41))

    miner = asyncio.create_task(expire_params_mid_run())
    sent = await mpegts.publish(job.publish_url, 23, segment_s=0.5, encoder="pure", client="sdk")
    await miner
    await asyncio.wait_for(reader, 20)  # ends when the job closes its output (input closed)
    elapsed = time.monotonic() - t0
    await job.close()
    assert got == sent, f"{len(got)} of {len(sent)} segments echoed"

    # --- payments: upfront + >= 3 cycles of the SDK's payment sender, all through lpdev's signer
    credits = ev(up, "orch.credit", manifest_id=mid)
    received = ev(up, "orch.payment_received", manifest_id=mid)
    assert received[0].data["route"] == "/live-video-to-video"
    cycles = [e for e in received[1:] if "route" not in e.data]  # /payment calls for this job
    assert len(cycles) >= 3, f"only {len(cycles)} payment cycles in {elapsed:.1f} s"
    assert not ev(up, "orch.payment_rejected", sender=payer)
    signed = [e for e in ev(up, "signer.payment") if e.actor == s.name]
    assert len(signed) >= 1 + len(cycles)
    assert len(credits) == 1 + len(cycles)

    # --- ledger: balance == credits - debits, exactly; debits at 27 648 000 px/s x price
    debits = ev(up, "orch.debit", manifest_id=mid)
    assert debits and all(d.data["ok"] for d in debits)
    total_credit = sum(rat(c.data["amount"]) for c in credits)
    total_debit = sum(rat(d.data["fee"]) for d in debits)
    assert all(rat(d.data["fee"]) == d.data["units"] * PRICE for d in debits)
    assert sum(d.data["units"] for d in debits) <= LV2V_PIXELS_PER_SECOND * elapsed + LV2V_PIXELS_PER_SECOND
    bal = orch.ledger.balance(bytes.fromhex(payer[2:]), mid)
    assert bal == total_credit - total_debit and bal > 0
    stopped = ev(up, "orch.lv2v_stopped", manifest_id=mid)
    assert [e.data["reason"] for e in stopped] == ["input closed"]

    # --- winners: the orchestrator's win test per ticket, independently rechecked; P(no win) < 1e-9
    tickets = ev(up, "orch.ticket", manifest_id=mid)
    issued_wp = {e.data["win_prob"] for e in ev(up, "orch.params_issued", sender=payer)}
    assert issued_wp and min(issued_wp) * 2 >= MAX_WIN_PROB  # each ticket wins with probability >= 1/2
    assert len(tickets) >= 30 and 0.5 ** len(tickets) < 1e-9
    won = [e for e in tickets if e.data["won"]]
    winners = [w for w in orch.store.all() if w.manifest_id == mid]
    assert len(winners) == len(won) >= 1
    for w in winners:
        assert w.ticket.face_value == 2 * TICKET_EV
        assert recheck_winner(w) == w.ticket_hash  # the orchestrator's hash is the one the chain is asked about

    # --- redemption on chain during the run: the upfront payment's winners, by the orchestrator's own block poll
    stop_seq = stopped[0].seq
    early = {e.data["ticket_hash"] for e in ev(up, "orch.redemption_mined") if e.seq < stop_seq}
    first_batch = {"0x" + w.ticket_hash.hex() for w in winners
                   if w.params_expiration_block == winners[0].params_expiration_block}
    assert early & first_batch, "no winner was redeemed while the job ran"
    # the expired params made the signer answer 480; the SDK refreshed (GetOrchestrator) and kept paying
    refresh = [e for e in ev(up, "signer.payment.rejected") if e.actor == s.name and e.data.get("status") == 480]
    assert refresh and any(c.seq > refresh[0].seq for c in credits)
    # --- the rest: winners become redeemable once their params expire (40 blocks)
    behind = max(w.params_expiration_block for w in winners) - up.stack.chain.last_block()
    if behind > 0:  # later winners' params have not expired yet
        up.call(up.stack.mine_blocks(behind))
    for _ in range(60):
        up.call(o.server.redeem_now())
        left = [w for w in orch.store.all() if w.manifest_id == mid and w.status != "redeemed"]
        if not left:
            break
        await asyncio.sleep(0.2)
    assert not left, [w.to_dict() for w in left]
    chain = up.stack.chain
    for w in winners:
        assert chain.is_used_ticket(recheck_winner(w))
    mined = [e for e in ev(up, "orch.redemption_mined")]
    assert {e.data.get("ticket_hash") for e in mined} >= {"0x" + w.ticket_hash.hex() for w in winners}


async def test_signer_down_job_stopped_for_insufficient_balance(up):
    o, s = up.stack.orchestrators["orch"], up.stack.signers["signer2"]
    orch, lv = o.server.orch, o.server.lv2v
    clock = VirtualClock(1_780_000_000.0)  # the orchestrator's debit clock, moved 10 s per segment below
    lv.config.payment_interval_s = 5.0  # go's default
    lv.config.clock = clock
    try:
        job = await asyncio.to_thread(start_lv2v, [bare(o.url)], StartJobRequest(model_id="noop"),
                                      signer_url=bare(s.url), start_payments=False)
        mid = job.manifest_id
        payer = bytes.fromhex(s.address[2:])
        credit = orch.ledger.balance(payer, mid)
        assert credit is not None and credit >= TICKET_EV
        up.call(s.https.stop())  # the signer goes down: every later payment cycle of the SDK fails
        job.start_payment_sender()

        got: list[bytes] = []
        reader = asyncio.create_task(read_all(job.subscribe_url, got))
        gen = mpegts.segments(None, segment_s=0.2, encoder="pure")
        from livepeer_gateway.trickle_publisher import TricklePublisher

        sent = 0
        async with TricklePublisher(job.publish_url, "video/mp2t") as pub:
            while sent < 20 and not ev(up, "orch.lv2v_stopped", manifest_id=mid):
                clock.advance(10)  # each segment is 10 s of the orchestrator's time
                async with await pub.next() as w:
                    await w.write(next(gen))
                sent += 1
                for _ in range(200):  # wait until the job has handled this segment (echoed or stopped)
                    if (len(ev(up, "trickle.job.segment", manifest_id=mid)) >= sent
                            or ev(up, "orch.lv2v_stopped", manifest_id=mid)):
                        break
                    await asyncio.sleep(0.02)
            await asyncio.wait_for(reader, 10)  # the stop closed the output: the subscriber sees the end
        await job.close()

        stopped = ev(up, "orch.lv2v_stopped", manifest_id=mid)
        assert len(stopped) == 1
        d = stopped[0].data
        fee10 = 10 * LV2V_PIXELS_PER_SECOND * PRICE
        paid_segments = int(credit // fee10)  # 60 s preload covers 6 segments of 10 s (credit is whole tickets)
        balance = credit - paid_segments * fee10
        assert paid_segments >= 5
        assert d["reason"] == insufficient_balance_message(mid, Fraction(fee10), balance)
        assert d["reason"].startswith(f"insufficient balance, mid={mid}, fee={fee10}, balance=")
        assert rat(d["fee"]) == fee10 and rat(d["balance"]) == balance and d["units"] == 10 * LV2V_PIXELS_PER_SECOND
        assert d["at"] == clock.now() == 1_780_000_000.0 + 10 * (paid_segments + 1)  # the exact moment
        debits = ev(up, "orch.debit", manifest_id=mid)
        assert [x.data["ok"] for x in debits] == [True] * paid_segments + [False]
        assert debits[-1].data["message"] == d["reason"]
        assert orch.ledger.balance(payer, mid) == balance
        assert len(ev(up, "orch.credit", manifest_id=mid)) == 1  # nothing was paid after the upfront payment
        assert len(got) == d["segments"] == paid_segments  # the unpaid segment was not echoed
        assert sent == paid_segments + 1
    finally:
        lv.config.clock = None
