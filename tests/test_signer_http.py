"""go-livepeer's remote-signer behaviours (its server/remote_signer_test.go), each as a request to the HTTP service on
loopback."""
from __future__ import annotations

import base64
import dataclasses
from fractions import Fraction

import pytest

from sim.pm.crypto import keccak, verify_keccak, verify_personal
from sim.pm.ticket import Ticket
from sim.signer.config import SignerConfig
from sim.signer.testkit import MemoryChain, make_caps
from sim.wire import codec
from sim.wire.state import RemotePaymentState

from tests.test_signer_harness import ADDR, KEY, OTHER_KEY, Signer, rat, signed_state

LV2V = 35


def validation_config() -> SignerConfig:
    # TestGenerateLivePayment_RequestValidationErrors: global max 500/1, LV2V livepeer/model1 max 200
    return SignerConfig(max_price=Fraction(500), capability_max_prices={LV2V: {"livepeer/model1": Fraction(200)}})


@pytest.fixture
async def signer():
    async with Signer(validation_config()) as s:
        yield s


# ---- RequestValidationErrors 1-22 --------------------------------------------------------------
async def test_rv01_not_json(signer):
    r = await signer.post("/generate-live-payment", b"{not-json")
    assert r.status == 400 and "invalid character" in r.message
    assert r.headers["Content-Type"] == "application/json" and r.raw.endswith(b"}\n")


async def test_rv02_missing_orchestrator(signer):
    r = await signer.pay(None, in_pixels=1)
    assert (r.status, r.message) == (400, "missing orchestrator")


async def test_rv03_not_proto(signer):
    r = await signer.pay(b"not-proto", in_pixels=1)
    assert r.status == 400 and "proto:" in r.message


@pytest.mark.parametrize("price", [None, (0, 1), (1, 0)])
async def test_rv04_06_missing_or_zero_price(signer, price):
    r = await signer.pay(signer.info(price=price), in_pixels=1)
    assert (r.status, r.message) == (400, "missing or zero priceInfo")


async def test_rv07_missing_ticket_params(signer):
    r = await signer.pay(signer.info(ticket_params=False), in_pixels=1)
    assert (r.status, r.message) == (400, "missing ticketParams in OrchestratorInfo")


async def test_rv08_missing_auth_token(signer):
    r = await signer.pay(signer.info(auth=False), in_pixels=1)
    assert r.status == 400
    assert r.message == "remote signer could not check whether to refresh session: missing auth token"


async def test_rv09_auth_token_expired_480(signer):
    r = await signer.pay(signer.info(auth_expiration=int(signer.clock.now()) - 60), in_pixels=1)
    assert (r.status, r.message) == (480, "refresh session for remote signer")
    assert r.headers["Livepeer-Orchestrator-URL"] == "http://orch.example"


async def test_rv09b_auth_token_in_last_10_percent_480(signer):
    # refresh point = expiration - 180 s: 179 s left -> refresh; 181 s left -> fine
    now = int(signer.clock.now())
    r = await signer.pay(signer.info(auth_expiration=now + 179), in_pixels=1)
    assert r.status == 480
    r = await signer.pay(signer.info(auth_expiration=now + 181), in_pixels=1)
    assert r.status == 200, r.body


async def test_rv10_params_expired_480(signer):
    # expirationBlock - lastSeenBlock <= 1 -> ErrTicketParamsExpired -> 480
    r = await signer.pay(signer.info(expiration_block=signer.chain.last_block() + 1), in_pixels=1)
    assert (r.status, r.message) == (480, "refresh session for remote signer")
    assert r.headers["Livepeer-Orchestrator-URL"] == "http://orch.example"
    r = await signer.pay(signer.info(expiration_block=signer.chain.last_block() + 2), in_pixels=1)
    assert r.status == 200


async def test_rv11_invalid_job_type(signer):
    r = await signer.pay(signer.info(), type="bogus", in_pixels=1)
    assert (r.status, r.message) == (400, "invalid job type")


async def test_rv12_missing_billable_unit(signer):
    r = await signer.pay(signer.info(), in_pixels=0)
    assert (r.status, r.message) == (400, "missing billable unit or job type")


async def test_rv13_too_many_tickets(signer):
    r = await signer.pay(signer.info(ev=1, price=(1, 1)), in_pixels=101)
    assert r.status == 400 and r.message == "numTickets 101 exceeds maximum of 100"
    r = await signer.pay(signer.info(ev=1, price=(1, 1)), in_pixels=100)
    assert r.status == 200 and len(r.payment().ticket_sender_params) == 100


