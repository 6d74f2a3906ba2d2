"""The livepeer-gateway SDK's signer calls work against lpdev's signer over TLS with a bare host:port."""
from __future__ import annotations

import base64

import pytest
# the SDK is installed by `make` (see README): a broken install fails here, it is not skipped
from livepeer_gateway import lp_rpc_pb2 as sdk_pb
from livepeer_gateway.remote_signer import PaymentSession, get_orch_info_sig

from sim.clock import RealClock
from sim.pm.crypto import recover_personal
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer
from sim.signer.testkit import MemoryChain, make_orch_info
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb

from tests.test_signer_harness import ADDR, KEY, server_in_thread

pytestmark = pytest.mark.sdk


@pytest.fixture
def tls_signer():
    core = SignerCore(key=KEY, chain=MemoryChain(), config=SignerConfig(), clock=RealClock())
    with server_in_thread(SignerServer(core, tls=True)) as server:
        yield server


def test_sdk_get_orch_info_sig(tls_signer):
    m = get_orch_info_sig(f"127.0.0.1:{tls_signer.port}")  # no scheme: the SDK assumes https
    addr = bytes.fromhex(m.address[2:])
    sig = bytes.fromhex(m.sig[2:])
    assert addr == ADDR
    assert codec.orch_request_signer(addr, sig) == ADDR


def test_sdk_payment_session_round_trips_state(tls_signer):
    info = sdk_pb.OrchestratorInfo.FromString(make_orch_info(ev=10**9, price=(1, 10**6)).SerializeToString())
    session = PaymentSession(f"127.0.0.1:{tls_signer.port}", info, type="lv2v")
    p1 = session.get_payment()
    assert p1.payment and p1.seg_creds
    session.set_manifest_id("sdk-manifest")
    p2 = session.get_payment()
    pay = pb.Payment.FromString(base64.b64decode(p2.payment))
    seg = pb.SegData.FromString(base64.b64decode(p2.seg_creds))
    assert seg.manifestId == b"sdk-manifest" and codec.verify_segcreds(seg, ADDR)
    for t, sig in codec.payment_tickets(pay):
        assert recover_personal(t.hash(), sig) == ADDR
    state = session._state
    assert set(state) == {"State", "Sig"}
    assert b'"SequenceNumber":1' in base64.b64decode(state["State"])


# ---- every profile, through the SDK's Live Runner path, against lpdev's orchestrator ----------------------------
import asyncio  # noqa: E402
from fractions import Fraction  # noqa: E402

from livepeer_gateway.errors import LivepeerHTTPError  # noqa: E402
from livepeer_gateway.live_runner import call_runner  # noqa: E402
from livepeer_gateway.remote_signer import LivePaymentChallenge, LivePaymentSession  # noqa: E402

from sim.events import EventBus  # noqa: E402
from sim.signer.profiles import PROFILE_NAMES, get_profile  # noqa: E402

RUNNER_EV = 10**11  # 100 tickets = 1e13 wei of EV, within the signer's 2e13 batch limit
UNITS = {"seconds": "live", "fixed": "fixed", "720p-pixel-seconds": "lv2v"}


# Dev runners are priced in USD and converted through the chain's ETH/USD feed, held at 3000 USD/ETH here:
# 1 USD = 10^18/3000 wei. These USD prices make every payment need tickets at RUNNER_EV.
USD_PER_ETH = 3000
RUNNER_USD = {"seconds": ("2.16", "hour"),  # 2e11 wei per second
              "fixed": ("0.0015", "fixed"),  # 5e11 wei per session
              "720p-pixel-seconds": ("1.1943936", "720p")}  # 4000 wei per 720p pixel-second


@pytest.fixture
async def orch_and_chain(tmp_path):
    import devnet
    from sim.orchestrator import OrchestratorServer

    chain = devnet.open_chain("mock")
    assert chain.set_eth_usd(USD_PER_ETH).ok
    bus = EventBus()
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=3600,
                                  bus=bus, ticket_ev=RUNNER_EV, price_per_unit=1000, auto_adjust_price=False,
                                  orch_secret="abcdef") as o:
        o.bus = bus
        yield o, chain
    chain.close()


async def _runner(o, price: str, unit: str):
    """A built-in dev runner registered with ``o`` over heartbeats, as an SDK runner would be."""
    from sim.runners import start_dev_runner

    return await start_dev_runner("noop", o.url, "abcdef", price=price, unit=unit)


def _signer(chain, profile: str, bus: EventBus | None = None, clock=None) -> SignerServer:
    cfg = SignerConfig(profile=profile)
    if get_profile(profile).usd_ceilings and getattr(chain, "eth_usd", None) is None:
        cfg.wei_per_usd = Fraction(10**18, 3000)  # livepeer-node WeiPerUSD (a chain without the feed interface)
    core = SignerCore(key=chain.key("sender"), chain=chain, config=cfg, clock=clock or RealClock(), events=bus)
    return SignerServer(core, tls=True, metrics_port=False)


def _bare(url: str) -> str:
    return url.split("://", 1)[1]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("unit", list(UNITS))
