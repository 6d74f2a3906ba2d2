"""One gateway payment session, as go-livepeer's gateway runs it (docs/refreshes.md#what-gateways-do).

Start: ``POST /sign-orchestrator-info`` -> identity + sig; ``GetOrchestrator`` -> OrchestratorInfo.
Each payment: ``/generate-live-payment`` (cached state round-tripped verbatim) -> ``POST {transcoder}/payment``
with ``Livepeer-Payment`` / ``Livepeer-Segment`` -> the PaymentResult's OrchestratorInfo replaces ours (new ticket
params, same auth token).

Signer statuses (docs/refreshes.md):
* **480** -> refresh (GetOrchestrator with ``ignoreCapacityCheck=true``) and retry. Like ``RequestPayment``,
  a refresh is refused once the per-call counter exceeds 3 (so at most four refreshes, then
  ``too many consecutive session refreshes``);
* **482** -> skip this cycle (``no tickets``), keep the old state;
* **481** -> the price ceiling was hit: the session stops;
* anything else -> ``remote signer returned status <code>: <message>``, the session carries on.

Peers are untrusted: a failure to start (``/sign-orchestrator-info`` or ``GetOrchestrator``), a 200 whose payment,
segCreds or PaymentResult lpdev cannot read, and transport errors are each an outcome with the reason and a
``gateway.error`` event; :meth:`GatewaySession.pay_once` does not raise for them.

Events name actors (``signer``, ``orch``), never URLs, ports or certificate fingerprints, so traces are stable.
"""
from __future__ import annotations

import asyncio

import aiohttp
from dataclasses import dataclass, field
from google.protobuf.message import DecodeError

from sim.clock import Clock, RealClock
from sim.events import EventBus, register_kinds
from sim.gateway.orch_client import BadPaymentAnswer, GetOrchestratorError, OrchestratorClient, PaymentReply
from sim.gateway.signer_client import SignerClient, SignerReply
from sim.pm.ticket import from_minbytes
from sim.wire import bounded
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import b64decode

__all__ = ["GatewayConfig", "GatewaySession", "PaymentOutcome", "MAX_REFRESH_CALL_COUNT", "STATUSES",
           "SignerAnswerError"]

MAX_REFRESH_CALL_COUNT = 3  # server/live_payment.go: `if segmentInfo.callCount > 3` -> give up

register_kinds({
    "gateway.identity": "the signer told the gateway its address (sign-orchestrator-info)",
    "gateway.orchestrator_info": "GetOrchestrator answered: price, ticket params, auth token",
    "gateway.orchestrator_error": "GetOrchestrator failed",
    "gateway.signer_reply": "the signer answered /generate-live-payment (status, tickets, nonces)",
    "gateway.refresh": "the signer answered 480: refreshing the session",
    "gateway.skip": "the signer answered 482 no tickets: this payment cycle is skipped",
    "gateway.payment": "the orchestrator answered POST /payment",
    "gateway.stopped": "the session stopped (481 price ceiling, too many refreshes, or told to)",
    "gateway.error": "a payment cycle failed (signer or orchestrator error)",
})

# outcome.status values
STATUSES = ("paid", "no_tickets", "price_exceeded", "too_many_refreshes", "refresh_failed", "signer_error",
            "orch_error", "stopped")


@dataclass
class GatewayConfig:
    """``manifest_id``: ``"auto"`` = first payment without one, then the id the first payment was credited
    to (the go-livepeer LV2V flow, where the O answers with its manifest id); a string = always that id;
    ``""`` = never send one (go-livepeer #3870)."""

    name: str = "gateway"
    job_type: str = "lv2v"  # "", live, lv2v, fixed
    in_pixels: int = 0
    manifest_id: str = "auto"
    app: str = ""
    max_price: dict | None = None
    capabilities: bytes | None = None
    interval_s: float = 5.0
    signer_headers: dict = field(default_factory=dict)
    # go-livepeer replaces its OrchestratorInfo with the PaymentResult's (new params each payment); the livepeer-gateway
    # SDK ignores the /payment body and keeps the old params until a 480 (docs/refreshes.md#what-gateways-do).
    adopt_payment_info: bool = True
    # the signer whose sign-orchestrator-info identity GetOrchestrator carries (default: the first payment signer);
    # a livepeer/node signer signs that message another way, which a go-livepeer orchestrator refuses
    identity_url: str = ""


@dataclass
class PaymentOutcome:
    status: str
    signer_status: int | None = None
    orch_status: int | None = None
    message: str = ""
    tickets: int = 0
    nonces: list[int] = field(default_factory=list)
    refreshes: int = 0
    signer: str = ""
    recipient_rand_hash: str = ""
    face_value: int = 0
    win_prob: int = 0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class SignerAnswerError(ValueError):
    """A 200 from ``/generate-live-payment`` whose payment or segCreds lpdev cannot read."""


