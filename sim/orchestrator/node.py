"""The fake orchestrator's protocol core, transport-free (docs/orchestrator.md).

:class:`Orchestrator` answers GetOrchestrator and ``/payment`` (docs/orchestrator.md) and ``/refresh-payment``
(docs/live-runners.md), keeps balances and debits live sessions (docs/orchestrator.md#credit-and-debit) and stores
winning tickets durably for the
:class:`~sim.orchestrator.redeemer.Redeemer` (docs/chain.md#redeeming-a-winning-ticket). The ASGI app
(``sim.orchestrator.app``) and the gRPC framing only translate bytes; every status code and message is decided here.

Methods are synchronous and thread-safe (one lock); the server calls them from a worker thread because they
may touch the chain (cached per block) and fsync SQLite.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from google.protobuf.message import DecodeError

from sim.clock import RealClock, Rng
from sim.events import EventBus
from sim.orchestrator import kinds as _kinds  # noqa: F401  (registers orch.* kinds)
from sim.orchestrator.capabilities import build_capabilities, compatible, CAP_LIVE_VIDEO_TO_VIDEO
from sim.orchestrator.chainwatch import ChainWatch
from sim.orchestrator.faults import Faults
from sim.orchestrator.ledger import InsufficientBalance, Ledger
from sim.orchestrator.recipient import Recipient
from sim.orchestrator.winners import WinnerStore
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, LivePaymentProcessor
from sim.pm.crypto import (bytes_to_address, private_key_to_address, sign_keccak,
                           to_checksum_address)
from sim.pm.params import (AUTH_TOKEN_VALIDITY_S, DEFAULT_REDEEM_GAS, DEFAULT_TICKET_EV, InsufficientSenderReserve,
                           RecipientConfig, TicketParams, auth_token, price_with_overhead,
                           recipient_rand, recipient_rand_hash, tx_cost_multiplier, win_prob)
from sim.pm.ticket import MAX_WIN_PROB, Ticket, from_minbytes
from sim.wire import bounded, codec, gojson
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import Base64Error, b64encode, go_json_dumps
from sim.wire.gojson import b64decode as _go_b64decode

__all__ = ["OrchestratorConfig", "Orchestrator", "RpcError", "HttpReply", "LiveDebit", "MAX_DURATION_MS",
           "PriceFeedError", "parse_price_per_unit", "usd_to_wei"]

MAX_DURATION_MS = 5 * 60 * 1000  # common.MaxDuration


def b64decode(text: str) -> bytes:
    """Go ``base64.StdEncoding.DecodeString``. Fast path: canonical padded input, where the C decoder gives the
    same bytes as Go; anything else goes to the Go-exact decoder for Go's result or error offset."""
    if len(text) % 4 == 0 and "=" not in text.rstrip("=") and len(text) - len(text.rstrip("=")) <= 2:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    return _go_b64decode(text)


@dataclass
class OrchestratorConfig:
    eth_key: bytes
    data_dir: Path
    service_uri: str = ""  # filled in by the server once bound
    ticket_ev: int = DEFAULT_TICKET_EV  # -ticketEV
    price_per_unit: int | Fraction = 1  # -pricePerUnit, in ``price_currency``
    price_currency: str = "wei"  # -pricePerUnit's currency suffix: wei, eth or usd (converted via the ETH/USD feed)
    pixels_per_unit: int = 1  # -pixelsPerUnit
    max_face_value: int = 0  # -maxFaceValue (0 = no cap)
    redeem_gas: int = DEFAULT_REDEEM_GAS
    auto_adjust_price: bool = True  # -autoAdjustPrice (go-livepeer default true)
    max_sessions: int = 10  # -maxSessions
    lv2v_models: dict[str, int] = field(default_factory=lambda: {"noop": 10})  # model -> capacity
    name: str = "orch"  # event actor


_PRICE_PER_UNIT = re.compile(r"^(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)([A-Za-z][A-Za-z0-9]*)?$")
WEI_PER_ETH = 10**18


