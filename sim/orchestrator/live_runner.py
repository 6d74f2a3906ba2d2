"""Live Runners on the fake orchestrator: go-livepeer 0.9's HTTP routes (go-livepeer ``server/ai_http.go`` and
go-livepeer ``doc/live-runner.md``), enough for the livepeer-gateway SDK 1.0.0's runners and clients to run unmodified.

Runner routes (dynamic runners; :mod:`sim.orchestrator.runner_registry` holds the rules):

* ``POST /runners/heartbeat`` — register (``Authorization: <orch secret>``) or heartbeat (``<heartbeat_secret>``);
  200 JSON ``{runner_id, orchestrator, heartbeat_interval, heartbeat_ttl, heartbeat_secret?, o2r?, session_ids}``.
* ``POST /runners/{id}/unregister`` — 204.
* Session callbacks, ``Livepeer-Session-Token`` first (404 ``runner not found`` / ``runner session not found``,
  401 ``invalid authorization``): ``POST|DELETE /runner/{id}/session/{sid}/channels`` (≤ 25; channels
  ``{sid}-{name}`` on lpdev's trickle server, closed when the session ends), ``POST …/proxy`` (``/run/{proxy_id}``
  URLs), ``POST …/stop`` (204).

Client routes:

* ``GET /discovery`` — ``[{"address", "runners": [{url, gpu?, app, version?, metadata?, mode, capacity,
  capacity_used, capacity_available, price_info?}]}]`` (ready, non-expired runners; prices in wei).
* ``POST /apps/{id}/session`` — persistent runners only (400 ``only persistent runners have sessions``); a free
  runner reserves at once; a priced one answers **402** ``{payment_params, orchestrator, manifest_id,
  payment_url}`` for the ``Livepeer-Payer-Address`` payer, then reserves on the retry carrying ``Livepeer-Payment``
  / ``Livepeer-Segment`` (the manifest id is the session id), processes the payment, and meters the session every
  payment interval (``seconds`` = 1 unit/s, ``720p-pixel-seconds`` = 27 648 000 units/s; ``fixed`` = 1 unit now)
  until the balance runs out (session released). 200 ``{session_id, app_url, control_url}``.
* ``POST /apps/{id}/session/{sid}/payment`` — follow-up payments (409 ``fixed-price live runner sessions do not
  accept follow-up payments``); the 200 body is the challenge JSON with fresh ticket params (go-livepeer #4029),
  so a client may rotate its params.
* ``POST /apps/{id}/session/{sid}/stop`` — 204 (404 only when the runner is gone).
* ``ANY /apps/{id}/session/{sid}/app/{path…}`` and ``ANY /run/{proxy_id}/{path…}`` — the reverse proxy (HTTP,
  SSE, WebSocket) with the four ``Livepeer-Runner-*`` / ``Livepeer-Session-*`` headers; 502 when the runner does
  not answer.
* ``ANY /apps/{id}/app/{path…}`` — single-shot runners (400 ``runner is not single-shot``): a session reserved
  (free or paid, as above) for this one request and released when it ends.

Other methods on these paths get go's ``ServeMux`` 405 with ``Allow``; with ``enabled=False`` every route answers
404 ``live runners are not supported``. URLs in answers are built on the entry the request came in on (the TLS
service address or the plain-HTTP entry), so a client that discovered runners over ``http://`` is handed
``http://`` URLs (the SDK's ping-pong example verifies TLS); ``live_runner_addr`` (go ``-liveRunnerAddr``)
overrides the runner-facing URL (heartbeat ``orchestrator``, O2R, ``Livepeer-Session-Control``).
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

from sim.events import register_kinds
from sim.orchestrator.app import header, read_body, respond
from sim.orchestrator.ledger import InsufficientBalance
from sim.orchestrator.node import HttpReply, Orchestrator
from sim.orchestrator.paid import LIVE_PAYMENT_INTERVAL_S, check_payment_headers
from sim.orchestrator.runner_proxy import ProxyResult, ReverseProxy, deny
from sim.orchestrator.runner_registry import (HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S, MODE_PERSISTENT,
                                              MODE_SINGLE_SHOT, O2R_INTERVAL_S, UNITS_PER_SECOND,
                                              LiveRunnerRegistry, RunnerError, RunnerSession, WeiPrice)
from sim.orchestrator.runner_static import HEALTH_INTERVAL_S, HEALTH_TIMEOUT_S, StaticRunners, load_config
from sim.orchestrator.runner_wire import (DecodeError, decode_channel_names, decode_channels, decode_heartbeat,
                                          decode_proxy_request)
from sim.orchestrator.tasks import cancel_and_wait
from sim.pm.accounting import LivePaymentProcessor
from sim.pm.params import InsufficientSenderReserve
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import go_json_dumps

__all__ = ["LiveRunnerConfig", "LiveRunners", "PAYER_HEADER", "MAX_CHANNELS_PER_REQUEST", "attach"]

PAYER_HEADER = b"livepeer-payer-address"  # liveRunnerSenderHeader
MAX_CHANNELS_PER_REQUEST = 25  # maxLiveRunnerTrickleChannelsPerRequest
_HEX_ADDRESS = re.compile(r"^(0[xX])?[0-9a-fA-F]{40}$")  # go common.IsHexAddress
_JSON = "application/json"

register_kinds({
    "runner.challenge": "a Live Runner 402 payment challenge was issued (runner, payer, manifest id, wei price, unit)",
    "runner.proxied": "a request to a Live Runner went through the orchestrator's reverse proxy (method, path, "
                      "status, bytes in/out, WebSocket messages, duration)",
})


@dataclass
class LiveRunnerConfig:
    """go-livepeer's live runner flags, plus lpdev's test knobs."""

    enabled: bool = True  # -useLiveRunners / -liveRunnerConfig; off = every route 404 "live runners are not supported"
    orch_secret: str | None = None  # -orchSecret: the bootstrap Authorization; None/"" = no dynamic registration
    static_config: str | Path | bytes | dict | None = None  # -liveRunnerConfig (runners.json)
    live_runner_addr: str | None = None  # -liveRunnerAddr: the runner-facing base URL (default: the entry used)
    offchain: bool = False  # -network offchain: prices neither validated nor advertised, no 402
    free_runners: bool = True  # lpdev: price 0 / no price = a free runner on chain (go: 400)
    payment_interval_s: float = LIVE_PAYMENT_INTERVAL_S  # -livePaymentInterval
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S
    heartbeat_ttl_s: float = HEARTBEAT_TTL_S
    o2r_interval_s: float = O2R_INTERVAL_S
    health_interval_s: float = HEALTH_INTERVAL_S
    health_timeout_s: float = HEALTH_TIMEOUT_S
    clock: object = None  # the debit clock (``.now()``); None = the orchestrator's clock
    # False (a stepped scenario stack on a virtual clock): nothing runs on wall time -- no expiry sweep, health
    # polling, per-session debit ticker or O2R writer; the owner calls LiveRunners.tick() after each step
    background: bool = True

    def __post_init__(self) -> None:
        for name in ("payment_interval_s", "heartbeat_interval_s", "heartbeat_ttl_s", "o2r_interval_s",
                     "health_interval_s", "health_timeout_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
                raise ValueError(f"live runner {name} must be a positive number of seconds, got {v!r}")


# tick(): at most this many payment intervals are debited one by one per session and pass; beyond (a clock moved by
# days in one step), the rest is debited at once at the pass's instant (the same units and wei, in one debit)
MAX_CATCHUP_DEBITS = 1000


class _Reply(Exception):
    """Answer now with this reply (a refusal deep in a handler); ``headers`` are extra response headers."""

    def __init__(self, reply: HttpReply, headers: list | None = None) -> None:
        self.reply = reply
        self.headers = headers or []


def _go_error_json(message: str) -> bytes:
    """go ``respondJsonError``: ``{"error":{"message":…}}`` + newline."""
    return go_json_dumps({"error": {"message": message}}, newline=True)


class LiveRunners:
    """The Live Runner routes of one orchestrator (an ASGI app that also takes WebSocket scopes)."""

    accepts_websocket = True

    def __init__(self, orch: Orchestrator, hub: Callable, config: LiveRunnerConfig | None = None) -> None:
        self.orch = orch
        self.config = config or LiveRunnerConfig()
        c = self.config
        self.registry = LiveRunnerRegistry(
            clock=orch.clock, rng=orch.rng.child("live-runners"), emit=orch.emit, hub=hub,
            orch_secret=c.orch_secret, onchain=not c.offchain, free_runners=c.free_runners,
            wei_per_usd=orch.wei_per_usd, heartbeat_interval_s=c.heartbeat_interval_s,
            heartbeat_ttl_s=c.heartbeat_ttl_s, o2r_interval_s=c.o2r_interval_s, background=c.background)
        self.static = StaticRunners(self.registry, interval_s=c.health_interval_s, timeout_s=c.health_timeout_s)
        self.proxy = ReverseProxy()
        self.http_url: str | None = None  # the plain-HTTP entry, when the server has one
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Load the static config (ValueError naming the problem), start the expiry sweep and health polling."""
        if self.config.static_config is not None:
            try:
                await self.static.register_json(load_config(self.config.static_config))
            except RunnerError as exc:
                raise ValueError(f"live runner config: {exc.message}") from None
        self.registry.start()
        if self.config.background:
            self.static.start()

    async def tick(self) -> None:
        """One pass of what the wall-clock loops do, on the orchestrator's clock and in a fixed order, for a
        stepped stack (``background=False``): expire runners silent past the TTL, check static runners' health,
        debit each metered session once per payment interval that has passed (releasing it when its balance runs
        out, as the ticker would have at that instant), then write the queued O2R events."""
        self.registry.sweep()
        await self.static.check()
        now, interval = self.clock_now(), self.config.payment_interval_s
        for r in list(self.registry.runners.values()):
            for s in list(r.sessions.values()):
                await self._catch_up(r.route, s, now, interval)
        await self.registry.flush_o2r()

    async def _catch_up(self, route: str, s: RunnerSession, now: float, interval: float) -> None:
        """The ticker's instants ``start + k·interval`` up to ``now``, one debit each (the processor carries a
        fraction of a unit over: an interval shorter than one unit debits 0 and the next one more). Bounded: the
        instants advance by ``interval`` (> 0), never by what the processor consumed, and past
        :data:`MAX_CATCHUP_DEBITS` the rest is one debit at ``now``."""
        if s.processor is None:
            return
        t = s.metered_at if s.metered_at is not None else s.processor.last_processed_at
        for k in range(MAX_CATCHUP_DEBITS):
            if s.released is not None or not t + interval <= now:
                return
            nxt = t + interval
            t = nxt if k < MAX_CATCHUP_DEBITS - 1 and nxt > t else now  # the last pass (or float's end) settles all
            s.metered_at = t
            await self.meter_once(route, s, t)
            if t >= now:
                return

    async def aclose(self) -> None:
        await cancel_and_wait(list(self._tasks))
        await self.registry.aclose()
        await self.static.aclose()
        await self.proxy.aclose()

    def clock_now(self) -> float:
        return (self.config.clock or self.orch.clock).now()

    # ------------------------------------------------------------------------------------------- URLs
    def public_base(self, scope) -> str:
        """The base URL of the entry this request came in on (the plain-HTTP entry or the service address)."""
        if self.http_url and scope.get("scheme") in ("http", "ws"):
            return self.http_url
        return self.orch.config.service_uri.rstrip("/")

    def runner_base(self, scope) -> str:
        return (self.config.live_runner_addr or self.public_base(scope)).rstrip("/")

    # ------------------------------------------------------------------------------------------- replies
    def _refuse(self, status: int, message: str, **data) -> HttpReply:
        self.orch.emit("runner.rejected", status=status, message=message, **data)
        return HttpReply.text(status, message)

    def _error(self, exc: RunnerError, **data) -> HttpReply:
        return self._refuse(exc.status, exc.message, **data)

    @staticmethod
    def _json(obj, status: int = 200) -> HttpReply:
        return HttpReply(status, go_json_dumps(obj), _JSON)

    # ------------------------------------------------------------------------------------------- ASGI
    async def __call__(self, scope, receive, send) -> None:
        ws = scope["type"] == "websocket"
        path = scope["path"]
        try:
            if not self.config.enabled:
                raise _Reply(HttpReply.text(404, "live runners are not supported"))
            if path.startswith("/run/"):
                try:
                    matched, route = self.registry.resolve_proxy(path)
                except RunnerError as exc:
                    raise _Reply(self._error(exc, path=path)) from None
                if matched:
                    if "local_path" in route:
                        await self(dict(scope, path=route["local_path"], raw_path=route["local_path"].encode()),
                                   receive, send)
                    else:
                        await self._forward(scope, receive, send, route["route"], route["session_id"],
                                            route["token"], route["target"], route["app_path"])
                    return
            parts = path.split("/")[1:]
            n = len(parts)
            if n >= 1 and parts[0] == "apps" and n >= 3 and all(parts[1:3]):
                rid = parts[1]
                if parts[2] == "app":
                    if n == 3:
                        raise _redirect(scope)
                    await self.single_shot(scope, receive, send, rid, "/".join(parts[3:]))
                    return
                if parts[2] == "session" and n >= 5 and parts[3] and parts[4] == "app":
                    if n == 5:
                        raise _redirect(scope)
                    await self.session_app(scope, receive, send, rid, parts[3], "/".join(parts[5:]))
                    return
            if ws:
                raise _Reply(HttpReply.text(404, "404 page not found"))
            await self._control(scope, receive, send, parts)
        except _Reply as r:
            if ws:
                await deny(scope, send, r.reply.status, "", r.reply.content_type or "text/plain", r.reply.body)
            else:
                if scope["type"] == "http":
                    await _drain(receive)
                await respond(send, r.reply, r.headers)
        except ConnectionError:
            return

    async def _control(self, scope, receive, send, parts: list[str]) -> None:
        """The non-proxied routes: method check (405), body (1 MiB, else 413), handler."""
        method = scope["method"]
        n = len(parts)
        handler, allow = None, None
        if parts == ["discovery"]:
            allow = ("GET", "HEAD")
            handler = lambda body: self.discovery(scope)  # noqa: E731
        elif parts[:2] == ["runners", "heartbeat"] and n == 2:
            allow = ("POST",)
            handler = lambda body: self.heartbeat(scope, body)  # noqa: E731
        elif n == 3 and parts[0] == "runners" and parts[1] and parts[2] == "unregister":
            allow = ("POST",)
            handler = lambda body: self.unregister(scope, parts[1])  # noqa: E731
        elif n == 5 and parts[0] == "runner" and parts[1] and parts[2] == "session" and parts[3]:
            rid, sid, what = parts[1], parts[3], parts[4]
            if what == "channels":
                allow = ("DELETE", "POST")
                handler = (lambda body: self.create_channels(scope, rid, sid, body)) if method == "POST" else \
                    (lambda body: self.delete_channels(scope, rid, sid, body))
            elif what == "proxy":
                allow = ("POST",)
                handler = lambda body: self.create_proxy(scope, rid, sid, body)  # noqa: E731
            elif what == "stop":
                allow = ("POST",)
                handler = lambda body: self.runner_stop(scope, rid, sid)  # noqa: E731
        elif n == 3 and parts[0] == "apps" and parts[1] and parts[2] == "session":
            allow = ("POST",)
            handler = lambda body: self.reserve(scope, parts[1])  # noqa: E731
        elif n == 5 and parts[0] == "apps" and parts[1] and parts[2] == "session" and parts[3]:
            rid, sid = parts[1], parts[3]
            if parts[4] == "stop":
                allow = ("POST",)
                handler = lambda body: self.stop(rid, sid)  # noqa: E731
            elif parts[4] == "payment":
                allow = ("POST",)
                handler = lambda body: self.payment(scope, rid, sid)  # noqa: E731
        if handler is None:
            raise _Reply(HttpReply.text(404, "404 page not found"))
        if method not in allow:  # go ServeMux: 405 with the allowed methods
            raise _Reply(HttpReply.text(405, "Method Not Allowed"), [(b"allow", ", ".join(allow).encode())])
        body = await read_body(receive)
        headers: list = []
        if body is None:
            reply = self._refuse(413, "request body too large", path=scope["path"])
        else:
            try:
                reply = await handler(body)
            except RunnerError as exc:
                reply = self._error(exc, path=scope["path"])
            except _Reply as r:  # the body is read already: answer without draining
                reply, headers = r.reply, r.headers
        await respond(send, reply, headers)

    # ------------------------------------------------------------------------------------------- runners
    async def heartbeat(self, scope, body: bytes) -> HttpReply:
        try:
            req = decode_heartbeat(body)
        except DecodeError as exc:
            return self._refuse(400, str(exc), path="/runners/heartbeat")
        resp = self.registry.heartbeat(req, header(scope, b"authorization") or "", orchestrator=self.runner_base(scope))
        return self._json(resp)

    async def unregister(self, scope, route: str) -> HttpReply:
        self.registry.unregister(route, header(scope, b"authorization") or "")
        return HttpReply(204, b"")

    async def discovery(self, scope) -> HttpReply:
        base = self.public_base(scope)
        entry: dict = {"address": base}
        runners = self.registry.discovery(base)
        if runners:
            entry["runners"] = runners
        return self._json([entry])

    # ------------------------------------------------------------------------------------------- callbacks
    def _token(self, scope, rid: str, sid: str) -> None:
        self.registry.valid_session_token(rid, sid, header(scope, b"livepeer-session-token") or "")

    def _channel_list(self, scope, rid: str, sid: str, body: bytes, decode) -> list:
        """Token, then go's checks on a channels body: decoded (400), not empty, at most 25 (raises _Reply)."""
        self._token(scope, rid, sid)
        try:
            items = decode(body)
        except DecodeError as exc:
            raise _Reply(self._refuse(400, str(exc), runner_id=rid, session_id=sid)) from None
        if not items:
            raise _Reply(self._refuse(400, "channels is required", runner_id=rid, session_id=sid))
        if len(items) > MAX_CHANNELS_PER_REQUEST:
            raise _Reply(self._refuse(400, f"channels cannot contain more than {MAX_CHANNELS_PER_REQUEST} entries",
                                      runner_id=rid, session_id=sid))
        return items

    async def create_channels(self, scope, rid: str, sid: str, body: bytes) -> HttpReply:
        reqs = self._channel_list(scope, rid, sid, body, decode_channels)
        out = [self.registry.create_channel(rid, sid, c.name, c.mime_type, public_base=self.public_base(scope),
                                            internal_base=self.runner_base(scope)) for c in reqs]
        self.orch.emit("runner.channels", runner_id=rid, session_id=sid, created=[c["name"] for c in out])
        return self._json({"channels": out})

    async def delete_channels(self, scope, rid: str, sid: str, body: bytes) -> HttpReply:
        names = self._channel_list(scope, rid, sid, body, decode_channel_names)
        for name in names:
            self.registry.delete_channel(rid, sid, name)
        self.orch.emit("runner.channels", runner_id=rid, session_id=sid, deleted=names)
        return self._json({"deleted": names})

    async def create_proxy(self, scope, rid: str, sid: str, body: bytes) -> HttpReply:
        self._token(scope, rid, sid)
        try:
            target = decode_proxy_request(body)
        except DecodeError as exc:
            return self._refuse(400, str(exc), runner_id=rid, session_id=sid)
        return self._json(self.registry.create_proxy(rid, sid, target, base=self.public_base(scope)))

    async def runner_stop(self, scope, rid: str, sid: str) -> HttpReply:
        self._token(scope, rid, sid)
        self.registry.release_route(rid, sid, "stopped by runner")
        return HttpReply(204, b"")

    # ------------------------------------------------------------------------------------------- sessions
    async def reserve(self, scope, rid: str) -> HttpReply:
        """``ReserveLiveRunnerSession``."""
        s, app_url, base = await self._reserve_for(scope, rid, MODE_PERSISTENT, "only persistent runners have sessions")
        return self._json({"session_id": s.session_id, "app_url": app_url,
                           "control_url": f"{base}/apps/{rid}/session/{s.session_id}"})

    async def _reserve_for(self, scope, rid: str, mode: str, refusal: str) -> tuple[RunnerSession, str, str]:
        """The runner in ``mode`` (else 400 ``refusal``), its price, then a free or paid reservation:
        (session, app URL or runner endpoint, the entry's base URL). Raises RunnerError / _Reply."""
        r = self.registry.ready(rid)
        if r.mode != mode:
            raise _Reply(self._refuse(400, refusal, runner_id=rid))
        price = self.registry.payment_info(rid)
        base = self.public_base(scope)
        if price is None:
            s, url = self.registry.reserve(rid, base=base)
            self._reserved(s, rid, paid=False)
        else:
            s, url = await self._reserve_paid(scope, rid, price, base)
        return s, url, base

    def _reserved(self, s: RunnerSession, rid: str, *, paid: bool) -> None:
        self.orch.emit("runner.session_reserved", runner_id=rid, session_id=s.session_id, paid=paid,
                       single_shot=s.single_shot, sender=s.sender or None, price=s.price if paid else None,
                       unit=s.unit or None,
                       balance=self.orch.ledger.balance(s.sender, s.session_id) if s.sender else None)

    async def _reserve_paid(self, scope, rid: str, price: WeiPrice, base: str) -> tuple[RunnerSession, str]:
        """``reservePaidLiveRunnerSession``: the challenge, or the paid reservation (raises _Reply on refusal)."""
        pay_h, seg_h = header(scope, b"livepeer-payment"), header(scope, b"livepeer-segment")
        if not pay_h and not seg_h:
            raise _Reply(await asyncio.to_thread(self.challenge, rid, price, header(scope, PAYER_HEADER), base))
        orch = self.orch
        reply, paid = await asyncio.to_thread(check_payment_headers, orch, pay_h, seg_h)
        if reply is not None:
            raise _Reply(reply)
        if paid.manifest_id != paid.seg.auth_token.session_id:
            raise _Reply(self._refuse(403, "mismatched manifest and auth token", runner_id=rid))
        ep = paid.payment.expected_price if paid.payment.HasField("expected_price") else None
        if price.unit == "fixed" and (ep is None or ep.pricePerUnit != price.price or ep.pixelsPerUnit != 1):
            raise _Reply(self._refuse(400, "payment price does not match live runner price", runner_id=rid,
                                      expected=price.price, got=None if ep is None else
                                      f"{ep.pricePerUnit}/{ep.pixelsPerUnit}"))
        sid = paid.manifest_id
        try:
            s, app_url = self.registry.reserve(rid, sid, base=base)
        except RunnerError as exc:
            raise _Reply(self._error(exc, runner_id=rid, session_id=sid)) from None
        s.sender, s.unit = paid.sender, price.unit
        s.price = paid.expected_price or Fraction(0)
        orch.emit("orch.payment_received", sender=paid.sender, manifest_id=sid, tickets=paid.tickets,
                  session_id=paid.seg.auth_token.session_id, route=f"/apps/{rid}/session")
        err = await asyncio.to_thread(orch.process_payment, paid.payment, sid)
        if err is not None:
            self._release(rid, sid, "payment failed")
            raise _Reply(orch._reject(400, err, sender=paid.sender, tickets=paid.tickets, manifest_id=sid))
        if price.unit == "fixed":
            try:
                fee = await asyncio.to_thread(orch.debit, paid.sender, sid, 1, s.price)
            except InsufficientBalance as exc:
                self._release(rid, sid, str(exc))
                raise _Reply(self._refuse(400, str(exc), runner_id=rid, session_id=sid)) from None
            s.debits, s.debited = 1, fee
        else:
            s.processor = LivePaymentProcessor(interval_s=self.config.payment_interval_s,
                                               units_per_second=UNITS_PER_SECOND[price.unit], start=self.clock_now())
            if self.config.background:  # else tick() meters it
                s.task = self._spawn(self._meter(rid, s), f"runner-debit-{sid}")
        self._reserved(s, rid, paid=True)
        return s, app_url

    def challenge(self, rid: str, price: WeiPrice, payer: str | None, base: str) -> HttpReply:
        """``runnerChallenge`` (worker thread): 402 with ticket params for ``{price, 1}`` and a new manifest id."""
        if not payer or not _HEX_ADDRESS.match(payer):
            self.orch.emit("runner.rejected", status=402, runner_id=rid,
                           message="invalid live runner payment signer address")
            return HttpReply(402, _go_error_json("invalid live runner payment signer address"), _JSON)
        sender = bytes.fromhex(payer[-40:])
        wei = Fraction(price.price, 1)
        try:
            with self.orch.lock:
                params, _ = self.orch.issue_params(sender, wei)
        except InsufficientSenderReserve as exc:
            return self._refuse(500, str(exc), runner_id=rid)
        mid = self.orch.rng.hex_id(4)  # core.RandomManifestID
        info = pb.OrchestratorInfo(transcoder=base, address=self.orch.address)
        info.ticket_params.CopyFrom(codec.ticket_params_to_pb(params))
        info.price_info.CopyFrom(codec.price_info_pb(wei))
        info.auth_token.CopyFrom(self.orch.new_auth_token(mid))
        payment_url = f"{base}/apps/{rid}/session/{mid}/payment"
        self.orch.emit("runner.challenge", runner_id=rid, sender=sender, manifest_id=mid, price=wei,
                       unit=price.unit, face_value=params.face_value, win_prob=params.win_prob,
                       payment_url=payment_url)
        return HttpReply(402, _challenge_json(info, payment_url), _JSON)

    async def _meter(self, rid: str, s: RunnerSession) -> None:
        """go: a ticker every ``-livePaymentInterval`` runs the live payment processor while the session lives;
        a debit the balance no longer covers releases the session (and cuts a single-shot request)."""
        interval = self.config.payment_interval_s
        while s.released is None:
            await asyncio.sleep(interval)
            if s.released is not None:
                return
            await self.meter_once(rid, s, self.clock_now())

    async def meter_once(self, rid: str, s: RunnerSession, now: float) -> None:
        """One tick of a metered session at ``now``: debit the units since the last one, or release the session
        (and cut a single-shot request) when the balance no longer covers them."""
        units = s.processor.process(now)
        if units is None:
            return
        try:
            fee = await asyncio.to_thread(self.orch.debit, s.sender, s.session_id, units, s.price)
        except InsufficientBalance as exc:
            self._release(rid, s.session_id, str(exc), fee=Fraction(units) * s.price, units=units,
                          balance=self.orch.ledger.balance(s.sender, s.session_id))
            if s.cancel_request is not None:
                s.cancel_request()
            return
        s.debits += 1
        s.debited += fee

    def _release(self, rid: str, sid: str, reason: str, **detail) -> None:
        try:
            self.registry.release_route(rid, sid, reason, **detail)
        except RunnerError:  # the runner is gone already (its sessions went with it)
            pass

    def _spawn(self, coro, name: str) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    async def payment(self, scope, rid: str, sid: str) -> HttpReply:
        """``PaymentForLiveRunnerSession`` (+ #4029: the answer is a challenge with fresh params)."""
        _, s = self.registry.session(rid, sid)
        if s.price_info.unit.lower() == "fixed":
            return self._refuse(409, "fixed-price live runner sessions do not accept follow-up payments",
                                runner_id=rid, session_id=sid)
        base = self.public_base(scope)
        return await asyncio.to_thread(self._pay, rid, sid, header(scope, b"livepeer-payment"),
                                       header(scope, b"livepeer-segment"), base)

    def _pay(self, rid: str, sid: str, pay_h, seg_h, base: str) -> HttpReply:
        orch = self.orch
        reply, paid = check_payment_headers(orch, pay_h, seg_h)
        if reply is not None:
            return reply
        if paid.manifest_id != sid:
            return self._refuse(403, "mismatched session and payment manifest", runner_id=rid, session_id=sid)
        route = f"/apps/{rid}/session/{sid}/payment"
        orch.emit("orch.payment_received", sender=paid.sender, manifest_id=sid, tickets=paid.tickets,
                  session_id=paid.seg.auth_token.session_id, route=route)
        caps = paid.seg.capabilities if paid.seg.HasField("capabilities") else None
        try:
            info = orch.orchestrator_info(paid.sender, paid.seg.auth_token.session_id, caps)
        except Exception as exc:  # go masks this as "Internal Server Error"; keep the status, give the cause
            return orch._reject(500, f"Internal Server Error: {exc}", sender=paid.sender)
        info.transcoder = base
        info.auth_token.CopyFrom(paid.seg.auth_token)
        err = orch.process_payment(paid.payment, sid)
        if err is not None:
            return orch._reject(400, err, sender=paid.sender, tickets=paid.tickets, manifest_id=sid)
        with orch.lock:
            orch.stats["payments_ok"] += 1
        return HttpReply(200, _challenge_json(info, f"{base}{route}"), _JSON)

    async def stop(self, rid: str, sid: str) -> HttpReply:
        self.registry.release_route(rid, sid, "stopped")
        return HttpReply(204, b"")

    # ------------------------------------------------------------------------------------------- proxying
    async def session_app(self, scope, receive, send, rid: str, sid: str, app_path: str) -> None:
        """``ProxyLiveRunnerSession``."""
        try:
            r, _ = self.registry.session(rid, sid)
        except RunnerError as exc:
            raise _Reply(self._error(exc, runner_id=rid, session_id=sid)) from None
        await self._forward(scope, receive, send, rid, sid, r.session_token(sid), r.req.runner_url, app_path)

    async def single_shot(self, scope, receive, send, rid: str, app_path: str) -> None:
        """``ProxyLiveRunnerSingleShot``: reserve (free or paid) → proxy → release."""
        try:
            s, endpoint, _ = await self._reserve_for(scope, rid, MODE_SINGLE_SHOT, "runner is not single-shot")
        except RunnerError as exc:
            raise _Reply(self._error(exc, runner_id=rid)) from None
        try:
            # a paid reservation awaits the payment: the runner may have been unregistered or expired meanwhile,
            # taking the session with it (a 404 like any request for a gone runner, never a KeyError's 500)
            r = self.registry.lock(rid)
            if s.released is not None or r.sessions.get(s.session_id) is not s:
                raise RunnerError(404, "runner session not found")
        except RunnerError as exc:
            self._release(rid, s.session_id, "runner gone before the request")
            raise _Reply(self._error(exc, runner_id=rid, session_id=s.session_id)) from None
        task = self._spawn(self._forward(scope, receive, send, rid, s.session_id, r.session_token(s.session_id),
                                         endpoint, app_path), f"single-shot-{s.session_id}")
        s.cancel_request = task.cancel  # go: a failed debit cancels the request (cancelRequest)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():  # this handler was cancelled (server shutdown): take the request down too
                task.cancel()
                raise
        finally:
            self._release(rid, s.session_id, "single-shot done")

    async def _forward(self, scope, receive, send, rid: str, sid: str, token: str, target: str,
                       app_path: str) -> ProxyResult:
        """``proxyLiveRunner``: the four headers, then HTTP or WebSocket forwarding; a ``runner.proxied`` event."""
        r = self.registry.runners.get(rid)
        control_base = self.config.live_runner_addr or (r.orchestrator if r is not None else "") \
            or self.runner_base(scope)
        control = f"{control_base.rstrip('/')}/runner/{rid}/session/{sid}"
        extra = {"Livepeer-Runner-Route": rid, "Livepeer-Session-Id": sid, "Livepeer-Session-Token": token,
                 "Livepeer-Session-Control": control}
        t0 = self.clock_now()  # the stack's clock: a stepped scenario's traces repeat byte for byte
        res = ProxyResult(websocket=scope["type"] == "websocket")
        try:
            if res.websocket:
                res = await self.proxy.websocket(scope, receive, send, target, app_path, extra)
            else:
                res = await self.proxy.http(scope, receive, send, target, app_path, extra)
        except asyncio.CancelledError:
            res.error = res.error or "cancelled"
            raise
        finally:
            s = r.sessions.get(sid) if r is not None else None
            if s is not None:
                s.requests += 1
                s.bytes_in += res.bytes_in
                s.bytes_out += res.bytes_out
            self.orch.emit("runner.proxied", runner_id=rid, session_id=sid, method=scope.get("method", "GET"),
                           path="/" + app_path, status=res.status, bytes_in=res.bytes_in, bytes_out=res.bytes_out,
                           websocket=res.websocket, messages_in=res.messages_in, messages_out=res.messages_out,
                           duration_ms=round((self.clock_now() - t0) * 1000, 3), error=res.error)
        return res

    # ------------------------------------------------------------------------------------------- status
    def info(self) -> dict:
        return {"runners": self.registry.info(), **self.registry.counts()}