def _payment_summary(payment_b64) -> tuple[pb.Payment, dict]:
    """The payment a signer answered, decoded, and its numbers for events; :class:`SignerAnswerError` when it is
    not a base64 Payment protobuf."""
    if not isinstance(payment_b64, str) or not payment_b64:
        raise SignerAnswerError(f"remote signer answered 200 without a payment (payment {_short(payment_b64)})")
    p = pb.Payment()
    try:
        p.ParseFromString(b64decode(payment_b64))
    except (ValueError, DecodeError) as exc:
        raise SignerAnswerError(f"remote signer answered 200 with an unreadable payment: {exc}") from None
    tp = p.ticket_params
    return p, {
        "tickets": len(p.ticket_sender_params),
        "nonces": [t.sender_nonce for t in p.ticket_sender_params],
        "recipient_rand_hash": "0x" + tp.recipient_rand_hash.hex() if tp.recipient_rand_hash else "",
        "face_value": from_minbytes(tp.face_value),
        "win_prob": from_minbytes(tp.win_prob),
        "expected_price": f"{p.expected_price.pricePerUnit}/{p.expected_price.pixelsPerUnit}",
    }


def _segcreds_manifest(seg_b64) -> str:
    """The manifest id inside a signer's segCreds (base64 SegData); :class:`SignerAnswerError` when unreadable."""
    seg = pb.SegData()
    try:
        if not isinstance(seg_b64, str):
            raise ValueError(f"segCreds {_short(seg_b64)} is not a string")
        seg.ParseFromString(b64decode(seg_b64))
    except (ValueError, DecodeError) as exc:
        raise SignerAnswerError(f"remote signer answered 200 with unreadable segCreds: {exc}") from None
    return seg.manifestId.decode("utf-8", "replace")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


_TRANSPORT_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