async def test_rv14_bad_capabilities(signer):
    r = await signer.pay(signer.info(), type="lv2v", capabilities=b"not-valid-protobuf")
    assert r.status == 400 and "cannot parse invalid wire-format data" in r.message


async def test_rv15_global_max_price(signer):
    r = await signer.pay(signer.info(price=(1000, 1)), in_pixels=1)
    assert r.status == 481 and "orchestrator price" in r.message
    assert r.message == "orchestrator price 1000.000 exceeds configured maximum price ceiling 500.000"


async def test_rv16_request_max_price(signer):
    r = await signer.pay(signer.info(price=(10, 1)), type="fixed",
                         max_price={"price": 9, "currency": "wei", "unit": "fixed"})
    assert r.status == 481 and "request maxPrice" in r.message


async def test_rv17_max_price_needs_type(signer):
    r = await signer.pay(signer.info(), in_pixels=1, max_price={"price": 9, "currency": "wei", "unit": "fixed"})
    assert r.status == 400 and "maxPrice requires payment type" in r.message


async def test_rv18_currency(signer):
    r = await signer.pay(signer.info(), type="fixed", max_price={"price": 9, "currency": "usd", "unit": "fixed"})
    assert (r.status, r.message) == (400, "maxPrice.currency must be wei")


async def test_rv19_unit(signer):
    r = await signer.pay(signer.info(), type="live", max_price={"price": 9, "currency": "wei", "unit": "fixed"})
    assert r.status == 400 and r.message == "maxPrice.unit must be seconds for payment type live"


async def test_rv20_zero_max_price(signer):
    r = await signer.pay(signer.info(), type="fixed", max_price={"price": 0, "currency": "wei", "unit": "fixed"})
    assert (r.status, r.message) == (400, "maxPrice.price must be a positive decimal")


async def test_rv21_global_max_applies_to_fixed(signer):
    r = await signer.pay(signer.info(price=(1000, 1)), type="fixed", manifest_id="m")
    assert r.status == 481 and "orchestrator price" in r.message


async def test_rv22_capability_max(signer):
    caps = make_caps({LV2V: ["livepeer/model1"]})
    r = await signer.pay(signer.info(price=(300, 1)), in_pixels=1, capabilities=caps)
    assert r.status == 481 and "configured maximum price ceiling 200.000" in r.message
    r = await signer.pay(signer.info(ev=200, price=(200, 1)), in_pixels=1, capabilities=caps)
    assert r.status == 200, r.body  # equality passes


async def test_capability_max_sums_models_and_default():
    cfg = SignerConfig(max_price=Fraction(500), capability_max_prices={LV2V: {"a": Fraction(2), "default": Fraction(3)},
                                                                      27: {"x": Fraction(5)}})
    async with Signer(cfg) as s:
        caps = make_caps({LV2V: ["a", "other"], 27: ["x"]})  # 2 + 3 (default) + 5 = 10
        r = await s.pay(s.info(price=(11, 1)), in_pixels=1, capabilities=caps)
        assert r.status == 481 and r.message.endswith("configured maximum price ceiling 10.000")
        r = await s.pay(s.info(ev=10, price=(10, 1)), in_pixels=1, capabilities=caps)
        assert r.status == 200, r.body


# ---- StateValidationErrors 1-8 ------------------------------------------------------------------
def _state(**kw) -> RemotePaymentState:
    base = dict(state_id="state", orchestrator_address=bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"),
                initial_price_per_unit=1, initial_pixels_per_unit=1, balance="0")
    base.update(kw)
    return RemotePaymentState(**base)


async def test_sv01_missing_manifest_id(signer):
    r = await signer.pay(signer.info(), state=signed_state(_state()), in_pixels=1)
    assert (r.status, r.message) == (400, "missing manifestID")


async def test_sv02_bad_sig(signer):
    st = {"State": base64.b64encode(b'{"stateID":"state","orchestratorAddress":"0x1"}').decode(),
          "Sig": base64.b64encode(b"bad").decode()}
    r = await signer.pay(signer.info(), state=st, manifest_id="manifest", in_pixels=1)
    assert (r.status, r.message) == (400, "invalid sig")


async def test_sv03_signed_non_json(signer):
    r = await signer.pay(signer.info(), state=signed_state(b"not-json"), manifest_id="manifest", in_pixels=1)
    assert (r.status, r.message) == (400, "invalid state")


