"""The remote signer, sans-IO (docs/remote-signer.md), in any of its dialects (:mod:`sim.signer.profiles`).

:class:`SignerCore` turns (request headers + raw body, config, key, chain view, clock, rng) into a
:class:`Response` (status, JSON body, headers) and events. No sockets: the HTTP adapter (:mod:`sim.signer.http`)
feeds it bytes, and performs the one outbound call, the auth webhook, when the core asks for it:

    step = core.begin_payment(headers, body)       # -> Response, or PendingPayment needing the webhook
    if isinstance(step, PendingPayment):
        outcome = <POST step.webhook.url ...>      # -> WebhookOutcome
        step = core.finish_payment(step, outcome)

``await core.generate_live_payment(headers, body, call_webhook)`` does the same with an async callable.

``/generate-live-payment`` is a list of named check steps (:data:`STEPS`, one small function each, sharing one request
context); the profile (``config.profile``) lists the steps in its dialect's order and supplies every status, message and
rule. go-livepeer's order is docs/remote-signer.md#the-order-of-checks (one row per step, same names); livepeer/node's
is docs/remote-signer.md#livepeer-nodes-order-of-checks. Differences from the dialects, all deliberate:

* a 500 keeps its status but the body carries the real cause (go-livepeer says "Internal Server Error"),
  e.g. ``remote signer auth ID changed: state has "a", request has "b"``;
* size limits (:class:`~sim.signer.config.RequestLimits`): 413 for the body, 400 naming the field
  (livepeer-node: 400 ``payment request too large`` for the body, as it does);
* replayed or concurrently reused state blobs are refused with 400 ``invalid state: …`` (:mod:`sim.signer.ledger`);
* nonces never repeat within one signer process even across states sharing params (:class:`NonceBook`), and the
  nonce-500 refresh counts from the nonce that would really be used;
* a state blob that is JSON ``null`` is 400 ``invalid state`` (go-livepeer panics).
"""
from __future__ import annotations

import functools
import json
import math
import threading
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Awaitable, Callable

from sim.events import register_kinds
from sim.pm import accounting
from sim.pm.crypto import bytes_to_address, private_key_to_address, sign_personal, to_checksum_address
from sim.pm.money import float_string, RatParseError, rat_string
from sim.pm.params import AUTH_TOKEN_VALIDITY_S, TicketParams
from sim.pm.ticket import MAX_WIN_PROB
from sim.pm.sender import TicketParamsError, TicketParamsExpired, create_ticket_batch, validate_ticket_params
from sim.signer.chain import ChainCache
from sim.signer.config import BALANCE_DIGITS, SignerConfig, parse_number
from sim.signer.fastpath import go_dumps, state_from_json, state_to_json
from sim.signer.ledger import NonceBook, ReplayError, StateLedger
from sim.signer.profiles import Profile, get_profile
from sim.signer.request import DecodeError, LimitExceeded, decode_request, go_text
from sim.signer.usd import UsdRate
from sim.signer.webhook import WebhookCall, WebhookOutcome, auth_policy, parse_outcome, parse_outcome_node, \
    webhook_body
from sim.wire import bounded, codec, gojson
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.state import GO_ZERO_TIME_NS, RemotePaymentState, StateError, sign_state, verify_state

__all__ = ["SignerCore", "Response", "PendingPayment", "KINDS", "STEPS", "REFRESH_HEADER", "STATUS_REFRESH_SESSION",
           "STATUS_PRICE_EXCEEDED", "STATUS_NO_TICKETS"]

STATUS_REFRESH_SESSION = 480
STATUS_PRICE_EXCEEDED = 481
STATUS_NO_TICKETS = 482
REFRESH_HEADER = "Livepeer-Orchestrator-URL"
AUTH_ID_HEADER = "Signer-Auth-Id"
# 180 s: refresh in the token's last 10 % (docs/refreshes.md#480-refresh-the-session)
AUTH_TOKEN_REFRESH_MARGIN_S = AUTH_TOKEN_VALIDITY_S * 0.1
PRICE_INCREASE_THRESHOLD = 2
_NS = 1_000_000_000
_INT64_MAX = 2**63 - 1

