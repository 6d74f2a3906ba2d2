"""The remote signer, sans-IO (protocol.md §3).

:class:`SignerCore` turns (request headers + raw body, config, key, chain view, clock, rng) into a
:class:`Response` (status, JSON body, headers) and events. No sockets: the HTTP adapter (:mod:`sim.signer.http`)
feeds it bytes, and performs the one outbound call, the auth webhook (§3.11), when the core asks for it:

    step = core.begin_payment(headers, body)       # -> Response, or PendingPayment needing the webhook
    if isinstance(step, PendingPayment):
        outcome = <POST step.webhook.url ...>      # -> WebhookOutcome
        step = core.finish_payment(step, outcome)

``await core.generate_live_payment(headers, body, call_webhook)`` does the same with an async callable.

``/generate-live-payment`` follows §3.7 step by step, with go-livepeer's statuses and messages. Differences,
all deliberate:

* a 500 keeps its status but the body carries the real cause (go-livepeer says "Internal Server Error"),
  e.g. ``remote signer auth ID changed: state has "a", request has "b"``;
* size limits (:class:`~sim.signer.config.RequestLimits`): 413 for the body, 400 naming the field;
* replayed or concurrently reused state blobs are refused with 400 ``invalid state: …`` (:mod:`sim.signer.ledger`);
* nonces never repeat within one signer process even across states sharing params (:class:`NonceBook`);
* a state blob that is JSON ``null`` is 400 ``invalid state`` (go-livepeer panics).
"""
from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Awaitable, Callable

from sim.events import register_kinds
from sim.pm import accounting
from sim.pm.crypto import bytes_to_address, private_key_to_address, to_checksum_address
from sim.pm.money import float_string, rat_string
from sim.pm.params import AUTH_TOKEN_VALIDITY_S, TicketParams
from sim.pm.ticket import MAX_WIN_PROB
from sim.pm.sender import TicketParamsError, TicketParamsExpired, create_ticket_batch, validate_ticket_params
from sim.signer.chain import ChainCache
from sim.signer.config import SignerConfig
from sim.signer.fastpath import go_dumps, state_from_json, state_to_json
from sim.signer.ledger import NonceBook, ReplayError, StateLedger
from sim.signer.request import DecodeError, LimitExceeded, decode_request
from sim.signer.webhook import WebhookCall, WebhookOutcome, parse_outcome, webhook_body
from sim.wire import codec, gojson
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.state import GO_ZERO_TIME_NS, RemotePaymentState, StateError, sign_state, verify_state

__all__ = ["SignerCore", "Response", "PendingPayment", "KINDS", "REFRESH_HEADER", "STATUS_REFRESH_SESSION",
           "STATUS_PRICE_EXCEEDED", "STATUS_NO_TICKETS"]

STATUS_REFRESH_SESSION = 480
STATUS_PRICE_EXCEEDED = 481
STATUS_NO_TICKETS = 482
REFRESH_HEADER = "Livepeer-Orchestrator-URL"
AUTH_ID_HEADER = "Signer-Auth-Id"
AUTH_TOKEN_REFRESH_MARGIN_S = AUTH_TOKEN_VALIDITY_S * 0.1  # 180 s: refresh in the token's last 10 % (§5)
PRICE_INCREASE_THRESHOLD = 2
_NS = 1_000_000_000
_PROTO_ERROR = "proto: cannot parse invalid wire-format data"

KINDS = {
    "signer.payment": "/generate-live-payment answered 200: fee, units, tickets, nonces, balances, state",
    "signer.payment.rejected": "/generate-live-payment answered an error: status, message, ceiling, numbers so far",
    "signer.webhook": "the auth webhook was called (or skipped while cached): status, decision",
    "signer.orch_info": "/sign-orchestrator-info answered with the signer's address and signature",
    "signer.discovery": "/discover-orchestrators answered: status, orchestrators listed",
}
register_kinds(KINDS)


@dataclass
class Response:
    status: int
    body: Any  # JSON-able (dict in Go field order / list)
    headers: dict[str, str] = field(default_factory=dict)
    sort_keys: bool = False  # Go map (sorted keys) vs struct (field order)

    def body_bytes(self) -> bytes:
        """Go ``json.NewEncoder(w).Encode`` bytes: compact, HTML-escaped, trailing newline."""
        return go_dumps(self.body, newline=True, sort_keys=self.sort_keys)

    @property
    def message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message", ""))
        return ""

    @classmethod
    def error(cls, status: int, message: str, headers: dict[str, str] | None = None) -> "Response":
        return cls(status, {"error": {"message": message}}, dict(headers or {}))


