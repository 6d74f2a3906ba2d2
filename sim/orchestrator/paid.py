"""The payment headers of a paid HTTP request, as go-livepeer's ``processPaymentAndSegmentHeaders`` reads them
(step 1 of docs/orchestrator.md#the-payment-endpoint), shared by the LV2V job route and the Live Runner routes.

``check_payment_headers`` decodes ``Livepeer-Payment`` (402 on bad base64 / protobuf) and verifies
``Livepeer-Segment`` (403 with go's message); what is credited and when is up to the route.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from google.protobuf.message import DecodeError

from sim.orchestrator.node import HttpReply, Orchestrator, _SegError
from sim.pm.crypto import bytes_to_address
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import Base64Error, b64decode

__all__ = ["LIVE_PAYMENT_INTERVAL_S", "PaidRequest", "check_payment_headers"]

LIVE_PAYMENT_INTERVAL_S = 5.0  # -livePaymentInterval default (cmd/livepeer/starter)


@dataclass
class PaidRequest:
    """The result of go's ``processPaymentAndSegmentHeaders``: the payment, the verified segment and the sender."""

    payment: pb.Payment
    seg: pb.SegData
    sender: bytes

    @property
    def manifest_id(self) -> str:
        return bytes(self.seg.manifestId).decode("utf-8", "replace")

    @property
    def expected_price(self) -> Fraction | None:
        """The payment's expected price as a rational, None when absent or malformed (pixels per unit 0)."""
        p = self.payment.expected_price if self.payment.HasField("expected_price") else None
        if p is None or p.pixelsPerUnit == 0:
            return None
        return Fraction(p.pricePerUnit, p.pixelsPerUnit)

    @property
    def tickets(self) -> int:
        return len(self.payment.ticket_sender_params)


def check_payment_headers(orch: Orchestrator, payment_header: str | None,
                          segment_header: str | None) -> tuple[HttpReply | None, PaidRequest | None]:
    """go ``getPayment`` + ``verifySegCreds`` (step 1 of docs/orchestrator.md#the-payment-endpoint): (error reply, None)
    or (None, the request)."""
    try:
        raw = b64decode(payment_header or "")
    except Base64Error as exc:
        return orch._reject(402, f"base64 decode error: {exc}"), None
    payment = pb.Payment()
    try:
        payment.ParseFromString(raw)
    except DecodeError:
        return orch._reject(402, "protobuf unmarshal error: proto: cannot parse invalid wire-format data"), None
    sender = bytes_to_address(payment.sender)
    try:
        seg = orch._verify_segcreds(segment_header or "", sender)
    except _SegError as exc:
        return orch._reject(403, str(exc), sender=sender, tickets=len(payment.ticket_sender_params)), None
    return None, PaidRequest(payment, seg, sender)
