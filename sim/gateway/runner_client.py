"""A Live Runner client, as the livepeer-gateway SDK 1.0.0's ``reserve_session`` / ``call_runner`` is one, in lpdev's
own code, so scenarios can drive it in-process, step by step, on a virtual clock::

    client = RunnerClient("app", orchestrator_url=orch.http_url, orchestrator_name="orch",
                          signer_url=signer.http_url, signer_name="signer", bus=bus)
    await client.discover()                        # GET /discovery: the runners and their prices in wei
    await client.reserve(runner_id)                # POST /apps/{id}/session: 200, or 402 -> signer -> paid retry
    await client.call("/hello", body={"x": 1})     # ANY {app_url}/hello through the orchestrator's proxy
    await client.pay()                             # a follow-up payment: signer, then POST payment_url
    await client.stop()                            # POST {control_url}/stop
    await client.close()

The flow, as the SDK does it (docs/live-runners.md):

1. ``POST {url}`` with ``Accept: */*`` and ``Livepeer-Payer-Address`` (the signer's address, from
   ``/sign-orchestrator-info``). A free runner answers 200 ``{session_id, app_url, control_url}``.
2. A priced runner answers **402** ``{payment_params, orchestrator, manifest_id, payment_url}``. The client asks the
   signer's ``/generate-live-payment`` for ``{orchestrator: payment_params, type, ManifestID: manifest_id, app,
   maxPrice}`` -- ``type`` from the discovered unit (``seconds``/``hour`` -> live, ``720p…`` -> lv2v, ``fixed``),
   ``maxPrice`` the discovered price x 1.012 (the SDK's margin for ETH/USD moves; sent here as an exact decimal
   string, the SDK sends a JSON number) -- and sends the same request again with ``Livepeer-Payment`` /
   ``Livepeer-Segment``. A 480 from the signer drops the challenge and asks for a new one; at most 8 attempts.
   Any other signer refusal (481 price, 482 ...) ends the request, as the SDK raises it.
3. Follow-up payments: the signer with the cached ``state``, then ``POST payment_url``. A 480: ``POST
   {origin(payment_url)}/refresh-payment`` ``{sender, manifest_id}`` for new params, then again (3 at most). The
   challenge's params are kept otherwise (the SDK ignores the fresh params a payment answer carries).
4. A session that is not found any more (404) is released: later requests still go out and get their answers.

The SDK pays a metered session every 3 s in the background; this client pays when :meth:`pay` is called, so a
scenario decides when (and whether) the session is funded.

Every request is one :class:`RunnerReply` (``client.replies``) and one ``gateway.runner_*`` event; the signer's
answers are ``gateway.signer_reply`` events, as a gateway session's are (the scenario invariants read them).
Events name actors and runner ids, never URLs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

import aiohttp

from sim.events import EventBus, register_kinds
from sim.gateway.session import _TRANSPORT_ERRORS, _describe, _payment_summary, _state_summary
from sim.gateway.signer_client import SignerClient, SignerReply
from sim.wire import bounded
from sim.wire.gojson import b64decode

__all__ = ["RunnerClient", "RunnerReply", "ClientSession", "PAYMENT_TYPE_BY_UNIT", "MAX_PRICE_MARGIN"]

register_kinds({
    "gateway.runner_discovery": "a runner client read an orchestrator's /discovery (the runners it lists)",
    "gateway.runner_reserve": "a runner client's session reservation was answered (free, or paid after a 402)",
    "gateway.runner_call": "a runner client's request through the orchestrator's proxy was answered",
    "gateway.runner_payment": "a runner client's follow-up payment for a session was answered",
    "gateway.runner_stop": "a runner client stopped its session",
})

# the SDK's _RUNNER_PAYMENT_TYPES_BY_UNIT: a runner's price unit -> the signer's payment type
PAYMENT_TYPE_BY_UNIT = {"hour": "live", "seconds": "live", "720p": "lv2v", "720p-pixel-seconds": "lv2v",
                        "fixed": "fixed"}
MAX_PRICE_MARGIN = Decimal("1.012")  # the SDK's _pad_runner_price: 1.2% over the discovered price
MAX_ATTEMPTS = (3 + 1) * 2  # call_runner: (max_payment_challenge_retries + 1) * 2
MAX_REFRESHES = 3  # LivePaymentSession.max_refresh_retries
NO_RUNNER = "No runners available to select"  # the SDK's NoRunnerAvailableError


@dataclass
class RunnerReply:
    """One answered request. ``status``: the orchestrator's last HTTP status (0: not sent or no answer);
    ``signer_status``: the signer's, when it was asked; ``message``: the refusal's text (go's text or JSON error)."""

    action: str  # discover | reserve | call | pay | stop
    runner: str = ""
    status: int = 0
    message: str = ""
    signer_status: int | None = None
    session_id: str = ""
    label: str = ""
    paid: bool = False
    tickets: int = 0
    bytes_in: int = 0  # request body bytes sent
    bytes_out: int = 0  # response body bytes received
    body: object = None  # the parsed JSON answer, or its text

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "body"}


