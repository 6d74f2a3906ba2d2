"""``POST /live-video-to-video``: a paid ``noop`` live-video-to-video job on the fake orchestrator
(docs/orchestrator.md#live-video-to-video; go-livepeer ``server/ai_http.go:StartLiveVideoToVideo``).

What the handler does, in go-livepeer's order:

1. decode the JSON body (``model_id`` required) — 400 with the decoder's message;
2. capacity for ``live-video-to-video/<model_id>`` (``CheckAICapacity``) — 503 ``insufficient capacity``;
3. ``Livepeer-Payment`` — 402 ``base64 decode error: …`` / ``protobuf unmarshal error: …``
   (docs/orchestrator.md#the-payment-endpoint);
4. ``Livepeer-Segment`` (``verifySegCreds``) — 403 with go's message;
5. ``ProcessPayment`` credited to the O's **own new manifest id** (random 8 hex, ``core.RandomManifestID``) — 400
   with go's error text;
6. when the expected price is > 0, ``SufficientBalance`` (balance ≥ the configured ticket EV,
   docs/orchestrator.md#credit-and-debit) — else 400 ``Insufficient balance``;
7. create the four trickle channels ``{mid}``, ``{mid}-out``, ``{mid}-control``, ``{mid}-events`` and start the
   noop runner (:class:`sim.trickle.NoopJob`), then answer 200 JSON ``control_url``, ``events_url``,
   ``manifest_id``, ``publish_url``, ``subscribe_url`` (``{service}/ai/trickle/{mid}`` …, go's key order).

While the job runs, every input segment calls the live payment processor (docs/orchestrator.md#credit-and-debit: LV2V =
27 648 000 units/s, every ``-livePaymentInterval``, default 5 s; configurable here for tests) which debits ``units ×
price`` at the session's fixed price — the expected price of the *initial* payment — via the orchestrator's
``AccountPayment``. When the balance does not cover the fee, the job stops as go's ``closeSession`` does (all four
channels closed, so subscribers see the end of the stream) with go's ``insufficient balance, mid=…, fee=…, balance=…``
reason, and the event ``orch.lv2v_stopped`` carries the fee, the balance and the units at that moment.

Plain-text errors are go ``http.Error`` (``text/plain; charset=utf-8``, message + newline); the success body is go
``json.Marshal`` (compact, no newline). lpdev differences: a non-POST method gets 405 (go's OpenAPI validator only
logs), a missing ``model_id`` gets 400 (go dereferences nil), and go debits asynchronously right after the segment
starts, while here the debit runs before the segment is echoed (a refused debit means that segment is not echoed).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from sim.events import register_kinds
from sim.orchestrator.app import HttpReply, header, parse_json_body, read_body, respond
from sim.orchestrator.ledger import InsufficientBalance
from sim.orchestrator.node import Orchestrator, RpcError
from sim.orchestrator.paid import LIVE_PAYMENT_INTERVAL_S, PaidRequest, check_payment_headers
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, LivePaymentProcessor
from sim.trickle import NoopJob, TooManyChannels, TrickleApp, TrickleConfig, TrickleHub, trickle_urls
from sim.trickle.server import TRICKLE_HTTP_PATH
from sim.wire.gojson import go_json_dumps

__all__ = ["LV2V_PATH", "LV2VConfig", "LV2VSession", "LiveVideoToVideo", "attach"]

LV2V_PATH = "/live-video-to-video"
PIPELINE = "live-video-to-video"

register_kinds({
    "orch.lv2v_started": "a paid noop live-video-to-video job started (manifest id, sender, model, price, balance)",
    "orch.lv2v_rejected": "a /live-video-to-video request was refused: HTTP status and go-livepeer's message",
    "orch.lv2v_stopped": "an LV2V job stopped: reason; on insufficient balance also the fee, balance and units",
})


@dataclass
class LV2VConfig:
    payment_interval_s: float = LIVE_PAYMENT_INTERVAL_S  # -livePaymentInterval
    clock: object = None  # the debit's clock (``.now()``); None = the orchestrator's clock
    trickle: TrickleConfig | None = None  # limits of the trickle hub this module creates (when none is mounted)


@dataclass
class LV2VSession:
    """One paid job: who pays, at what price, and how it ended."""

    manifest_id: str
    sender: bytes
    model_id: str
    price: Fraction
    job: NoopJob
    processor: LivePaymentProcessor | None
    started_at: float
    debits: int = 0
    debited: Fraction = Fraction(0)
    stop_reason: str | None = None
    stop_detail: dict = field(default_factory=dict)

    def info(self) -> dict:
        return {"manifest_id": self.manifest_id, "sender": "0x" + self.sender.hex(), "model_id": self.model_id,
                "price": self.price, "debits": self.debits, "debited": self.debited,
                "stop_reason": self.stop_reason, **self.stop_detail, "job": self.job.info()}


class LiveVideoToVideo:
    """The ``/live-video-to-video`` route (an ASGI app mounted on the orchestrator) and its running jobs."""

    def __init__(self, orch: Orchestrator, app, config: LV2VConfig | None = None) -> None:
        self.orch = orch
        self.app = app  # the OrchestratorApp: trickle is mounted on it when no hub is mounted yet
        self.config = config or LV2VConfig()
        self.sessions: dict[str, LV2VSession] = {}
        self._hub: TrickleHub | None = None
        self._own_hub = False

    # ------------------------------------------------------------------ trickle
    @property
    def hub(self) -> TrickleHub:
        """The trickle hub serving ``/ai/trickle/``: one already mounted on the app (e.g. by a test), else a new one
        mounted now. Created on first use so an app mounted after the server started still serves the channels."""
        if self._hub is None:
            for prefix, mounted in getattr(self.app, "_mounts", []):
                if prefix == TRICKLE_HTTP_PATH and isinstance(mounted, TrickleApp):
                    self._hub = mounted.hub
                    break
            else:
                self._hub = TrickleHub(self.config.trickle, bus=self.orch.bus, actor=self.orch.config.name)
                self._own_hub = True
                self.app.mount(TRICKLE_HTTP_PATH, TrickleApp(self._hub))
        return self._hub

    def clock_now(self) -> float:
        return (self.config.clock or self.orch.clock).now()

    def in_use(self, model_id: str) -> int:
        return sum(1 for s in self.sessions.values() if s.model_id == model_id and s.stop_reason is None)

    def has_capacity(self, model_id: str) -> bool:
        """``CheckAICapacity(pipeline, model)``: the model is served and one of its slots is free."""
        cap = self.orch.config.lv2v_models.get(model_id)
        return cap is not None and self.in_use(model_id) < cap and not self.orch._capped()

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send) -> None:
        if scope["path"] != LV2V_PATH:
            await read_body(receive)
            await respond(send, HttpReply.text(404, "404 page not found"))
            return
        if scope["method"] != "POST":
            await read_body(receive)
            await respond(send, HttpReply.text(405, "Method Not Allowed"), [(b"allow", b"POST")])
            return
        body = await read_body(receive)
        if body is None:
            await respond(send, self._refuse(413, "request body too large"))
            return
        reply = await self.start_job(body, header(scope, b"livepeer-payment"), header(scope, b"livepeer-segment"))
        await respond(send, reply)

    def _refuse(self, status: int, message: str, **data) -> HttpReply:
        self.orch.emit("orch.lv2v_rejected", status=status, message=message, **data)
        return HttpReply.text(status, message)

    # ------------------------------------------------------------------ the handler
    async def start_job(self, body: bytes, payment_header: str | None, segment_header: str | None) -> HttpReply:
        req, problem = parse_json_body(body or b"null")
        if problem is not None:
            return self._refuse(400, f"invalid JSON body: {problem}")
        if not isinstance(req, dict):
            return self._refuse(400, "json: cannot unmarshal into Go value of type "
                                     "worker.GenLiveVideoToVideoJSONRequestBody: want a JSON object")
        model_id = req.get("model_id")
        if not isinstance(model_id, str) or not model_id:
            return self._refuse(400, "model_id is required (a string, e.g. \"noop\")")
        params = req.get("params")
        if params is not None and not isinstance(params, dict):
            return self._refuse(400, "params must be a JSON object")
        if not self.has_capacity(model_id):
            return self._refuse(503, "insufficient capacity", model_id=model_id)

        mid = self.orch.rng.hex_id(4)  # core.RandomManifestID: the O's own manifest id for this job
        while mid in self.sessions:
            mid = self.orch.rng.hex_id(4)
        reply, paid = await asyncio.to_thread(self._pay, mid, payment_header, segment_header)
        if reply is not None:
            return reply
        assert paid is not None
        price = paid.expected_price or Fraction(0)

        try:
            hub = self.hub
            if self._own_hub:
                hub.start()
            self._start(mid, paid.sender, model_id, price, params)
        except TooManyChannels as exc:
            return self._refuse(503, str(exc), manifest_id=mid)
        except RpcError:  # capped between the capacity check and now (another job took the last slot)
            return self._refuse(503, "insufficient capacity", model_id=model_id, manifest_id=mid)
        urls = trickle_urls(self.orch.config.service_uri, mid)
        balance = self.orch.ledger.balance(paid.sender, mid)
        self.orch.emit("orch.lv2v_started", manifest_id=mid, sender=paid.sender, model_id=model_id, price=price,
                       balance=balance, interval_s=self.config.payment_interval_s,
                       gateway_request_id=req.get("gateway_request_id"), stream_id=req.get("stream_id"), **urls)
        return HttpReply(200, go_json_dumps({"control_url": urls["control_url"], "events_url": urls["events_url"],
                                       "manifest_id": mid, "publish_url": urls["publish_url"],
                                       "subscribe_url": urls["subscribe_url"]}), "application/json")

    def _pay(self, mid: str, payment_header, segment_header) -> tuple[HttpReply | None, PaidRequest | None]:
        """Steps 3–6 (in a worker thread: the ticket checks may read the chain)."""
        orch = self.orch
        reply, paid = check_payment_headers(orch, payment_header, segment_header)
        if reply is not None:
            return reply, None
        n = len(paid.payment.ticket_sender_params)
        orch.emit("orch.payment_received", sender=paid.sender, manifest_id=mid, tickets=n,
                  session_id=paid.seg.auth_token.session_id, route=LV2V_PATH)
        err = orch.process_payment(paid.payment, mid)
        if err is not None:
            return orch._reject(400, err, sender=paid.sender, tickets=n, manifest_id=mid), None
        ep = paid.payment.expected_price if paid.payment.HasField("expected_price") else None
        if ep is not None and ep.pricePerUnit > 0 and not orch.ledger.sufficient_balance(
                paid.sender, mid, orch.config.ticket_ev):
            return self._refuse(400, "Insufficient balance", sender=paid.sender, manifest_id=mid,
                                balance=orch.ledger.balance(paid.sender, mid), ticket_ev=orch.config.ticket_ev), None
        with orch.lock:
            orch.stats["payments_ok"] += 1
        return None, paid

    def _start(self, mid: str, sender: bytes, model_id: str, price: Fraction, params: dict | None) -> LV2VSession:
        processor = None
        if price > 0:  # go: no processor (no charge) when the expected price is 0
            processor = LivePaymentProcessor(interval_s=self.config.payment_interval_s,
                                             units_per_second=LV2V_PIXELS_PER_SECOND, start=self.clock_now())
        self.orch.open_session(mid)  # occupies capacity (GetOrchestrator shows it in use)
        job = NoopJob(self.hub, mid, params=params, on_stop=self._on_stop)
        session = LV2VSession(mid, sender, model_id, price, job, processor, started_at=time.time())
        job.on_segment = lambda job, info: self._on_segment(session)
        self.sessions[mid] = session
        try:
            job.start()
        except BaseException:
            self.sessions.pop(mid, None)
            self.orch.close_session(mid)
            raise
        return session

    # ------------------------------------------------------------------ debit over time
    # (docs/orchestrator.md#credit-and-debit)
    async def _on_segment(self, s: LV2VSession) -> Optional[str]:
        """Per input segment: ``paymentProcessor.process`` → ``AccountPayment``. A string stops the job."""
        if s.processor is None:
            return None
        now = self.clock_now()
        units = s.processor.process(now)
        if units is None:
            return None
        try:  # off the loop: the orchestrator's lock may be held by a payment reading the chain
            fee = await asyncio.to_thread(self.orch.debit, s.sender, s.manifest_id, units, s.price)
        except InsufficientBalance as exc:
            balance = self.orch.ledger.balance(s.sender, s.manifest_id)
            s.stop_detail = {"fee": Fraction(units) * s.price, "balance": balance, "units": units, "at": now}
            return str(exc)
        s.debits += 1
        s.debited += fee
        return None

    def _on_stop(self, job: NoopJob, reason: str) -> None:
        s = self.sessions.get(job.manifest_id)
        if s is None:
            return
        s.stop_reason = reason
        self.orch.close_session(job.manifest_id)
        self.orch.emit("orch.lv2v_stopped", manifest_id=s.manifest_id, sender=s.sender, reason=reason,
                       segments=job.stats.segments, debits=s.debits, debited=s.debited,
                       final_balance=self.orch.ledger.balance(s.sender, s.manifest_id), **s.stop_detail)

    # ------------------------------------------------------------------ status / shutdown
    def info(self) -> list[dict]:
        return [s.info() for s in self.sessions.values()]

    async def stop_job(self, manifest_id: str, reason: str = "stopped") -> bool:
        s = self.sessions.get(manifest_id)
        if s is None or s.stop_reason is not None:
            return False
        await s.job.stop(reason)
        return True

    async def aclose(self) -> None:
        for s in list(self.sessions.values()):
            if s.stop_reason is None:
                await s.job.stop("shutdown")
        if self._hub is not None and self._own_hub:
            await self._hub.aclose()


def attach(server, config: LV2VConfig | None = None) -> LiveVideoToVideo:
    """Mount ``/live-video-to-video`` on an :class:`~sim.orchestrator.server.OrchestratorServer`; the trickle
    channels it needs are mounted at ``/ai/trickle/`` on first use (see :attr:`LiveVideoToVideo.hub`)."""
    lv2v = LiveVideoToVideo(server.orch, server.app, config)
    server.app.mount(LV2V_PATH, lv2v)
    return lv2v
