"""The real livepeer-gateway SDK (1.0.0, installed with --ignore-requires-python: it declares Python >= 3.12) against
the stack `lpdev up` runs (same code path: stack.stack.Stack with the LIVE policy), on anvil: TOFU gRPC GetOrchestrator with the
signer, repeated PaymentSession payments with the signer state round-tripped, a forced 480 (40 blocks mined) that
the SDK's refresh handles, signer discovery (--remote-discovery) and the token `lpdev token` prints.

The SDK is blocking (urllib, sync gRPC), so the stack runs on its own loop in a thread (UpStackThread)."""
from __future__ import annotations

import base64
import json

import pytest

pytest.importorskip("livepeer_gateway", reason="the livepeer-gateway SDK is installed by `make` (see README)")

from livepeer_gateway import PaymentSession, get_orch_info  # noqa: E402
from livepeer_gateway.discovery import discover_orchestrators  # noqa: E402
from livepeer_gateway.token import parse_token  # noqa: E402

from stack.cast import cast_document  # noqa: E402
from tests.stacks import up_spec  # noqa: E402
from stack.thread import StackThread as UpStackThread  # noqa: E402

pytestmark = [pytest.mark.sdk, pytest.mark.anvil]


def bare(url: str) -> str:
    """``https://127.0.0.1:P`` -> ``127.0.0.1:P``: what a user types; the SDK adds https:// itself."""
    return url.split("://", 1)[1]


@pytest.fixture(scope="module")
def up():
    cfg = up_spec(chain="anvil", orchestrators=2, signers=1, gateway=False, seed=3, remote_discovery=True, block_time=0,
                   # "fixed" payments at price = ticket EV: every call owes exactly one ticket, so repeated calls
                   # seconds apart all pay (lv2v would preload 60 s and answer 482 until that is used up)
                   price_per_unit=10**15, ticket_ev=10**15)
    with UpStackThread(cfg) as t:
        yield t


def events(t, kind, since=0):
    return [e for e in list(t.stack.bus.recent) if e.kind == kind and e.seq > since]


def last_seq(t) -> int:
    r = list(t.stack.bus.recent)
    return r[-1].seq if r else 0


def state_doc(state: dict) -> dict:
    return json.loads(base64.b64decode(state.get("State") or state.get("state")))


def test_get_orch_info_with_signer_over_tofu_grpc(up):
    s, o = up.stack.signers["signer"], up.stack.orchestrators["orch"]
    seq = last_seq(up)
    info = get_orch_info(bare(o.url), signer_url=bare(s.url))
    assert info.transcoder == o.url
    assert "0x" + info.address.hex() == o.address.lower()
    assert info.ticket_params.recipient == info.address
    assert info.price_info.pricePerUnit == 10**15 and info.price_info.pixelsPerUnit == 1
    assert info.auth_token.session_id and info.auth_token.expiration > 0
    issued = events(up, "orch.params_issued", seq)
    assert issued and issued[-1].data["sender"].lower() == s.address.lower()  # the signer's identity was accepted


def test_payment_session_repeated_with_state_round_trip(up):
    s, o = up.stack.signers["signer"], up.stack.orchestrators["orch"]
    info = get_orch_info(bare(o.url), signer_url=bare(s.url))
    p = PaymentSession(bare(s.url), info, type="fixed")
    p.set_manifest_id("sdk-roundtrip")
    seq = last_seq(up)
    seqnos = []
    for _ in range(3):
        p.send_payment()
        seqnos.append(state_doc(p._state)["SequenceNumber"])
    assert seqnos == sorted(seqnos) and len(set(seqnos)) == 3  # each reply's state came back in the next request
    paid = events(up, "signer.payment", seq)
    assert len(paid) == 3
    assert not events(up, "signer.payment.rejected", seq)
    received = [e for e in events(up, "orch.payment_received", seq) if e.data["manifest_id"] == "sdk-roundtrip"]
    assert len(received) == 3 and received[0].data["tickets"] >= 1
    credits = [e for e in events(up, "orch.credit", seq) if e.data["manifest_id"] == "sdk-roundtrip"]
    assert len(credits) == 3