def parse_price_per_unit(text: str) -> tuple[Fraction, str]:
    """go-livepeer ``-pricePerUnit``: ``<price><currency>`` (``1000``, ``0.50USD``; lpdev also takes an exponent,
    ``0.5e-12USD``) -> (price, currency in lower case: wei, eth or usd). Raises ValueError naming the problem."""
    m = _PRICE_PER_UNIT.match(str(text).strip())
    if m is None:
        raise ValueError(f"price must be in the format of <price><currency>, provided {text}")
    currency = (m.group(2) or "wei").lower()
    if currency not in ("wei", "eth", "usd"):
        raise ValueError(f"price feed does not have {currency.upper()} as a currency (ETH/USD)")
    from sim.wire import bounded

    try:  # a 5,000-digit price or exponent is a typo or an attack: bounded digits before any Fraction
        return bounded.parse_fraction(m.group(1), what="price", min=0), currency
    except bounded.BoundedInputError as exc:
        raise ValueError(f"{exc.problem}, provided {text if len(str(text)) <= 40 else str(text)[:40] + '...'}") \
            from None


def usd_to_wei(usd: Fraction, wei_per_usd: Fraction) -> Fraction:
    """A USD amount in wei at the feed's rate (exact; callers truncate as go does where it does)."""
    return Fraction(usd) * Fraction(wei_per_usd)


class PriceFeedError(Exception):
    """No usable ETH/USD price (no feed on this chain, or it failed): the message says which."""