async def test_sv04_app_mismatch(signer):
    st = signed_state(_state(app="live-video-to-video/app-a"))
    r = await signer.pay(signer.info(), state=st, app="live-video-to-video/app-b", manifest_id="manifest",
                         in_pixels=1)
    assert (r.status, r.message) == (400, "app mismatch")


async def test_sv05_type_mismatch(signer):
    r = await signer.pay(signer.info(), state=signed_state(_state(type="lv2v")), type="live", manifest_id="manifest")
    assert (r.status, r.message) == (400, "job type mismatch")


async def test_sv06_orchestrator_mismatch(signer):
    st = signed_state(_state(orchestrator_address=b"\x00" * 19 + b"\x01"))
    r = await signer.pay(signer.info(address=b"\x00" * 19 + b"\x02"), state=st, manifest_id="manifest", in_pixels=1)
    assert (r.status, r.message) == (400, "orchestratorAddress mismatch")


async def test_sv07_initial_price_ceiling(signer):
    st = signed_state(_state(initial_price_per_unit=100, initial_pixels_per_unit=1))
    r = await signer.pay(signer.info(price=(150, 1)), state=st, manifest_id="manifest", in_pixels=1)
    assert r.status == 481 and "initial session price ceiling" in r.message


async def test_sv08_no_tickets(signer):
    r = await signer.pay(signer.info(ev=1), state=signed_state(_state(balance="1000")), manifest_id="manifest",
                         in_pixels=1)
    assert (r.status, r.message) == (482, "no tickets")
    assert "state" not in r.body


async def test_invalid_initial_price_in_state(signer):
    r = await signer.pay(signer.info(), state=signed_state(_state(initial_pixels_per_unit=0)),
                         manifest_id="manifest", in_pixels=1)
    assert (r.status, r.message) == (400, "invalid initial price in state")


# ---- tampered / truncated / replayed / foreign states ------------------------------------------
async def _first_state(s: Signer, **kw) -> dict:
    r = await s.pay(s.info(), type="fixed", **kw)
    assert r.status == 200, r.body
    return r.state


async def test_tampered_state_rejected(signer):
    st = await _first_state(signer)
    raw = bytearray(base64.b64decode(st["State"]))
    raw[raw.index(b'"Balance":"') + 11] ^= 0x01  # change one digit of the balance
    bad = {"State": base64.b64encode(bytes(raw)).decode(), "Sig": st["Sig"]}
    r = await signer.pay(signer.info(), state=bad, type="fixed", manifest_id="m")
    assert (r.status, r.message) == (400, "invalid sig")


async def test_truncated_state_and_sig_rejected(signer):
    st = await _first_state(signer)
    raw = base64.b64decode(st["State"])
    r = await signer.pay(signer.info(), state={"State": base64.b64encode(raw[:-5]).decode(), "Sig": st["Sig"]},
                         type="fixed", manifest_id="m")
    assert (r.status, r.message) == (400, "invalid sig")
    sig = base64.b64decode(st["Sig"])
    r = await signer.pay(signer.info(), state={"State": st["State"], "Sig": base64.b64encode(sig[:64]).decode()},
                         type="fixed", manifest_id="m")
    assert (r.status, r.message) == (400, "invalid sig")
    r = await signer.pay(signer.info(), state={"State": None, "Sig": st["Sig"]}, type="fixed", manifest_id="m")
    assert (r.status, r.message) == (400, "invalid sig")


async def test_foreign_key_state_rejected(signer):
    st = await _first_state(signer)
    raw = base64.b64decode(st["State"])
    r = await signer.pay(signer.info(), state=signed_state(raw, key=OTHER_KEY), type="fixed", manifest_id="m")
    assert (r.status, r.message) == (400, "invalid sig")


async def test_signed_null_state_is_invalid_state(signer):
    r = await signer.pay(signer.info(), state=signed_state(b"null"), type="fixed", manifest_id="m")
    assert (r.status, r.message) == (400, "invalid state")


async def test_replayed_state_rejected(signer):
    st0 = await _first_state(signer)
    r1 = await signer.pay(signer.info(), state=st0, type="fixed", manifest_id="m")
    assert r1.status == 200
    r = await signer.pay(signer.info(), state=st0, type="fixed", manifest_id="m")
    assert r.status == 400 and r.message.startswith("invalid state") and "replayed" in r.message
    r2 = await signer.pay(signer.info(), state=r1.state, type="fixed", manifest_id="m")
    assert r2.status == 200 and r2.decoded_state().sequence_number == 2