def test_forced_480_after_40_blocks_is_refreshed_by_the_sdk(up):
    s, o = up.stack.signers["signer"], up.stack.orchestrators["orch"]
    info = get_orch_info(bare(o.url), signer_url=bare(s.url))
    p = PaymentSession(bare(s.url), info, type="fixed")
    p.set_manifest_id("sdk-480")
    p.send_payment()
    exp_before = int.from_bytes(p._info.ticket_params.expiration_block, "big")
    up.call(up.stack.mine_blocks(40))
    seq = last_seq(up)
    p.send_payment()  # 480 from the signer -> SDK calls GetOrchestrator again -> retries -> 200
    rejected = events(up, "signer.payment.rejected", seq)
    assert [e.data["status"] for e in rejected] == [480]
    assert events(up, "orch.params_issued", seq), "the SDK did not refresh with GetOrchestrator"
    exp_after = int.from_bytes(p._info.ticket_params.expiration_block, "big")
    assert exp_after >= exp_before + 40
    ok = [e for e in events(up, "orch.payment_received", seq) if e.data["manifest_id"] == "sdk-480"]
    assert len(ok) == 1


def test_signer_discovery_lists_every_orchestrator(up):
    s = up.stack.signers["signer"]
    found = discover_orchestrators(None, signer_url=bare(s.url))
    assert sorted(found) == sorted(o.url for o in up.stack.orchestrators.values())
    for url in found:  # each one answers the SDK
        assert get_orch_info(url, signer_url=bare(s.url)).transcoder == url


def test_token_from_lpdev_token_drives_the_sdk(up, tmp_path, capsys):
    from lpdev.cli import main
    from stack.cast import write_atomic

    path = tmp_path / "stack.json"
    write_atomic(path, up.call(_cast(up.stack)))  # built on the stack's loop, as `lpdev up` does
    assert main(["token", "--config", str(path)]) == 0
    token = capsys.readouterr().out.strip()
    t = parse_token(token)
    assert t["signer"] == up.stack.signers["signer"].url
    assert t["orchestrators"] == [o.url for o in up.stack.orchestrators.values()]
    for url in discover_orchestrators(t["orchestrators"], signer_url=t["signer"]):
        info = get_orch_info(url, signer_url=t["signer"], signer_headers=t["signer_headers"])
        assert info.transcoder == url
    assert main(["token", "--config", str(path), "--discovery-only"]) == 0
    t2 = parse_token(capsys.readouterr().out.strip())
    assert t2["orchestrators"] is None
    assert sorted(discover_orchestrators(t2["orchestrators"], signer_url=t2["signer"])) == sorted(
        o.url for o in up.stack.orchestrators.values())


async def _cast(stack):
    return cast_document(stack)


@pytest.mark.slow
async def test_sdk_start_lv2v_noop_job_is_paid_through_the_signer():
    """What the banner's `examples/write_frames.py` command does: start_lv2v on the default demo prices."""
    from livepeer_gateway.lv2v import StartJobRequest, start_lv2v

    from sim.media import mpegts

    cfg = up_spec(chain="anvil", gateway=False, block_time=0)
    with UpStackThread(cfg) as t:
        o, s = t.stack.orchestrators["orch"], t.stack.signers["signer"]
        job = start_lv2v(bare(o.url), StartJobRequest(model_id="noop"), signer_url=bare(s.url))
        try:
            assert job.manifest_id and job.publish_url == f"{o.url}/ai/trickle/{job.manifest_id}"
            await mpegts.publish(job.publish_url, 3, client="sdk")
        finally:
            await job.close()
        paid = events(t, "signer.payment")
        assert paid and paid[0].data["tickets"] == 17  # 60 s preload of 720p30 at 1e7 wei/pixel, EV 1e15
        assert events(t, "orch.lv2v_started") and events(t, "trickle.job.segment")