@dataclass
class PendingPayment:
    """A payment that is ready except for the auth webhook; carry it to :meth:`SignerCore.finish_payment`."""

    webhook: WebhookCall
    ctx: "_Ctx"


class _Reject(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.data = data


@dataclass
class _Ctx:
    headers: list[tuple[str, str]]
    ev: dict = field(default_factory=dict)  # event data gathered so far
    claimed: str | None = None  # state id claimed in the ledger
    state: RemotePaymentState | None = None
    req_type: str = ""
    orch_price: Fraction = Fraction(0)
    now_ns: int = 0
    payment_b64: str = ""
    segcreds_b64: str = ""


class _Params(TicketParams):
    """TicketParams whose EV (a 256-bit rational reduction) is computed once per request, not per check."""

    @functools.cached_property
    def ev(self) -> Fraction:  # type: ignore[override]
        return Fraction(self.face_value * self.win_prob, MAX_WIN_PROB)

    @classmethod
    def of(cls, p: TicketParams) -> "_Params":
        return cls(recipient=p.recipient, face_value=p.face_value, win_prob=p.win_prob,
                   recipient_rand_hash=p.recipient_rand_hash, seed=p.seed, expiration_block=p.expiration_block,
                   creation_round=p.creation_round, creation_round_block_hash=p.creation_round_block_hash,
                   price_per_pixel=p.price_per_pixel)


_CTL = {c: " " for c in range(0x20) if c != 0x09}
_CTL[0x7F] = " "


def _header_value(text: str) -> str:
    """Go writes header values with CR/LF turned into spaces (``headerNewlineToSpace``); lpdev also blanks the
    other control characters HTTP forbids, so an orchestrator URL can never inject or break a header."""
    return text.translate(_CTL)


#: lpdev limit: ticket params numbers are uint256 on chain (TicketBroker), addresses 20 bytes, hashes 32.
_TICKET_PARAM_LIMITS = (("recipient", 32), ("face_value", 32), ("win_prob", 32), ("recipient_rand_hash", 32),
                        ("seed", 32), ("expiration_block", 32))


_EXPONENT = re.compile(r"[eE]([+-]?\d+)\s*\Z")
MAX_PRICE_EXPONENT = 400  # lpdev limit: 1e9999999 would take the event loop ~30 s to expand exactly


def _parse_max_price(obj: dict, job_type: str) -> Fraction:
    """``parseRemotePaymentMaxPrice`` (sim.pm.accounting), refusing decimal exponents beyond ±400 first."""
    price = gojson.get_ci(obj, "price") if isinstance(obj, dict) else None
    if price is not None and not isinstance(price, bool):
        m = _EXPONENT.search(str(price))
        if m and abs(int(m.group(1))) > MAX_PRICE_EXPONENT:
            raise accounting.MaxPriceError(f"maxPrice.price must be a positive decimal (exponent beyond "
                                           f"±{MAX_PRICE_EXPONENT} refused)")
    return accounting.parse_max_price(obj, job_type)


_UNIX_TO_INTERNAL = 62_135_596_800  # Go time: seconds from year 1 to the Unix epoch


def _int64(n: int) -> int:
    """Go int64 arithmetic wraps around."""
    return (n + 2**63) % 2**64 - 2**63


def _auth_token_refresh_due(now_ns: int, expiration: int) -> bool:
    """§5 ``shouldRefreshSession``: ``time.Now().After(time.Unix(expiration - 180, 0))``, to the nanosecond.

    Go's int64 arithmetic wraps: ``expiration - 180`` below the int64 minimum, and ``time.Unix``'s
    ``sec + unixToInternal`` above the maximum, give a time far in the past, so an expiration near either end
    of int64 (e.g. 2^63 - 1) also means refresh now (480)."""
    point = _int64(_int64(expiration - int(AUTH_TOKEN_REFRESH_MARGIN_S)) + _UNIX_TO_INTERNAL)
    now_s, now_frac = divmod(now_ns, _NS)
    now = now_s + _UNIX_TO_INTERNAL
    return now > point or (now == point and now_frac > 0)


def _go_seconds(d_ns: int) -> float:
    """Go ``Duration.Seconds()``: whole seconds (truncated toward zero) + remainder / 1e9, as float64."""
    d_ns = max(min(d_ns, 2**63 - 1), -(2**63))  # Time.Sub saturates
    sec = abs(d_ns) // _NS * (1 if d_ns >= 0 else -1)
    nsec = d_ns - sec * _NS
    return float(sec) + float(nsec) / 1e9


class SignerCore:
    """One remote signer identity. Thread-safe enough for one event loop (the adapter) plus tests."""

    def __init__(self, *, key: bytes, chain, config: SignerConfig | None = None, clock=None, rng=None,
                 events=None, actor: str = "signer", ledger: StateLedger | None = None,
                 nonces: NonceBook | None = None) -> None:
        from sim.clock import RealClock, Rng

        self.key = bytes(key)
        self.config = config or SignerConfig()
        self.clock = clock or RealClock()
        self.rng = rng or Rng()
        self.events = events
        self.actor = actor
        self.address = private_key_to_address(self.key)
        self.address_hex = to_checksum_address(self.address)
        _, self.info_sig = codec.sign_orch_request(self.key)
        self.chain = chain if isinstance(chain, ChainCache) else ChainCache(
            chain, self.address, self.clock, max_age_s=self.config.chain_max_age_s)
        self.ledger = ledger or StateLedger(self.config.replay_window)
        self.nonces = nonces or NonceBook(self.config.replay_window)
        self._lock = threading.Lock()
        self.stats = {"payments": 0, "rejected": 0, "tickets": 0, "webhook_calls": 0}

    # ------------------------------------------------------------------------------------------
    # /sign-orchestrator-info (§3.3)
    # ------------------------------------------------------------------------------------------
    def sign_orchestrator_info(self) -> Response:
        body = {"address": self.address_hex, "signature": "0x" + self.info_sig.hex()}
        self._emit("signer.orch_info", address=self.address_hex, status=200)
        return Response(200, body, {}, sort_keys=True)

    # ------------------------------------------------------------------------------------------
    # /generate-live-payment (§3.7)
    # ------------------------------------------------------------------------------------------
    async def generate_live_payment(self, headers: list[tuple[str, str]], body: bytes,
                                    call_webhook: Callable[[WebhookCall], Awaitable[WebhookOutcome]] | None = None
                                    ) -> Response:
        step = self.begin_payment(headers, body)
        if isinstance(step, Response):
            return step
        try:
            if call_webhook is None:
                outcome = WebhookOutcome(error="no webhook transport configured in this adapter")
            else:
                outcome = await call_webhook(step.webhook)
        except Exception as exc:  # a transport bug is a 500 with its cause, never a dropped request
            outcome = WebhookOutcome(error=f"{type(exc).__name__}: {exc}")
        except BaseException:  # cancelled (client gone, shutdown): release the state claim
            self.abort(step)
            raise
        return self.finish_payment(step, outcome)

    def begin_payment(self, headers: list[tuple[str, str]], body: bytes) -> Response | PendingPayment:
        ctx = _Ctx(headers=list(headers))
        try:
            return self._begin(ctx, body)
        except _Reject as r:
            return self._rejected(ctx, r)
        except Exception as exc:  # a bug must not become a hang or a dropped connection
            return self._rejected(ctx, _Reject(500, f"internal error: {type(exc).__name__}: {exc}"))

    def finish_payment(self, pending: PendingPayment, outcome: WebhookOutcome | None) -> Response:
        ctx = pending.ctx
        try:
            return self._finish(ctx, outcome)
        except _Reject as r:
            return self._rejected(ctx, r)
        except Exception as exc:
            return self._rejected(ctx, _Reject(500, f"internal error: {type(exc).__name__}: {exc}"))

    def abort(self, pending: PendingPayment) -> None:
        """Release what ``begin_payment`` claimed when the adapter cannot finish (e.g. client went away)."""
        if pending.ctx.claimed is not None:
            self.ledger.end(pending.ctx.claimed, None)
            pending.ctx.claimed = None

    # ---- the steps ---------------------------------------------------------------------------
    def _begin(self, ctx: _Ctx, body: bytes) -> Response | PendingPayment:
        cfg = self.config
        ev = ctx.ev
        # 2. decode
        try:
            req = decode_request(body, cfg.request_limits)
        except LimitExceeded as exc:
            raise _Reject(exc.status, str(exc), limit=exc.field)
        except DecodeError as exc:
            raise _Reject(400, str(exc))
        ctx.req_type = req.type
        ev.update(type=req.type, manifest_id=req.manifest_id, app=req.app)
        # 3-6. orchestrator info
        if len(req.orchestrator) == 0:
            raise _Reject(400, "missing orchestrator")
        oinfo = pb.OrchestratorInfo()
        try:
            oinfo.ParseFromString(req.orchestrator)
        except Exception:
            raise _Reject(400, _PROTO_ERROR)
        pi = oinfo.price_info
        if not oinfo.HasField("price_info") or pi.pricePerUnit == 0 or pi.pixelsPerUnit == 0:
            raise _Reject(400, "missing or zero priceInfo")
        if not oinfo.HasField("ticket_params"):
            raise _Reject(400, "missing ticketParams in OrchestratorInfo")
        tp = oinfo.ticket_params
        for name, limit in _TICKET_PARAM_LIMITS:
            size = len(getattr(tp, name))
            if size > limit:
                raise _Reject(400, f"ticket_params.{name} too large: {size} bytes (limit {limit})",
                              limit=f"ticket_params.{name}")
        if len(tp.expiration_params.creation_round_block_hash) > 32:
            raise _Reject(400, "ticket_params.expiration_params.creation_round_block_hash too large: "
                               f"{len(tp.expiration_params.creation_round_block_hash)} bytes (limit 32)",
                          limit="ticket_params.expiration_params.creation_round_block_hash")
        if len(oinfo.address) > 32:
            raise _Reject(400, f"address too large: {len(oinfo.address)} bytes (limit 32)", limit="address")
        # 7.
        orch_addr = bytes_to_address(oinfo.address)
        orch_price = Fraction(pi.pricePerUnit, pi.pixelsPerUnit)
        ctx.orch_price = orch_price
        ev.update(orchestrator=orch_addr, transcoder=oinfo.transcoder, price=orch_price)
        # 8. state
        has_state = req.has_state
        if has_state:
            if not verify_state(self.address, req.state_state, req.state_sig):
                raise _Reject(400, "invalid sig")
            try:
                state = state_from_json(req.state_state)
            except StateError:
                raise _Reject(400, "invalid state")
            ev.update(state_id=state.state_id, state_seq_in=state.sequence_number)
            if cfg.replay_protection:
                try:
                    self.ledger.begin(state.state_id, state.sequence_number)
                except ReplayError as exc:
                    raise _Reject(400, str(exc), replay=True)
                ctx.claimed = state.state_id
            if bytes(state.orchestrator_address) != orch_addr:
                raise _Reject(400, "orchestratorAddress mismatch")
            if state.app != req.app:
                raise _Reject(400, "app mismatch")
            if state.type != "" and state.type != req.type:
                raise _Reject(400, "job type mismatch")
            state = replace(state, type=req.type, sequence_number=state.sequence_number + 1)
            if state.sequence_number > 2**64 - 1:
                raise _Reject(400, "invalid state: sequence number overflow")
        else:
            state = RemotePaymentState(state_id=self.rng.hex_id(4), orchestrator_address=orch_addr, app=req.app,
                                       initial_price_per_unit=pi.pricePerUnit,
                                       initial_pixels_per_unit=pi.pixelsPerUnit, type=req.type)
        ev.update(state_id=state.state_id, state_seq=state.sequence_number)
        # 9. manifest id
        manifest_id = req.manifest_id
        if manifest_id == "":
            if has_state:
                raise _Reject(400, "missing manifestID")
            manifest_id = self.rng.hex_id(4)
        ev["manifest_id"] = manifest_id
        # 10. capabilities
        caps = None
        if len(req.capabilities) > 0:
            caps = pb.Capabilities()
            try:
                caps.ParseFromString(req.capabilities)
            except Exception:
                raise _Reject(400, _PROTO_ERROR)
            self._check_caps_limits(caps)
        # 11. ticket params
        params = _Params.of(codec.ticket_params_from_pb(oinfo.ticket_params, orch_price))
        session_id = "0x" + params.recipient_rand_hash.hex()
        ev.update(recipient_rand_hash=params.recipient_rand_hash, face_value=params.face_value,
                  win_prob=params.win_prob, ev=params.ev)
        # 12. balance restore
        existing = state.balance_rat if has_state else None
        existing = Fraction(0) if existing is None else existing
        ev["balance_before"] = existing
        # 13. nonce
        nonce = state.sender_nonce if state.pm_session_id == session_id else 0
        # 15. shouldRefreshSession (§5)
        now_ns = self.clock.now_ns()
        ctx.now_ns = now_ns
        if not oinfo.HasField("auth_token"):
            raise _Reject(400, "remote signer could not check whether to refresh session: missing auth token")
        if _auth_token_refresh_due(now_ns, oinfo.auth_token.expiration):
            raise _Reject(STATUS_REFRESH_SESSION, "refresh session for remote signer",
                          {REFRESH_HEADER: _header_value(oinfo.transcoder)}, refresh="auth token expiring")
        try:
            self._validate(params, 1)
        except TicketParamsExpired:
            raise _Reject(STATUS_REFRESH_SESSION, "refresh session for remote signer",
                          {REFRESH_HEADER: _header_value(oinfo.transcoder)}, refresh="ticket params expired")
        except TicketParamsError as exc:
            raise _Reject(400, f"remote signer could not check whether to refresh session: {exc}")
        # 16. billable units (§3.8)
        last = state.last_update if has_state and not state.last_update_is_zero else now_ns
        billable_secs = _go_seconds(now_ns - last)
        ev["billable_secs"] = billable_secs
        try:
            units = accounting.billable_units(req.type, billable_secs, req.in_pixels)
        except accounting.BillingError as exc:
            raise _Reject(400, str(exc))
        ev["units"] = units
        # 17. request maxPrice
        request_max = None
        if req.max_price is not None:
            try:
                request_max = _parse_max_price(req.max_price.as_dict(), req.type)
            except accounting.MaxPriceError as exc:
                raise _Reject(400, str(exc))
        # 18. initial price
        initial_max = None
        if has_state:
            if state.initial_price_per_unit <= 0 or state.initial_pixels_per_unit <= 0:
                raise _Reject(400, "invalid initial price in state")
            initial_max = Fraction(state.initial_price_per_unit, state.initial_pixels_per_unit)
        # 19. ceilings (§3.10)
        governing = self._check_ceilings(orch_price, [("configured maximum price", cfg.capabilities_max_price(caps)),
                                                      ("request maxPrice", request_max),
                                                      ("initial session price", initial_max)])
        if governing is not None:  # which ceiling applied, for the inspector even when the price is within it
            ev["ceiling"], ev["ceiling_price"] = governing
        # 20. fee at the initial price
        initial_price = Fraction(state.initial_price_per_unit, state.initial_pixels_per_unit)
        fee = units * initial_price
        ev["fee"] = fee
        # 21-23. tickets (§3.9)
        upd = accounting.balance_update(fee, params.ev, existing)
        n = upd.num_tickets
        ev["tickets"] = n
        if n <= 0:
            raise _Reject(STATUS_NO_TICKETS, "no tickets")
        if n > accounting.MAX_TICKETS_PER_CALL:
            raise _Reject(400, f"numTickets {n} exceeds maximum of {accounting.MAX_TICKETS_PER_CALL}")
        # 24. genPayment: validatePrice, then the batch
        if orch_price > initial_price * PRICE_INCREASE_THRESHOLD:
            raise _Reject(STATUS_PRICE_EXCEEDED,
                          f"Orchestrator price has more than doubled, Orchestrator price: {rat_string(orch_price)}, "
                          f"Orchestrator initial price: {rat_string(initial_price)}", ceiling="price doubled")
        try:
            snap = self._validate(params, n)
        except TicketParamsError as exc:
            raise _Reject(500, str(exc))
        if params.creation_round == 0 or params.creation_round_block_hash == b"\x00" * 32:
            # Go's CreateTicketBatch substitutes its own round (§2.8); the orchestrator will then reject them.
            params = replace(params, creation_round=snap.last_initialized_round,
                             creation_round_block_hash=snap.round_block_hash)
        try:
            if cfg.replay_protection:
                nonces = self.nonces.reserve(session_id, nonce, n)
            elif nonce + n > 2**32 - 1:
                raise OverflowError(f"sender nonce overflow for session {session_id}: {nonce + n} > {2**32 - 1}")
            else:  # go-livepeer: the nonce comes from the state alone, so a replayed state reuses its nonces
                nonces = range(nonce + 1, nonce + n + 1)
        except OverflowError as exc:
            raise _Reject(500, str(exc))
        tickets = create_ticket_batch(self.key, self.address, params, nonces)
        payment = codec.build_payment(params, self.address, tickets, pi)
        ev.update(nonce_first=nonces[0], nonce_last=nonces[-1], creation_round=params.creation_round)
        # 25. segCreds
        seg = codec.build_segcreds(self.key, manifest_id, oinfo.auth_token if oinfo.HasField("auth_token") else None,
                                   caps)
        ctx.payment_b64 = codec.to_b64(payment)
        ctx.segcreds_b64 = codec.to_b64(seg)
        # 26-27. balance and state
        new_balance = upd.balance_after
        ev["balance_after"] = new_balance
        state = replace(state, balance=rat_string(new_balance), last_update=now_ns, last_update_tz=None,
                        pm_session_id=session_id, sender_nonce=nonces[-1])
        ctx.state = state
        # 28. auth webhook (§3.11)
        if cfg.webhook_url:
            if state.auth_expiry != 0 and now_ns // _NS <= state.auth_expiry:
                ev["webhook"] = "cached"
            else:
                body_bytes = webhook_body(ctx.headers, state.to_go_dict())
                hdrs = {"Content-Type": "application/json"}
                for k, v in cfg.webhook_headers.items():
                    hdrs = {hk: hv for hk, hv in hdrs.items() if hk.lower() != k.lower()}
                    hdrs[k] = v
                call = WebhookCall(cfg.webhook_url, hdrs, body_bytes, cfg.webhook_timeout_s)
                return PendingPayment(call, ctx)
        return self._finish(ctx, None)

    def _finish(self, ctx: _Ctx, outcome: WebhookOutcome | None) -> Response:
        ev = ctx.ev
        state = ctx.state
        assert state is not None
        auth_id_from_webhook = ""
        if outcome is not None:
            with self._lock:
                self.stats["webhook_calls"] += 1
            decision = parse_outcome(outcome, max_body=self.config.request_limits.webhook_response)
            self._emit("signer.webhook", url=self.config.webhook_url, http_status=outcome.http_status,
                       error=outcome.error, status=decision.status, message=decision.message,
                       state_id=state.state_id)
            ev["webhook"] = "called"
            if decision.status != 200:
                raise _Reject(decision.status, decision.message, webhook=True)
            state = replace(state, auth_expiry=decision.expiry)
            if decision.max_price is not None:
                try:
                    auth_max = _parse_max_price(decision.max_price, ctx.req_type)
                except accounting.MaxPriceError as exc:
                    raise _Reject(502, f"signer auth invalid maxPrice: {exc}")
                self._check_ceilings(ctx.orch_price, [("auth webhook maxPrice", auth_max)])
            auth_id_from_webhook = decision.auth_id
        # 29. Signer-Auth-Id (§3.12)
        auth_id = next((v for k, v in ctx.headers if k.lower() == AUTH_ID_HEADER.lower()), "")
        if auth_id_from_webhook:
            auth_id = auth_id_from_webhook
        if auth_id != "" and state.auth_id != auth_id:
            if state.auth_id != "":
                raise _Reject(500, f"remote signer auth ID changed: state has {state.auth_id!r}, "
                                   f"request has {auth_id!r}")
            state = replace(state, auth_id=auth_id)
        # 30. marshal + sign
        raw = state_to_json(state)
        sig = sign_state(self.key, raw)
        if ctx.claimed is not None:
            self.ledger.end(ctx.claimed, state.sequence_number)
            ctx.claimed = None
        elif self.config.replay_protection:
            self.ledger.end(state.state_id, state.sequence_number)
        # The signed state, decoded (Go field names), so viewers can diff it against the previous one.
        ev.update(status=200, message="", state_seq=state.sequence_number, auth_id=state.auth_id,
                  state=json.loads(raw))
        with self._lock:
            self.stats["payments"] += 1
            self.stats["tickets"] += int(ev.get("tickets", 0))
        self._emit("signer.payment", **ev)
        body = {"payment": ctx.payment_b64, "segCreds": ctx.segcreds_b64,
                "state": {"State": gojson.b64encode(raw), "Sig": gojson.b64encode(sig)}}
        return Response(200, body)

    # ---- helpers -----------------------------------------------------------------------------
    def _validate(self, params, n: int):
        """§2.10 against the cached chain; on a failure that fresher data could fix, re-read once."""
        snap = self._snapshot()
        try:
            validate_ticket_params(params, n, last_block=snap.last_block, limits=self.config.limits,
                                   sender_info=snap.sender_info, last_initialized_round=snap.last_initialized_round)
            return snap
        except TicketParamsError:
            if self.chain.age() <= 0.05:
                raise
        snap = self._snapshot(force=True)
        validate_ticket_params(params, n, last_block=snap.last_block, limits=self.config.limits,
                               sender_info=snap.sender_info, last_initialized_round=snap.last_initialized_round)
        return snap

    def _snapshot(self, force: bool = False):
        try:
            return self.chain.get(force=force)
        except Exception as exc:  # noqa: BLE001 - an unreachable chain is a 500 that says so
            raise _Reject(500, f"cannot read the chain: {type(exc).__name__}: {exc}")

    def _check_ceilings(self, orch_price: Fraction,
                        ceilings: list[tuple[str, Fraction | None]]) -> tuple[str, Fraction] | None:
        """``checkRemotePaymentPrice``: the lowest ceiling wins (earliest on ties); 481 iff price > it.
        Returns the governing (label, ceiling), or None when no ceiling is set."""
        eff: tuple[str, Fraction] | None = None
        for source, price in ceilings:
            if price is None:
                continue
            if eff is None or price < eff[1]:
                eff = (source, price)
        if eff is not None and orch_price > eff[1]:
            raise _Reject(STATUS_PRICE_EXCEEDED,
                          f"orchestrator price {float_string(orch_price, 3)} exceeds {eff[0]} ceiling "
                          f"{float_string(eff[1], 3)}", ceiling=eff[0], ceiling_price=eff[1])
        return eff

    def _check_caps_limits(self, caps) -> None:
        lim = self.config.request_limits.capability_entries
        per = caps.constraints.PerCapability
        if len(per) > lim:
            raise _Reject(400, f"capabilities: too many capability constraints: {len(per)} (limit {lim})",
                          limit="capabilities.constraints")
        for cap_id, cc in per.items():
            if len(cc.models) > lim:
                raise _Reject(400, f"capabilities: too many models for capability {cap_id}: {len(cc.models)} "
                                   f"(limit {lim})", limit="capabilities.constraints.models")
            for model in cc.models:
                if len(model.encode()) > self.config.request_limits.string:
                    raise _Reject(400, f"capabilities: model id too long for capability {cap_id}",
                                  limit="capabilities.constraints.models")
        if len(caps.capacities) > lim:
            raise _Reject(400, f"capabilities: too many capacities: {len(caps.capacities)} (limit {lim})",
                          limit="capabilities.capacities")

    def _rejected(self, ctx: _Ctx, r: _Reject) -> Response:
        if ctx.claimed is not None:
            self.ledger.end(ctx.claimed, None)
            ctx.claimed = None
        with self._lock:
            self.stats["rejected"] += 1
        self._emit("signer.payment.rejected", **{**ctx.ev, **r.data, "status": r.status, "message": r.message})
        return Response.error(r.status, r.message, r.headers)

    def _emit(self, kind: str, **data: Any) -> None:
        if self.events is not None:
            self.events.emit(self.actor, kind, **data)

    # ------------------------------------------------------------------------------------------
    # convenience for tests / tools
    # ------------------------------------------------------------------------------------------
    def decode_state(self, envelope: dict) -> RemotePaymentState:
        from sim.wire.state import parse_envelope

        raw, _sig = parse_envelope(envelope)
        return RemotePaymentState.from_json(raw)

    @property
    def go_zero_time_ns(self) -> int:
        return GO_ZERO_TIME_NS