KINDS = {
    "signer.started": "a signer is listening: URL, address, profile (dialect), metrics URL",
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
    newline: bool = True  # json.Encoder (go-livepeer) vs json.Marshal + Write (livepeer-node's 200)

    def body_bytes(self) -> bytes:
        """Go ``json.NewEncoder(w).Encode`` bytes: compact, HTML-escaped, trailing newline (or none)."""
        return go_dumps(self.body, newline=self.newline, sort_keys=self.sort_keys)

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            err = self.body.get("error")
            if isinstance(err, dict):
                return str(err.get("message", ""))
            if isinstance(err, str):
                return err
        return ""

    @classmethod
    def error(cls, status: int, message: str, headers: dict[str, str] | None = None,
              envelope: str = "go") -> "Response":
        body = {"error": {"message": message}} if envelope == "go" else {"error": message}
        return cls(status, body, dict(headers or {}))


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
    """One request's working set, filled in by the steps in order."""

    headers: list[tuple[str, str]]
    body: bytes = b""
    ev: dict = field(default_factory=dict)  # event data gathered so far
    claimed: str | None = None  # state id claimed in the ledger
    req: Any = None  # RemotePaymentRequest
    req_type: str = ""
    oinfo: Any = None  # pb.OrchestratorInfo
    orch_addr: bytes = b""
    orch_price: Fraction = Fraction(0)
    has_state: bool = False
    state: RemotePaymentState | None = None
    manifest_id: str = ""
    caps: Any = None
    params: Any = None  # _Params
    session_id: str = ""
    existing: Fraction = Fraction(0)
    nonce: int = 0
    now_ns: int = 0
    units: int = 0
    request_max: Fraction | None = None
    initial_price: Fraction = Fraction(0)
    fee: Fraction = Fraction(0)
    upd: Any = None  # accounting.BalanceUpdate
    snap: Any = None  # ChainSnapshot used for the batch
    nonces: Any = None
    payment_b64: str = ""
    segcreds_b64: str = ""
    auth_id_from_webhook: str = ""
    outcome: Any = None  # WebhookOutcome, when the webhook was called
    response: Any = None  # the 200, built by sign_state


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


def _parse_max_price(obj: dict, job_type: str) -> Fraction:
    """``parseRemotePaymentMaxPrice`` (sim.pm.accounting), the price's digits and exponent bounded first
    (:func:`~sim.signer.config.parse_number`). Beyond the bounds it is go-livepeer's own answer to a price its
    ``big.Rat`` cannot use, 400 ``maxPrice.price must be a positive decimal``, with the reason after a colon
    (go-livepeer would expand a 10^6-digit price, for seconds; lpdev refuses more than 100 digits)."""
    price = gojson.get_ci(obj, "price") if isinstance(obj, dict) else None
    if price is not None and not isinstance(price, (bool, dict, list)):
        try:
            parse_number(price, what="maxPrice.price")
        except bounded.BoundedInputError as exc:
            raise accounting.MaxPriceError(f"maxPrice.price must be a positive decimal: {exc.problem}") from None
        except RatParseError:
            pass  # not a number for Go either: parse_max_price answers it
    return accounting.parse_max_price(obj, job_type)


def _balance(core: "SignerCore", ctx: "_Ctx", message_key: str) -> Fraction | None:
    """The state's ``Balance`` like Go's ``Rat.SetString`` (``None``: empty or not a number), its digits bounded
    (:data:`~sim.signer.config.BALANCE_DIGITS`): a longer one is 400 ``<message_key's text>: Balance: …``."""
    text = ctx.state.balance
    if not text:
        return None
    try:
        return parse_number(text, what="Balance", max_digits=BALANCE_DIGITS)
    except RatParseError:
        return None
    except bounded.BoundedInputError as exc:
        raise _Reject(400, f"{core.profile.msg(message_key)}: {exc}", limit="state.Balance")


_UNIX_TO_INTERNAL = 62_135_596_800  # Go time: seconds from year 1 to the Unix epoch


def _int64(n: int) -> int:
    """Go int64 arithmetic wraps around."""
    return (n + 2**63) % 2**64 - 2**63


def _auth_token_refresh_due(now_ns: int, expiration: int, margin_s: int = int(AUTH_TOKEN_REFRESH_MARGIN_S)) -> bool:
    """go-livepeer ``shouldRefreshSession`` (docs/refreshes.md#480-refresh-the-session):
    ``time.Now().After(time.Unix(expiration - 180, 0))``, to the nanosecond.

    Go's int64 arithmetic wraps: ``expiration - 180`` below the int64 minimum, and ``time.Unix``'s
    ``sec + unixToInternal`` above the maximum, give a time far in the past, so an expiration near either end
    of int64 (e.g. 2^63 - 1) also means refresh now (480)."""
    point = _int64(_int64(expiration - margin_s) + _UNIX_TO_INTERNAL)
    now_s, now_frac = divmod(now_ns, _NS)
    now = now_s + _UNIX_TO_INTERNAL
    return now > point or (now == point and now_frac > 0)


def _go_seconds(d_ns: int) -> float:
    """Go ``Duration.Seconds()``: whole seconds (truncated toward zero) + remainder / 1e9, as float64."""
    d_ns = max(min(d_ns, 2**63 - 1), -(2**63))  # Time.Sub saturates
    sec = abs(d_ns) // _NS * (1 if d_ns >= 0 else -1)
    nsec = d_ns - sec * _NS
    return float(sec) + float(nsec) / 1e9




# ==================================================================================================
# The check steps. Each takes (core, ctx) and raises _Reject, returns None to go on, or returns a
# PendingPayment (the webhook) to suspend. A profile lists them in its order.
# ==================================================================================================
Step = Callable[["SignerCore", _Ctx], "PendingPayment | None"]
STEPS: dict[str, Step] = {}


def step(name: str):
    def deco(fn: Step) -> Step:
        STEPS[name] = fn
        return fn
    return deco


def _refresh(core: "SignerCore", ctx: _Ctx, message_key: str, why: str) -> _Reject:
    return _Reject(STATUS_REFRESH_SESSION, core.profile.msg(message_key),
                   {REFRESH_HEADER: _header_value(ctx.oinfo.transcoder)}, refresh=why)


def _check_ticket_param_sizes(oinfo) -> None:
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


def _set_orchestrator(ctx: _Ctx, oinfo) -> None:
    pi = oinfo.price_info
    ctx.orch_addr = bytes_to_address(oinfo.address)
    ctx.orch_price = Fraction(pi.pricePerUnit, pi.pixelsPerUnit) if pi.pixelsPerUnit != 0 else Fraction(0)
    ctx.ev.update(orchestrator=ctx.orch_addr, transcoder=oinfo.transcoder, price=ctx.orch_price)


def _set_params(ctx: _Ctx) -> None:
    ctx.params = _Params.of(codec.ticket_params_from_pb(ctx.oinfo.ticket_params, ctx.orch_price))
    ctx.session_id = "0x" + ctx.params.recipient_rand_hash.hex()
    ctx.ev.update(recipient_rand_hash=ctx.params.recipient_rand_hash, face_value=ctx.params.face_value,
                  win_prob=ctx.params.win_prob, ev=ctx.params.ev)


# ---- go-livepeer (docs/remote-signer.md#the-order-of-checks) ----------------------------------------------
@step("decode")
def _s_decode(core, ctx):
    """Go's json.Decoder (first value only, case-insensitive keys, Go's error texts: docs/wire.md#json-the-go-way)."""
    try:
        req = decode_request(ctx.body, core.config.request_limits)
    except LimitExceeded as exc:
        raise _Reject(exc.status, str(exc), limit=exc.field)
    except DecodeError as exc:
        raise _Reject(400, str(exc))
    _set_request(ctx, req)


def _set_request(ctx: _Ctx, req) -> None:
    ctx.req = req
    ctx.req_type = req.type
    ctx.manifest_id = req.manifest_id
    ctx.ev.update(type=req.type, manifest_id=req.manifest_id, app=req.app)


@step("orchestrator")
def _s_orchestrator(core, ctx):
    """``orchestrator`` is present and is an ``OrchestratorInfo`` protobuf."""
    if len(ctx.req.orchestrator) == 0:
        raise _Reject(400, core.profile.msg("missing_orchestrator"))
    oinfo = pb.OrchestratorInfo()
    try:
        oinfo.ParseFromString(ctx.req.orchestrator)
    except Exception:
        raise _Reject(400, core.profile.msg("proto"))
    ctx.oinfo = oinfo


@step("price_info")
def _s_price_info(core, ctx):
    """The info carries a price with both numbers non-zero."""
    pi = ctx.oinfo.price_info
    if not ctx.oinfo.HasField("price_info") or pi.pricePerUnit == 0 or pi.pixelsPerUnit == 0:
        raise _Reject(400, core.profile.msg("missing_price"))


@step("ticket_params")
def _s_ticket_params(core, ctx):
    """The info carries ticket params (+ lpdev's field-size limits); the orchestrator's address and price."""
    if not ctx.oinfo.HasField("ticket_params"):
        raise _Reject(400, core.profile.msg("missing_ticket_params"))
    _check_ticket_param_sizes(ctx.oinfo)
    _set_orchestrator(ctx, ctx.oinfo)


def _load_state(core, ctx, layout: str, valid=lambda st: True) -> RemotePaymentState:
    """The request's state: signed by this signer, decodable (and ``valid``), not a replay (lpdev's ledger)."""
    req, msg = ctx.req, core.profile.msg
    if not verify_state(core.address, req.state_state, req.state_sig):
        raise _Reject(400, msg("invalid_sig"))
    try:
        state = state_from_json(req.state_state, layout)
    except StateError:
        raise _Reject(400, msg("invalid_state"))
    if not valid(state):
        raise _Reject(400, msg("invalid_state"))
    ctx.ev.update(state_id=state.state_id, state_seq_in=state.sequence_number)
    if core.config.replay_protection:
        try:
            core.ledger.begin(state.state_id, state.sequence_number)
        except ReplayError as exc:
            raise _Reject(400, str(exc), replay=True)
        ctx.claimed = state.state_id
    return state


@step("state")
def _s_state(core, ctx):
    """The state: signature, JSON, orchestrator / app / type; SequenceNumber + 1. Or a new state."""
    req, msg = ctx.req, core.profile.msg
    ctx.has_state = req.has_state
    pi = ctx.oinfo.price_info
    if ctx.has_state:
        state = _load_state(core, ctx, "go")
        if bytes(state.orchestrator_address) != ctx.orch_addr:
            raise _Reject(400, msg("orch_mismatch"))
        if state.app != req.app:
            raise _Reject(400, msg("app_mismatch"))
        if state.type != "" and state.type != req.type:
            raise _Reject(400, msg("type_mismatch"))
        state = replace(state, type=req.type, sequence_number=state.sequence_number + 1)
        if state.sequence_number > 2**64 - 1:
            raise _Reject(400, "invalid state: sequence number overflow")
    else:
        state = RemotePaymentState(state_id=core.rng.hex_id(core.profile.state_id_bytes),
                                   orchestrator_address=ctx.orch_addr, app=req.app,
                                   initial_price_per_unit=pi.pricePerUnit,
                                   initial_pixels_per_unit=pi.pixelsPerUnit, type=req.type)
    ctx.state = state
    ctx.ev.update(state_id=state.state_id, state_seq=state.sequence_number)


@step("manifest_id")
def _s_manifest_id(core, ctx):
    """The ManifestID: required with a state; a random one without."""
    if ctx.manifest_id == "":
        if ctx.has_state:
            raise _Reject(400, core.profile.msg("missing_manifest"))
        ctx.manifest_id = core.rng.hex_id(4)
    ctx.ev["manifest_id"] = ctx.manifest_id


@step("capabilities")
def _s_capabilities(core, ctx):
    """``capabilities``, when given, is a protobuf (+ lpdev's limits)."""
    if len(ctx.req.capabilities) > 0:
        caps = pb.Capabilities()
        try:
            caps.ParseFromString(ctx.req.capabilities)
        except Exception:
            raise _Reject(400, core.profile.msg("proto"))
        core._check_caps_limits(caps)
        ctx.caps = caps


@step("params")
def _s_params(core, ctx):
    """Ticket params; balance from the state (unparsable = 0); nonce if the params are the same."""
    _set_params(ctx)
    existing = _balance(core, ctx, "invalid_state") if ctx.has_state else None
    ctx.existing = Fraction(0) if existing is None else existing
    ctx.ev["balance_before"] = ctx.existing
    ctx.nonce = ctx.state.sender_nonce if ctx.state.pm_session_id == ctx.session_id else 0


@step("refresh")
def _s_refresh(core, ctx):
    """``shouldRefreshSession`` (docs/refreshes.md#480-refresh-the-session)."""
    ctx.now_ns = core.clock.now_ns()
    if not ctx.oinfo.HasField("auth_token"):
        raise _Reject(400, core.profile.msg("refresh_check") + "missing auth token")
    if _auth_token_refresh_due(ctx.now_ns, ctx.oinfo.auth_token.expiration, core.profile.auth_refresh_margin_s):
        raise _refresh(core, ctx, "refresh_auth", "auth token expiring")
    try:
        core._validate(ctx.params, 1)
    except TicketParamsExpired:
        raise _refresh(core, ctx, "refresh", "ticket params expired")
    except TicketParamsError as exc:
        raise _Reject(400, core.profile.msg("refresh_check") + str(exc))


@step("nonce_refresh")
def _s_nonce_refresh(core, ctx):
    """go-livepeer #4028 / livepeer-node: the carried nonce has reached the profile's limit (500) -> 480.
    lpdev counts from the nonce it would really start at (its NonceBook may be ahead of the state's)."""
    limit = core.profile.nonce_refresh_at
    if limit is None:
        return
    start = ctx.nonce
    if core.config.replay_protection:
        start = max(start, core.nonces.high(ctx.session_id))
    if start >= limit:
        raise _refresh(core, ctx, "refresh", f"nonce {start} >= {limit}")


@step("units")
def _s_units(core, ctx):
    """Billable units (docs/remote-signer.md#billing-fee-tickets-balance)."""
    state = ctx.state
    last = state.last_update if ctx.has_state and not state.last_update_is_zero else ctx.now_ns
    billable_secs = _go_seconds(ctx.now_ns - last)
    ctx.ev["billable_secs"] = billable_secs
    try:
        ctx.units = accounting.billable_units(ctx.req.type, billable_secs, ctx.req.in_pixels)
    except accounting.BillingError as exc:
        raise _Reject(400, str(exc))
    ctx.ev["units"] = ctx.units


@step("request_max_price")
def _s_request_max_price(core, ctx):
    """The request's ``maxPrice`` is well formed."""
    if ctx.req.max_price is not None:
        try:
            ctx.request_max = _parse_max_price(ctx.req.max_price.as_dict(), ctx.req.type)
        except accounting.MaxPriceError as exc:
            raise _Reject(400, str(exc))


@step("initial_price")
def _s_initial_price(core, ctx):
    """The state's initial price is positive."""
    state = ctx.state
    if ctx.has_state and (state.initial_price_per_unit <= 0 or state.initial_pixels_per_unit <= 0):
        raise _Reject(400, core.profile.msg("invalid_initial_price"))
    ctx.initial_price = Fraction(state.initial_price_per_unit, state.initial_pixels_per_unit)


@step("ceilings")
def _s_ceilings(core, ctx):
    """The ceilings (docs/remote-signer.md#price-ceilings): configured (wei, or USD at the feed's rate), request
    maxPrice, initial session price."""
    initial_max = ctx.initial_price if ctx.has_state else None
    governing = core._check_ceilings(ctx.orch_price, [("configured maximum price", core._configured_max(ctx.caps)),
                                                      ("request maxPrice", ctx.request_max),
                                                      ("initial session price", initial_max)])
    if governing is not None:  # which ceiling applied, for the inspector even when the price is within it
        ctx.ev["ceiling"], ctx.ev["ceiling_price"] = governing


@step("fee")
def _s_fee(core, ctx):
    """The fee: units × the initial price (go-livepeer) or the current price (livepeer-node)."""
    price = ctx.orch_price if core.profile.fee_basis == "current" else ctx.initial_price
    ctx.fee = ctx.units * price
    ctx.ev["fee"] = ctx.fee
    if core.profile.usd_fees:
        rate, _why = core.usd.rate()
        if rate is not None:
            ctx.ev["fee_usd"] = ctx.fee / rate


@step("tickets")
def _s_tickets(core, ctx):
    """The ticket count (docs/remote-signer.md#billing-fee-tickets-balance): 482 when none is needed, 400 above 100."""
    ctx.upd = accounting.balance_update(ctx.fee, ctx.params.ev, ctx.existing)
    n = ctx.upd.num_tickets
    ctx.ev["tickets"] = n
    if n <= 0:
        raise _Reject(STATUS_NO_TICKETS, core.profile.msg("no_tickets"))
    if n > accounting.MAX_TICKETS_PER_CALL:
        raise _Reject(400, core.profile.msg("too_many_tickets", n=n))


@step("price_doubled")
def _s_price_doubled(core, ctx):
    """``validatePrice``: more than twice the initial price is a 481."""
    if ctx.orch_price > ctx.initial_price * PRICE_INCREASE_THRESHOLD:
        raise _Reject(STATUS_PRICE_EXCEEDED,
                      f"Orchestrator price has more than doubled, Orchestrator price: {rat_string(ctx.orch_price)}, "
                      f"Orchestrator initial price: {rat_string(ctx.initial_price)}", ceiling="price doubled")


def _sign_batch(core, ctx, nonce_limit_error: Callable[[int], _Reject] | None = None) -> None:
    n = ctx.upd.num_tickets
    params = ctx.params
    try:
        if core.config.replay_protection:
            nonces = core.nonces.reserve(ctx.session_id, ctx.nonce, n)
        elif ctx.nonce + n > 2**32 - 1:
            raise OverflowError(f"sender nonce overflow for session {ctx.session_id}: {ctx.nonce + n} > {2**32 - 1}")
        else:  # go-livepeer: the nonce comes from the state alone, so a replayed state reuses its nonces
            nonces = range(ctx.nonce + 1, ctx.nonce + n + 1)
    except OverflowError as exc:
        raise _Reject(500, str(exc))
    tickets = create_ticket_batch(core.key, core.address, params, nonces)
    payment = codec.build_payment(params, core.address, tickets, ctx.oinfo.price_info)
    ctx.nonces = nonces
    ctx.payment_b64 = codec.to_b64(payment)
    ctx.ev.update(nonce_first=nonces[0], nonce_last=nonces[-1], creation_round=params.creation_round)


@step("batch")
def _s_batch(core, ctx):
    """The batch validated for n tickets (500 on failure), nonces, signatures."""
    try:
        snap = core._validate(ctx.params, ctx.upd.num_tickets)
    except TicketParamsError as exc:
        raise _Reject(500, str(exc))
    params = ctx.params
    if params.creation_round == 0 or params.creation_round_block_hash == b"\x00" * 32:
        # Go's CreateTicketBatch substitutes its own round (docs/tickets.md#ticket-params); the orchestrator will then
        # reject them.
        ctx.params = replace(params, creation_round=snap.last_initialized_round,
                             creation_round_block_hash=snap.round_block_hash)
    _sign_batch(core, ctx)


@step("segcreds")
def _s_segcreds(core, ctx):
    """The segment credentials (docs/wire.md#segment-credentials)."""
    auth = ctx.oinfo.auth_token if ctx.oinfo.HasField("auth_token") else None
    seg = codec.build_segcreds(core.key, ctx.manifest_id, auth, ctx.caps)
    ctx.segcreds_b64 = codec.to_b64(seg)


@step("balance")
def _s_balance(core, ctx):
    """The new balance, LastUpdate, PMSessionID, SenderNonce into the state."""
    new_balance = ctx.upd.balance_after
    ctx.ev["balance_after"] = new_balance
    ctx.state = replace(ctx.state, balance=rat_string(new_balance), last_update=ctx.now_ns, last_update_tz=None,
                        pm_session_id=ctx.session_id, sender_nonce=ctx.nonces[-1])


def _ask_webhook(core, ctx, cached: bool, layout: str) -> "PendingPayment | None":
    """Suspend for the auth webhook unless none is configured or the state's approval still holds."""
    if not core.config.webhook_url:
        return None
    if cached:
        ctx.ev["webhook"] = "cached"
        return None
    return PendingPayment(core._webhook_call(ctx, ctx.state.to_dict(layout)), ctx)


@step("webhook")
def _s_webhook(core, ctx):
    """The auth webhook (docs/remote-signer.md#auth-webhook-and-caller-identity): skipped while ``AuthExpiry`` covers
    now."""
    st = ctx.state
    return _ask_webhook(core, ctx, st.auth_expiry != 0 and ctx.now_ns // _NS <= st.auth_expiry, "go")


@step("webhook_reply")
def _s_webhook_reply(core, ctx):
    """The webhook's decision (go-livepeer: failures 500, any status relayed with its reason)."""
    outcome = ctx.outcome
    if outcome is None:
        return
    decision = core._webhook_decision(ctx, outcome,
                                      lambda o: parse_outcome(o, max_body=core.config.request_limits.webhook_response))
    ctx.state = replace(ctx.state, auth_expiry=decision.expiry)
    if decision.max_price is not None:
        try:
            auth_max = _parse_max_price(decision.max_price, ctx.req_type)
        except accounting.MaxPriceError as exc:
            raise _Reject(502, f"signer auth invalid maxPrice: {exc}")
        core._check_ceilings(ctx.orch_price, [("auth webhook maxPrice", auth_max)])
    ctx.auth_id_from_webhook = decision.auth_id


@step("auth_id")
def _s_auth_id(core, ctx):
    """The caller's identity: a changed established auth id is a 500."""
    auth_id = ctx.auth_id_from_webhook or _header(ctx.headers, AUTH_ID_HEADER)
    state = ctx.state
    if auth_id != "" and state.auth_id != auth_id:
        if state.auth_id != "":
            raise _Reject(core.profile.auth_id_changed_status,
                          f"remote signer auth ID changed: state has {state.auth_id!r}, request has {auth_id!r}"
                          + _NOT_UTF8_HINT * (go_text(auth_id) != auth_id))
        ctx.state = replace(state, auth_id=auth_id)


@step("sign_state")
def _s_sign_state(core, ctx):
    """Marshal the state in the profile's layout, sign it (docs/remote-signer.md#the-state-blob), answer 200."""
    prof = core.profile
    state = ctx.state
    raw = state_to_json(state, prof.state_layout)
    sig = sign_state(core.key, raw)
    if ctx.claimed is not None:
        core.ledger.end(ctx.claimed, state.sequence_number)
        ctx.claimed = None
    elif core.config.replay_protection:
        core.ledger.end(state.state_id, state.sequence_number)
    # The signed state, decoded (Go field names), so viewers can diff it against the previous one.
    ctx.ev.update(status=200, message="", state_seq=state.sequence_number, auth_id=go_text(state.auth_id),
                  state=json.loads(raw))
    with core._lock:
        core.stats["payments"] += 1
        core.stats["tickets"] += int(ctx.ev.get("tickets", 0))
    core._emit("signer.payment", **ctx.ev)
    k_state, k_sig = prof.state_keys
    body = {"payment": ctx.payment_b64, "segCreds": ctx.segcreds_b64,
            "state": {k_state: gojson.b64encode(raw), k_sig: gojson.b64encode(sig)}}
    ctx.response = Response(200, body, newline=prof.response_newline)


# ---- livepeer/node (docs/remote-signer.md#livepeer-nodes-order-of-checks) ---------------------------------
@step("node_decode")
def _s_node_decode(core, ctx):
    """Body <= 1 MiB (400), then a strict ``json.Unmarshal``: any error -> 400 ``invalid payment request``
    (beyond lpdev's bounds — nesting, digits, encoding — the reason instead, as for the field limits)."""
    msg = core.profile.msg
    try:
        req = decode_request(ctx.body, core.config.request_limits, ignore=("INPIXELS",), strict=True)
    except LimitExceeded as exc:
        if exc.field == "body":
            raise _Reject(400, msg("too_large"), limit="body")
        raise _Reject(exc.status, str(exc), limit=exc.field)
    except DecodeError:
        raise _Reject(400, msg("invalid_request"))
    _set_request(ctx, req)


@step("job_type")
def _s_job_type(core, ctx):
    if ctx.req.type not in core.profile.job_types:
        raise _Reject(400, core.profile.msg("bad_type"))


@step("capabilities_refused")
def _s_capabilities_refused(core, ctx):
    if len(ctx.req.capabilities) > 0:
        raise _Reject(400, core.profile.msg("caps_refused"))


@step("node_orchestrator")
def _s_node_orchestrator(core, ctx):
    """An empty ``orchestrator`` decodes to an empty info (and fails completeness)."""
    oinfo = pb.OrchestratorInfo()
    try:
        oinfo.ParseFromString(ctx.req.orchestrator)
    except Exception:
        raise _Reject(400, core.profile.msg("proto"))
    ctx.oinfo = oinfo
    _check_ticket_param_sizes(oinfo)


@step("completeness")
def _s_completeness(core, ctx):
    o = ctx.oinfo
    tp = o.ticket_params
    pi = o.price_info
    ok = (len(o.address) == 20 and any(o.address) and bytes(o.address) == bytes(tp.recipient)
          and len(tp.recipient) == 20 and len(o.auth_token.token) > 0 and o.auth_token.session_id != ""
          and len(tp.expiration_params.creation_round_block_hash) == 32 and len(tp.recipient_rand_hash) == 32
          and pi.pricePerUnit > 0 and pi.pixelsPerUnit > 0)
    if not ok:
        raise _Reject(400, core.profile.msg("incomplete"))
    _set_orchestrator(ctx, o)


@step("auth_refresh")
def _s_auth_refresh(core, ctx):
    """``expiration <= now + margin`` (whole seconds) -> 480."""
    ctx.now_ns = core.clock.now_ns()
    if ctx.oinfo.auth_token.expiration <= ctx.now_ns // _NS + core.profile.auth_refresh_margin_s:
        raise _refresh(core, ctx, "refresh_auth", "auth token expiring")


@step("manifest_from_auth")
def _s_manifest_from_auth(core, ctx):
    sid = ctx.oinfo.auth_token.session_id
    if ctx.manifest_id == "":
        ctx.manifest_id = sid
    if ctx.manifest_id != sid:
        raise _Reject(400, core.profile.msg("manifest_mismatch"))
    ctx.ev["manifest_id"] = ctx.manifest_id


def _node_max_price(core, ctx, price_text, currency, unit) -> Fraction:
    """node ``checkMaxPrice``: a positive rational in wei, unit seconds (live) / fixed (fixed); 481 if exceeded."""
    msg = core.profile.msg
    try:
        ceiling = parse_number(price_text, what="maxPrice.price") if price_text not in (None, "") else None
    except RatParseError:
        ceiling = None
    except bounded.BoundedInputError as exc:  # beyond lpdev's bounds: node's 400 with the reason
        raise _Reject(400, f"{msg('max_price_invalid')}: {exc.problem}")
    if ceiling is None or ceiling <= 0 or str(currency).strip().lower() != "wei":
        raise _Reject(400, msg("max_price_invalid"))
    want = {"live": "seconds", "fixed": "fixed"}.get(ctx.req_type)
    if str(unit).strip().lower() != want:
        raise _Reject(400, msg("max_price_unit"))
    if ctx.orch_price > ceiling:
        raise _Reject(STATUS_PRICE_EXCEEDED, msg("max_price_exceeded"), ceiling="maxPrice", ceiling_price=ceiling)
    return ceiling


@step("node_max_price")
def _s_node_max_price(core, ctx):
    mp = ctx.req.max_price
    if mp is not None:
        ctx.request_max = _node_max_price(core, ctx, mp.price, mp.currency, mp.unit)


@step("usd_ceiling")
def _s_usd_ceiling(core, ctx):
    """MaxHourlyPrice / 3600 (live, wei/s) or MaxFixedPrice (fixed, wei/job) × wei per USD."""
    rate, why = core.usd.rate()
    if rate is None:
        raise _Reject(503, core.profile.msg("usd_unavailable"), usd=why)
    if ctx.req_type == "fixed":
        ceiling = core.max_fixed_price_usd * rate
    else:
        ceiling = core.max_hourly_price_usd / 3600 * rate
    ctx.ev.update(wei_per_usd=rate, usd_ceiling=ceiling)
    if ctx.orch_price > ceiling:
        raise _Reject(STATUS_PRICE_EXCEEDED, core.profile.msg("usd_exceeded"), ceiling="signer USD maximum",
                      ceiling_price=ceiling)


@step("node_state")
def _s_node_state(core, ctx):
    req, msg = ctx.req, core.profile.msg
    ctx.has_state = req.has_state
    pi = ctx.oinfo.price_info
    if ctx.has_state:
        state = _load_state(core, ctx, "node", lambda st: st.state_id != "" and st.sequence_number <= _INT64_MAX)
        if (bytes(state.orchestrator_address) != ctx.orch_addr or state.app != req.app or state.type != req.type
                or state.manifest_id != ctx.manifest_id):
            raise _Reject(400, msg("scope"))
        state = replace(state, sequence_number=state.sequence_number + 1)
    else:
        state = RemotePaymentState(state_id=core.rng.hex_id(core.profile.state_id_bytes),
                                   orchestrator_address=ctx.orch_addr, app=req.app, type=req.type,
                                   manifest_id=ctx.manifest_id, initial_price_per_unit=pi.pricePerUnit,
                                   initial_pixels_per_unit=pi.pixelsPerUnit)
    ctx.state = state
    ctx.ev.update(state_id=state.state_id, state_seq=state.sequence_number)


@step("price_rise")
def _s_price_rise(core, ctx):
    """Any rise over the state's initial price -> 481."""
    st = ctx.state
    if st.initial_price_per_unit <= 0 or st.initial_pixels_per_unit <= 0:
        raise _Reject(STATUS_PRICE_EXCEEDED, core.profile.msg("price_rise"), ceiling="initial session price")
    ctx.initial_price = Fraction(st.initial_price_per_unit, st.initial_pixels_per_unit)
    if ctx.orch_price > ctx.initial_price:
        raise _Reject(STATUS_PRICE_EXCEEDED, core.profile.msg("price_rise"), ceiling="initial session price",
                      ceiling_price=ctx.initial_price)


@step("node_units")
def _s_node_units(core, ctx):
    """live: 10 s for a new state, else ceil(now - LastUpdate) >= 1 s, > 3600 s -> 400; fixed: 1."""
    if ctx.req_type == "live":
        if not ctx.has_state:
            secs = 10
        else:
            secs = max(math.ceil(_go_seconds(ctx.now_ns - ctx.state.last_update)), 1)
        cap = core.profile.live_interval_cap_s
        if cap is not None and secs > cap:
            raise _Reject(400, core.profile.msg("interval"))
        ctx.units = secs
        ctx.ev["billable_secs"] = float(secs)
    else:
        ctx.units = 1
    ctx.ev["units"] = ctx.units


@step("node_params")
def _s_node_params(core, ctx):
    """Balance (unparsable -> 400), ticket params, nonce reset when the params changed."""
    existing = Fraction(0)
    if ctx.state.balance != "":
        existing = _balance(core, ctx, "bad_balance")
        if existing is None:
            raise _Reject(400, core.profile.msg("bad_balance"))
    ctx.existing = existing
    ctx.ev["balance_before"] = existing
    _set_params(ctx)
    ctx.nonce = ctx.state.sender_nonce if ctx.state.pm_session_id == ctx.session_id else 0


@step("precheck")
def _s_precheck(core, ctx):
    """One-ticket check: expiration 0, chain/funds, params expiry (480), payer policy."""
    msg = core.profile.msg
    if ctx.params.expiration_block == 0:
        raise _Reject(400, msg("expiration_zero"))
    try:
        core._validate(ctx.params, 1)
    except TicketParamsExpired:
        raise _refresh(core, ctx, "refresh", "ticket params expired")
    except TicketParamsError as exc:
        raise _Reject(400, msg("policy"), cause=str(exc))


@step("node_tickets")
def _s_node_tickets(core, ctx):
    """``RemoteBatchSize``: no tickets needed -> 482; any other problem (zero EV, > 100) -> 400."""
    p = ctx.params
    if p.face_value <= 0 or p.win_prob <= 0 or p.win_prob >= MAX_WIN_PROB or ctx.fee <= 0 or ctx.existing < 0 \
            or p.ev <= 0:
        raise _Reject(400, core.profile.msg("too_many_tickets"), cause="invalid remote payment values")
    _s_tickets(core, ctx)


@step("node_batch")
def _s_node_batch(core, ctx):
    """Full-batch recheck (policy 400, chain 500), nonce + count >= 600 -> 480, then the tickets."""
    msg = core.profile.msg
    n = ctx.upd.num_tickets
    try:
        core._validate(ctx.params, n)
    except TicketParamsExpired:
        raise _refresh(core, ctx, "refresh", "ticket params expired")
    except TicketParamsError as exc:
        raise _Reject(400, msg("policy"), cause=str(exc))
    except _Reject as r:  # the chain failed after the precheck: an internal generation failure
        raise _Reject(500, msg("generation_failed"), cause=r.message)
    window = core.profile.nonce_window
    start = max(ctx.nonce, core.nonces.high(ctx.session_id)) if core.config.replay_protection else ctx.nonce
    if window is not None and start + n >= window:
        raise _refresh(core, ctx, "refresh", f"nonce {start} + {n} tickets >= {window}")
    _sign_batch(core, ctx)


@step("node_webhook")
def _s_node_webhook(core, ctx):
    """``authorizePayment``: a Signer-Auth-Id other than the state's -> 403; the webhook is asked when the
    state's AuthPolicy is not this configuration's, or AuthExpiry is 0 or past."""
    identity = _header(ctx.headers, AUTH_ID_HEADER)
    if identity and ctx.state.auth_id and identity != ctx.state.auth_id:
        raise _Reject(core.profile.auth_id_changed_status, core.profile.msg("auth_id_changed"),
                      detail=f"state has {ctx.state.auth_id!r}, request has {identity!r}")
    st = ctx.state
    cached = st.auth_policy == core.auth_policy and st.auth_expiry != 0 and ctx.now_ns // _NS <= st.auth_expiry
    return _ask_webhook(core, ctx, cached, "node")


@step("node_webhook_reply")
def _s_node_webhook_reply(core, ctx):
    outcome = ctx.outcome
    if outcome is None:
        return
    messages = core.profile.messages
    decision = core._webhook_decision(ctx, outcome, lambda o: parse_outcome_node(
        o, messages, max_body=core.profile.webhook_response_limit))
    ctx.state = replace(ctx.state, auth_expiry=decision.expiry, auth_policy=core.auth_policy, auth_max_price="")
    ctx.auth_id_from_webhook = decision.auth_id
    if decision.max_price is not None:
        mp = decision.max_price
        price = gojson.get_ci(mp, "price")
        try:
            _node_max_price(core, ctx, price, gojson.get_ci(mp, "currency") or "", gojson.get_ci(mp, "unit") or "")
        except _Reject as r:
            if r.status == STATUS_PRICE_EXCEEDED:
                raise
            raise _Reject(502, core.profile.msg("webhook_max_price"), cause=r.message)
        ctx.state = replace(ctx.state, auth_max_price=str(price).strip())


@step("node_auth_id")
def _s_node_auth_id(core, ctx):
    identity = ctx.auth_id_from_webhook or _header(ctx.headers, AUTH_ID_HEADER)
    if identity and ctx.state.auth_id and identity != ctx.state.auth_id:
        raise _Reject(core.profile.auth_id_changed_status, core.profile.msg("auth_id_changed"),
                      detail=f"state has {ctx.state.auth_id!r}, webhook has {identity!r}")
    if identity:
        ctx.state = replace(ctx.state, auth_id=identity)


@step("auth_max_price")
def _s_auth_max_price(core, ctx):
    """The webhook's accepted maxPrice, kept in the state, is re-applied on every call (also when cached)."""
    amp = ctx.state.auth_max_price
    if core.config.webhook_url and amp:
        unit = {"live": "seconds", "fixed": "fixed"}.get(ctx.req_type, "")
        _node_max_price(core, ctx, amp, "wei", unit)


#: a Signer-Auth-Id that is not UTF-8 changes on its way through the state: Go (and lpdev) keep the header's bytes,
#: the state's JSON holds U+FFFD for them, so the next call's header no longer matches (go-livepeer's 500 too)
_NOT_UTF8_HINT = (" (the Signer-Auth-Id header is not valid UTF-8: the state stored U+FFFD for its invalid bytes, "
                  "so the same header never matches it again; send UTF-8)")


def _header(headers: list[tuple[str, str]], name: str) -> str:
    low = name.lower()
    return next((v for k, v in headers if k.lower() == low), "")


class SignerCore:
    """One remote signer identity speaking one dialect. Thread-safe enough for one event loop (the adapter)
    plus tests."""

    def __init__(self, *, key: bytes, chain, config: SignerConfig | None = None, clock=None, rng=None,
                 events=None, actor: str = "signer", ledger: StateLedger | None = None,
                 nonces: NonceBook | None = None) -> None:
        from sim.clock import RealClock, Rng

        self.key = bytes(key)
        self.config = config or SignerConfig()
        self.profile: Profile = get_profile(self.config.profile)
        prof = self.profile
        unknown = [s for s in (*prof.steps, *prof.finish_steps) if s not in STEPS]
        if unknown:
            raise ValueError(f"profile {prof.name}: unknown check steps {unknown}")
        self._steps = [STEPS[s] for s in prof.steps]
        self._finish_steps = [STEPS[s] for s in prof.finish_steps]
        self.clock = clock or RealClock()
        self.rng = rng or Rng()
        self.events = events
        self.actor = actor
        self.address = private_key_to_address(self.key)
        self.address_hex = to_checksum_address(self.address)
        if prof.info_sig == "raw":  # livepeer-node: personal_sign over the EIP-55 address text (flavour 1)
            self.info_sig = sign_personal(self.key, self.address_hex.encode("ascii"))
        else:  # go-livepeer: over its keccak (flavour 2, the GetOrchestrator request signature)
            _, self.info_sig = codec.sign_orch_request(self.key)
        self.chain = chain if isinstance(chain, ChainCache) else ChainCache(
            chain, self.address, self.clock, max_age_s=self.config.chain_max_age_s)
        cfg = self.config
        self.usd = UsdRate(self.chain.view, self.clock,
                           poll_s=cfg.usd_poll_s if cfg.usd_poll_s is not None else prof.usd_poll_s,
                           max_age_s=cfg.eth_usd_max_age_s if cfg.eth_usd_max_age_s is not None
                           else prof.eth_usd_max_age_s,
                           pinned=cfg.wei_per_usd)
        self.max_hourly_price_usd = Fraction(cfg.max_hourly_price_usd if cfg.max_hourly_price_usd is not None
                                             else prof.max_hourly_price_usd or 0)
        self.max_fixed_price_usd = Fraction(cfg.max_fixed_price_usd if cfg.max_fixed_price_usd is not None
                                            else prof.max_fixed_price_usd or 0)
        self.auth_policy = auth_policy(cfg.webhook_url, cfg.webhook_headers) if cfg.webhook_url else ""
        self.ledger = ledger or StateLedger(cfg.replay_window)
        self.nonces = nonces or NonceBook(cfg.replay_window)
        self._lock = threading.Lock()
        self.stats = {"payments": 0, "rejected": 0, "tickets": 0, "webhook_calls": 0}

    # ------------------------------------------------------------------------------------------
    # /sign-orchestrator-info (docs/remote-signer.md#endpoints)
    # ------------------------------------------------------------------------------------------
    def sign_orchestrator_info(self) -> Response:
        body = {"address": self.address_hex, "signature": "0x" + self.info_sig.hex()}
        self._emit("signer.orch_info", address=self.address_hex, status=200)
        return Response(200, body, {}, sort_keys=True)

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """An error reply in this profile's envelope."""
        return Response.error(status, message, headers, self.profile.envelope)

    # ------------------------------------------------------------------------------------------
    # /generate-live-payment (docs/remote-signer.md#the-order-of-checks)
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
        ctx = _Ctx(headers=list(headers), body=bytes(body))
        try:
            for fn in self._steps:
                pending = fn(self, ctx)
                if pending is not None:
                    return pending
            return self._finish(ctx)
        except _Reject as r:
            return self._rejected(ctx, r)
        except Exception as exc:  # a bug must not become a hang or a dropped connection
            return self._rejected(ctx, _Reject(500, f"internal error: {type(exc).__name__}: {exc}"))

    def finish_payment(self, pending: PendingPayment, outcome: WebhookOutcome | None) -> Response:
        ctx = pending.ctx
        ctx.outcome = outcome
        try:
            return self._finish(ctx)
        except _Reject as r:
            return self._rejected(ctx, r)
        except Exception as exc:
            return self._rejected(ctx, _Reject(500, f"internal error: {type(exc).__name__}: {exc}"))

    def abort(self, pending: PendingPayment) -> None:
        """Release what ``begin_payment`` claimed when the adapter cannot finish (e.g. client went away)."""
        if pending.ctx.claimed is not None:
            self.ledger.end(pending.ctx.claimed, None)
            pending.ctx.claimed = None

    def _finish(self, ctx: _Ctx) -> Response:
        for fn in self._finish_steps:
            fn(self, ctx)
        if ctx.response is None:
            raise RuntimeError(f"profile {self.profile.name}: the finish steps did not answer (no sign_state?)")
        return ctx.response

    # ---- helpers for the steps ----------------------------------------------------------------
    def _webhook_call(self, ctx: _Ctx, state_obj: dict) -> WebhookCall:
        cfg = self.config
        body_bytes = webhook_body(ctx.headers, state_obj)
        hdrs = {"Content-Type": "application/json"}
        for k, v in cfg.webhook_headers.items():
            hdrs = {hk: hv for hk, hv in hdrs.items() if hk.lower() != k.lower()}
            hdrs[k] = v
        return WebhookCall(cfg.webhook_url, hdrs, body_bytes, cfg.webhook_timeout_s)

    def _webhook_decision(self, ctx: _Ctx, outcome: WebhookOutcome, parse):
        with self._lock:
            self.stats["webhook_calls"] += 1
        decision = parse(outcome)
        self._emit("signer.webhook", url=self.config.webhook_url, http_status=outcome.http_status,
                   error=outcome.error, status=decision.status, message=decision.message,
                   state_id=ctx.state.state_id)
        ctx.ev["webhook"] = "called"
        if decision.status != 200:
            raise _Reject(decision.status, decision.message, webhook=True)
        return decision

    def _configured_max(self, caps) -> Fraction | None:
        """The configured ceiling: wei (``max_price``, per capability), or USD converted at the feed's rate."""
        cfg = self.config
        if cfg.max_price_usd is not None:
            rate, why = self.usd.rate()
            if rate is None:
                raise _Reject(500, f"cannot convert the USD maximum price: {why}")
            return cfg.max_price_usd * rate
        return cfg.capabilities_max_price(caps)

    def _validate(self, params, n: int):
        """The params checks (docs/tickets.md#what-the-signer-checks-in-the-params) against the cached chain; on a
        failure that fresher data could fix, re-read once."""
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
        except Exception as exc:  # noqa: BLE001 - an unreachable chain is an error that says so
            cause = f"{type(exc).__name__}: {exc}"
            raise _Reject(self.profile.chain_error_status, self.profile.msg("chain", cause=cause), cause=cause)

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
        return Response.error(r.status, r.message, r.headers, self.profile.envelope)

    def _emit(self, kind: str, **data: Any) -> None:
        if self.events is not None:
            self.events.emit(self.actor, kind, **data)

    # ------------------------------------------------------------------------------------------
    # convenience for tests / tools
    # ------------------------------------------------------------------------------------------
    def decode_state(self, envelope: dict) -> RemotePaymentState:
        from sim.wire.state import parse_envelope

        raw, _sig = parse_envelope(envelope)
        return RemotePaymentState.from_json(raw, self.profile.state_layout)

    @property
    def go_zero_time_ns(self) -> int:
        return GO_ZERO_TIME_NS