def _challenge_json(info: pb.OrchestratorInfo, payment_url: str) -> bytes:
    """go ``marshalLivePaymentChallengeResponse``."""
    return go_json_dumps({"payment_params": codec.to_b64(info), "orchestrator": info.transcoder,
                          "manifest_id": info.auth_token.session_id, "payment_url": payment_url})


def _redirect(scope) -> _Reply:
    """go ``ServeMux``: a path missing the trailing slash of a ``{rest...}`` pattern is redirected (301)."""
    loc = scope["path"] + "/"
    if scope.get("query_string"):
        loc += "?" + scope["query_string"].decode("latin-1")
    get = scope.get("method") in ("GET", "HEAD")
    body = f'<a href="{loc}">Moved Permanently</a>.\n\n'.encode() if get else b""
    return _Reply(HttpReply(301, body, "text/html; charset=utf-8" if get else None),
                  [(b"location", loc.encode("utf-8"))])


async def _drain(receive) -> None:
    try:
        await read_body(receive)
    except ConnectionError:
        pass


def attach(server, config: LiveRunnerConfig | None = None, *, hub: Callable) -> LiveRunners:
    """Mount the Live Runner routes on an :class:`~sim.orchestrator.server.OrchestratorServer`'s app."""
    runners = LiveRunners(server.orch, hub, config)
    for prefix in ("/runners/", "/runner/", "/apps/", "/discovery", "/run/"):
        server.app.mount(prefix, runners)
    return runners
