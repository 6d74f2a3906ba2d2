"""The Live Runner registry, as go-livepeer's ``ai/runner/live_runner.go`` (``LiveRunnerRegistry``) keeps it.

Runners register themselves over heartbeats (dynamic) or come from a ``runners.json`` (static, see
:mod:`sim.orchestrator.runner_static`); clients reserve sessions on them; runners call back with a per-session
token to open trickle channels and proxies. This module is the state and its rules; the HTTP routes are
:mod:`sim.orchestrator.live_runner`, the forwarding :mod:`sim.orchestrator.runner_proxy`.

Rules, in go's words and order (every refusal is a :class:`RunnerError` carrying go's status and message):

* **heartbeat** — an empty ``runner_id`` becomes ``runner_`` + 8 lowercase base32 chars; the body is validated
  (``invalid runner_url``, ``app must be trimmed``, metadata ≤ 1024 bytes without U+FFFD, ``status must be
  lowercase and trimmed``, mode ``persistent``/``single-shot`` (``single_shot`` accepted), capacity ≥ 0 (0 → 1), and
  on chain a positive USD ``price_info``). An unknown id registers: no orchestrator secret → 404 ``dynamic live
  runner registration is disabled``; ``Authorization`` ≠ secret → 401 ``invalid registration authorization``; else
  a random 32-byte seed, ``heartbeat_secret`` = base32(HMAC-SHA256(seed, "heartbeat")) and an orchestrator-to-runner
  (O2R) trickle channel. A known id: silent for longer than the TTL → 404 ``runner not found``; ``Authorization`` ≠
  its heartbeat secret → 401 ``invalid heartbeat authorization``; static → 400.
* **expiry** — a sweep every heartbeat interval removes runners silent for longer than the TTL (O2R closed,
  sessions released); the id is then unknown, so the SDK's next heartbeat (with its heartbeat secret) gets the
  registration path's 401 and re-registers with the bootstrap secret.
* **O2R** — one JSON document per trickle segment: ``{"keep":"alive"}`` every 10 s and
  ``{"event":"reserved"|"released","session":…,"timestamp":…}`` (a queue of 32; a full queue drops the event).
* **sessions** — only ready runners (status ``""``/``ready``) take them; capacity counts sessions (503 ``no capacity
  available for runner``); a given id that exists → 409 ``session already exists``; the session token is
  base32(HMAC(seed, "session:" + id)).

lpdev additions: a runner registered with price 0 (or no price) is a **free** runner on an on-chain orchestrator
(go refuses it: ``price_info.price must be a positive decimal``; ``free_runners=False`` restores that), so the
SDK's examples, which register at price 0, run unmodified; the random ids and seeds come from the orchestrator's
seeded ``Rng``, and the TTL is measured on the orchestrator's clock, so scenarios replay. With
``background=False`` (a stepped scenario stack) nothing runs on wall time: the owner calls :meth:`sweep` and
:meth:`flush_o2r` (``LiveRunners.tick``), which write the queued O2R events in order; no keep-alives are written.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable

from sim.events import register_kinds
from sim.orchestrator.gourl import parse_url
from sim.orchestrator.node import _GO_SPACE
from sim.orchestrator.runner_wire import HeartbeatRequest, PriceInfo
from sim.orchestrator.tasks import cancel_and_wait
from sim.trickle import MIME_JSON, TooManyChannels
from sim.trickle.server import TRICKLE_HTTP_PATH
from sim.wire import bounded
from sim.wire.gojson import format_rfc3339nano, go_json_dumps

__all__ = ["RunnerError", "LiveRunnerRegistry", "Runner", "RunnerSession", "WeiPrice", "go_duration",
           "valid_secret", "valid_http_url", "parse_runner_price", "PriceRefused", "PRICE_MAX_DIGITS",
           "MODE_PERSISTENT", "MODE_SINGLE_SHOT", "HEARTBEAT_INTERVAL_S", "HEARTBEAT_TTL_S", "O2R_INTERVAL_S",
           "MAX_METADATA_BYTES", "UNITS_PER_SECOND"]

log = logging.getLogger("lpdev.orchestrator.runners")

HEARTBEAT_INTERVAL_S = 5.0  # defaultLiveRunnerHeartbeatInterval
HEARTBEAT_TTL_S = 20.0  # defaultLiveRunnerHeartbeatTTL
O2R_INTERVAL_S = 10.0  # defaultLiveRunnerO2RInterval
O2R_QUEUE = 32
MAX_METADATA_BYTES = 1024
MODE_PERSISTENT = "persistent"
MODE_SINGLE_SHOT = "single-shot"
KEEPALIVE = b'{"keep":"alive"}'
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
UNITS_PER_SECOND = {"seconds": 1, "720p-pixel-seconds": 1280 * 720 * 30}  # NewLivePaymentProcessor / LV2V

register_kinds({
    "runner.registered": "a Live Runner registered (dynamic heartbeat or static runners.json): id, app, mode, "
                         "capacity, price",
    "runner.heartbeat": "a registered Live Runner heartbeated (status, capacity, sessions it and we know of)",
    "runner.expired": "a Live Runner missed its heartbeats for longer than the TTL and was removed "
                      "(its sessions released)",
    "runner.unregistered": "a Live Runner unregistered itself (its sessions released)",
    "runner.health": "a static Live Runner's health check changed its status (ready / unavailable)",
    "runner.session_reserved": "a Live Runner session was reserved (free, or paid after its upfront payment)",
    "runner.session_released": "a Live Runner session ended: reason (stopped, runner stop, single-shot done, "
                               "expired, unhealthy, insufficient balance ...)",
    "runner.channels": "a runner created or deleted a session's trickle channels",
    "runner.proxy_created": "a runner created a session-scoped proxy URL (/run/{proxy_id})",
    "runner.rejected": "a Live Runner route refused a request: HTTP status and go-livepeer's message",
})


class RunnerError(Exception):
    """go ``runner.RunnerError``: answered as ``http.Error(message, status)``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def go_duration(seconds: float) -> str:
    """Go ``time.Duration.String`` for the durations the registry reports ("5s", "20s", "1m30s", "500ms")."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, div in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= div:
                return _trim(ns / div) + unit
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = _trim(rem / 1e9) + "s"
    if h:
        return f"{h}h{m}m{s}"
    if m:
        return f"{m}m{s}"
    return s


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")


def derive_secret(seed: bytes, label: str) -> str:
    """go ``deriveSecret``: lowercase unpadded base32 of HMAC-SHA256(seed, label)."""
    mac = hmac.new(seed, label.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().rstrip("=").lower()


def _go_trim(s: str) -> str:
    return s.strip(_GO_SPACE)


def valid_http_url(raw: str) -> bool:
    """go ``url.ParseRequestURI`` + ``Host != ""`` + scheme http/https (a ``#`` is part of the path, not a
    fragment: go accepts ``http://h/x#f``)."""
    u = parse_url(raw, request=True)
    return u is not None and u.host != "" and u.scheme in ("http", "https")


def valid_secret(got: str | bytes, want: str) -> bool:
    """go ``validSecret``: ``hmac.Equal([]byte(got), []byte(want))``, byte for byte. ``got`` is a header value as
    :func:`sim.orchestrator.app.header` gives it (the raw bytes, latin-1 decoded) or bytes; ``want`` the secret as
    configured (its UTF-8 bytes), so a non-ASCII orchestrator secret sent as UTF-8 matches, as in go."""
    if isinstance(got, str):
        try:
            got = got.encode("latin-1")
        except UnicodeEncodeError:  # not a header's bytes: no secret can match it
            return False
    return hmac.compare_digest(got, want.encode("utf-8", "surrogateescape"))


# ------------------------------------------------------------------------------------------------ prices
PRICE_MAX_DIGITS = 1000  # lpdev's bound on a runner price: digits, and digits before or after the point
_GO_RAT_MAX_EXP = 10**6  # big.Rat.SetString refuses a decimal exponent beyond this ("avoid excessively large ...")
_PRICE_TEXT = re.compile(r"([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?\Z")


class PriceRefused(ValueError):
    """A runner price that cannot be used. ``go``: go-livepeer refuses it too (``big.Rat.SetString`` fails);
    else only lpdev's bound refuses it (go would parse it), and ``reason`` says why."""

    def __init__(self, reason: str, *, go: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.go = go


def parse_runner_price(text: str) -> Fraction:
    """A runner's ``price_info.price`` (a ``json.Number`` text) as go's ``big.Rat.SetString`` reads it, bounded:
    the exact value (0 and negatives included), or :class:`PriceRefused`. Go refuses an exponent whose magnitude
    (after the fraction digits) exceeds 10^6 and parses anything else, however long; lpdev parses through
    :func:`sim.wire.bounded.parse_fraction` with :data:`PRICE_MAX_DIGITS` (a longer price would be converted to
    wei by slow big-number arithmetic on the event loop, and no price that long converts to an int64 of wei)."""
    m = _PRICE_TEXT.match(text)
    if not m or not (m.group(2) or m.group(3)):
        raise PriceRefused(f"{text[:40]!r} is not a decimal number", go=True)
    if not (m.group(2) + (m.group(3) or "")).strip("0"):
        return Fraction(0)  # go special-cases a zero mantissa before looking at the exponent
    exp_text = (m.group(4) or "0").lstrip("+-").lstrip("0") or "0"
    if len(exp_text) > 18:  # strconv.ParseInt(exponent, 10, 64) overflows
        raise PriceRefused("exponent out of range", go=True)
    exp5 = int((m.group(4) or "0")) - len(m.group(3) or "")
    if abs(exp5) > _GO_RAT_MAX_EXP:
        raise PriceRefused(f"exponent {exp5} beyond 10^6", go=True)
    try:
        return bounded.parse_fraction(text, what="price_info.price", max_digits=PRICE_MAX_DIGITS)
    except bounded.BoundedInputError as exc:
        raise PriceRefused(exc.problem, go=False) from None


@dataclass(frozen=True)
class WeiPrice:
    """A runner's price converted for discovery and payment: wei per ``unit`` (seconds, 720p-pixel-seconds, fixed)."""

    price: int
    unit: str

    def to_json(self) -> dict:
        return {"price": self.price, "currency": "wei", "unit": self.unit}


@dataclass
class O2RChannel:
    name: str
    channel_name: str
    url: str
    queue: asyncio.Queue
    task: asyncio.Task | None = None
    closed: bool = False
    pub: Any = None  # the channel's local publisher when the owner flushes it (background=False)

    def to_json(self) -> dict:
        return {"name": "o2r", "channel_name": self.channel_name, "url": self.url, "mime_type": MIME_JSON}


@dataclass
class RunnerSession:
    session_id: str
    route: str
    created_at: float
    price_info: PriceInfo  # the runner's registration price when the session was reserved (go: a snapshot)
    single_shot: bool = False
    public_base: str = ""  # the entry the client reserved on: channel and proxy URLs for it use this base
    channels: dict[str, dict] = field(default_factory=dict)  # name -> descriptor
    proxies: dict[str, str] = field(default_factory=dict)  # proxy id -> target URL
    # paid sessions (set by the routes)
    sender: bytes = b""
    price: Fraction = Fraction(0)  # wei per unit, from the upfront payment's expected price
    unit: str = ""
    processor: Any = None
    metered_at: float | None = None  # a stepped stack's last debit instant (LiveRunners.tick)
    task: asyncio.Task | None = field(default=None, repr=False)
    cancel_request: Callable[[], object] | None = field(default=None, repr=False)  # a single-shot's request
    debits: int = 0
    debited: Fraction = Fraction(0)
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    released: str | None = None


@dataclass
class Runner:
    runner_id: str
    route: str
    seed: bytes
    heartbeat_secret: str
    static: bool
    req: HeartbeatRequest
    last_heartbeat: float
    orchestrator: str = ""  # the runner-facing URL it was given (R)
    removed: bool = False
    health_url: str = ""
    healthy_status: int = 200
    sessions: dict[str, RunnerSession] = field(default_factory=dict)
    o2r: O2RChannel | None = None
    heartbeats: int = 0

    @property
    def ready(self) -> bool:
        return self.req.status in ("", "ready")

    @property
    def mode(self) -> str:
        return self.req.mode or MODE_PERSISTENT

    def session_token(self, session_id: str) -> str:
        return derive_secret(self.seed, "session:" + session_id)

    def session_ids(self) -> list[str]:
        return [s.session_id for s in sorted(self.sessions.values(), key=lambda s: (s.created_at, s.session_id))]

    def info(self) -> dict:
        return {"runner_id": self.runner_id, "route": self.route, "app": self.req.app, "mode": self.mode,
                "status": self.req.status, "static": self.static, "capacity": self.req.capacity,
                "runner_url": self.req.runner_url, "sessions": self.session_ids(), "heartbeats": self.heartbeats,
                "last_heartbeat": self.last_heartbeat, "price_info": self.req.price_info.to_json()}


class LiveRunnerRegistry:
    """All runners of one orchestrator. Methods run on the event loop (single-threaded, no locks needed)."""

    def __init__(self, *, clock, rng, emit: Callable[..., None], hub: Callable[[], Any],
                 orch_secret: str | None = None, onchain: bool = True, free_runners: bool = True,
                 wei_per_usd: Callable[[], Fraction] | None = None,
                 heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S, heartbeat_ttl_s: float = HEARTBEAT_TTL_S,
                 o2r_interval_s: float = O2R_INTERVAL_S, background: bool = True) -> None:
        self.clock = clock
        self.rng = rng
        self.emit = emit
        self._hub = hub
        self.orch_secret = orch_secret or ""
        self.onchain = onchain
        self.free_runners = free_runners
        self.wei_per_usd = wei_per_usd
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_ttl_s = heartbeat_ttl_s
        self.o2r_interval_s = o2r_interval_s
        self.background = background  # False: no expiry sweeper, no O2R writer tasks (the owner drives them)
        self.runners: dict[str, Runner] = {}  # by route (runner id, or label for label-routed static runners)
        self._sweeper: asyncio.Task | None = None

    # ------------------------------------------------------------------------------------------- helpers
    def _random(self, n: int) -> str:
        return base64.b32encode(self.rng.bytes(n)).decode().rstrip("=").lower()

    def _expired(self, r: Runner, now: float | None = None) -> bool:
        now = self.clock.now() if now is None else now
        return not r.static and now - r.last_heartbeat > self.heartbeat_ttl_s

    def lock(self, route: str) -> Runner:
        """go ``lockLiveRunner``: the live runner behind ``route`` or 404 ``runner not found``."""
        r = self.runners.get(route)
        if r is None or r.removed or self._expired(r):
            raise RunnerError(404, "runner not found")
        return r

    def ready(self, route: str) -> Runner:
        r = self.lock(route)
        if not r.ready:
            raise RunnerError(404, "runner not found")
        return r

    def session(self, route: str, session_id: str) -> tuple[Runner, RunnerSession]:
        """go ``liveRunnerSessionLocked``: 404 ``runner not found`` / ``runner session not found``."""
        r = self.ready(route)
        s = r.sessions.get(session_id)
        if s is None:
            raise RunnerError(404, "runner session not found")
        return r, s

    # ------------------------------------------------------------------------------------------- validation
    def normalize(self, req: HeartbeatRequest, runner_id: str) -> HeartbeatRequest:
        """go ``normalizeHeartbeat``: a validated copy, or RunnerError 400 with go's message (a price only lpdev's
        bound refuses included: see :meth:`normalize_deferred`)."""
        out, stricter = self.normalize_deferred(req, runner_id)
        if stricter is not None:
            raise stricter
        return out

    def normalize_deferred(self, req: HeartbeatRequest, runner_id: str) -> tuple[HeartbeatRequest, RunnerError | None]:
        """:meth:`normalize`, except that a price go would accept but lpdev's bound refuses is returned as the
        second value instead of raised: go answers such a heartbeat only after its authorization checks (401 for a
        wrong secret), so the caller raises it where go would have succeeded."""
        if not valid_http_url(req.runner_url):
            raise RunnerError(400, "invalid runner_url")
        if not req.app or req.app != _go_trim(req.app):
            raise RunnerError(400, "app must be trimmed")
        meta = req.metadata.encode("utf-8", "surrogatepass")
        if len(meta) > MAX_METADATA_BYTES:
            raise RunnerError(400, f"metadata must be at most {MAX_METADATA_BYTES} bytes")
        if "\ufffd" in req.metadata or any("\ud800" <= c <= "\udfff" for c in req.metadata):
            raise RunnerError(400, "metadata must not contain Unicode replacement character U+FFFD")
        if req.status != _go_trim(req.status).lower():
            raise RunnerError(400, "status must be lowercase and trimmed")
        mode = req.mode or MODE_PERSISTENT
        if mode == "single_shot":
            mode = MODE_SINGLE_SHOT
        if mode not in (MODE_PERSISTENT, MODE_SINGLE_SHOT):
            raise RunnerError(400, f'mode must be "{MODE_PERSISTENT}" or "{MODE_SINGLE_SHOT}"')
        if req.capacity < 0:
            raise RunnerError(400, "capacity must be >= 0")
        out = replace(req, runner_id=runner_id, mode=mode, capacity=req.capacity or 1,
                      gpu=replace(req.gpu) if req.gpu else None, session_ids=list(req.session_ids),
                      price_info=replace(req.price_info))
        if not self.onchain:
            return out, None
        out.price_info, stricter = self._normalize_price(out.price_info)
        return out, stricter

    def _normalize_price(self, p: PriceInfo) -> tuple[PriceInfo, RunnerError | None]:
        """go ``normalizeLiveRunnerPriceInfo`` (price > 0, currency usd, unit hour|720p|fixed), in go's order; lpdev
        lets a price of 0 or none through as a free runner when ``free_runners``. Returns the normalized price and
        the refusal of a price only lpdev's bound refuses (go's 400 message, then the reason), or None."""
        text = _go_trim(p.price)
        stricter = None
        value = None
        if text:
            try:
                value = parse_runner_price(text)
            except PriceRefused as exc:
                if exc.go:
                    raise RunnerError(400, "price_info.price must be a positive decimal") from None
                stricter = RunnerError(400, f"price_info.price must be a positive decimal: {exc.reason}")
        free = self.free_runners and (text == "" or value == 0)
        if not free:
            if text == "":
                raise RunnerError(400, "price_info.price is required")
            if value is not None and value <= 0:
                raise RunnerError(400, "price_info.price must be a positive decimal")
        currency = _go_trim(p.currency).lower() or "usd"
        if currency != "usd":
            raise RunnerError(400, "price_info.currency must be usd")
        unit = _go_trim(p.unit).lower() or "hour"
        if unit not in ("hour", "720p", "fixed"):
            raise RunnerError(400, "price_info.unit must be hour, 720p, or fixed")
        return PriceInfo(price=text or "0", currency=currency, unit=unit), stricter

    # ------------------------------------------------------------------------------------------- heartbeats
    def heartbeat(self, req: HeartbeatRequest, auth: str, *, orchestrator: str) -> dict:
        """``POST /runners/heartbeat``: the response JSON (go ``LiveRunnerHeartbeatResponse``) or RunnerError.
        ``orchestrator`` is the runner-facing base URL (R) returned to the runner and used for its O2R channel."""
        runner_id = _go_trim(req.runner_id) or "runner_" + self._random(5)
        if "/" in runner_id:
            # go registers it and names its O2R trickle channel "{runner_id}-…-o2r", whose URL no trickle route
            # serves (the "/" splits the path); lpdev's trickle hub cannot hold such a channel at all
            raise RunnerError(400, f'runner_id {runner_id!r} must not contain "/": its O2R trickle channel name '
                                   "would contain it too (go-livepeer registers it and hands out an O2R URL no "
                                   "route serves)")
        req, stricter = self.normalize_deferred(req, runner_id)
        now = self.clock.now()
        r = self.runners.get(runner_id)
        if r is None:
            if not self.orch_secret:
                raise RunnerError(404, "dynamic live runner registration is disabled")
            if not valid_secret(auth, self.orch_secret):
                raise RunnerError(401, "invalid registration authorization")
            if stricter is not None:
                raise stricter
            seed = self.rng.bytes(32)
            r = Runner(runner_id=runner_id, route=runner_id, seed=seed,
                       heartbeat_secret=derive_secret(seed, "heartbeat"), static=False, req=req,
                       last_heartbeat=now, orchestrator=orchestrator)
            r.o2r = self._open_o2r(r, orchestrator)
            self.runners[runner_id] = r
            self.emit("runner.registered", runner_id=runner_id, app=req.app, mode=req.mode, capacity=req.capacity,
                      runner_url=req.runner_url, price_info=req.price_info.to_json(), static=False,
                      version=req.version, orchestrator=orchestrator)
            return self._heartbeat_response(r, orchestrator, first=True)
        if r.removed or self._expired(r, now):
            raise RunnerError(404, "runner not found")
        if not valid_secret(auth, r.heartbeat_secret):
            raise RunnerError(401, "invalid heartbeat authorization")
        if r.static:
            raise RunnerError(400, "static runner cannot heartbeat")
        if stricter is not None:
            raise stricter
        r.req = req
        r.last_heartbeat = now
        r.route = r.runner_id
        r.orchestrator = orchestrator
        r.heartbeats += 1
        self.emit("runner.heartbeat", runner_id=runner_id, status=req.status, capacity=req.capacity,
                  capacity_used=len(r.sessions), session_ids=r.session_ids(), reported_session_ids=req.session_ids)
        return self._heartbeat_response(r, orchestrator, first=False)

    def _heartbeat_response(self, r: Runner, orchestrator: str, *, first: bool) -> dict:
        out: dict = {"runner_id": r.runner_id}
        if orchestrator:
            out["orchestrator"] = orchestrator
        out["heartbeat_interval"] = go_duration(self.heartbeat_interval_s)
        out["heartbeat_ttl"] = go_duration(self.heartbeat_ttl_s)
        if first:
            out["heartbeat_secret"] = r.heartbeat_secret
            if r.o2r is not None:
                out["o2r"] = r.o2r.to_json()
        out["session_ids"] = r.session_ids()
        return out

    def unregister(self, route: str, auth: str) -> None:
        """``POST /runners/{id}/unregister``: go's checks in go's order (static before authorization)."""
        r = self.runners.get(route)
        if r is None or r.removed or self._expired(r):
            raise RunnerError(404, "runner not found")
        if r.static:
            raise RunnerError(400, "static runner cannot unregister with heartbeat credentials")
        if not valid_secret(auth, r.heartbeat_secret):
            raise RunnerError(401, "invalid authorization")
        self.remove(r, "unregister")
        self.emit("runner.unregistered", runner_id=r.runner_id, app=r.req.app)

    def remove(self, r: Runner, reason: str) -> None:
        """go ``removeRunnerWithRunnerLocked``: O2R closed, every session released, the route forgotten."""
        if r.removed:
            return
        r.removed = True
        for sid in list(r.sessions):
            self.release(r, sid, reason)
        self._close_o2r(r)
        if self.runners.get(r.route) is r:
            del self.runners[r.route]

    def sweep(self, now: float | None = None) -> list[str]:
        """go ``removeExpiredRunners``: remove the dynamic runners silent for longer than the TTL."""
        now = self.clock.now() if now is None else now
        gone = []
        for r in list(self.runners.values()):
            if not r.removed and self._expired(r, now):
                sessions = r.session_ids()
                self.remove(r, "runner expired")
                self.emit("runner.expired", runner_id=r.runner_id, app=r.req.app,
                          silent_s=now - r.last_heartbeat, ttl_s=self.heartbeat_ttl_s, sessions_released=sessions)
                gone.append(r.runner_id)
        return gone

    # ------------------------------------------------------------------------------------------- O2R channel
    def _open_o2r(self, r: Runner, base: str) -> O2RChannel | None:
        hub = self._hub()
        name = f"{r.runner_id}-{derive_secret(r.seed, 'trickle:o2r')[:16]}-o2r"
        try:
            hub.create(name, MIME_JSON)
        except TooManyChannels as exc:
            raise RunnerError(503, str(exc)) from None
        ch = O2RChannel("o2r", name, base.rstrip("/") + TRICKLE_HTTP_PATH + name, asyncio.Queue(O2R_QUEUE))
        if not self.background:  # the owner writes the queue with flush_o2r()
            return ch
        try:
            ch.task = asyncio.get_running_loop().create_task(self._o2r_loop(ch), name=f"o2r-{r.runner_id}")
        except RuntimeError:  # no loop (unit use): events queue up, nothing is written
            ch.task = None
        return ch

    async def _o2r_loop(self, ch: O2RChannel) -> None:
        """go ``writeO2RLoop``: queued events as they come, a keep-alive every interval; ends with the channel."""
        pub = self._hub().local_publisher(ch.channel_name)
        while not ch.closed:
            try:
                msg = await asyncio.wait_for(ch.queue.get(), self.o2r_interval_s)
            except asyncio.TimeoutError:
                msg = KEEPALIVE
            try:
                await pub.write(msg)
            except KeyError:  # the channel is gone (closed, swept)
                ch.closed = True
                return
            except Exception as exc:  # noqa: BLE001 - a full hub budget etc.: logged, the loop goes on (go too)
                log.warning("error writing live runner trickle message on %s: %s", ch.channel_name, exc)

    async def flush_o2r(self) -> int:
        """Write every queued O2R event now, runner by runner in registration order (``background=False``: the
        owner calls this where the writer task would have run). Returns how many were written."""
        n = 0
        for r in list(self.runners.values()):
            ch = r.o2r
            if ch is None or ch.closed or ch.task is not None:
                continue
            while not ch.queue.empty():
                msg = ch.queue.get_nowait()
                if ch.pub is None:
                    ch.pub = self._hub().local_publisher(ch.channel_name)
                try:
                    await ch.pub.write(msg)
                    n += 1
                except KeyError:  # the channel is gone (closed, swept)
                    ch.closed = True
                    break
                except Exception as exc:  # noqa: BLE001 - as the writer task: logged, the rest still written
                    log.warning("error writing live runner trickle message on %s: %s", ch.channel_name, exc)
        return n

    def _close_o2r(self, r: Runner) -> None:
        ch = r.o2r
        if ch is None or ch.closed:
            return
        ch.closed = True
        if ch.task is not None:
            ch.task.cancel()
        self._hub().close(ch.channel_name, "runner removed")

    def _session_event(self, r: Runner, event: str, session_id: str) -> None:
        if r.o2r is None or r.o2r.closed:
            return
        ns = int(self.clock.now() * 1_000_000_000)
        msg = go_json_dumps({"event": event, "session": session_id, "timestamp": format_rfc3339nano(ns)})
        try:
            r.o2r.queue.put_nowait(msg)
        except asyncio.QueueFull:
            log.warning("live runner trickle channel %s write queue is full: %s %s dropped", r.o2r.channel_name,
                        event, session_id)

    # ------------------------------------------------------------------------------------------- pricing
    @staticmethod
    def is_free(r: Runner) -> bool:
        """A free runner (lpdev): registered on chain with price 0 or none (its price was validated then)."""
        text = _go_trim(r.req.price_info.price)
        try:
            return not text or parse_runner_price(text) == 0
        except PriceRefused:
            return False

    def convert(self, p: PriceInfo) -> WeiPrice:
        """go ``convertPrice``: USD → wei at the feed's rate (hour ÷ 3600, 720p ÷ 3600·1280·720·30, fixed as is),
        truncated to an integer (``PriceToInt64``); < 1 wei is an error."""
        usd = parse_runner_price(_go_trim(p.price))
        if p.unit == "hour":
            usd /= 3600
        elif p.unit == "720p":
            usd /= 3600 * 1280 * 720 * 30
        if self.wei_per_usd is None:
            raise ValueError("no ETH/USD price feed configured")
        wei = usd * self.wei_per_usd()
        price = wei.numerator // wei.denominator
        if price >= 2**63:
            raise ValueError("price cannot be converted to int64")
        if price <= 0:
            raise ValueError("converted live runner price must be at least one wei")
        unit = {"720p": "720p-pixel-seconds", "fixed": "fixed"}.get(p.unit, "seconds")
        return WeiPrice(price, unit)

    def payment_info(self, route: str) -> WeiPrice | None:
        """go ``PaymentInfo``: None when no payment is due (offchain, or an lpdev free runner); 503 ``live runner
        price unavailable: …`` when the price cannot be converted."""
        r = self.ready(route)
        if not self.onchain or self.is_free(r):
            return None
        try:
            return self.convert(r.req.price_info)
        except Exception as exc:  # noqa: BLE001 - no feed, feed error, < 1 wei: the cause is in the message
            raise RunnerError(503, f"live runner price unavailable: {exc}") from None

    # ------------------------------------------------------------------------------------------- sessions
    def reserve(self, route: str, session_id: str = "", *, base: str) -> tuple[RunnerSession, str]:
        """go ``ReserveSession``: (session, app URL). Persistent: ``{base}/apps/{route}/session/{id}/app`` (or a new
        default proxy with ``proxy: true``); single-shot: the private runner URL (forwarding only)."""
        r = self.ready(route)
        if session_id and session_id in r.sessions:
            raise RunnerError(409, "session already exists")
        if len(r.sessions) >= r.req.capacity:
            raise RunnerError(503, "no capacity available for runner")
        if not session_id:
            session_id = "session_" + self._random(5)
            while session_id in r.sessions:
                session_id = "session_" + self._random(5)
        s = RunnerSession(session_id, r.route, self.clock.now(), replace(r.req.price_info),
                          single_shot=r.mode == MODE_SINGLE_SHOT, public_base=base.rstrip("/"))
        app_url = f"{base.rstrip('/')}/apps/{r.route}/session/{session_id}/app"
        if r.mode == MODE_SINGLE_SHOT:
            app_url = r.req.runner_url
        elif r.req.proxy:
            app_url = self._new_proxy(r, s, "", base)["url"]
        r.sessions[session_id] = s
        self._session_event(r, "reserved", session_id)
        return s, app_url

    def release(self, r: Runner, session_id: str, reason: str, **detail) -> RunnerSession | None:
        """go ``releaseSessionLocked``: O2R ``released``, the session's channels closed, its proxies gone."""
        s = r.sessions.pop(session_id, None)
        if s is None:
            return None
        s.released = reason
        self._session_event(r, "released", session_id)
        hub = self._hub() if s.channels else None
        for desc in s.channels.values():
            hub.close(desc["channel_name"], "session released")
        s.channels.clear()
        s.proxies.clear()
        if s.task is not None and s.task is not asyncio.current_task():
            s.task.cancel()  # its owner (LiveRunners) tracks it and awaits it when it closes
        self.emit("runner.session_released", runner_id=r.runner_id, route=r.route, session_id=session_id,
                  reason=reason, sender=s.sender or None, debits=s.debits, debited=s.debited, requests=s.requests,
                  bytes_in=s.bytes_in, bytes_out=s.bytes_out, duration_s=self.clock.now() - s.created_at, **detail)
        return s

    def release_route(self, route: str, session_id: str, reason: str, **detail) -> None:
        """go ``ReleaseSession``: 404 when the runner is gone; an unknown session is fine."""
        r = self.lock(route)
        self.release(r, session_id, reason, **detail)

    # ------------------------------------------------------------------------------------------- callbacks
    def valid_session_token(self, route: str, session_id: str, token: str) -> None:
        r, _ = self.session(route, session_id)
        if not valid_secret(token, r.session_token(session_id)):
            raise RunnerError(401, "invalid authorization")

    @staticmethod
    def channel_name(name: str) -> str:
        """go ``normalizeTrickleChannelName``: trimmed, ``/`` → ``-``, ``[A-Za-z0-9_-]+``."""
        name = _go_trim(name).replace("/", "-")
        if not name:
            raise RunnerError(400, "trickle channel name is required")
        if not _CHANNEL_NAME.match(name):
            raise RunnerError(400, "trickle channel name may only contain alphanumerics, underscores, or hyphens")
        return name

    def create_channel(self, route: str, session_id: str, name: str, mime: str, *, public_base: str,
                       internal_base: str) -> dict:
        """A session channel ``{sid}-{name}``: ``url`` on the entry the client reserved on (``public_base`` if
        unknown), ``internal_url`` on the runner-facing base."""
        name = self.channel_name(name)
        if not _go_trim(mime):
            mime = "application/octet-stream"
        r, s = self.session(route, session_id)
        desc = s.channels.get(name)
        if desc is not None:
            return desc
        channel_name = f"{session_id}-{name}"
        try:
            self._hub().create(channel_name, mime)
        except TooManyChannels as exc:
            raise RunnerError(503, str(exc)) from None
        desc = {"name": name, "channel_name": channel_name,
                "url": (s.public_base or public_base.rstrip("/")) + TRICKLE_HTTP_PATH + channel_name,
                "internal_url": internal_base.rstrip("/") + TRICKLE_HTTP_PATH + channel_name, "mime_type": mime}
        s.channels[name] = desc
        return desc

    def delete_channel(self, route: str, session_id: str, name: str) -> None:
        name = self.channel_name(name)
        _, s = self.session(route, session_id)
        desc = s.channels.pop(name, None)
        if desc is None:
            raise RunnerError(404, "trickle channel not found")
        self._hub().close(desc["channel_name"], "deleted by runner")

    def create_proxy(self, route: str, session_id: str, target_url: str, *, base: str) -> dict:
        r, s = self.session(route, session_id)
        return self._new_proxy(r, s, target_url, base)

    def _new_proxy(self, r: Runner, s: RunnerSession, target_url: str, base: str) -> dict:
        """go ``createSessionProxyLocked``: a random 26-char id for the runner URL or a same-host target."""
        runner = parse_url(r.req.runner_url, request=True)
        if runner is None or not runner.hostname:
            raise RunnerError(502, "invalid registered runner_url")
        target = runner
        raw = _go_trim(target_url)
        if raw:  # go normalizeProxyTargetURL: ParseRequestURI never splits a fragment off, so "#" is path or query
            u = parse_url(raw, request=True)
            if u is None or not u.scheme or not u.host:
                raise RunnerError(400, "target_url must be an absolute URL")
            if u.scheme not in ("http", "https"):
                raise RunnerError(400, "target_url scheme must be http or https")
            if u.hostname.lower() != runner.hostname.lower():
                raise RunnerError(400, "target_url hostname must match registered runner_url hostname")
            target = u
        target = target.string()  # go stores target.String(): a "#" in the path is sent as %23
        pid = self._random(16)
        while pid in s.proxies:
            pid = self._random(16)
        s.proxies[pid] = target
        url = f"{s.public_base or base.rstrip('/')}/run/{pid}"
        self.emit("runner.proxy_created", runner_id=r.runner_id, session_id=s.session_id, proxy_id=pid,
                  target=target)
        return {"proxy_id": pid, "url": url}

    def resolve_proxy(self, path: str) -> tuple[bool, dict | None]:
        """go ``ResolveSessionProxy`` for the default template ``{base}/run/{proxy}``: (matched, route) where route
        is ``{route, session_id, token, target, app_path}`` or ``{local_path}`` (a proxy-enabled single-shot runner);
        matched with no live proxy → 404 ``live runner proxy not found``."""
        if not path.startswith("/run/"):
            return False, None
        pid, _, app_path = path[len("/run/"):].partition("/")
        if not pid:
            return False, None
        for r in list(self.runners.values()):
            if r.removed or self._expired(r) or not r.ready:
                continue
            for s in r.sessions.values():
                target = s.proxies.get(pid)
                if target is not None:
                    return True, {"route": r.route, "session_id": s.session_id,
                                  "token": r.session_token(s.session_id), "target": target, "app_path": app_path}
        r = self.runners.get(pid)
        if r is not None and not r.removed and r.req.proxy and r.mode == MODE_SINGLE_SHOT:
            return True, {"local_path": f"/apps/{pid}/app" + (f"/{app_path}" if app_path else "")}
        raise RunnerError(404, "live runner proxy not found")

    # ------------------------------------------------------------------------------------------- discovery
    def discovery(self, base: str) -> list[dict]:
        """go ``Runners``: ready, non-expired runners as discovery records (never the private runner URL)."""
        out = []
        base = base.rstrip("/")
        for r in list(self.runners.values()):
            if r.removed or self._expired(r) or not r.ready:
                continue
            if r.req.proxy and r.mode == MODE_SINGLE_SHOT:
                url = f"{base}/run/{r.route}"
            elif r.mode == MODE_SINGLE_SHOT:
                url = f"{base}/apps/{r.route}/app"
            else:
                url = f"{base}/apps/{r.route}/session"
            entry: dict = {"url": url}
            gpu = r.req.gpu.to_json() if r.req.gpu else None
            if r.req.gpu is not None:
                entry["gpu"] = gpu
            entry["app"] = r.req.app
            if r.req.version:
                entry["version"] = r.req.version
            if r.req.metadata:
                entry["metadata"] = r.req.metadata
            entry["mode"] = r.mode
            used = len(r.sessions)
            entry.update(capacity=r.req.capacity, capacity_used=used, capacity_available=r.req.capacity - used)
            if self.onchain and not self.is_free(r):
                try:
                    entry["price_info"] = self.convert(r.req.price_info).to_json()
                except Exception as exc:  # noqa: BLE001 - go logs and lists the runner without a price
                    log.warning("error reading converted live runner price for %s: %s", r.runner_id, exc)
            out.append(entry)
        return out

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if not self.background:
            return
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="runner-expiry")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - never let the sweeper die
                log.exception("live runner expiry sweep failed")

    async def aclose(self) -> None:
        await cancel_and_wait(self._sweeper, [r.o2r.task for r in self.runners.values() if r.o2r is not None])
        self._sweeper = None
        for r in list(self.runners.values()):
            for sid in list(r.sessions):
                self.release(r, sid, "shutdown")
            self._close_o2r(r)

    def counts(self) -> dict:
        """Runners, sessions, channels and proxies held (tests check nothing leaks)."""
        sessions = [s for r in self.runners.values() for s in r.sessions.values()]
        return {"runners": len(self.runners), "sessions": len(sessions),
                "channels": sum(len(s.channels) for s in sessions), "proxies": sum(len(s.proxies) for s in sessions)}

    def info(self) -> list[dict]:
        return [r.info() for r in self.runners.values()]