@dataclass
class ClientSession:
    """A reserved persistent session, as the client knows it."""

    label: str
    runner: str
    session_id: str
    app_url: str
    control_url: str
    payment_type: str = ""
    app: str = ""
    max_price: dict | None = None
    payment_params: str = ""  # the challenge's (base64 OrchestratorInfo); empty for a free session
    payment_url: str = ""
    state: dict | None = None  # the signer's state, round-tripped
    stopped: bool = False


@dataclass
class _Pay:
    """A payment contract from a 402: what the signer is asked to pay."""

    payment_params: str
    manifest_id: str
    payment_url: str
    payment_type: str
    app: str
    max_price: dict | None
    state: dict | None = None


def _error_text(status: int, raw: bytes) -> str:
    """go's text error (``<msg>\\n``) or JSON error (``{"error":{"message":…}}``), as one line."""
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = bounded.loads_json(raw, what="an error answer")
            if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                return str(doc["error"].get("message", text))
        except ValueError:
            pass
    return text if len(text) <= 300 else text[:299] + "…"


def route_of(url: str) -> str:
    """The runner route in a discovery URL (``{base}/apps/{route}/session`` or ``…/app``, ``{base}/run/{route}``)."""
    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] in ("apps", "run"):
        return parts[1]
    return ""