async def test_go_stateless_mode_accepts_a_replay_and_reuses_its_nonces():
    """--allow-state-replay: like go-livepeer, a replayed state is signed again from its own nonce, so the
    orchestrator will see the same nonces twice (the failure lpdev refuses by default)."""
    cfg = validation_config()
    cfg = dataclasses.replace(cfg, replay_protection=False)
    async with Signer(cfg) as s:
        st0 = await _first_state(s)
        info = s.info()
        r1 = await s.pay(info, state=st0, type="fixed", manifest_id="m")
        r2 = await s.pay(info, state=st0, type="fixed", manifest_id="m")
        assert r1.status == r2.status == 200
        n1 = [t.sender_nonce for t in r1.payment().ticket_sender_params]
        n2 = [t.sender_nonce for t in r2.payment().ticket_sender_params]
        assert n1 == n2 and n1  # the same nonces, signed twice


async def test_state_reusable_after_482_and_4xx(signer):
    # a failed request returns no state: the caller keeps the old one and may send it again
    r = await signer.pay(signer.info(ev=1, price=(1, 1)), in_pixels=1)
    assert r.status == 200
    st = r.state
    r = await signer.pay(signer.info(ev=1, price=(1, 1)), state=st, in_pixels=101, manifest_id="m")
    assert r.status == 400
    r = await signer.pay(signer.info(ev=1, price=(1, 1)), state=st, in_pixels=1, manifest_id="m")
    assert r.status == 200


# ---- LV2V_Succeeds, LiveBillsElapsedSeconds, FixedBills ----------------------------------------
async def test_lv2v_succeeds():
    async with Signer(SignerConfig(max_price=Fraction(200))) as s:
        info = s.info(ev=35, price=(150, 175))
        r = await s.pay(info, in_pixels=1000, manifest_id="lv2v-manifest")
        assert r.status == 200, r.body
        st = r.decoded_state()
        n = len(r.payment().ticket_sender_params)
        assert st.state_id and bytes(st.orchestrator_address) == bytes(info.address)
        assert st.pm_session_id == "0x" + info.ticket_params.recipient_rand_hash.hex()
        assert st.sequence_number == 0 and not st.last_update_is_zero
        assert rat(st.balance) == n * 35 - Fraction(6000, 7) and n == 25 and st.balance == "125/7"
        seg = r.segcreds()
        assert seg.manifestId == b"lv2v-manifest" and seg.auth_token.session_id == "sess0001"
        assert verify_keccak(ADDR, codec.segcreds_flatten("lv2v-manifest"), seg.sig)
        # 2. same state, new price 112/175, fee at the initial price
        info2 = s.info(ev=35, price=(112, 175), seed=2)
        r2 = await s.pay(info2, state=r.state, in_pixels=2500, manifest_id="lv2v-manifest")
        assert r2.status == 200, r2.body
        p2 = r2.payment()
        assert (p2.expected_price.pricePerUnit, p2.expected_price.pixelsPerUnit) == (112, 175)
        st2 = r2.decoded_state()
        n2 = len(p2.ticket_sender_params)
        assert st2.sequence_number == 1
        assert rat(st2.balance) == rat(st.balance) + n2 * 35 - 2500 * Fraction(150, 175)
        # nonce reset: new params -> first nonce 1
        assert [t.sender_nonce for t in p2.ticket_sender_params] == list(range(1, n2 + 1))
        # 3. no state, price 300 with a capability max of 500 above the global 200
        s.core.config.capability_max_prices = {LV2V: {"livepeer/model-high": Fraction(500)}}
        r3 = await s.pay(s.info(ev=35, price=(300, 1)), in_pixels=1,
                         capabilities=make_caps({LV2V: ["livepeer/model-high"]}))
        assert r3.status == 200, r3.body
        assert rat(r3.decoded_state().balance) == len(r3.payment().ticket_sender_params) * 35 - 300


async def test_tickets_are_valid_signatures_over_params():
    async with Signer() as s:
        info = s.info(ev=35, price=(3, 1))
        r = await s.pay(info, type="live")
        pay = r.payment()
        assert pay.sender == ADDR
        tickets = codec.payment_tickets(pay)
        assert len(tickets) == 1
        t, sig = tickets[0]
        assert isinstance(t, Ticket) and t.sender_nonce == 1
        assert t.recover_signer(sig) == ADDR
        assert pay.expiration_params.creation_round == info.ticket_params.expiration_params.creation_round
        # state signed with the signer's key, personal_sign over the raw JSON
        raw = base64.b64decode(r.state["State"])
        assert verify_personal(ADDR, raw, base64.b64decode(r.state["Sig"]))


