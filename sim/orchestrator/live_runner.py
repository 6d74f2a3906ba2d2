"""A built-in ``noop`` Live Runner with go-livepeer's client-facing routes (protocol.md §4.7; go-livepeer
``server/ai_http.go`` ``ReserveLiveRunnerSession`` / ``PaymentForLiveRunnerSession`` / ``DiscoverLiveRunners``,
``ai/runner/live_runner.go`` ``LiveRunnerRegistry``), enough for the livepeer-gateway SDK 1.0.0's Live Runner path
(``reserve_session``, ``call_runner``, ``LivePaymentSession``) to pay a metered session end to end.

Routes (errors are go ``http.Error`` plain text unless noted):

* ``GET /discovery`` — ``[{"address": service, "runners": [{url, app, mode, capacity, capacity_used,
  capacity_available, price_info?}]}]``; ``url`` = ``{service}/apps/{runner}/session`` (persistent mode).
* ``POST /apps/{runner}/session`` — unknown runner 404 ``runner not found``. Priced runner and neither payment header:
  **402** JSON challenge ``{"payment_params": b64(OrchestratorInfo), "orchestrator", "manifest_id",
  "payment_url": {service}/apps/{runner}/session/{manifest_id}/payment}`` for the payer in
  ``Livepeer-Payer-Address`` (bad address: 402 JSON ``{"error":{"message":"invalid live runner payment signer
  address"}}``); ticket params at ``{price, 1}``, a new auth token whose session id is a new manifest id.
  With headers: 402/403 as ``/payment``; ``SegData.manifestId`` ≠ token session id → 403 ``mismatched manifest and
  auth token``; ``fixed`` unit: expected price must be ``{price, 1}`` (400 ``payment price does not match live
  runner price``); reserve (409 ``session already exists``, 503 ``no capacity available for runner``);
  ``ProcessPayment`` (400, session released); ``fixed``: debit 1 unit now (400 on insufficient balance); metered
  (``seconds`` = 1 unit/s, ``720p-pixel-seconds`` = 27 648 000 units/s): a ticker every payment interval runs the
  live payment processor and releases the session when ``AccountPayment`` fails. 200 JSON ``{session_id, app_url,
  control_url}``.
* ``POST /apps/{runner}/session/{id}/payment`` — 404 when the session is gone; like ``/payment`` plus
  ``SegData.manifestId`` must equal ``{id}`` (403 ``mismatched session and payment manifest``); 200 = protobuf
  ``PaymentResult``.
* ``POST /apps/{runner}/session/{id}/stop`` — release, 204.
* ``/apps/{runner}/session/{id}/app/{path}`` — the noop app: echoes the request as JSON (no GPU, no runner process).
* ``POST /refresh-payment`` is the orchestrator's own (``Orchestrator.refresh_payment``).

What lpdev does not model: runner registration/heartbeats (``/runners/…``), runner-side trickle channels and proxies,
single-shot runners, USD→wei price conversion (the price is configured in wei).
"""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from fractions import Fraction

from sim.events import register_kinds
from sim.orchestrator.app import HttpReply, header, read_body, respond
from sim.orchestrator.ledger import InsufficientBalance
from sim.orchestrator.lv2v import check_payment_headers, go_json
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, LivePaymentProcessor
from sim.pm.crypto import to_checksum_address
from sim.pm.params import InsufficientSenderReserve
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb

__all__ = ["RunnerConfig", "RunnerSession", "LiveRunners", "PAYER_HEADER", "UNITS_PER_SECOND"]

PAYER_HEADER = b"livepeer-payer-address"  # liveRunnerSenderHeader
UNITS_PER_SECOND = {"seconds": 1, "720p-pixel-seconds": LV2V_PIXELS_PER_SECOND}
_HEX_ADDRESS = re.compile(r"^(0[xX])?[0-9a-fA-F]{40}$")  # go common.IsHexAddress

register_kinds({
    "orch.runner_challenge": "a Live Runner 402 payment challenge was issued (runner, payer, manifest id, price)",
    "orch.runner_session_reserved": "a Live Runner session was reserved after its upfront payment",
    "orch.runner_session_released": "a Live Runner session ended: stop, shutdown or insufficient balance (with fee)",
    "orch.runner_rejected": "a Live Runner request was refused: HTTP status and go-livepeer's message",
})


@dataclass
class RunnerConfig:
    runner_id: str = "noop"
    app: str = "noop"
    price: int = 10**12  # wei per unit (go converts the runner's USD price; lpdev takes wei). 0 = free
    unit: str = "seconds"  # seconds | 720p-pixel-seconds | fixed
    capacity: int = 4
    version: str = "lpdev-noop"

    def __post_init__(self) -> None:
        if self.unit not in ("fixed", *UNITS_PER_SECOND):
            raise ValueError(f"runner {self.runner_id}: unit must be seconds, 720p-pixel-seconds or fixed")
        if self.price < 0 or self.capacity < 1:
            raise ValueError(f"runner {self.runner_id}: price must be >= 0 wei and capacity >= 1")


