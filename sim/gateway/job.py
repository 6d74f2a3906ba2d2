"""A paid ``noop`` live-video-to-video job run by the scripted gateway, the way the livepeer-gateway SDK runs one
(docs/orchestrator.md#live-video-to-video; docs/orchestrator.md#trickle-channels), in lpdev's own code — no SDK at run
time.

1. **Start** (SDK ``start_lv2v``): a stateless ``/generate-live-payment`` (no manifest id yet: the signer makes a
   throwaway one, and bills the 60 s LV2V preload), then ``POST {transcoder}/live-video-to-video`` with JSON
   ``{"model_id": …}`` and the ``Livepeer-Payment`` / ``Livepeer-Segment`` headers. The orchestrator credits the
   payment to its own new manifest id and answers the four trickle URLs; every later payment carries that id
   (docs/orchestrator.md#live-video-to-video).
2. **Publish**: generated MPEG-TS segments (:mod:`sim.media.mpegts`) to ``publish_url`` at a real-time pace, with
   lpdev's trickle client (:mod:`sim.trickle.client`).
3. **Read** ``subscribe_url`` (the noop pipeline echoes every input segment byte for byte) and ``events_url``
   (the job's status messages: the orchestrator's stop reason).
4. **Pay** like the SDK's ``_payment_sender``: on an output segment, when at least ``payment_interval_s`` passed
   since the last payment (the first output segment pays at once), one payment cycle of the
   :class:`~sim.gateway.session.GatewaySession` (signer -> ``POST /payment``; 480 refresh, 482 skip). Meanwhile the
   orchestrator debits the job per input segment (``orch.debit``).
5. **Stop**: wait until the published segments came back (bounded), then ``DELETE publish_url``; the orchestrator
   stops the job with reason ``input closed`` (it reads the end of its input), closes the channels, and the
   gateway reads that reason from the events channel.

Events (actor = the gateway's name) carry manifest ids, seqs and sizes, never URLs (stable traces).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

import aiohttp

from sim.events import register_kinds
from sim.gateway.session import (_TRANSPORT_ERRORS, GatewaySession, PaymentOutcome, SignerAnswerError, _describe,
                                 _payment_summary, _state_summary)
from sim.gateway.orch_client import GetOrchestratorError
from sim.trickle.client import ChannelGone, TrickleError, TricklePublisher, TrickleSubscriber
from sim.wire import bounded

__all__ = ["JobConfig", "JobError", "LV2VJob", "LV2V_PATH", "CAP_LIVE_VIDEO_TO_VIDEO", "lv2v_capabilities"]

LV2V_PATH = "/live-video-to-video"
CAP_LIVE_VIDEO_TO_VIDEO = 35  # net.Capability_LiveVideoToVideo

register_kinds({
    "gateway.job_started": "POST /live-video-to-video answered 200: a paid LV2V job runs (manifest id, model, "
                           "upfront tickets)",
    "gateway.job_rejected": "a job could not start: the upfront payment or POST /live-video-to-video failed "
                            "(stage, status, message)",
    "gateway.segment_published": "the gateway published a generated MPEG-TS segment to the job's input (seq, bytes)",
    "gateway.segment_received": "the gateway read an output segment of the job (seq, bytes, echoed = the same "
                                "bytes it published)",
    "gateway.input_closed": "the gateway closed the job's input (DELETE publish_url)",
    "gateway.job_stopped": "the job ended: the orchestrator's reason (events channel), segments published, "
                           "received and echoed, payments",
})


def lv2v_capabilities(model_id: str) -> bytes:
    """The SDK's ``build_capabilities(LIVE_VIDEO_TO_VIDEO, model_id)``: capacity 1 of capability 35, constrained to
    the model (sent to the signer as ``capabilities``)."""
    from sim.wire import lp_rpc_pb2 as pb

    caps = pb.Capabilities()
    caps.capacities[CAP_LIVE_VIDEO_TO_VIDEO] = 1
    caps.constraints.PerCapability[CAP_LIVE_VIDEO_TO_VIDEO].models[model_id]  # noqa: B018 - creates the entry
    return caps.SerializeToString()


@dataclass
class JobConfig:
    model_id: str = "noop"
    params: Optional[dict] = None
    stream_id: Optional[str] = None
    segment_s: float = 1.0  # seconds of video per generated segment, and the publish pace
    payment_interval_s: float = 5.0  # the SDK's _payment_sender: at most one payment per 5 s of output
    encoder: str = "pure"  # sim.media.mpegts encoder: "pure" needs nothing installed
    drain_s: float = 5.0  # on stop: how long to wait for published segments to come back before closing the input
    timeout_s: float = 10.0  # HTTP calls (the SDK uses 5 s for /live-video-to-video)


class JobError(Exception):
    """The job did not start: ``stage`` (signer | orchestrator), HTTP status (0 = unreachable) and message."""

    def __init__(self, stage: str, status: int, message: str) -> None:
        super().__init__(f"{stage} answered {status}: {message}" if status else f"{stage}: {message}")
        self.stage, self.status, self.message = stage, status, message


class LV2VJob:
    """One job on the session's orchestrator, paid through the session's signer. ``await job.start()`` then
    ``await job.run(stop=…, segments=…)`` (publishes, reads, pays, then stops the job cleanly)."""

    def __init__(self, session: GatewaySession, config: Optional[JobConfig] = None, *,
                 before_payment: Optional[Callable[[], Awaitable[None]]] = None,
                 on_payment: Optional[Callable[[PaymentOutcome], None]] = None) -> None:
        self.session = session
        self.config = config or JobConfig()
        self.before_payment = before_payment  # e.g. the stack's step gate
        self.on_payment = on_payment
        self.manifest_id: Optional[str] = None
        self.urls: dict = {}
        self.upfront_tickets = 0
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self.echoed = 0  # received segments equal to the published segment at the same position
        self.payments: list[PaymentOutcome] = []
        self.status_events: list[dict] = []  # JSON messages read from events_url
        self.stop_reason: Optional[str] = None
        self._http: Optional[aiohttp.ClientSession] = None
        self._out_segment = asyncio.Event()
        self._output_ended = asyncio.Event()
        self._offline = asyncio.Event()
        self._paying = True
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------------ helpers
    def _emit(self, kind: str, **data) -> None:
        self.session.bus.emit(self.session.name, kind, **data)

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        return self._http

    def _reject(self, stage: str, status: int, message: str) -> JobError:
        self._emit("gateway.job_rejected", orchestrator=self.session.orchestrator_name, stage=stage, status=status,
                   message=message, model_id=self.config.model_id)
        return JobError(stage, status, message)

    # ------------------------------------------------------------------ 1. start
    async def start(self) -> str:
        """Upfront payment + ``POST /live-video-to-video``; returns the orchestrator's manifest id. Raises
        :class:`JobError` (after a ``gateway.job_rejected`` event)."""
        s = self.session
        if s.config.capabilities is None:
            s.config.capabilities = lv2v_capabilities(self.config.model_id)
        if s.config.job_type != "lv2v":
            raise ValueError(f"an LV2V job pays with type lv2v, not {s.config.job_type!r}")
        try:
            if s.info is None:
                await s.start()
        except GetOrchestratorError as exc:
            raise self._reject("orchestrator", 0, f"GetOrchestrator failed: {exc}") from None
        except _TRANSPORT_ERRORS as exc:
            raise self._reject("signer", 0, f"failed to call remote signer: {_describe(exc)}") from None
        except (RuntimeError, ValueError) as exc:  # sign-orchestrator-info refused ("remote signer returned status
            raise self._reject("signer", 0, str(exc)) from None  # <code>: <body>") or unreadable
        # a new job is a new payment session (the SDK makes a PaymentSession per job): no state, no manifest id
        s.state, s.manifest_id = None, None
        try:
            reply, _ = await s.request_payment()
        except _TRANSPORT_ERRORS as exc:
            raise self._reject("signer", 0, f"failed to call remote signer: {_describe(exc)}") from None
        except (RuntimeError, GetOrchestratorError) as exc:
            raise self._reject("signer", 480, str(exc)) from None
        if reply.status != 200:
            s._emit("gateway.signer_reply", signer=reply.signer, status=reply.status, message=reply.message,
                    tickets=0)
            raise self._reject("signer", reply.status, reply.message)
        try:
            _, summ = _payment_summary(reply.payment)
        except SignerAnswerError as exc:
            raise self._reject("signer", 200, str(exc)) from None
        summ.update(_state_summary(reply.state))
        s._emit("gateway.signer_reply", signer=reply.signer, status=200, **summ)
        s.state = reply.state
        body = {"model_id": self.config.model_id}
        if self.config.params is not None:
            body["params"] = self.config.params
        if self.config.stream_id is not None:
            body["stream_id"] = self.config.stream_id
        url = (s.info.transcoder or s.orch.service_uri).rstrip("/") + LV2V_PATH
        headers = {"Livepeer-Payment": reply.payment, "Livepeer-Segment": reply.seg_creds,
                   "Content-Type": "application/json", "Accept": "application/json"}
        http = await self._session()
        try:
            async with http.post(url, data=json.dumps(body).encode(), headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)) as r:
                raw = await bounded.read_reply(r)  # the orchestrator is another service: bounded
                status = r.status
        except _TRANSPORT_ERRORS as exc:
            raise self._reject("orchestrator", 0, f"orchestrator unreachable: {_describe(exc)}") from None
        if status != 200:
            raise self._reject("orchestrator", status, raw[:4096].decode("utf-8", "replace").strip())
        try:
            doc = bounded.loads_json(raw, what="/live-video-to-video answer")
            mid = doc["manifest_id"]
            if not isinstance(mid, str) or not mid:
                raise ValueError("empty manifest_id")
            self.urls = {k: doc[k] for k in ("publish_url", "subscribe_url", "control_url", "events_url")}
        except (ValueError, KeyError, TypeError) as exc:
            raise self._reject("orchestrator", status, f"bad /live-video-to-video answer: {exc}") from None
        # every later payment is for the orchestrator's id (docs/orchestrator.md#live-video-to-video)
        self.manifest_id = s.manifest_id = mid
        self.upfront_tickets = summ["tickets"]
        s.payments += 1
        s.tickets += summ["tickets"]
        self._emit("gateway.job_started", orchestrator=s.orchestrator_name, manifest_id=mid,
                   model_id=self.config.model_id, tickets=summ["tickets"], nonces=summ["nonces"],
                   payment_interval_s=self.config.payment_interval_s, segment_s=self.config.segment_s)
        return mid

    # ------------------------------------------------------------------ 2-5. run
    async def run(self, stop: Optional[asyncio.Event] = None, segments: Optional[int] = None) -> "LV2VJob":
        """Publish ``segments`` segments (forever if None) one per ``segment_s`` until ``stop`` is set, the job
        ends on the orchestrator's side, or the session stops; then stop the job cleanly. Returns self."""
        from sim.media import mpegts

        if self.manifest_id is None:
            await self.start()
        stop = stop or asyncio.Event()
        cfg = self.config
        mid = self.manifest_id
        http = await self._session()
        self._tasks = [asyncio.create_task(self._read_output(http), name=f"job-out-{mid}"),
                       asyncio.create_task(self._read_events(http), name=f"job-events-{mid}"),
                       asyncio.create_task(self._pay_loop(), name=f"job-pay-{mid}")]
        pub = TricklePublisher(self.urls["publish_url"], http=http, timeout_s=cfg.timeout_s)
        gen = mpegts.segments(segments, segment_s=cfg.segment_s, encoder=cfg.encoder)
        gone = None
        try:
            for seg in gen:
                if stop.is_set() or self._output_ended.is_set() or self.session.stopped:
                    break
                try:
                    seq = await pub.publish(seg)
                except ChannelGone as exc:
                    gone = str(exc)
                    break
                except (TrickleError, *_TRANSPORT_ERRORS) as exc:
                    gone = f"publish failed: {exc if isinstance(exc, TrickleError) else _describe(exc)}"
                    break
                self.sent.append(seg)
                self._emit("gateway.segment_published", manifest_id=mid, seq=seq, bytes=len(seg))
                await self._wait_any(stop, self._output_ended, timeout=cfg.segment_s)
            # drain: let the published segments come back before the input ends (else the last ones are lost)
            deadline = time.monotonic() + cfg.drain_s
            while (len(self.received) < len(self.sent) and not self._output_ended.is_set()
                   and time.monotonic() < deadline):
                await asyncio.sleep(0.02)
        finally:
            closed = await pub.close()
            if closed is not None:
                self._emit("gateway.input_closed", manifest_id=mid, status=closed, published=len(self.sent))
            await self._finish(gone)
        return self

    @staticmethod
    async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _finish(self, gone: Optional[str]) -> None:
        """After the input closed: the output ends, the events channel tells why; stop paying; report."""
        try:
            await asyncio.wait_for(self._output_ended.wait(), self.config.timeout_s)
            await asyncio.wait_for(self._offline.wait(), 2.0)
        except asyncio.TimeoutError:
            pass
        self._paying = False
        self._out_segment.set()
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, self.config.timeout_s)
            except asyncio.TimeoutError:
                pass
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # we are being cancelled, not just the task
                    raise
            except Exception as exc:  # noqa: BLE001 - a reader's failure is reported in the stop event
                self.stop_reason = self.stop_reason or f"{type(exc).__name__}: {exc}"
        if self.stop_reason is None:
            self.stop_reason = gone or ("session stopped" if self.session.stopped else "output ended")
        self._emit("gateway.job_stopped", manifest_id=self.manifest_id, reason=self.stop_reason,
                   published=len(self.sent), received=len(self.received), echoed=self.echoed,
                   payments=sum(1 for p in self.payments if p.status == "paid"))

    async def _read_output(self, http: aiohttp.ClientSession) -> None:
        """``subscribe_url`` from seq 0: the noop echo; each output segment may trigger a payment (SDK cadence)."""
        try:
            async with TrickleSubscriber(self.urls["subscribe_url"], start_seq=0, http=http) as sub:
                while (got := await sub.next()) is not None:
                    seq, body = got
                    i = len(self.received)
                    echoed = i < len(self.sent) and self.sent[i] == body
                    self.received.append(body)
                    self.echoed += echoed
                    self._emit("gateway.segment_received", manifest_id=self.manifest_id, seq=seq, bytes=len(body),
                               echoed=echoed)
                    self._out_segment.set()
        except _TRANSPORT_ERRORS:
            pass  # the orchestrator went away: the end of the output
        finally:
            self._output_ended.set()

    async def _read_events(self, http: aiohttp.ClientSession) -> None:
        """``events_url``: the job's status messages; the last ``OFFLINE`` one carries the stop reason."""
        try:
            async with TrickleSubscriber(self.urls["events_url"], start_seq=0, http=http) as sub:
                while (got := await sub.next()) is not None:
                    try:
                        msg = bounded.loads_json(got[1], what="job event")
                    except ValueError:
                        continue
                    if not isinstance(msg, dict):
                        continue
                    self.status_events.append(msg)
                    if msg.get("state") == "OFFLINE":
                        self.stop_reason = str(msg.get("reason") or "")
                        self._offline.set()
        except (TrickleError, *_TRANSPORT_ERRORS):
            pass

    async def _pay_loop(self) -> None:
        last: Optional[float] = None
        while True:
            await self._out_segment.wait()
            self._out_segment.clear()
            if not self._paying or self.session.stopped:
                return
            now = time.monotonic()
            if last is not None and now - last < self.config.payment_interval_s:
                continue
            if self.before_payment is not None:
                await self.before_payment()
                if not self._paying:
                    return
            last = time.monotonic()
            out = await self.session.pay_once()
            self.payments.append(out)
            if self.on_payment is not None:
                self.on_payment(out)

    async def close(self) -> None:
        for t in self._tasks:
            if not t.done():
                t.cancel()
        if self._http is not None:
            await self._http.close()
            self._http = None
