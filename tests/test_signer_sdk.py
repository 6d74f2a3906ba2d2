"""The livepeer-gateway SDK's signer calls work against lpdev's signer over TLS with a bare host:port."""
from __future__ import annotations

import base64

import pytest

sdk = pytest.importorskip("livepeer_gateway")

from livepeer_gateway import lp_rpc_pb2 as sdk_pb  # noqa: E402
from livepeer_gateway.remote_signer import PaymentSession, get_orch_info_sig  # noqa: E402

from sim.clock import RealClock  # noqa: E402
from sim.pm.crypto import recover_personal  # noqa: E402
from sim.signer.config import SignerConfig  # noqa: E402
from sim.signer.core import SignerCore  # noqa: E402
from sim.signer.http import SignerServer  # noqa: E402
from sim.signer.testkit import MemoryChain, make_orch_info  # noqa: E402
from sim.wire import codec  # noqa: E402
from sim.wire import lp_rpc_pb2 as pb  # noqa: E402

from tests.test_signer_harness import ADDR, KEY, server_in_thread  # noqa: E402

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