class RpcError(Exception):
    """A GetOrchestrator / Ping failure: gRPC status UNKNOWN (2) with this message, like a plain Go error."""

    code = 2


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes
    content_type: str | None = None

    @classmethod
    def text(cls, status: int, message: str) -> "HttpReply":
        """Go ``http.Error``: ``text/plain; charset=utf-8``, message + newline."""
        return cls(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    @classmethod
    def json(cls, status: int, obj) -> "HttpReply":
        return cls(status, (json.dumps(obj) + "\n").encode(), "application/json")


class _SegError(Exception):
    pass


class LiveDebit:
    """A live session's debit over time (docs/orchestrator.md#credit-and-debit): call :meth:`tick` per segment /
    interval."""

    def __init__(self, orch: "Orchestrator", sender: bytes, manifest_id: str, price: Fraction,
                 interval_s: float, units_per_second: int, start: float) -> None:
        self.orch, self.sender, self.manifest_id, self.price = orch, bytes(sender), manifest_id, Fraction(price)
        self.processor = LivePaymentProcessor(interval_s=interval_s, units_per_second=units_per_second, start=start)

    def tick(self, now: float | None = None) -> Fraction | None:
        """Debit what is due; None if the interval has not elapsed. Raises
        :class:`~sim.orchestrator.ledger.InsufficientBalance` (the stream must stop)."""
        now = self.orch.clock.now() if now is None else now
        units = self.processor.process(now)
        if units is None:
            return None
        return self.orch.debit(self.sender, self.manifest_id, units, self.price)


class Orchestrator:
    def __init__(self, config: OrchestratorConfig, chain, *, bus: EventBus | None = None, clock=None,
                 rng: Rng | None = None, secret: bytes | None = None) -> None:
        self.config = config
        self.chain = chain
        self.clock = clock or RealClock()
        self.bus = bus or EventBus(self.clock)
        self.rng = rng or Rng()
        self.address = private_key_to_address(config.eth_key)
        self.secret = secret if secret is not None else os.urandom(32)  # per process, like go-livepeer
        self.recipient = Recipient(self.address, self.secret)
        self.ledger = Ledger()
        self.faults = Faults()
        self.watch = ChainWatch(chain, self.address, on_sender=self._sender_funds_seen)
        self._funds_seen: dict[bytes, tuple[int, int, int]] = {}
        self.store = WinnerStore(Path(config.data_dir) / "winners.sqlite")
        self.lock = threading.RLock()
        self.sessions: set[str] = set()  # live sessions in use (capacity)
        self.stats = {"payments": 0, "payments_ok": 0, "tickets": 0, "winners": 0}
        self._eth_usd: tuple[float, object] | None = None  # (monotonic read time, EthUsd)

    # ================================================================== helpers
    def emit(self, kind: str, **data) -> None:
        self.bus.emit(self.config.name, kind, **data)

    def _sender_funds_seen(self, sender: bytes, info, claimed: int) -> None:
        """The sender monitor read the sender's deposit and reserve: an event when they changed (the TUI plots
        them; a drop after a redemption is the winner being paid from the deposit, then the reserve)."""
        key = (int(info.deposit), int(info.reserve), int(claimed))
        if self._funds_seen.get(sender) == key:
            return
        self._funds_seen[sender] = key
        self.emit("orch.sender_funds", sender=sender, deposit=key[0], reserve=key[1], claimed_reserve=key[2],
                  withdraw_round=int(info.withdraw_round))

    def on_chain(self) -> bool:
        """Refresh the chain view (block poll). Returns True when the block moved."""
        snap, moved = self.watch.refresh()
        if moved:
            with self.lock:
                self.recipient.on_block(snap.last_block)
            self.emit("orch.chain", block=snap.last_block, round=snap.current_round,
                      last_initialized_round=snap.last_initialized_round, gas_price=snap.gas_price)
        return moved

    def _capabilities(self) -> pb.Capabilities:
        per_model = len(self.sessions)
        models = {m: (cap, min(cap, per_model)) for m, cap in self.config.lv2v_models.items()}
        return build_capabilities(models)

    def _lv2v_capacity_for(self, caps: pb.Capabilities) -> bool:
        """GetOrchestrator (docs/orchestrator.md#getorchestrator): some requested live-video-to-video model has free
        capacity (no LV2V asked: fine)."""
        if CAP_LIVE_VIDEO_TO_VIDEO not in caps.constraints.PerCapability:
            return True
        wanted = list(caps.constraints.PerCapability[CAP_LIVE_VIDEO_TO_VIDEO].models)
        if not wanted:
            return True
        free = len(self.sessions) < self.config.max_sessions
        return free and any(m in self.config.lv2v_models for m in wanted)

    def _capped(self) -> bool:
        return self.faults.capacity_full or len(self.sessions) >= self.config.max_sessions

    def _recipient_config(self) -> RecipientConfig:
        return RecipientConfig(ev=self.config.ticket_ev, redeem_gas=self.config.redeem_gas,
                               max_face_value=self.config.max_face_value)

    def eth_usd(self):
        """The chain view's ETH/USD reading (``chain.eth_usd()``, an ``EthUsd``), cached for a second like a
        polled feed. Raises :class:`PriceFeedError` with the cause when the chain has no feed or it fails."""
        now = time.monotonic()
        if self._eth_usd is not None and now - self._eth_usd[0] < 1.0:
            return self._eth_usd[1]
        read = getattr(self.chain, "eth_usd", None)
        if read is None:
            raise PriceFeedError("no ETH/USD price feed: this chain view has no eth_usd()")
        try:
            with self.watch.lock:
                feed = read()
        except Exception as exc:  # devnet ChainError("no ETH/USD price feed ..."), RPC failures
            raise PriceFeedError(str(exc) or type(exc).__name__) from None
        self._eth_usd = (now, feed)
        return feed

    def wei_per_usd(self) -> Fraction:
        return Fraction(self.eth_usd().wei_per_usd())

    def base_price(self) -> Fraction:
        """``-pricePerUnit`` / ``-pixelsPerUnit`` in wei. A USD or ETH price is converted (USD through the chain's
        ETH/USD feed, like go's ``AutoConvertedPrice``) and kept to 3 decimals of a wei so it fits ``PriceInfo``."""
        if self.faults.price_per_unit is not None:
            ppu, currency = Fraction(self.faults.price_per_unit), "wei"
        else:
            ppu, currency = Fraction(self.config.price_per_unit), self.config.price_currency.lower()
        px = self.faults.pixels_per_unit if self.faults.pixels_per_unit is not None else self.config.pixels_per_unit
        if currency == "usd":
            ppu = usd_to_wei(ppu, self.wei_per_usd())
        elif currency == "eth":
            ppu = ppu * WEI_PER_ETH
        price = ppu / px
        if currency != "wei":
            price = Fraction(int(price * 1000), 1000)
        return price

    def price_for(self, sender: bytes, manifest_id: str = "") -> Fraction:
        """``priceInfo``: the session's fixed price if pinned, else the base price (+ overhead,
        docs/orchestrator.md#getorchestrator)."""
        if manifest_id:
            fixed = self.ledger.fixed_price(sender, manifest_id)
            if fixed is not None:
                return fixed
        base = self.base_price()
        if not self.config.auto_adjust_price or base.numerator <= 0:
            return base
        snap = self.watch.snapshot
        mult = tx_cost_multiplier(self._recipient_config(), snap.gas_price, self.watch.max_float(sender))
        return price_with_overhead(base, mult)

    def issue_params(self, sender: bytes, price: Fraction) -> tuple[TicketParams, int]:
        """docs/tickets.md#expected-value-face-value-and-win-probability via :meth:`TicketParams.issue`, then the fault
        knobs (face value, win prob, expiry)."""
        snap = self.watch.snapshot
        params, rand = TicketParams.issue(
            secret=self.secret, cfg=self._recipient_config(), recipient=self.address, sender=sender, price=price,
            gas_price=snap.gas_price, max_float=self.watch.max_float(sender), seed=self.rng.int(256),
            last_block=snap.last_block, creation_round=snap.creation_round,
            creation_round_block_hash=snap.creation_round_block_hash)
        f = self.faults
        if f.face_value is not None or f.win_prob_max or f.params_expiry_blocks is not None:
            fv = params.face_value if f.face_value is None else f.face_value
            wp = MAX_WIN_PROB if f.win_prob_max else (params.win_prob if f.face_value is None
                                                      else win_prob(self.config.ticket_ev, fv))
            exp = params.expiration_block if f.params_expiry_blocks is None else snap.last_block + f.params_expiry_blocks
            rand = recipient_rand(self.secret, params.seed, sender, fv, wp, exp, price, params.creation_round,
                                  params.creation_round_block_hash)
            params = replace(params, face_value=fv, win_prob=wp, expiration_block=exp,
                             recipient_rand_hash=recipient_rand_hash(rand))
        return params, rand

    def new_auth_token(self, session_id: str | None = None) -> pb.AuthToken:
        sid = session_id or self.rng.hex_id(4)
        exp = int(self.clock.now()) + AUTH_TOKEN_VALIDITY_S
        return pb.AuthToken(token=auth_token(self.secret, sid, exp), session_id=sid, expiration=exp)

    # ================================================================== GetOrchestrator (docs/orchestrator.md)
    def orchestrator_info(self, sender: bytes, manifest_id: str = "", caps: pb.Capabilities | None = None,
                          session_id: str | None = None) -> pb.OrchestratorInfo:
        """``orchestratorInfoWithCaps``. Raises :class:`InsufficientSenderReserve` like Go."""
        sender = bytes_to_address(sender)
        with self.lock:
            price = self.price_for(sender, manifest_id)
            params, _ = self.issue_params(sender, price)
            info = pb.OrchestratorInfo(transcoder=self.config.service_uri, address=self.address)
            info.ticket_params.CopyFrom(codec.ticket_params_to_pb(params))
            info.price_info.CopyFrom(codec.price_info_pb(price))
            info.capabilities.CopyFrom(self._capabilities())
            info.auth_token.CopyFrom(self.new_auth_token(session_id))
            if caps is None:
                for model in self.config.lv2v_models:
                    info.capabilities_prices.add(pricePerUnit=price.numerator, pixelsPerUnit=price.denominator,
                                                 capability=CAP_LIVE_VIDEO_TO_VIDEO, constraint=model)
        self.emit("orch.params_issued", sender=sender, manifest_id=manifest_id, price=price,
                  face_value=params.face_value, win_prob=params.win_prob, ev=params.ev,
                  expiration_block=params.expiration_block, creation_round=params.creation_round,
                  recipient_rand_hash=params.recipient_rand_hash, session_id=info.auth_token.session_id)
        return info

    def get_orchestrator(self, req: pb.OrchestratorRequest) -> pb.OrchestratorInfo:
        addr = bytes_to_address(req.address)
        try:
            if not codec.verify_orch_request(req):
                raise RpcError("Invalid orchestrator request: orchestrator req sig check failed")
            if self._capped():
                raise RpcError("Invalid orchestrator request: OrchestratorCapped")
            caps = req.capabilities if req.HasField("capabilities") else None
            if caps is not None and not req.ignoreCapacityCheck and not self._lv2v_capacity_for(caps):
                raise RpcError("Invalid orchestrator request: OrchestratorCapped")
            try:
                return self.orchestrator_info(addr, "", caps)
            except InsufficientSenderReserve as exc:
                raise RpcError(str(exc)) from None
        except RpcError as exc:
            self.emit("orch.getorchestrator_rejected", sender=addr, message=str(exc))
            raise

    def ping(self, req: pb.PingPong) -> pb.PingPong:
        return pb.PingPong(value=sign_keccak(self.config.eth_key, bytes(req.value)))

    def end_transcoding_session(self, req: pb.EndTranscodingSessionRequest) -> pb.EndTranscodingSessionResponse:
        tok = req.auth_token
        if tok.session_id and auth_token(self.secret, tok.session_id, tok.expiration) == bytes(tok.token):
            with self.lock:
                self.sessions.discard(tok.session_id)
        return pb.EndTranscodingSessionResponse()

    # ================================================================== /payment (docs/orchestrator.md)
    def _verify_segcreds(self, seg_header: str, sender: bytes) -> pb.SegData:
        """``verifySegCreds``: raises :class:`_SegError` with go-livepeer's message (→ 403)."""
        try:
            raw = b64decode(seg_header)
        except Base64Error:
            raise _SegError("ErrorSegEncoding") from None
        seg = pb.SegData()
        try:
            seg.ParseFromString(raw)
        except DecodeError:
            raise _SegError("ErrorSegEncoding") from None
        if seg.duration < 0 or seg.duration > MAX_DURATION_MS:
            raise _SegError("invalid duration")
        if not codec.verify_segcreds(seg, sender):
            raise _SegError("ErrSegSig")
        caps = seg.capabilities if seg.HasField("capabilities") else None
        if not compatible(caps, self._capabilities()):
            raise _SegError("incompatible capabilities")
        if not seg.HasField("auth_token"):
            raise _SegError("missing auth token")
        tok = seg.auth_token
        if auth_token(self.secret, tok.session_id, tok.expiration) != bytes(tok.token):
            raise _SegError("invalid auth token")
        if self.clock.now() > tok.expiration:
            raise _SegError("expired auth token")
        mid = bytes(seg.manifestId).decode("utf-8", "replace")
        if mid not in self.sessions and self._capped():
            raise _SegError("OrchestratorCapped")
        return seg

    def payment_from_headers(self, payment_header: str | None, segment_header: str | None, *,
                             credit_manifest_id: str | None = None) -> tuple[HttpReply, pb.SegData | None, bytes]:
        """``processPaymentAndSegmentHeaders``: (reply, segdata or None, sender).

        ``credit_manifest_id`` overrides the manifest id credited (the LV2V start credits the O's own new id).
        """
        payment_header = payment_header or ""
        try:
            raw = b64decode(payment_header)
        except Base64Error as exc:
            return self._reject(402, f"base64 decode error: {exc}"), None, b""
        payment = pb.Payment()
        try:
            payment.ParseFromString(raw)
        except DecodeError:
            return self._reject(402, "protobuf unmarshal error: proto: cannot parse invalid wire-format data"), \
                None, b""
        sender = bytes_to_address(payment.sender)
        n = len(payment.ticket_sender_params)
        try:
            seg = self._verify_segcreds(segment_header or "", sender)
        except _SegError as exc:
            return self._reject(403, str(exc), sender=sender, tickets=n), None, sender
        mid = credit_manifest_id if credit_manifest_id is not None else bytes(seg.manifestId).decode("utf-8",
                                                                                                     "replace")
        self.emit("orch.payment_received", sender=sender, manifest_id=mid, tickets=n,
                  session_id=seg.auth_token.session_id)
        caps = seg.capabilities if seg.HasField("capabilities") else None
        try:
            info = self.orchestrator_info(sender, seg.auth_token.session_id, caps)
        except Exception as exc:  # Go masks this as 500 "Internal Server Error"; we keep the status, give the cause
            return self._reject(500, f"Internal Server Error: {exc}", sender=sender), seg, sender
        info.auth_token.CopyFrom(seg.auth_token)
        err = self.process_payment(payment, mid)
        if err is not None:
            return self._reject(400, err, sender=sender, tickets=n), seg, sender
        with self.lock:
            self.stats["payments_ok"] += 1
        return HttpReply(200, pb.PaymentResult(info=info).SerializeToString()), seg, sender

    def _reject(self, status: int, message: str, **data) -> HttpReply:
        self.emit("orch.payment_rejected", status=status, message=message, **data)
        return HttpReply.text(status, message)

    # ================================================================== ProcessPayment (docs/orchestrator.md)
    def process_payment(self, payment: pb.Payment, manifest_id: str) -> str | None:
        """Returns None (accepted) or go-livepeer's error text (→ 400). Winners are stored before returning."""
        with self.lock:
            self.stats["payments"] += 1
            has_params = payment.HasField("ticket_params")
            if has_params and len(payment.sender) == 0:
                return f"Could not find Sender for payment: {_go_payment_text(payment)}"
            sender = bytes_to_address(payment.sender)
            if not has_params:
                self.ledger.set_fixed_price(sender, manifest_id, Fraction(0))
                return None
            tp = payment.ticket_params
            recipient = bytes_to_address(tp.recipient)
            snap = self.watch.snapshot
            active = snap.active if recipient == self.address else self._is_active(recipient)
            if not active:
                return (f"orchestrator {to_checksum_address(recipient)} is inactive in round "
                        f"{snap.current_round}, cannot process payments")
            if not payment.HasField("expected_price"):
                return 'invalid expected price sent with payment err="expected price is nil"'
            if payment.expected_price.pixelsPerUnit == 0:
                return 'invalid expected price sent with payment err="pixels per unit is 0"'
            price = Fraction(payment.expected_price.pricePerUnit, payment.expected_price.pixelsPerUnit)
            self.ledger.set_fixed_price(sender, manifest_id, price)

            seed, exp_block = from_minbytes(tp.seed), from_minbytes(tp.expiration_block)
            # payment.expiration_params absent -> round 0 / zero hash (Go would dereference nil): the
            # recipientRand check then refuses the tickets with a 400.
            total_ev, credited, sticky = Fraction(0), 0, None
            for i, (ticket, sig) in enumerate(codec.payment_tickets(payment)):
                self.stats["tickets"] += 1
                r = self.recipient.receive_ticket(ticket, sig, seed=seed, expiration_block=exp_block,
                                                  price=price, last_block=snap.last_block,
                                                  validate_sender=self.watch.validate_sender)
                if r.error is not None and not r.error.fatal and sticky is None:
                    sticky = r.error
                credit = r.error is None and sticky is None
                if credit:
                    total_ev += ticket.ev
                    credited += 1
                self.emit("orch.ticket", sender=sender, manifest_id=manifest_id, index=i, nonce=ticket.sender_nonce,
                          ticket_hash=ticket.hash(), won=r.won, credited=credit, ev=ticket.ev,
                          error=None if r.error is None else str(r.error),
                          fatal=bool(r.error and r.error.fatal), sticky=sticky is not None and not credit)
                if r.won:
                    self._store_winner(ticket, sig, r.recipient_rand, exp_block, manifest_id)
                if r.error is not None and r.error.fatal:
                    return str(r.error)
            if total_ev > 0:
                bal = self.ledger.credit(sender, manifest_id, total_ev, self.clock.now())
                self.emit("orch.credit", sender=sender, manifest_id=manifest_id, amount=total_ev,
                          tickets=credited, balance=bal)
            return None if sticky is None else str(sticky)

    def _is_active(self, addr: bytes) -> bool:
        with self.watch.lock:
            return bool(self.chain.is_active_transcoder(addr))

    def _store_winner(self, ticket: Ticket, sig: bytes, rand: int, exp_block: int, manifest_id: str) -> None:
        new = self.store.add(ticket, sig, rand, exp_block, manifest_id)
        self.stats["winners"] += int(new)
        self.emit("orch.winner_stored", sender=ticket.sender, ticket_hash=ticket.hash(), nonce=ticket.sender_nonce,
                  face_value=ticket.face_value, params_expiration_block=exp_block, duplicate=not new)

    # ================================================================== refresh-payment and debit
    def refresh_payment(self, body: bytes) -> HttpReply:
        """go ``RefreshPayment`` (docs/live-runners.md#refreshing-without-getorchestrator): JSON errors
        ``{"error":{"message":…}}`` in Go's check order. Every answer is an ``orch.refresh`` event; a 409 also
        says why there is no fixed price, which Go's message does not."""
        data: dict = {}

        def answer(status: int, message: str = "", **why) -> HttpReply:
            self.emit("orch.refresh", status=status, message=message, **data, **why)
            return _json_error(status, message)

        try:
            raw_sender, raw_mid = _decode_refresh_request(body)
        except _RefreshDecodeError as exc:
            return answer(400, str(exc))
        if not _is_hex_address(raw_sender):
            return answer(400, "invalid sender")
        mid = raw_mid.strip(_GO_SPACE)  # strings.TrimSpace
        if not mid:
            return answer(400, "missing manifest_id")
        sender = bytes.fromhex(raw_sender[-40:])
        data.update(sender=sender, manifest_id=mid)
        with self.lock:
            fixed = self.ledger.fixed_price(sender, mid)
            if fixed is None:
                return answer(409, "fixed price not found for session", reason=self._no_fixed_price_reason(sender, mid))
            if abs(fixed.numerator) > codec.INT64_MAX or fixed.denominator > codec.INT64_MAX:
                # go masks this as 500 "Internal Server Error"; keep the status, give the cause
                return answer(500, "Internal Server Error: fixed price cannot be represented as int64 price info")
            try:
                info = self.orchestrator_info(sender, mid, session_id=mid)
            except Exception as exc:  # TicketParams failed (e.g. insufficient sender reserve): go's masked 500
                return answer(500, f"Internal Server Error: {exc}")
        self.emit("orch.refresh", status=200, price=fixed, **data)
        return HttpReply(200, go_json_dumps({
            "payment_params": b64encode(info.SerializeToString()), "orchestrator": info.transcoder,
            "manifest_id": info.auth_token.session_id,
            "payment_url": self.config.service_uri.rstrip("/") + "/payment"}), "application/json")

    def _no_fixed_price_reason(self, sender: bytes, mid: str) -> str:
        """Why (sender, manifest id) has no pinned price: the cause behind Go's bare 409."""
        if self.ledger.balance(sender, mid) is not None:
            return ("a payment for this session was accepted while the sender was new to this orchestrator; "
                    "go-livepeer pins a session's price only when the sender already has a balance entry "
                    "(core/accounting.go AddressBalances.SetFixedPrice), so the next payment pins it")
        if any(s == sender for s, _m, _b in self.ledger.entries()):
            return "this orchestrator has no payment from this sender for this manifest id (session)"
        return ("this orchestrator holds no balance for this sender: it never accepted a payment from it, or the "
                "entries were dropped after 10 minutes without a payment")

    def debit(self, sender: bytes, manifest_id: str, units: int, price: Fraction) -> Fraction:
        """``AccountPayment``: debit ``units × price`` or raise :class:`InsufficientBalance`."""
        with self.lock:
            try:
                fee = self.ledger.account_payment(sender, manifest_id, units, price, self.clock.now())
            except InsufficientBalance as exc:
                self.emit("orch.debit", sender=sender, manifest_id=manifest_id, units=units, ok=False,
                          message=str(exc))
                raise
            self.emit("orch.debit", sender=sender, manifest_id=manifest_id, units=units, fee=fee, ok=True,
                      balance=self.ledger.balance(sender, manifest_id))
            return fee

    def live_debit(self, sender: bytes, manifest_id: str, price: Fraction, *, interval_s: float = 5.0,
                   units_per_second: int = LV2V_PIXELS_PER_SECOND, start: float | None = None) -> LiveDebit:
        return LiveDebit(self, sender, manifest_id, price, interval_s, units_per_second,
                         self.clock.now() if start is None else start)

    # ================================================================== sessions (capacity) for job runners
    def open_session(self, manifest_id: str) -> None:
        """A job (e.g. an LV2V stream) now occupies capacity; raises :class:`RpcError` when capped."""
        with self.lock:
            if manifest_id not in self.sessions and self._capped():
                raise RpcError("OrchestratorCapped")
            self.sessions.add(manifest_id)

    def close_session(self, manifest_id: str) -> None:
        with self.lock:
            self.sessions.discard(manifest_id)

    def cleanup(self) -> int:
        """Forget balances idle for 10 minutes (go-livepeer's ``cleanupInterval``)."""
        with self.lock:
            return self.ledger.cleanup(self.clock.now())

    # ================================================================== status
    def status(self) -> dict:
        snap = self.watch.snapshot
        return {
            "address": to_checksum_address(self.address), "service_uri": self.config.service_uri,
            "chain": snap.to_dict(), "faults": self.faults.to_dict(), "stats": dict(self.stats),
            "sessions": sorted(self.sessions),
            "balances": [{"sender": to_checksum_address(s), "manifest_id": m, "balance": b.amount,
                          "fixed_price": b.fixed_price} for s, m, b in self.ledger.entries()],
            "winners": self.store.counts(),
            "redemptions": [w.to_dict() for w in self.store.all()[-200:]],
        }

    def close(self) -> None:
        self.store.close()


def _go_payment_text(p: pb.Payment) -> str:
    """Roughly Go's ``%v`` of the payment (compact protobuf text)."""
    from google.protobuf import text_format

    return text_format.MessageToString(p, as_one_line=True)


# ---------------------------------------------------------------------------------- /refresh-payment helpers
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000"  # Go unicode.IsSpace (Python's str.strip() also strips \x1c-\x1f)
_HEX = frozenset("0123456789abcdefABCDEF")
_REFRESH_T = "refreshPaymentParamsRequest"


class _RefreshDecodeError(ValueError):
    pass


class _Pairs(list):
    """A JSON object as its (key, value) pairs in document order, duplicates kept."""


_PAIRS_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_int=lambda t: 0, parse_float=lambda t: 0.0,
                                  parse_constant=lambda t: 0.0)