class RunnerClient:
    """``orchestrator_url``: the orchestrator entry whose ``/discovery`` the client reads (its plain-HTTP entry or
    TLS address); ``signer_url``: the signer that pays (None: free runners only, as the SDK without a signer)."""

    def __init__(self, name: str, *, orchestrator_url: str, orchestrator_name: str = "orch",
                 signer_url: str | None = None, signer_name: str = "signer", bus: EventBus | None = None,
                 timeout_s: float = 60.0) -> None:
        self.name = name
        self.orchestrator_url = orchestrator_url.rstrip("/")
        self.orchestrator_name = orchestrator_name
        self.bus = bus or EventBus()
        self.signer = SignerClient([signer_url], [signer_name]) if signer_url else None
        self.payer: str = ""  # the signer's address (Livepeer-Payer-Address)
        self.discovered: dict[str, dict] = {}  # route -> its latest discovery record (with price_info)
        self.sessions: dict[str, ClientSession] = {}  # label -> session, in reservation order
        self.replies: list[RunnerReply] = []
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ plumbing
    def _emit(self, kind: str, **data) -> None:
        self.bus.emit(self.name, kind, **data)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # the orchestrator's certificate is self-signed; the SDK does not verify it either
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False), timeout=self._timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.signer is not None:
            await self.signer.close()

    async def __aenter__(self) -> "RunnerClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _http_call(self, method: str, url: str, *, headers: dict | None = None,
                         body: bytes | None = None) -> tuple[int, bytes, str]:
        """(status, body, content type); a transport failure, or a body larger than ``bounded.MAX_BYTES`` (the
        other side is untrusted), is status 0 with the cause as the body."""
        try:
            async with self._session().request(method, url, headers=headers or {}, data=body) as r:
                return r.status, await bounded.read_reply(r, what=f"{method} {url}"), r.headers.get("Content-Type", "")
        except _TRANSPORT_ERRORS as exc:
            return 0, _describe(exc).encode(), ""
        except bounded.BoundedInputError as exc:
            return 0, str(exc).encode(), ""

    def _done(self, reply: RunnerReply, kind: str, **extra) -> RunnerReply:
        self.replies.append(reply)
        data = {k: v for k, v in reply.to_dict().items() if k not in ("action",) and v not in ("", None)}
        data.setdefault("status", reply.status)
        self._emit(kind, orchestrator=self.orchestrator_name, **data, **extra)
        return reply

    def session(self, label: str | None = None) -> ClientSession:
        """The session reserved as ``label``, else the latest one. KeyError when there is none."""
        if label is None:
            if not self.sessions:
                raise KeyError(f"{self.name} has no session")
            return next(reversed(self.sessions.values()))
        try:
            return self.sessions[label]
        except KeyError:
            raise KeyError(f"{self.name} has no session {label!r}; it has {', '.join(self.sessions) or 'none'}") \
                from None

    # ------------------------------------------------------------------ discovery
    async def discover(self) -> RunnerReply:
        """``GET {orchestrator}/discovery``: remembers each listed runner (its URL, app, mode and wei price)."""
        status, raw, _ = await self._http_call("GET", self.orchestrator_url + "/discovery",
                                               headers={"Accept": "application/json"})
        reply = RunnerReply("discover", status=status)
        listed = []
        if status == 200:
            try:
                doc = bounded.loads_json(raw, what="/discovery answer")
            except ValueError as exc:
                reply.message = str(exc)
                doc = []
            self.discovered = {}
            for entry in doc if isinstance(doc, list) else []:
                for r in (entry.get("runners") or []) if isinstance(entry, dict) else []:
                    route = route_of(str(r.get("url", ""))) if isinstance(r, dict) else ""
                    if route:
                        self.discovered[route] = r
                        pi = r.get("price_info") or {}
                        listed.append({"runner": route, "app": r.get("app"), "mode": r.get("mode"),
                                       "capacity_available": r.get("capacity_available"),
                                       "price": pi.get("price"), "unit": pi.get("unit")})
        else:
            reply.message = _error_text(status, raw)
        reply.body = listed
        return self._done(reply, "gateway.runner_discovery", runners=listed, count=len(listed))

    async def _entry(self, route: str) -> dict | None:
        if route not in self.discovered:
            await self.discover()
        return self.discovered.get(route)

    # ------------------------------------------------------------------ the signer
    async def _payer(self) -> str:
        if not self.payer and self.signer is not None:
            ident = await self.signer.sign_orchestrator_info()
            self.payer = "0x" + ident.address.hex()
        return self.payer

    async def _sign(self, pay: _Pay) -> SignerReply:
        """The signer's payment for ``pay`` (its state round-tripped); a ``gateway.signer_reply`` event."""
        reply = await self.signer.generate_live_payment(
            orchestrator=b64decode(pay.payment_params), state=pay.state, manifest_id=pay.manifest_id,
            job_type=pay.payment_type, app=pay.app, max_price=pay.max_price)
        if reply.status == 200:
            _, summ = _payment_summary(reply.payment)
            summ.update(_state_summary(reply.state))
            self._emit("gateway.signer_reply", signer=reply.signer, status=200, manifest_id=pay.manifest_id, **summ)
            pay.state = reply.state
        else:
            self._emit("gateway.signer_reply", signer=reply.signer, status=reply.status, message=reply.message,
                       tickets=0, manifest_id=pay.manifest_id)
        return reply

    @staticmethod
    def _contract(entry: dict | None, challenge: dict) -> _Pay:
        pi = (entry or {}).get("price_info") or {}
        unit = str(pi.get("unit") or "").strip().lower()
        max_price = None
        if pi.get("price") is not None:
            max_price = {"price": str(Decimal(str(pi["price"]).strip()) * MAX_PRICE_MARGIN), "currency": "wei",
                         "unit": unit}
        return _Pay(payment_params=str(challenge.get("payment_params") or ""),
                    manifest_id=str(challenge.get("manifest_id") or ""),
                    payment_url=str(challenge.get("payment_url") or ""),
                    payment_type=PAYMENT_TYPE_BY_UNIT.get(unit, "live"), app=str((entry or {}).get("app") or ""),
                    max_price=max_price)

    # ------------------------------------------------------------------ paid requests
    async def _request(self, reply: RunnerReply, method: str, url: str, entry: dict | None,
                       body: bytes | None) -> tuple[bytes, str, _Pay | None]:
        """The SDK's ``call_runner`` loop: the request, and on a 402 the signer's payment and the request again.
        Fills ``reply``; returns (answer body, content type, the paid contract or None)."""
        pay: _Pay | None = None
        raw, ctype = b"", ""
        for _ in range(MAX_ATTEMPTS):
            headers = {"Accept": "*/*"}
            if self.signer is not None:
                headers["Livepeer-Payer-Address"] = await self._payer()
            if pay is not None:
                got = await self._sign(pay)
                reply.signer_status = got.status
                if got.status == 480:  # the embedded params expired: ask for a fresh challenge
                    pay = None
                    continue
                if got.status != 200:
                    reply.message = got.message
                    return raw, ctype, None
                _, summ = _payment_summary(got.payment)
                reply.tickets = summ["tickets"]
                headers["Livepeer-Payment"] = got.payment
                headers["Livepeer-Segment"] = got.seg_creds
            reply.bytes_in = len(body or b"")
            reply.status, raw, ctype = await self._http_call(method, url, headers=headers, body=body)
            reply.bytes_out = len(raw) if reply.status else 0
            if reply.status == 402:  # a challenge (again, if the payment was not enough): pay it and ask again
                if self.signer is None:
                    reply.message = "Live runner paid call requires signer_url"
                    return raw, ctype, None
                try:
                    challenge = bounded.loads_json(raw, what="the 402 payment challenge")
                except ValueError as exc:
                    reply.message = str(exc)
                    return raw, ctype, None
                if not isinstance(challenge, dict) or not all(challenge.get(k) for k in
                                                              ("payment_params", "manifest_id", "payment_url")):
                    reply.message = "Live runner payment challenge missing payment_params, manifest_id or payment_url"
                    return raw, ctype, None
                pay = self._contract(entry, challenge)
                continue
            if reply.status >= 400 or reply.status == 0:
                reply.message = _error_text(reply.status, raw)
            reply.paid = pay is not None and reply.status < 300
            return raw, ctype, pay if reply.paid else None
        reply.message = "Live runner call exhausted payment challenge retries"
        return raw, ctype, None

    async def reserve(self, route: str, *, label: str | None = None) -> RunnerReply:
        """Reserve a persistent session on runner ``route`` (from the cached discovery; discovered first if it is
        not there): 200 with a session, or the refusal (503 no capacity, 404 runner not found, a 481 from the
        signer, ...)."""
        label = label or f"s{len(self.sessions) + 1}"
        reply = RunnerReply("reserve", runner=route, label=label)
        entry = await self._entry(route)
        if entry is None:
            reply.message = f"{NO_RUNNER} (runner {route} is not in {self.orchestrator_name}'s discovery)"
            return self._done(reply, "gateway.runner_reserve")
        raw, _, pay = await self._request(reply, "POST", str(entry["url"]), entry, b"")
        if reply.status == 200:
            try:
                doc = bounded.loads_json(raw, what="the session reservation")
            except ValueError as exc:
                doc, reply.message = {}, str(exc)
            if isinstance(doc, dict) and doc.get("session_id") and doc.get("app_url") and doc.get("control_url"):
                reply.session_id = str(doc["session_id"])
                s = ClientSession(label, route, reply.session_id, str(doc["app_url"]), str(doc["control_url"]),
                                  app=str(entry.get("app") or ""))
                if pay is not None:
                    s.payment_type, s.max_price, s.payment_params = pay.payment_type, pay.max_price, pay.payment_params
                    s.payment_url, s.state = pay.payment_url, pay.state
                self.sessions.pop(label, None)
                self.sessions[label] = s
            else:
                reply.message = reply.message or "runner session response missing session_id, app_url or control_url"
        return self._done(reply, "gateway.runner_reserve")

    async def call(self, path: str = "", *, session: str | None = None, runner: str | None = None,
                   method: str = "POST", body=None) -> RunnerReply:
        """A request through the orchestrator's proxy: on a session's ``app_url`` (``session``: its label, default
        the latest), or with ``runner`` on a single-shot runner's ``/apps/{id}/app`` (paid per request when
        priced). ``body``: bytes, text, or JSON."""
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b"" if method in ("GET", "HEAD", "DELETE") else b"{}"
        else:
            data = json.dumps(body).encode()
        tail = path.lstrip("/")
        if runner is not None:
            reply = RunnerReply("call", runner=runner)
            entry = await self._entry(runner)
            if entry is None:
                reply.message = f"{NO_RUNNER} (runner {runner} is not in {self.orchestrator_name}'s discovery)"
                return self._done(reply, "gateway.runner_call", method=method, path="/" + tail)
            raw, ctype, _ = await self._request(reply, method, f"{str(entry['url']).rstrip('/')}/{tail}", entry, data)
        else:
            s = self.session(session)
            reply = RunnerReply("call", runner=s.runner, session_id=s.session_id, label=s.label)
            reply.bytes_in = len(data)
            reply.status, raw, ctype = await self._http_call(method, f"{s.app_url.rstrip('/')}/{tail}",
                                                             headers={"Accept": "*/*"}, body=data)
            reply.bytes_out = len(raw) if reply.status else 0
            if reply.status >= 400 or reply.status == 0:
                reply.message = _error_text(reply.status, raw)
        if reply.status and "json" in ctype:
            try:
                reply.body = bounded.loads_json(raw, what="the runner's answer")
            except ValueError:
                reply.body = raw.decode("utf-8", "replace")
        elif reply.status:
            reply.body = raw.decode("utf-8", "replace")
        return self._done(reply, "gateway.runner_call", method=method, path="/" + tail)

    async def pay(self, session: str | None = None) -> RunnerReply:
        """A follow-up payment for a session: the signer (with the session's state), then ``POST payment_url``
        (409 on a fixed-price session, 404 once it is released). A free session has nothing to pay."""
        s = self.session(session)
        reply = RunnerReply("pay", runner=s.runner, session_id=s.session_id, label=s.label)
        if not s.payment_url or self.signer is None:
            reply.message = "a free session has no payment_url"
            return self._done(reply, "gateway.runner_payment")
        pay = _Pay(s.payment_params, s.session_id, s.payment_url, s.payment_type, s.app, s.max_price, s.state)
        for refreshes in range(MAX_REFRESHES + 1):
            got = await self._sign(pay)
            reply.signer_status = got.status
            if got.status != 480 or refreshes == MAX_REFRESHES:
                break
            if not await self._refresh(s, pay):  # new params for this session, then ask the signer again
                break
        s.state = pay.state
        if reply.signer_status != 200:
            reply.message = got.message
            return self._done(reply, "gateway.runner_payment")
        _, summ = _payment_summary(got.payment)
        reply.tickets = summ["tickets"]
        headers = {"Livepeer-Payment": got.payment, "Livepeer-Segment": got.seg_creds}
        reply.status, raw, _ = await self._http_call("POST", s.payment_url, headers=headers, body=b"")
        reply.bytes_out = len(raw) if reply.status else 0
        reply.paid = reply.status == 200
        if reply.status >= 400 or reply.status == 0:
            reply.message = _error_text(reply.status, raw)
        return self._done(reply, "gateway.runner_payment")

    async def _refresh(self, s: ClientSession, pay: _Pay) -> bool:
        """``POST {origin(payment_url)}/refresh-payment`` ``{sender, manifest_id}``: new params for the session."""
        u = urlsplit(s.payment_url)
        body = json.dumps({"sender": await self._payer(), "manifest_id": s.session_id}).encode()
        status, raw, _ = await self._http_call("POST", f"{u.scheme}://{u.netloc}/refresh-payment",
                                               headers={"Content-Type": "application/json"}, body=body)
        self._emit("gateway.refresh", orchestrator=self.orchestrator_name, status=status,
                   message="" if status == 200 else _error_text(status, raw), session_id=s.session_id)
        if status != 200:
            return False
        try:
            params = bounded.loads_json(raw, what="/refresh-payment answer").get("payment_params")
        except (ValueError, AttributeError):
            return False
        if not isinstance(params, str) or not params:
            return False
        s.payment_params = pay.payment_params = params
        return True

    async def stop(self, session: str | None = None) -> RunnerReply:
        """``POST {control_url}/stop``: 204 (also for a session the orchestrator already released)."""
        s = self.session(session)
        reply = RunnerReply("stop", runner=s.runner, session_id=s.session_id, label=s.label)
        reply.status, raw, _ = await self._http_call("POST", s.control_url.rstrip("/") + "/stop", body=b"")
        if reply.status >= 400 or reply.status == 0:
            reply.message = _error_text(reply.status, raw)
        s.stopped = reply.status in (200, 204)
        return self._done(reply, "gateway.runner_stop")