def _describe(exc: BaseException) -> str:
    """A transport error without the per-run address (traces stay stable)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError, ConnectionError)):
        return "connection lost"
    return type(exc).__name__


def _state_summary(state: dict | None) -> dict:
    """Balance and sequence number from the (opaque to Go gateways) state blob, for events and invariants."""
    try:
        doc = bounded.loads_json(b64decode(state.get("State") or state.get("state") or ""),
                                  what="signer state")
        return {"balance": doc.get("Balance"), "state_seq": doc.get("SequenceNumber")}
    except (AttributeError, ValueError, TypeError):
        return {"balance": None, "state_seq": None}


class GatewaySession:
    """A payment session with one orchestrator through one or more (round-robin) signers."""

    def __init__(self, config: GatewayConfig, *, signer_urls: list[str], orchestrator_url: str,
                 bus: EventBus | None = None, clock: Clock | None = None, signer_names: list[str] | None = None,
                 orchestrator_name: str = "orch") -> None:
        self.config = config
        self.name = config.name
        self.bus = bus or EventBus(clock)
        self.clock = clock or RealClock()
        self.signers = SignerClient(signer_urls, signer_names, headers=config.signer_headers)
        self.orch = OrchestratorClient(orchestrator_url)
        self.orchestrator_name = orchestrator_name
        self.identity = None
        self.info: pb.OrchestratorInfo | None = None
        self.state: dict | None = None  # opaque signer state, round-tripped verbatim
        self.manifest_id: str | None = None if config.manifest_id == "auto" else config.manifest_id
        self.stopped = False
        self.payments = 0  # successful POST /payment
        self.tickets = 0  # tickets in payments accepted by the orchestrator
        self.outcomes: list[PaymentOutcome] = []
        self.last_payment: pb.Payment | None = None
        self.last_refreshes = 0  # refreshes made by the last request_payment (also when it gave up)

    # ------------------------------------------------------------------ helpers
    def _emit(self, kind: str, **data) -> None:
        self.bus.emit(self.name, kind, **data)

    def _info_event(self, refresh: bool) -> None:
        i = self.info
        tp = i.ticket_params
        self._emit("gateway.orchestrator_info", orchestrator=self.orchestrator_name, refresh=refresh,
                   price_per_unit=i.price_info.pricePerUnit, pixels_per_unit=i.price_info.pixelsPerUnit,
                   face_value=from_minbytes(tp.face_value), win_prob=from_minbytes(tp.win_prob),
                   recipient_rand_hash="0x" + tp.recipient_rand_hash.hex(),
                   expiration_block=from_minbytes(tp.expiration_block),
                   creation_round=tp.expiration_params.creation_round,
                   auth_session_id=i.auth_token.session_id, auth_expiration=i.auth_token.expiration)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> pb.OrchestratorInfo:
        """sign-orchestrator-info (once) then GetOrchestrator."""
        if self.identity is None:
            if self.config.identity_url:
                ident = SignerClient([self.config.identity_url], headers=self.config.signer_headers)
                try:
                    self.identity = await ident.sign_orchestrator_info()
                finally:
                    await ident.close()
            else:
                self.identity = await self.signers.sign_orchestrator_info()
            from sim.pm.crypto import to_checksum_address

            self._emit("gateway.identity", address=to_checksum_address(self.identity.address))
        await self.refresh(initial=True)
        return self.info

    async def refresh(self, *, initial: bool = False) -> pb.OrchestratorInfo:
        try:
            self.info = await self.orch.get_orchestrator(self.identity.address, self.identity.signature,
                                                         ignore_capacity_check=not initial)
        except GetOrchestratorError as exc:
            self._emit("gateway.orchestrator_error", orchestrator=self.orchestrator_name, code=exc.code,
                       message=exc.details)
            raise
        self._info_event(refresh=not initial)
        return self.info

    async def close(self) -> None:
        await self.signers.close()
        await self.orch.close()

    async def __aenter__(self) -> "GatewaySession":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def stop(self, reason: str) -> None:
        if not self.stopped:
            self.stopped = True
            self._emit("gateway.stopped", reason=reason)

    # ------------------------------------------------------------------ one payment
    async def request_payment(self, *, signer_index: int | None = None, state: dict | None = ...,
                              extra_headers: dict | None = None) -> tuple[SignerReply, int]:
        """``RequestPayment``: ask the signer, refreshing on 480 as go-livepeer does. Returns (reply, refreshes).
        Raises RuntimeError('too many consecutive session refreshes' / 'could not refresh session …')."""
        call_count = self.last_refreshes = 0
        while True:
            reply = await self.signers.generate_live_payment(
                orchestrator=self.info.SerializeToString(),
                state=self.state if state is ... else state,
                manifest_id=self.manifest_id, job_type=self.config.job_type, in_pixels=self.config.in_pixels,
                app=self.config.app, max_price=self.config.max_price, capabilities=self.config.capabilities,
                extra_headers=extra_headers, signer_index=signer_index)
            if reply.status != 480:
                return reply, call_count
            self._emit("gateway.refresh", signer=reply.signer, message=reply.message, call_count=call_count)
            self.last_refreshes = call_count
            if call_count > MAX_REFRESH_CALL_COUNT:
                raise RuntimeError("too many consecutive session refreshes")
            try:
                await self.refresh()
            except GetOrchestratorError as exc:
                raise RuntimeError(f"could not refresh session for remote signer: {exc}") from None
            call_count += 1

    async def pay_once(self, *, extra_headers: dict | None = None) -> PaymentOutcome:
        """One cycle: signer -> /payment. Never raises for a protocol failure; returns the outcome."""
        if self.stopped:
            out = PaymentOutcome("stopped", message="session stopped")
            self.outcomes.append(out)
            return out
        if self.info is None:
            failed = await self._start_for_payment()
            if failed is not None:
                self.outcomes.append(failed)
                return failed
        try:
            reply, refreshes = await self.request_payment(extra_headers=extra_headers)
        except _TRANSPORT_ERRORS as exc:
            msg = f"failed to call remote signer: {_describe(exc)}"
            out = PaymentOutcome("signer_error", message=msg)
            self._emit("gateway.error", status=out.status, message=msg)
            self.outcomes.append(out)
            return out
        except GetOrchestratorError as exc:
            msg = f"could not refresh session for remote signer: {exc}"
            out = PaymentOutcome("refresh_failed", signer_status=480, message=msg)
            self._emit("gateway.error", status=out.status, message=msg)
            self.outcomes.append(out)
            return out
        except RuntimeError as exc:
            msg = str(exc)
            status = "too_many_refreshes" if msg.startswith("too many") else "refresh_failed"
            out = PaymentOutcome(status, signer_status=480, message=msg, refreshes=self.last_refreshes)
            self._emit("gateway.error", status=status, message=msg)
            if status == "too_many_refreshes":
                self.stop(msg)
            self.outcomes.append(out)
            return out
        out = await self._forward(reply, refreshes)
        self.outcomes.append(out)
        return out

    async def _start_for_payment(self) -> PaymentOutcome | None:
        """:meth:`start` before a first payment; a failure is the payment's outcome (and a ``gateway.error``)."""
        try:
            await self.start()
            return None
        except _TRANSPORT_ERRORS as exc:
            out = PaymentOutcome("signer_error", message=f"failed to call remote signer: {_describe(exc)}")
        except GetOrchestratorError as exc:
            out = PaymentOutcome("orch_error", message=f"GetOrchestrator failed: {exc}")
        except (RuntimeError, ValueError) as exc:  # a refused or unreadable /sign-orchestrator-info answer
            out = PaymentOutcome("signer_error", message=str(exc))
        self._emit("gateway.error", status=out.status, message=out.message)
        return out

    async def _forward(self, reply: SignerReply, refreshes: int, *, adopt_state: bool = True) -> PaymentOutcome:
        out = PaymentOutcome("", signer_status=reply.status, refreshes=refreshes, signer=reply.signer)
        if reply.status != 200:
            out.message = f"remote signer returned status {reply.status}: {reply.message}"
            self._emit("gateway.signer_reply", signer=reply.signer, status=reply.status, message=reply.message,
                       tickets=0)
            if reply.status == 482:
                out.status = "no_tickets"
                self._emit("gateway.skip", signer=reply.signer, message=reply.message)
            elif reply.status == 481:
                out.status = "price_exceeded"
                self.stop(reply.message)
            else:
                out.status = "signer_error"
                self._emit("gateway.error", status=out.status, message=out.message)
            return out
        try:
            payment, summ = _payment_summary(reply.payment)
            manifest_id = _segcreds_manifest(reply.seg_creds) if self.manifest_id is None else None
        except SignerAnswerError as exc:
            out.status, out.message = "signer_error", str(exc)
            self._emit("gateway.signer_reply", signer=reply.signer, status=200, message=out.message, tickets=0)
            self._emit("gateway.error", status=out.status, message=out.message)
            return out
        self.last_payment = payment
        out.tickets, out.nonces = summ["tickets"], summ["nonces"]
        out.recipient_rand_hash, out.face_value, out.win_prob = (summ["recipient_rand_hash"], summ["face_value"],
                                                                 summ["win_prob"])
        summ.update(_state_summary(reply.state))
        self._emit("gateway.signer_reply", signer=reply.signer, status=200, **summ)
        if adopt_state:
            self.state = reply.state
        if manifest_id is not None:
            self.manifest_id = manifest_id
        try:
            pr = await self.orch.payment(self.info.transcoder, reply.payment, reply.seg_creds)
        except _TRANSPORT_ERRORS as exc:
            pr = PaymentReply(0, message=f"orchestrator unreachable: {_describe(exc)}")
        except BadPaymentAnswer as exc:  # go-livepeer's gateway fails the payment on an unparsable PaymentResult
            out.orch_status, out.status, out.message = 200, "orch_error", str(exc)
            self._emit("gateway.payment", orchestrator=self.orchestrator_name, status=200, message=out.message,
                       tickets=out.tickets)
            self._emit("gateway.error", status=out.status, message=out.message)
            return out
        out.orch_status = pr.status
        self._emit("gateway.payment", orchestrator=self.orchestrator_name, status=pr.status, message=pr.message,
                   tickets=out.tickets)
        if pr.status == 200:
            out.status = "paid"
            self.payments += 1
            self.tickets += out.tickets
            if pr.info is not None and self.config.adopt_payment_info:
                self.info = pr.info  # new ticket params, same auth token (docs/refreshes.md#what-gateways-do)
        else:
            out.status = "orch_error"
            out.message = pr.message
            self._emit("gateway.error", status=out.status, message=pr.message)
        return out

    async def pay(self, count: int, *, interval_s: float | None = None, first_wait: bool = True
                  ) -> list[PaymentOutcome]:
        """``count`` cycles at the payment cadence: wait ``interval_s`` (on the session's clock) before each one,
        except before the very first payment of the session."""
        interval = self.config.interval_s if interval_s is None else interval_s
        outs = []
        for _ in range(count):
            if self.stopped:
                break
            if first_wait and (self.outcomes or self.state is not None):
                await self.clock.sleep(interval)
            outs.append(await self.pay_once())
        return outs

    async def run(self, stop: asyncio.Event, *, interval_s: float | None = None) -> list[PaymentOutcome]:
        """Pay at the cadence until ``stop`` is set or the session stops (481, too many refreshes); for a
        long-running gateway on the wall clock (``lpdev up``-style). Returns the outcomes of this run."""
        interval = self.config.interval_s if interval_s is None else interval_s
        outs: list[PaymentOutcome] = []
        while not stop.is_set() and not self.stopped:
            outs.append(await self.pay_once())
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass
        return outs

    async def sign_concurrently(self, k: int) -> list[PaymentOutcome]:
        """The misuse the protocol warns about: ``k`` signer calls at once with the same cached state, then every
        payment forwarded. The last reply's state is kept."""
        if self.info is None:
            await self.start()
        state = self.state
        replies = await asyncio.gather(*[
            self.signers.generate_live_payment(
                orchestrator=self.info.SerializeToString(), state=state, manifest_id=self.manifest_id,
                job_type=self.config.job_type, in_pixels=self.config.in_pixels, app=self.config.app,
                max_price=self.config.max_price, capabilities=self.config.capabilities)
            for _ in range(k)])
        outs = []
        for r in replies:
            out = await self._forward(r, 0)
            self.outcomes.append(out)
            outs.append(out)
        return outs
