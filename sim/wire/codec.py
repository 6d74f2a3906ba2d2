"""Converters between the sans-IO PM types (:mod:`sim.pm`) and the ``net`` protobuf messages.

* ticket params <-> ``net.TicketParams`` (docs/wire.md; numbers are ``minbytes``,
  docs/wire.md#numbers-addresses-and-hashes);
* ``net.PriceInfo`` <-> ``Fraction``;
* ``net.Payment`` built the way go-livepeer's ``genPayment`` does, and split back into signed tickets the
  way the orchestrator's ``ProcessPayment`` does (docs/orchestrator.md#the-payment-endpoint);
* segCreds (``net.SegData``): ``Flatten``, signing, verification (docs/wire.md#segment-credentials);
* the GetOrchestrator request signature over the sender's EIP-55 address (docs/wire.md#signatures);
* strict decoders for untrusted base64/protobuf input that raise :class:`WireError` with a one-line
  message naming the problem (bad base64 offset, broken protobuf, wrong field length).

Conversions *from* protobuf are lenient by default, like Go (``BytesToAddress``/``BytesToHash`` pad or
truncate); the ``decode_*`` helpers are where lengths are enforced.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Sequence

from google.protobuf.message import DecodeError, Message

from sim.pm.crypto import (
    SignatureError, bytes_to_address, keccak, private_key_to_address, recover_personal, sign_keccak,
    to_checksum_address, verify_keccak,
)
from sim.pm.params import TicketParams
from sim.pm.sender import SignedTicket
from sim.pm.ticket import MAX_WIN_PROB, ZERO_HASH, Ticket, from_minbytes, minbytes, u256
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import Base64Error, b64decode, b64encode

__all__ = [
    "WireError", "INT64_MAX", "SEGCREDS_PROFILES", "EMPTY_SEGMENT_HASH",
    "ticket_params_to_pb", "ticket_params_from_pb", "price_info", "price_info_pb", "build_payment",
    "payment_tickets", "segcreds_flatten", "profiles_hash_bytes", "build_segcreds", "segcreds_flatten_of",
    "verify_segcreds", "segcreds_signer", "orch_request_message", "sign_orch_request", "build_orch_request",
    "verify_orch_request", "orch_request_signer", "to_b64", "decode_b64", "parse_pb", "decode_payment",
    "decode_segcreds", "decode_orch_info", "decode_capabilities", "hash32",
]

INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
SEGCREDS_PROFILES = b"invalid"  # deliberate: old orchestrators must not use the legacy profiles field (docs/wire.md)
EMPTY_SEGMENT_HASH = keccak(b"")  # live payments sign an empty segment (docs/wire.md)


class WireError(ValueError):
    """Malformed wire input; the message is one line naming the problem."""


def hash32(b: bytes) -> bytes:
    """Go ``common.BytesToHash``: keep the last 32 bytes, or left-pad with zeros."""
    b = bytes(b or b"")
    return b[-32:] if len(b) > 32 else b.rjust(32, b"\x00")


# --------------------------------------------------------------------------------------------------
# Ticket params and prices
# --------------------------------------------------------------------------------------------------
def ticket_params_to_pb(params: TicketParams, with_expiration: bool = True) -> pb.TicketParams:
    """``net.TicketParams`` as the orchestrator sends it (with ``expiration_params``) or, with
    ``with_expiration=False``, as a sender puts it into ``Payment.ticket_params`` (fields 1–6 only)."""
    msg = pb.TicketParams(
        recipient=bytes_to_address(params.recipient),
        face_value=minbytes(params.face_value),
        win_prob=minbytes(params.win_prob),
        recipient_rand_hash=hash32(params.recipient_rand_hash),
        seed=minbytes(params.seed),
        expiration_block=minbytes(params.expiration_block),
    )
    if with_expiration:
        msg.expiration_params.CopyFrom(pb.TicketExpirationParams(
            creation_round=params.creation_round,
            creation_round_block_hash=hash32(params.creation_round_block_hash),
        ))
    return msg


def ticket_params_from_pb(tp: pb.TicketParams, price: Fraction,
                          expiration: pb.TicketExpirationParams | None = None) -> TicketParams:
    """The orchestrator's params as the sans-IO type (Go ``pmTicketParams``): lenient like Go.

    ``expiration`` overrides ``tp.expiration_params`` (a Payment carries them beside the params)."""
    exp = expiration if expiration is not None else tp.expiration_params
    return TicketParams(
        recipient=bytes_to_address(tp.recipient),
        face_value=from_minbytes(tp.face_value),
        win_prob=from_minbytes(tp.win_prob),
        recipient_rand_hash=hash32(tp.recipient_rand_hash),
        seed=from_minbytes(tp.seed),
        expiration_block=from_minbytes(tp.expiration_block),
        creation_round=exp.creation_round,
        creation_round_block_hash=hash32(exp.creation_round_block_hash),
        price_per_pixel=Fraction(price),
    )


def price_info(p: pb.PriceInfo) -> Fraction:
    """Go ``common.RatPriceInfo``: ``pricePerUnit / pixelsPerUnit`` (reduced); 0 pixels is an error."""
    if p.pixelsPerUnit == 0:
        raise WireError("pixels per unit is 0")
    return Fraction(p.pricePerUnit, p.pixelsPerUnit)


def price_info_pb(price: Fraction | int, capability: int = 0, constraint: str = "") -> pb.PriceInfo:
    """A reduced price as ``net.PriceInfo``; both terms must fit int64."""
    price = Fraction(price)
    if abs(price.numerator) > INT64_MAX or price.denominator > INT64_MAX:
        raise WireError(f"price {price} does not fit int64 pricePerUnit/pixelsPerUnit")
    return pb.PriceInfo(pricePerUnit=price.numerator, pixelsPerUnit=price.denominator,
                        capability=capability, constraint=constraint)


# --------------------------------------------------------------------------------------------------
# Payment
# --------------------------------------------------------------------------------------------------
def build_payment(params: TicketParams, sender: bytes, signed_tickets: Sequence[SignedTicket],
                  expected_price_pb: pb.PriceInfo | None) -> pb.Payment:
    """go-livepeer ``genPayment``: sender + expected price (copied verbatim); with tickets also the params
    (fields 1–6), the expiration params used in the ticket hash, and one (nonce, sig) per ticket."""
    pay = pb.Payment(sender=bytes_to_address(sender))
    if expected_price_pb is not None:
        pay.expected_price.CopyFrom(expected_price_pb)
    if not signed_tickets:
        return pay
    pay.ticket_params.CopyFrom(ticket_params_to_pb(params, with_expiration=False))
    pay.expiration_params.CopyFrom(pb.TicketExpirationParams(
        creation_round=params.creation_round,
        creation_round_block_hash=hash32(params.creation_round_block_hash),
    ))
    for st in signed_tickets:
        if not 0 <= st.ticket.sender_nonce <= UINT32_MAX:
            raise WireError(f"sender nonce {st.ticket.sender_nonce} does not fit uint32")
        pay.ticket_sender_params.add(sender_nonce=st.ticket.sender_nonce, sig=bytes(st.sig))
    return pay


def payment_tickets(payment: pb.Payment) -> list[tuple[Ticket, bytes]]:
    """The tickets a Payment carries, rebuilt as the orchestrator does (``pm.NewTicket`` per sender param)."""
    if not payment.ticket_sender_params:
        return []
    if not payment.HasField("ticket_params"):
        raise WireError("payment has tickets but no ticket_params")
    tp = payment.ticket_params
    sender = bytes_to_address(payment.sender)
    exp = payment.expiration_params
    base = Ticket(
        recipient=bytes_to_address(tp.recipient),
        sender=sender,
        face_value=from_minbytes(tp.face_value),
        win_prob=from_minbytes(tp.win_prob),
        sender_nonce=0,
        recipient_rand_hash=hash32(tp.recipient_rand_hash),
        creation_round=exp.creation_round,
        creation_round_block_hash=hash32(exp.creation_round_block_hash),
    )
    return [(base.with_nonce(tsp.sender_nonce), bytes(tsp.sig)) for tsp in payment.ticket_sender_params]


# --------------------------------------------------------------------------------------------------
# segCreds (SegData)
# --------------------------------------------------------------------------------------------------
def profiles_hash_bytes(profile_names: Iterable[str]) -> bytes:
    """Go ``ProfilesToTranscodeOpts``: ``keccak(name)[0:4]`` per output profile, concatenated."""
    return b"".join(keccak(name.encode())[:4] for name in profile_names)


def segcreds_flatten(manifest_id: str | bytes, seq: int = 0, seg_hash: bytes = EMPTY_SEGMENT_HASH,
                     profiles: bytes = b"") -> bytes:
    """Go ``SegTranscodingMetadata.Flatten`` (docs/wire.md#segment-credentials):
    ``utf8(mid) ‖ u256(seq) ‖ hash ‖ ascii(hex(profiles))`` where ``profiles`` is
    :func:`profiles_hash_bytes` of the output profiles (empty for live payments)."""
    mid = manifest_id.encode() if isinstance(manifest_id, str) else bytes(manifest_id)
    return mid + u256(seq) + hash32(seg_hash) + bytes(profiles).hex().encode()


def segcreds_flatten_of(seg: pb.SegData) -> bytes:
    """Flatten as the orchestrator recomputes it from a received SegData (``coreSegMetadata``):
    profiles from fullProfiles3, else fullProfiles2, else fullProfiles; the legacy ``profiles`` bytes
    are ignored."""
    profiles = seg.fullProfiles3 or seg.fullProfiles2 or seg.fullProfiles
    return segcreds_flatten(seg.manifestId, seg.seq, seg.hash, profiles_hash_bytes(p.name for p in profiles))


def build_segcreds(priv: bytes, manifest_id: str, auth_token_pb: pb.AuthToken | None,
                   capabilities_pb: pb.Capabilities | None = None) -> pb.SegData:
    """go-livepeer ``genSegCreds`` for a live payment: seq 0, empty segment, no profiles, signed by the
    sender as broadcaster (flavour 2 over Flatten), ``profiles = "invalid"``, the O's auth token verbatim."""
    seg = pb.SegData(manifestId=manifest_id.encode(), hash=EMPTY_SEGMENT_HASH, profiles=SEGCREDS_PROFILES)
    seg.sig = sign_keccak(priv, segcreds_flatten(manifest_id))
    if capabilities_pb is not None:
        seg.capabilities.CopyFrom(capabilities_pb)
    if auth_token_pb is not None:
        seg.auth_token.CopyFrom(auth_token_pb)
    return seg


def verify_segcreds(segdata: pb.SegData, sender: bytes) -> bool:
    """The orchestrator's sig check: ``VerifySig(sender, Flatten, sig)`` with the keccak wrapper."""
    return verify_keccak(bytes_to_address(sender), segcreds_flatten_of(segdata), segdata.sig)


def segcreds_signer(segdata: pb.SegData) -> bytes:
    """Address that signed the segCreds; raises :class:`~sim.pm.crypto.SignatureError`."""
    return recover_personal(keccak(segcreds_flatten_of(segdata)), segdata.sig)


# --------------------------------------------------------------------------------------------------
# GetOrchestrator request signature (docs/wire.md#signatures)
# --------------------------------------------------------------------------------------------------
def orch_request_message(address: bytes) -> bytes:
    """What is signed: the ASCII EIP-55 ``0x…`` address string (Go ``Address.Hex()``)."""
    return to_checksum_address(address).encode("ascii")


def sign_orch_request(priv: bytes) -> tuple[bytes, bytes]:
    """``(address, sig)``: Broadcaster.Sign over the address string (flavour 2). Static per key."""
    addr = private_key_to_address(priv)
    return addr, sign_keccak(priv, orch_request_message(addr))


def build_orch_request(priv: bytes, capabilities_pb: pb.Capabilities | None = None,
                       ignore_capacity_check: bool = False) -> pb.OrchestratorRequest:
    addr, sig = sign_orch_request(priv)
    req = pb.OrchestratorRequest(address=addr, sig=sig, ignoreCapacityCheck=ignore_capacity_check)
    if capabilities_pb is not None:
        req.capabilities.CopyFrom(capabilities_pb)
    return req


def verify_orch_request(req: pb.OrchestratorRequest) -> bool:
    """The orchestrator's check: ``VerifySig(BytesToAddress(address), Hex(that address), sig)``."""
    addr = bytes_to_address(req.address)
    return verify_keccak(addr, orch_request_message(addr), req.sig)


def orch_request_signer(address: bytes, sig: bytes) -> bytes:
    """Address recovered from a GetOrchestrator sig over ``address``; raises SignatureError."""
    return recover_personal(keccak(orch_request_message(address)), sig)


# --------------------------------------------------------------------------------------------------
# Strict decoding of untrusted input
# --------------------------------------------------------------------------------------------------
def to_b64(msg: Message) -> str:
    """Serialise and standard-base64 encode (header / JSON form)."""
    return b64encode(msg.SerializeToString())


def decode_b64(text: str | bytes, what: str) -> bytes:
    try:
        return b64decode(text)
    except Base64Error as exc:
        raise WireError(f"{what}: {exc}") from None


def _varint(data: bytes, i: int) -> tuple[int | None, int]:
    v = shift = 0
    while i < len(data) and shift < 70:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
    return None, i


def _diagnose(data: bytes) -> str:
    """Name the first problem in the top-level protobuf framing (for error messages)."""
    i = 0
    while i < len(data):
        start = i
        key, i = _varint(data, i)
        if key is None:
            return f"truncated field key at byte {start}"
        num, wt = key >> 3, key & 7
        if num == 0:
            return f"invalid field number 0 at byte {start}"
        if wt == 0:
            v, i = _varint(data, i)
            if v is None:
                return f"field {num}: truncated varint at byte {i}"
        elif wt == 1 or wt == 5:
            need = 8 if wt == 1 else 4
            if i + need > len(data):
                return f"field {num}: truncated, needs {need} bytes, {len(data) - i} left"
            i += need
        elif wt == 2:
            ln, j = _varint(data, i)
            if ln is None:
                return f"field {num}: truncated length at byte {i}"
            if j + ln > len(data):
                return f"field {num}: truncated, length {ln} but {len(data) - j} bytes left"
            i = j + ln
        else:
            return f"field {num}: unsupported wire type {wt} at byte {start}"
    return "invalid content (e.g. a field of the wrong type or invalid UTF-8 in a string)"


def parse_pb(cls: type[Message], data: bytes, what: str) -> Message:
    """Parse protobuf bytes; truncated/invalid input becomes a :class:`WireError` naming the problem."""
    msg = cls()
    data = bytes(data)
    try:
        msg.ParseFromString(data)
    except (DecodeError, ValueError, TypeError, RuntimeError):
        raise WireError(f"{what}: not a valid protobuf {cls.DESCRIPTOR.name} ({len(data)} bytes): "
                        f"{_diagnose(data)}") from None
    return msg


def _as_bytes(data: str | bytes, what: str) -> bytes:
    """Bytes given as base64 text, or raw protobuf bytes as-is."""
    if isinstance(data, str):
        return decode_b64(data.strip(), what)
    return bytes(data)


def _need_len(value: bytes, n: int, what: str, *, optional: bool = False) -> None:
    if optional and not value:
        return
    if len(value) != n:
        raise WireError(f"{what} is {len(value)} bytes, want {n}")


def _need_max(value: bytes, n: int, what: str) -> None:
    if len(value) > n:
        raise WireError(f"{what} is {len(value)} bytes, want at most {n}")


def _check_ticket_params(tp: pb.TicketParams, where: str, *, with_expiration: bool) -> None:
    _need_len(tp.recipient, 20, f"{where}.recipient")
    _need_max(tp.face_value, 32, f"{where}.face_value")
    _need_max(tp.win_prob, 32, f"{where}.win_prob")
    _need_len(tp.recipient_rand_hash, 32, f"{where}.recipient_rand_hash")
    _need_max(tp.seed, 32, f"{where}.seed")
    _need_max(tp.expiration_block, 32, f"{where}.expiration_block")
    if with_expiration and tp.HasField("expiration_params"):
        _need_len(tp.expiration_params.creation_round_block_hash, 32,
                  f"{where}.expiration_params.creation_round_block_hash", optional=True)


def decode_payment(data: str | bytes) -> pb.Payment:
    """A ``Livepeer-Payment`` value (base64 text, or raw bytes) with every length checked."""
    pay = parse_pb(pb.Payment, _as_bytes(data, "payment"), "payment")
    _need_len(pay.sender, 20, "payment.sender")
    if pay.ticket_sender_params:
        if not pay.HasField("ticket_params"):
            raise WireError(f"payment has {len(pay.ticket_sender_params)} tickets but no ticket_params")
        _check_ticket_params(pay.ticket_params, "payment.ticket_params", with_expiration=False)
        _need_len(pay.expiration_params.creation_round_block_hash, 32,
                  "payment.expiration_params.creation_round_block_hash", optional=True)
    for i, tsp in enumerate(pay.ticket_sender_params):
        _need_len(tsp.sig, 65, f"payment.ticket_sender_params[{i}].sig")
    return pay


def decode_segcreds(data: str | bytes) -> pb.SegData:
    """A ``Livepeer-Segment`` value (base64 text, or raw bytes) with the signed fields checked."""
    seg = parse_pb(pb.SegData, _as_bytes(data, "segCreds"), "segCreds")
    _need_len(seg.sig, 65, "segCreds.sig")
    _need_len(seg.hash, 32, "segCreds.hash", optional=True)
    return seg


def decode_orch_info(data: str | bytes) -> pb.OrchestratorInfo:
    """An ``OrchestratorInfo`` (base64 text, or raw bytes); present address/params must have sane lengths."""
    info = parse_pb(pb.OrchestratorInfo, _as_bytes(data, "orchestrator info"), "orchestrator info")
    _need_len(info.address, 20, "orchestrator info.address", optional=True)
    if info.HasField("ticket_params"):
        _check_ticket_params(info.ticket_params, "orchestrator info.ticket_params", with_expiration=True)
    return info


def decode_capabilities(data: str | bytes) -> pb.Capabilities:
    return parse_pb(pb.Capabilities, _as_bytes(data, "capabilities"), "capabilities")


# Re-exported so callers can catch both without importing sim.pm.crypto.
__all__ += ["SignatureError", "MAX_WIN_PROB", "ZERO_HASH"]
