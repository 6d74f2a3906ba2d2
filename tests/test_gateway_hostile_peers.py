"""The scripted gateway's peers are other services: a signer or an orchestrator that answers something lpdev cannot
read makes a payment outcome with the reason and a ``gateway.error`` event, never an exception out of
``pay_once`` (sim/gateway/session.py's promise), nor out of an LV2V job's start."""
from __future__ import annotations

import base64

import pytest
from aiohttp import web

from sim.events import EventBus
from sim.gateway.job import JobError, LV2VJob
from sim.gateway.session import GatewayConfig, GatewaySession
from sim.signer.testkit import make_orch_info
from sim.wire import lp_rpc_pb2 as pb
from tests.loopback import LoopbackApp

ADDRESS = "0x" + "11" * 20
GOOD_PAYMENT = base64.b64encode(pb.Payment(sender=bytes(20)).SerializeToString()).decode()
GOOD_SEG = base64.b64encode(pb.SegData(manifestId=b"m1").SerializeToString()).decode()


class Peers(LoopbackApp):
    """One HTTP server playing the signer (``/sign-orchestrator-info``, ``/generate-live-payment``) and the
    orchestrator's ``/payment``, each answering what the test sets."""

    def __init__(self) -> None:
        self.info_answer = (200, {"address": ADDRESS, "signature": "0x" + "22" * 65})
        self.pay_answer: tuple[int, object] = (200, {"payment": GOOD_PAYMENT, "segCreds": GOOD_SEG,
                                                     "state": {"State": None, "Sig": None}})
        self.orch_answer = (200, pb.PaymentResult().SerializeToString())

    def routes(self, app: web.Application) -> None:
        def route(name: str):
            async def answer(_request):
                status, doc = getattr(self, name)
                if isinstance(doc, bytes):
                    return web.Response(status=status, body=doc)
                return web.json_response(doc, status=status)
            return answer

        app.router.add_post("/sign-orchestrator-info", route("info_answer"))
        app.router.add_post("/generate-live-payment", route("pay_answer"))
        app.router.add_post("/payment", route("orch_answer"))

    def session(self, *, started: bool = True) -> GatewaySession:
        s = GatewaySession(GatewayConfig(job_type="lv2v"), signer_urls=[self.url], orchestrator_url=self.url,
                           bus=EventBus())
        if started:  # skip GetOrchestrator (gRPC): the info a start would have fetched
            s.info = make_orch_info(transcoder=self.url)
        return s


def _errors(s: GatewaySession) -> list[str]:
    return [e.data["message"] for e in s.bus.recent if e.kind == "gateway.error"]


async def test_a_good_answer_pays():
    async with Peers() as p:
        s = p.session()
        try:
            out = await s.pay_once()
        finally:
            await s.close()
    assert (out.status, s.manifest_id, _errors(s)) == ("paid", "m1", [])


@pytest.mark.parametrize("answer,reason", [
    ((200, {"address": 5}), '/sign-orchestrator-info answer: want {"address": hex, "signature": hex}'),
    ((200, b"[" * 10_000), "/sign-orchestrator-info answer: nested deeper than 64 levels"),
    ((503, {"error": "down"}), "remote signer returned status 503"),
])
async def test_a_bad_sign_orchestrator_info_answer_is_an_outcome(answer, reason):
    async with Peers() as p:
        p.info_answer = answer
        s = p.session(started=False)
        try:
            out = await s.pay_once()
        finally:
            await s.close()
    assert out.status == "signer_error" and out.message.startswith(reason), out.message
    assert _errors(s) == [out.message] and s.outcomes == [out]


@pytest.mark.parametrize("body,reason", [
    ({"payment": "!!", "segCreds": GOOD_SEG}, "unreadable payment: illegal base64 data at input byte 0"),
    ({"payment": base64.b64encode(b"\xff\xff").decode(), "segCreds": GOOD_SEG}, "unreadable payment"),
    ({"payment": 5, "segCreds": GOOD_SEG}, "without a payment"),
    ({"segCreds": GOOD_SEG}, "without a payment"),
    ({"payment": GOOD_PAYMENT, "segCreds": "!!"}, "unreadable segCreds: illegal base64 data"),
    ({"payment": GOOD_PAYMENT, "segCreds": None}, "unreadable segCreds"),
])
async def test_an_unreadable_200_from_the_signer_is_an_outcome(body, reason):
    async with Peers() as p:
        p.pay_answer = (200, {**body, "state": {"State": None, "Sig": None}})
        s = p.session()
        try:
            out = await s.pay_once()
        finally:
            await s.close()
    assert out.status == "signer_error" and reason in out.message, out.message
    assert out.signer_status == 200 and out.orch_status is None  # nothing was forwarded
    assert _errors(s) == [out.message] and s.state is None  # the answer's state is not adopted


@pytest.mark.parametrize("answer,reason", [
    ((200, b"\xff\xff\xff"), "/payment answer is not a PaymentResult"),
    ((200, b"\x0a" + b"\xff" * 10), "/payment answer is not a PaymentResult"),
])
async def test_an_unreadable_payment_result_is_an_outcome(answer, reason):
    async with Peers() as p:
        p.orch_answer = answer
        s = p.session()
        try:
            out = await s.pay_once()
        finally:
            await s.close()
    assert (out.status, out.orch_status) == ("orch_error", 200) and out.message.startswith(reason), out.message
    assert _errors(s) == [out.message] and s.payments == 0


async def test_an_lv2v_job_start_rejects_unreadable_answers():
    async with Peers() as p:
        p.info_answer = (200, {"address": 5})
        s = p.session(started=False)
        try:
            with pytest.raises(JobError, match="/sign-orchestrator-info answer"):
                await LV2VJob(s).start()
            s.info = make_orch_info(transcoder=p.url)
            p.pay_answer = (200, {"payment": "!!", "segCreds": GOOD_SEG})
            with pytest.raises(JobError, match="unreadable payment") as ei:
                await LV2VJob(s).start()
            assert ei.value.stage == "signer"
        finally:
            await s.close()