@dataclass
class RunnerSession:
    session_id: str
    runner_id: str
    sender: bytes
    price: Fraction
    processor: LivePaymentProcessor | None = None
    task: asyncio.Task | None = field(default=None, repr=False)
    debits: int = 0
    released: str | None = None  # reason


class LiveRunners:
    """Registry of built-in runners and their sessions; an ASGI app for ``/discovery`` and ``/apps/…``."""

    def __init__(self, orch, lv2v, runners: list[RunnerConfig] | None = None) -> None:
        self.orch = orch
        self.lv2v = lv2v  # for the payment interval and the debit clock (LV2VConfig)
        self.runners = {r.runner_id: r for r in (runners if runners is not None else [RunnerConfig()])}
        self.sessions: dict[tuple[str, str], RunnerSession] = {}

    @property
    def service(self) -> str:
        return self.orch.config.service_uri.rstrip("/")

    def _refuse(self, status: int, message: str, **data) -> HttpReply:
        self.orch.emit("orch.runner_rejected", status=status, message=message, **data)
        return HttpReply.text(status, message)

    def live(self, runner_id: str) -> list[RunnerSession]:
        return [s for (r, _), s in self.sessions.items() if r == runner_id and s.released is None]

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send) -> None:
        path, method = scope["path"], scope["method"]
        body = await read_body(receive)
        if body is None:
            await respond(send, HttpReply.text(413, "request body too large"))
            return
        parts = path.split("/")[1:]  # "", "apps", rid, ...
        reply: HttpReply
        allow = None
        if path == "/discovery":
            reply, allow = (self.discovery(), None) if method == "GET" else (None, b"GET")
        elif len(parts) == 3 and parts[0] == "apps" and parts[2] == "session":
            reply, allow = (None, b"POST") if method != "POST" else (None, None)
            if allow is None:
                reply = await self.reserve(parts[1], header(scope, b"livepeer-payment"),
                                           header(scope, b"livepeer-segment"), header(scope, PAYER_HEADER))
        elif len(parts) == 5 and parts[0] == "apps" and parts[2] == "session" and parts[4] in ("payment", "stop"):
            reply, allow = (None, b"POST") if method != "POST" else (None, None)
            if allow is None and parts[4] == "payment":
                reply = await asyncio.to_thread(self.payment, parts[1], parts[3], header(scope, b"livepeer-payment"),
                                                header(scope, b"livepeer-segment"))
            elif allow is None:
                reply = await self.stop(parts[1], parts[3])
        elif len(parts) >= 5 and parts[0] == "apps" and parts[2] == "session" and parts[4] == "app":
            reply = self.app_call(parts[1], parts[3], "/".join(parts[5:]), method, body)
        elif len(parts) >= 3 and parts[0] == "apps" and parts[2] == "app":
            reply = (self._refuse(404, "runner not found") if parts[1] not in self.runners
                     else self._refuse(400, "runner is not single-shot"))
        else:
            reply = HttpReply.text(404, "404 page not found")
        if allow is not None:
            await respond(send, HttpReply.text(405, "Method Not Allowed"), [(b"allow", allow)])
            return
        await respond(send, reply)

    # ------------------------------------------------------------------ GET /discovery
    def discovery(self) -> HttpReply:
        runners = []
        for r in self.runners.values():
            used = len(self.live(r.runner_id))
            entry = {"url": f"{self.service}/apps/{r.runner_id}/session", "app": r.app, "version": r.version,
                     "mode": "persistent", "capacity": r.capacity, "capacity_used": used,
                     "capacity_available": r.capacity - used}
            if r.price > 0:
                entry["price_info"] = {"price": r.price, "currency": "wei", "unit": r.unit}
            runners.append(entry)
        return HttpReply(200, go_json([{"address": self.service, "runners": runners}]), "application/json")

    # ------------------------------------------------------------------ POST /apps/{runner}/session
    async def reserve(self, runner_id: str, payment_header, segment_header, payer) -> HttpReply:
        r = self.runners.get(runner_id)
        if r is None:
            return self._refuse(404, "runner not found", runner_id=runner_id)
        if r.price == 0:  # free runner: no payment
            return self._reserved(self._new_session(r, self.orch.rng.hex_id(4), b"", Fraction(0)))
        if not payment_header and not segment_header:
            return await asyncio.to_thread(self.challenge, r, payer)
        reply, session = await asyncio.to_thread(self._paid_reserve, r, payment_header, segment_header)
        if reply is not None:
            return reply
        return self._reserved(session)

    def challenge(self, r: RunnerConfig, payer: str | None) -> HttpReply:
        """``runnerChallenge``: 402 with ticket params for ``{price, 1}`` and a new manifest id / auth token."""
        if not payer or not _HEX_ADDRESS.match(payer):
            self.orch.emit("orch.runner_rejected", status=402, runner_id=r.runner_id,
                           message="invalid live runner payment signer address")
            return HttpReply(402, go_json({"error": {"message": "invalid live runner payment signer address"}})
                             + b"\n", "application/json")
        sender = bytes.fromhex(payer[-40:])
        price = Fraction(r.price, 1)
        try:
            with self.orch.lock:
                params, _ = self.orch.issue_params(sender, price)
        except InsufficientSenderReserve as exc:
            return self._refuse(500, str(exc), runner_id=r.runner_id)
        mid = self.orch.rng.hex_id(4)
        info = pb.OrchestratorInfo(transcoder=self.orch.config.service_uri, address=self.orch.address)
        info.ticket_params.CopyFrom(codec.ticket_params_to_pb(params))
        info.price_info.CopyFrom(codec.price_info_pb(price))
        info.auth_token.CopyFrom(self.orch.new_auth_token(mid))
        payment_url = f"{self.service}/apps/{r.runner_id}/session/{mid}/payment"
        self.orch.emit("orch.runner_challenge", runner_id=r.runner_id, sender=sender, manifest_id=mid, price=price,
                       face_value=params.face_value, win_prob=params.win_prob, payment_url=payment_url)
        return HttpReply(402, go_json({"payment_params": codec.to_b64(info), "orchestrator": info.transcoder,
                                       "manifest_id": mid, "payment_url": payment_url}), "application/json")

    def _paid_reserve(self, r: RunnerConfig, payment_header, segment_header):
        orch = self.orch
        reply, paid = check_payment_headers(orch, payment_header, segment_header)
        if reply is not None:
            return reply, None
        mid = paid.manifest_id
        if mid != paid.seg.auth_token.session_id:
            return self._refuse(403, "mismatched manifest and auth token", runner_id=r.runner_id), None
        ep = paid.payment.expected_price if paid.payment.HasField("expected_price") else None
        if r.unit == "fixed" and (ep is None or ep.pricePerUnit != r.price or ep.pixelsPerUnit != 1):
            return self._refuse(400, "payment price does not match live runner price", runner_id=r.runner_id), None
        if (r.runner_id, mid) in self.sessions and self.sessions[(r.runner_id, mid)].released is None:
            return self._refuse(409, "session already exists", runner_id=r.runner_id, session_id=mid), None
        if len(self.live(r.runner_id)) >= r.capacity:
            return self._refuse(503, "no capacity available for runner", runner_id=r.runner_id), None
        price = paid.expected_price or Fraction(0)
        session = self._new_session(r, mid, paid.sender, price)
        n = len(paid.payment.ticket_sender_params)
        orch.emit("orch.payment_received", sender=paid.sender, manifest_id=mid, tickets=n,
                  session_id=paid.seg.auth_token.session_id, route=f"/apps/{r.runner_id}/session")
        err = orch.process_payment(paid.payment, mid)
        if err is not None:
            self._release(session, "payment failed")
            return orch._reject(400, err, sender=paid.sender, tickets=n, manifest_id=mid), None
        if r.unit == "fixed":
            try:
                orch.debit(paid.sender, mid, 1, price)
            except InsufficientBalance as exc:
                self._release(session, str(exc))
                return self._refuse(400, str(exc), runner_id=r.runner_id, session_id=mid), None
        else:
            session.processor = LivePaymentProcessor(interval_s=self.lv2v.config.payment_interval_s,
                                                     units_per_second=UNITS_PER_SECOND[r.unit],
                                                     start=self.lv2v.clock_now())
        return None, session

    def _new_session(self, r: RunnerConfig, sid: str, sender: bytes, price: Fraction) -> RunnerSession:
        s = RunnerSession(sid, r.runner_id, sender, price)
        self.sessions[(r.runner_id, sid)] = s
        return s

    def _reserved(self, s: RunnerSession) -> HttpReply:
        if s.processor is not None and s.price > 0:
            s.task = asyncio.get_running_loop().create_task(self._ticker(s), name=f"runner-debit-{s.session_id}")
        base = f"{self.service}/apps/{s.runner_id}/session/{s.session_id}"
        self.orch.emit("orch.runner_session_reserved", runner_id=s.runner_id, session_id=s.session_id,
                       sender=s.sender, price=s.price,
                       balance=self.orch.ledger.balance(s.sender, s.session_id) if s.sender else None)
        return HttpReply(200, go_json({"session_id": s.session_id, "app_url": base + "/app", "control_url": base}),
                         "application/json")

    async def _ticker(self, s: RunnerSession) -> None:
        """go: a ticker every ``LivePaymentInterval`` calls ``paymentProcessor.process`` while the session lives."""
        interval = self.lv2v.config.payment_interval_s
        while s.released is None:
            await asyncio.sleep(interval)
            if s.released is not None:
                return
            units = s.processor.process(self.lv2v.clock_now())
            if units is None:
                continue
            try:
                await asyncio.to_thread(self.orch.debit, s.sender, s.session_id, units, s.price)
                s.debits += 1
            except InsufficientBalance as exc:
                self._release(s, str(exc), fee=Fraction(units) * s.price, units=units,
                              balance=self.orch.ledger.balance(s.sender, s.session_id))
                return

    def _release(self, s: RunnerSession, reason: str, **detail) -> None:
        if s.released is not None:
            return
        s.released = reason
        self.orch.emit("orch.runner_session_released", runner_id=s.runner_id, session_id=s.session_id,
                       sender=s.sender, reason=reason, debits=s.debits, **detail)

    # ------------------------------------------------------------------ session routes
    def _session(self, runner_id: str, session_id: str) -> tuple[HttpReply | None, RunnerSession | None]:
        if runner_id not in self.runners:
            return self._refuse(404, "runner not found", runner_id=runner_id), None
        s = self.sessions.get((runner_id, session_id))
        if s is None or s.released is not None:
            return self._refuse(404, "runner session not found", runner_id=runner_id, session_id=session_id), None
        return None, s

    def payment(self, runner_id: str, session_id: str, payment_header, segment_header) -> HttpReply:
        """``PaymentForLiveRunnerSession`` (worker thread)."""
        reply, _ = self._session(runner_id, session_id)
        if reply is not None:
            return reply
        orch = self.orch
        reply, paid = check_payment_headers(orch, payment_header, segment_header)
        if reply is not None:
            return reply
        if paid.manifest_id != session_id:
            return self._refuse(403, "mismatched session and payment manifest", runner_id=runner_id,
                                session_id=session_id)
        n = len(paid.payment.ticket_sender_params)
        orch.emit("orch.payment_received", sender=paid.sender, manifest_id=session_id, tickets=n,
                  session_id=paid.seg.auth_token.session_id, route=f"/apps/{runner_id}/session/{session_id}/payment")
        caps = paid.seg.capabilities if paid.seg.HasField("capabilities") else None
        try:
            info = orch.orchestrator_info(paid.sender, paid.seg.auth_token.session_id, caps)
        except Exception as exc:  # go masks this as "Internal Server Error"; keep the status, give the cause
            return orch._reject(500, f"Internal Server Error: {exc}", sender=paid.sender)
        info.auth_token.CopyFrom(paid.seg.auth_token)
        err = orch.process_payment(paid.payment, session_id)
        if err is not None:
            return orch._reject(400, err, sender=paid.sender, tickets=n, manifest_id=session_id)
        with orch.lock:
            orch.stats["payments_ok"] += 1
        return HttpReply(200, pb.PaymentResult(info=info).SerializeToString())

    async def stop(self, runner_id: str, session_id: str) -> HttpReply:
        if runner_id not in self.runners:
            return self._refuse(404, "runner not found", runner_id=runner_id)
        s = self.sessions.get((runner_id, session_id))
        if s is not None:
            self._release(s, "stopped")
            if s.task is not None:
                s.task.cancel()
        return HttpReply(204, b"")

    def app_call(self, runner_id: str, session_id: str, app_path: str, method: str, body: bytes) -> HttpReply:
        """The noop app behind the session: echo the call as JSON."""
        reply, s = self._session(runner_id, session_id)
        if reply is not None:
            return reply
        try:
            echo = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            echo = body.decode("utf-8", "replace")
        return HttpReply(200, go_json({"runner_id": runner_id, "session_id": session_id, "path": "/" + app_path,
                                       "method": method, "echo": echo}), "application/json")

    # ------------------------------------------------------------------ status / shutdown
    def info(self) -> list[dict]:
        return [{"runner_id": s.runner_id, "session_id": s.session_id,
                 "sender": to_checksum_address(s.sender) if s.sender else None, "price": s.price,
                 "debits": s.debits, "released": s.released} for s in self.sessions.values()]

    async def aclose(self) -> None:
        for s in list(self.sessions.values()):
            self._release(s, "shutdown")
            if s.task is not None and not s.task.done():
                s.task.cancel()
                try:
                    await s.task
                except BaseException:
                    pass