async def test_creation_round_substituted_when_missing():
    async with Signer() as s:
        info = s.info(ev=35, price=(3, 1), creation_round=0, creation_round_block_hash=b"\x00" * 32)
        r = await s.pay(info, type="live")
        pay = r.payment()
        rnd = s.chain.last_initialized_round()
        assert pay.expiration_params.creation_round == rnd != 0
        assert pay.expiration_params.creation_round_block_hash == s.chain.block_hash_for_round(rnd) != b"\x00" * 32


async def test_live_bills_elapsed_seconds():
    async with Signer() as s:
        info = s.info(ev=35, price=(3, 1))
        r = await s.pay(info, type="live")
        assert r.status == 200
        st = r.decoded_state()
        assert len(r.payment().ticket_sender_params) == 1
        assert (st.type, st.sequence_number, st.balance) == ("live", 0, "5")
        assert st.last_update == s.clock.now_ns()
        s.clock.advance(12)
        r2 = await s.pay(info, state=r.state, type="live", manifest_id="live-manifest")
        st2 = r2.decoded_state()
        assert len(r2.payment().ticket_sender_params) == 1
        assert (st2.sequence_number, st2.balance, st2.last_update) == (1, "4", s.clock.now_ns())
        # partial seconds are rounded up: 2.5 s -> 3 units -> fee 9 (balance 4 - 9 -> 1 ticket, 30)
        s.clock.advance(2.5)
        r3 = await s.pay(info, state=r2.state, type="live", manifest_id="live-manifest")
        ev = s.bus.of_kind("signer.payment")[-1]
        assert ev.get("units") == 3 and ev.get("billable_secs") == 2.5 and r3.decoded_state().balance == "30"


async def test_lv2v_preload_and_elapsed_pixels():
    async with Signer() as s:
        info = s.info(ev=10**9, price=(1, 10**6))
        r = await s.pay(info, type="lv2v")
        ev = s.bus.of_kind("signer.payment")[-1]
        assert ev.get("units") == 1_658_880_000  # 60 s preload
        s.clock.advance(1.5)
        r2 = await s.pay(info, state=r.state, type="lv2v", manifest_id="m")
        assert r2.status in (200, 482)
        last = (s.bus.of_kind("signer.payment") + s.bus.of_kind("signer.payment.rejected"))[-1]
        assert last.get("units") == 41_472_000


async def test_fixed_bills_one_unit_and_allows_state():
    async with Signer() as s:
        info = s.info(ev=3, price=(3, 1))
        mp = {"price": 4, "currency": "wei", "unit": "fixed"}
        r = await s.pay(info, type="fixed", in_pixels=1_000_000, max_price=mp)
        assert r.status == 200
        p = r.payment()
        assert len(p.ticket_sender_params) == 1 and (p.expected_price.pricePerUnit, p.expected_price.pixelsPerUnit) == (3, 1)
        st = r.decoded_state()
        assert (st.type, st.sequence_number, st.balance) == ("fixed", 0, "0")
        r2 = await s.pay(info, state=r.state, type="fixed", in_pixels=1_000_000, max_price=mp,
                         manifest_id="fixed-manifest")
        p2 = r2.payment()
        assert len(p2.ticket_sender_params) == 1
        assert p2.ticket_sender_params[0].sender_nonce != p.ticket_sender_params[0].sender_nonce
        st2 = r2.decoded_state()
        assert (st2.sequence_number, st2.balance) == (1, "0")