def _json_error(status: int, message: str) -> HttpReply:
    """go ``respondJsonError``: ``application/json``, ``{"error":{"message":…}}`` and a newline."""
    return HttpReply(status, go_json_dumps({"error": {"message": message}}, newline=True), "application/json")


def _decode_refresh_request(body: bytes) -> tuple[str, str]:
    """``json.NewDecoder(r.Body).Decode(&refreshPaymentParamsRequest{Sender, ManifestID string})``: Go's syntax
    errors, then the keys in document order (case-insensitive, the last one sets the value) with the first type
    error reported. Returns (sender, manifest_id). Size, depth and encoding are checked first by the bounded
    parser (invalid UTF-8 and lone surrogates become U+FFFD, as in Go)."""
    try:
        text = bounded.check_json(body, what="body", replace_invalid=True)
    except bounded.BoundedInputError as exc:
        raise _RefreshDecodeError(str(exc)) from None
    try:
        gojson.loads(text, first_value=True)  # syntax: Go's error text
    except gojson.GoJSONError as exc:
        raise _RefreshDecodeError(str(exc)) from None
    doc, _ = _PAIRS_DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
    if doc is None:
        return "", ""
    if not isinstance(doc, _Pairs):
        raise _RefreshDecodeError(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type "
                                  f"server.{_REFRESH_T}")
    got, first_error = {"SENDER": "", "MANIFEST_ID": ""}, None
    for key, value in doc:
        name = gojson.fold_name(key)
        if name not in got or value is None:
            continue
        if isinstance(value, str):  # a lone surrogate escape is U+FFFD in Go
            got[name] = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        elif first_error is None:
            field_name = "sender" if name == "SENDER" else "manifest_id"
            first_error = (f"json: cannot unmarshal {_json_kind(value)} into Go struct field {_REFRESH_T}."
                           f"{field_name} of type string")
    if first_error is not None:
        raise _RefreshDecodeError(first_error)
    return got["SENDER"], got["MANIFEST_ID"]


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, _Pairs) else "array"


def _is_hex_address(s: str) -> bool:
    """go-ethereum ``common.IsHexAddress``: optional 0x/0X, then exactly 40 hex digits."""
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    return len(s) == 40 and all(c in _HEX for c in s)