async def test_sdk_pays_a_live_runner_through_each_profile(orch_and_chain, profile, unit):
    o, chain = orch_and_chain
    # prices that need tickets on every payment: live >= 1 s a call, lv2v a second of pixels (60 s preload: 66)
    runner = await _runner(o, *RUNNER_USD[unit])
    extra = {"seconds": 2, "fixed": 0, "720p-pixel-seconds": 1}[unit]
    allowed = UNITS[unit] in get_profile(profile).job_types
    async with _signer(chain, profile) as s:
        call = call_runner(f"{o.url}/apps/{runner.runner_id}/session", payload={}, signer_url=_bare(s.url),
                           payment_unit=unit)
        if not allowed:  # livepeer-node refuses lv2v with its own status and envelope
            with pytest.raises(LivepeerHTTPError) as exc:
                await call
            assert exc.value.status_code == 400 and '{"error":"payment type must be live or fixed"}' in str(exc.value)
            return
        result = await call
        mid = result.session_id
        assert mid and o.orch.ledger.balance(s.core.address, mid) is not None
        assert (result.payment_session is None) == (unit == "fixed")
        for _ in range(extra):  # metered: the session pays on
            if unit == "720p-pixel-seconds":
                await asyncio.sleep(1.1)
            await result.payment_session.send_payment()
    await runner.aclose()
    paid = [e for e in o.bus.recent if e.kind == "orch.payment_received" and e.data.get("manifest_id") == mid]
    assert len(paid) == 1 + extra and all(e.data["tickets"] >= 1 for e in paid)
    assert not [e for e in o.bus.recent if e.kind == "orch.payment_rejected"]


async def _reserved_session(o, signer_url: str, payer: str, app_path: str) -> LivePaymentSession:
    """What the SDK's call_runner does: the 402 challenge, the first payment reserves the session; the
    LivePaymentSession then keeps paying to the challenge's payment_url on the same params."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
        async with http.post(o.url + app_path, data=b"{}", headers={"Livepeer-Payer-Address": payer}) as r:
            assert r.status == 402
            ch = await r.json()
        challenge = LivePaymentChallenge(payment_params=ch["payment_params"], manifest_id=ch["manifest_id"],
                                         payment_url=ch["payment_url"])
        session = LivePaymentSession(signer_url, type="live", challenge=challenge)
        first = await session.get_payment()
        async with http.post(o.url + app_path, data=b"{}",
                             headers={"Livepeer-Payment": first.payment, "Livepeer-Segment": first.seg_creds}) as r:
            assert r.status == 200, await r.text()
    return session


@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_sdk_session_reusing_params_rides_the_nonce_500_refresh(orch_and_chain, profile):
    """The SDK's LivePaymentSession keeps one set of params until a 480. A metered runner at 1e12 wei a second
    (10 x RUNNER_EV): the reservation preloads 10 s (100 tickets, nonces 1-100), then each payment 5 s later needs
    50 more on the same recipientRandHash. Under go-livepeer 0.9.3 and livepeer-node the signer answers 480 once the
    carried nonce reaches 500, the SDK refreshes (/refresh-payment) and every payment lands; under 0.9.1 the 11th
    follow-up carries nonces 601-650 and the orchestrator refuses it (it keeps at most 600 per recipientRand)."""
    from sim.clock import VirtualClock

    o, chain = orch_and_chain
    runner = await _runner(o, "10.8", "hour")  # 1e12 wei a second at 3000 USD/ETH
    bus, clock = EventBus(), VirtualClock()
    async with _signer(chain, profile, bus, clock=clock) as s:
        payer = s.core.address_hex
        session = await _reserved_session(o, _bare(s.url), payer, f"/apps/{runner.runner_id}/session")
        refreshes = get_profile(profile).nonce_refresh_at is not None
        outcomes = ["paid"]  # the reservation
        for _ in range(12):
            clock.advance(5)  # the signer bills the time since the last payment
            try:
                await session.send_payment()
                outcomes.append("paid")
            except LivepeerHTTPError as exc:
                outcomes.append(exc.status_code)
                break
    await runner.aclose()
    rejected = [e for e in bus.recent if e.kind == "signer.payment.rejected"]
    received = [e for e in o.bus.recent if e.kind == "orch.payment_received"]
    tickets = [e.data["tickets"] for e in received]
    if refreshes:
        assert outcomes == ["paid"] * 13, outcomes  # no gap: every payment accepted by the orchestrator
        assert [e.data["status"] for e in rejected] == [480]
        assert rejected[0].data["refresh"].startswith("nonce ") and rejected[0].data["refresh"].endswith(">= 500")
        assert tickets[0] == 100 and sum(tickets) >= 100 + 12 * 50
        assert not [e for e in o.bus.recent if e.kind == "orch.payment_rejected"]
    else:
        assert outcomes == ["paid"] * 11 + [400], outcomes  # the 11th follow-up reaches nonce 601: too many values
        bad = [e for e in o.bus.recent if e.kind == "orch.payment_rejected"]
        assert "invalid ticket senderNonce: too many values" in bad[0].data["message"]