# ---- chain-backed validation (docs/tickets.md#what-the-signer-checks-in-the-params) ----------------------------------
async def test_chain_backed_sender_validation():
    from sim.pm.sender import SenderInfo

    async with Signer(SignerConfig(), chain=MemoryChain()) as s:
        s.core.chain.max_age_s = 0  # re-read every time for this test
        s.chain.senders[ADDR] = SenderInfo(deposit=0, reserve=10)
        r = await s.pay(s.info(), in_pixels=1)
        assert (r.status, r.message) == (400, "remote signer could not check whether to refresh session: "
                                              "no sender deposit")
        s.chain.senders[ADDR] = SenderInfo(deposit=10, reserve=0)
        r = await s.pay(s.info(), in_pixels=1)
        assert r.message.endswith("no sender reserve")
        s.chain.senders[ADDR] = SenderInfo(deposit=10, reserve=10, withdraw_round=s.chain.round + 1)
        r = await s.pay(s.info(), in_pixels=1)
        assert r.message.endswith("unable to validate sender: deposit and reserve is set to unlock soon")
        s.chain.senders[ADDR] = SenderInfo(deposit=254, reserve=10)
        r = await s.pay(s.info(ev=1), in_pixels=1)  # faceValue 255 > deposit 254
        assert r.message.endswith("ticket faceValue 255 > max faceValue 254")
        s.chain.senders[ADDR] = SenderInfo(deposit=10**18, reserve=10)
        r = await s.pay(s.info(ev=1, face_value=5, win_prob=2**256 - 1), in_pixels=1)
        assert r.message.endswith("ticket faceValue too low faceValue=5")
        r = await s.pay(s.info(expiration_block=0), in_pixels=1)
        assert r.message.endswith("ticketParams expiration block is 0")


async def test_max_ticket_ev_and_total_ev():
    from sim.pm.sender import SenderLimits

    cfg = SignerConfig(limits=SenderLimits(max_ticket_ev=Fraction(100), max_total_ev=Fraction(250)))
    async with Signer(cfg) as s:
        r = await s.pay(s.info(ev=101), in_pixels=1)
        assert r.status == 400 and r.message.endswith("ticket EV 101.00000 > max ticket EV 100.00000")
        # 3 tickets of EV 100 = 300 > 250: passes the 1-ticket check, fails the batch -> 500 with the cause
        r = await s.pay(s.info(ev=100), in_pixels=300)
        assert r.status == 500
        assert r.message == "total ticket EV 300.00000 for 3 tickets > max total ticket EV 250.00000"


async def test_chain_reads_are_cached():
    async with Signer(chain=MemoryChain()) as s:
        info = s.info()
        await s.pay(info, in_pixels=1)
        calls = s.chain.calls
        for _ in range(5):
            assert (await s.pay(info, in_pixels=1)).status == 200
        assert s.chain.calls == calls  # same virtual instant: no chain reads
        s.clock.advance(1)
        await s.pay(s.info(), in_pixels=1)
        assert s.chain.calls > calls


async def test_deposit_funded_just_now_is_seen():
    from sim.pm.sender import SenderInfo

    async with Signer(chain=MemoryChain()) as s:
        s.chain.senders[ADDR] = SenderInfo(deposit=0, reserve=10)
        assert (await s.pay(s.info(), in_pixels=1)).status == 400
        s.chain.senders[ADDR] = SenderInfo(deposit=10**18, reserve=10)
        s.clock.advance(0.1)  # within the 0.5 s cache, but a failing check re-reads once
        assert (await s.pay(s.info(), in_pixels=1)).status == 200


# ---- Go JSON quirks, routing, envelope -----------------------------------------------------------
async def test_json_quirks(signer):
    from sim.wire import gojson

    b64 = gojson.b64encode(signer.info().SerializeToString())
    # case-insensitive keys, unknown keys ignored, trailing garbage ignored, lowercase state/sig, null state
    body = ('{"ORCHESTRATOR":"%s","manifestid":"x","InPixels":1,"unknown":[1,2],"state":{"state":null,"sig":null}}'
            'trailing garbage' % b64).encode()
    r = await signer.post("/generate-live-payment", body)
    assert r.status == 200, r.body
    # go's json.Decoder reads the first value only: bytes after it that lpdev's bounds would refuse are not read
    good = b'{"orchestrator":"%s","inPixels":1}' % b64.encode()
    for tail in (b"\x00", b"[" * 100, b"9" * 200, b"\xff\xfe", b'{"a":' * 70):
        r = await signer.post("/generate-live-payment", good + tail)
        assert r.status == 200, (tail[:10], r.body)
    r = await signer.post("/generate-live-payment", b'{"orchestrator":' + b"[" * 100 + b"]" * 100 + b"}")
    assert r.status == 400 and r.message.startswith("body: nested deeper than 64 levels")  # the value itself
    for bad, want in [(b'{"orchestrator":"%s","inPixels":1.5}' % b64.encode(), "number 1.5"),
                      (b'{"orchestrator":"%s","inPixels":"1"}' % b64.encode(), "cannot unmarshal string"),
                      (b'{"orchestrator":"abc"}', "illegal base64 data at input byte"),
                      (b'{"orchestrator":"%s","state":"x"}' % b64.encode(), "RemotePaymentStateSig"),
                      (b"", "EOF"), (b"[]", "cannot unmarshal array")]:
        r = await signer.post("/generate-live-payment", bad)
        assert r.status == 400 and want in r.message, (bad, r.message)
    # no state at all, state null, both accepted
    r = await signer.post("/generate-live-payment", b'{"orchestrator":"%s","inPixels":1}' % b64.encode())
    assert r.status == 200
    r = await signer.post("/generate-live-payment", b'{"orchestrator":"%s","inPixels":1,"state":null}' % b64.encode())
    assert r.status == 200
    # maxPrice.price may be a string holding a number
    r = await signer.pay(signer.info(price=(10, 1)), type="fixed",
                         max_price={"price": "9.5", "currency": " WEI ", "unit": "Fixed"})
    assert r.status == 481 and "request maxPrice ceiling 9.500" in r.message


async def test_routing_and_orch_info(signer):
    r = await signer.post("/sign-orchestrator-info")
    assert r.status == 200
    assert r.body == {"address": "0x96216849c49358B10257cb55b28eA603c874b05E",
                      "signature": "0xa224e17c21555def269cf7f7c379a974b62870990c56c1ea81e6aeac3c5758be2a3e1bf6419b39e2d2"
                                   "45d7e309d02a492f5b9a5e7b9f8479c71dfbc24af8398d1b"}
    assert r.raw.endswith(b"}\n")
    r = await signer.post("/sign-orchestrator-info", method="GET")
    assert r.status == 405 and r.headers["Allow"] == "POST" and r.message
    r = await signer.post("/generate-live-payment", method="PUT")
    assert r.status == 405 and r.headers["Allow"] == "POST"
    r = await signer.post("/discover-orchestrators", method="GET")  # not enabled
    assert r.status == 404 and r.headers["Content-Type"] == "application/json"
    r = await signer.post("/nope")
    assert r.status == 404


async def test_response_shape_and_headers(signer):
    r = await signer.pay(signer.info(), in_pixels=1)
    assert r.status == 200 and list(r.body) == ["payment", "segCreds", "state"]
    assert list(r.body["state"]) == ["State", "Sig"] and r.raw.endswith(b"}\n")
    assert r.headers["Content-Type"] == "application/json"


# ---- limits ---------------------------------------------------------------------------------------
async def test_limits(signer):
    big = b'{"orchestrator":"' + b"A" * (1 << 20) + b'"}'
    r = await signer.post("/generate-live-payment", big)
    assert r.status == 413 and "request body too large" in r.message
    r = await signer.pay(signer.info(), in_pixels=1, manifest_id="m" * 2000)
    assert r.status == 400 and r.message.startswith("ManifestID too long")
    r = await signer.pay(signer.info(), in_pixels=1, capabilities=b"\x00" * 20000)
    assert r.status == 400 and r.message.startswith("capabilities too large")
    caps = make_caps({LV2V: [f"m{i}" for i in range(300)]})
    r = await signer.pay(signer.info(), in_pixels=1, capabilities=caps)
    assert r.status == 400 and "too many models" in r.message
    r = await signer.pay(signer.info(), in_pixels=1,
                         state={"State": base64.b64encode(b"x" * 20000).decode(), "Sig": None})
    assert r.status == 400 and r.message.startswith("state.State too large")


# ---- events ---------------------------------------------------------------------------------------
async def test_events_carry_the_numbers():
    async with Signer(SignerConfig(max_price=Fraction(200))) as s:
        info = s.info(ev=35, price=(150, 175))
        r = await s.pay(info, in_pixels=1000, manifest_id="mid")
        e = s.bus.of_kind("signer.payment")[-1]
        for k in ("fee", "billable_secs", "units", "ev", "face_value", "win_prob", "tickets", "nonce_first",
                  "nonce_last", "balance_before", "balance_after", "state_seq", "manifest_id",
                  "recipient_rand_hash", "status", "message", "state_id"):
            assert k in e.data, k
        assert (e.get("fee"), e.get("tickets"), e.get("balance_after"), e.get("units")) == ("6000/7", 25, "125/7", 1000)
        assert (e.get("nonce_first"), e.get("nonce_last"), e.get("status")) == (1, 25, 200)
        assert (e.get("ceiling"), e.get("ceiling_price")) == ("configured maximum price", "200")  # within it
        assert e.get("state")["SequenceNumber"] == 0 and e.get("state")["Balance"] == "125/7"
        r = await s.pay(s.info(price=(300, 1)), in_pixels=1)
        e = s.bus.of_kind("signer.payment.rejected")[-1]
        assert (e.get("status"), e.get("ceiling")) == (481, "configured maximum price")
        assert e.get("message").startswith("orchestrator price 300.000")


async def test_live_payment_real_handler_83_tickets_and_480_refresh():
    # server/live_payment_test.go 8-9: EV 2e7, price 1/1, lv2v preload -> 83 tickets; expired token -> 480
    async with Signer() as s:
        body = (b'{"state":{"State":null,"Sig":null},"orchestrator":"%s","ManifestID":"","inPixels":0,'
                b'"type":"lv2v","capabilities":null}')
        from sim.wire import gojson

        info = s.info(ev=20_000_000, price=(1, 1))
        r = await s.post("/generate-live-payment", body % gojson.b64encode(info.SerializeToString()).encode())
        assert r.status == 200, r.body
        pay = r.payment()
        assert len(pay.ticket_sender_params) == 83
        assert (pay.expected_price.pricePerUnit, pay.expected_price.pixelsPerUnit) == (1, 1)
        assert r.segcreds().auth_token == info.auth_token
        expired = s.info(ev=20_000_000, price=(1, 1), auth_expiration=int(s.clock.now()) + 10)
        r = await s.post("/generate-live-payment", body % gojson.b64encode(expired.SerializeToString()).encode())
        assert r.status == 480


async def test_unreachable_chain_is_a_500_with_cause():
    class Down(MemoryChain):
        def last_block(self):
            raise ConnectionError("connection refused")

    async with Signer(chain=Down()) as s:
        r = await s.pay(s.info(last_block=100), in_pixels=1)
        assert r.status == 500 and r.message == "cannot read the chain: ConnectionError: connection refused"


async def test_orchestrator_url_cannot_inject_headers(signer):
    info = signer.info(auth_expiration=0, transcoder="http://x\r\nEvil: 1\x00")
    r = await signer.pay(info, in_pixels=1)
    assert r.status == 480 and "Evil" not in r.headers
    assert r.headers["Livepeer-Orchestrator-URL"] == "http://x  Evil: 1"


async def test_oversized_ticket_param_numbers_are_400(signer):
    r = await signer.pay(signer.info(face_value=2**300), in_pixels=1)
    assert (r.status, r.message) == (400, "ticket_params.face_value too large: 38 bytes (limit 32)")
    r = await signer.pay(signer.info(win_prob=2**256), in_pixels=1)
    assert r.status == 400 and r.message.startswith("ticket_params.win_prob too large")


async def test_huge_max_price_exponent_is_refused_fast(signer):
    import time

    for price in ("1e9999999", "1E-99999999"):
        t = time.monotonic()
        r = await signer.pay(signer.info(), type="fixed", max_price={"price": price, "currency": "wei", "unit": "fixed"})
        assert r.status == 400 and r.message.startswith("maxPrice.price must be a positive decimal")
        assert time.monotonic() - t < 2
    body = (b'{"orchestrator":"%s","type":"fixed","maxPrice":{"price":1e9999999,"currency":"wei","unit":"fixed"}}'
            % __import__("sim.wire.gojson", fromlist=["x"]).b64encode(signer.info().SerializeToString()).encode())
    r = await signer.post("/generate-live-payment", body)
    assert r.status == 400 and "positive decimal" in r.message
    r = await signer.pay(signer.info(ev=2, price=(2, 1)), type="fixed",
                         max_price={"price": "1e2", "currency": "wei", "unit": "fixed"})
    assert r.status == 200  # ordinary exponents still work


@pytest.mark.parametrize("profile", ["go-livepeer", "livepeer-node"])
async def test_a_port_in_use_leaves_no_runner_behind(profile):
    import socket

    from sim.signer.core import SignerCore
    from sim.signer.http import SignerServer

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        s = SignerServer(SignerCore(key=KEY, chain=MemoryChain(), config=SignerConfig(profile=profile)),
                         port=taken.getsockname()[1])
        made = []
        make = s._make_runner
        s._make_runner = lambda app: made.append(make(app)) or made[-1]
        with pytest.raises(OSError):
            await s.start()
        assert len(made) == 1 and made[0].server is None  # set up, then cleaned up: nothing left serving
        assert s._runner is None and s._metrics_runner is None
    finally:
        taken.close()
