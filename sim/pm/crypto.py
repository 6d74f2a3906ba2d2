"""secp256k1 signing and recovery, Ethereum style (docs/wire.md#signatures).

Three signing flavours, easy to confuse:

1. :func:`sign_personal` — go-livepeer ``Eth.Sign(m)``: personal_sign over the raw bytes ``m``
   (tickets: ``m`` is the 32-byte ticket hash; the signer state blob: ``m`` is the raw JSON).
2. :func:`sign_keccak` — ``Broadcaster.Sign(m)`` / ``Orchestrator.Sign(m)``: ``sign_personal(keccak(m))``
   (GetOrchestrator sig over the checksummed address string, segCreds, Ping).
3. :func:`recover_personal` / :func:`verify_personal` — ``crypto.VerifySig``: Go's checks and messages.

Signatures are 65 bytes ``r ‖ s ‖ v`` with ``v`` in {27, 28}, RFC 6979 nonces and low ``s``. coincurve
(libsecp256k1) is used when it imports; otherwise a pure-Python implementation gives the same bytes.
"""
from __future__ import annotations

import functools
import hashlib
import hmac

from Crypto.Hash import keccak as _keccak_mod

__all__ = [
    "keccak", "text_hash", "sign_hash", "sign_personal", "sign_keccak", "recover_hash",
    "recover_personal", "verify_personal", "verify_keccak", "private_key_to_address",
    "to_checksum_address", "bytes_to_address", "parse_address", "SignatureError", "SECP256K1_N",
    "BACKEND",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2


class SignatureError(ValueError):
    """A signature Go's ``crypto.VerifySig`` would reject; the message is Go's."""


try:  # safe-pysha3's C keccak (already in the venv) is ~7x faster than pycryptodome's per call
    from sha3 import keccak_256 as _keccak_256
except Exception:  # pragma: no cover - pycryptodome fallback, same digest
    _keccak_256 = None


def keccak(data: bytes) -> bytes:
    """Legacy Keccak-256 (Ethereum's, not NIST SHA3)."""
    if _keccak_256 is not None:
        return _keccak_256(bytes(data)).digest()
    return _keccak_mod.new(digest_bits=256, data=data).digest()


_PREFIX_32 = b"\x19Ethereum Signed Message:\n32"


def text_hash(message: bytes) -> bytes:
    """go-ethereum ``accounts.TextHash``: keccak of the EIP-191 prefix, decimal length and message."""
    if len(message) == 32:  # the hot path: ticket hashes and keccak digests
        return keccak(_PREFIX_32 + message)
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


# --------------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------------
try:  # pragma: no branch
    import coincurve as _coincurve

    BACKEND = "coincurve"
except Exception:  # pragma: no cover - exercised by the fallback test through _pure
    _coincurve = None
    BACKEND = "pure-python"

from sim.pm import _secp256k1_pure as _pure  # noqa: E402


@functools.lru_cache(maxsize=256)
def _coincurve_key(priv: bytes):
    # Building a PrivateKey derives its public key (~20 µs): cache it, a process signs with few keys.
    return _coincurve.PrivateKey(priv)


def _sign_recoverable(priv: bytes, digest: bytes) -> bytes:
    if _coincurve is not None:
        return _coincurve_key(bytes(priv)).sign_recoverable(digest, hasher=None)
    return _pure.sign_recoverable(priv, digest)


def _recover_pubkey(digest: bytes, sig_rsv01: bytes) -> bytes:
    """Uncompressed 64-byte public key (no 0x04 prefix)."""
    if _coincurve is not None:
        pub = _coincurve.PublicKey.from_signature_and_message(sig_rsv01, digest, hasher=None)
        return pub.format(compressed=False)[1:]
    return _pure.recover(digest, sig_rsv01)


def _pubkey_of(priv: bytes) -> bytes:
    if _coincurve is not None:
        return _coincurve_key(bytes(priv)).public_key.format(compressed=False)[1:]
    return _pure.pubkey(priv)


# --------------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------------
def private_key_to_address(priv: bytes) -> bytes:
    if len(priv) != 32:
        raise ValueError("private key must be 32 bytes")
    return keccak(_pubkey_of(priv))[12:]


def to_checksum_address(addr: bytes) -> str:
    """EIP-55 ``0x…`` string (Go ``Address.Hex()``)."""
    hex_addr = bytes_to_address(addr).hex()
    digest = keccak(hex_addr.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(hex_addr))


def bytes_to_address(b: bytes) -> bytes:
    """Go ``common.BytesToAddress``: keep the last 20 bytes, or left-pad with zeros."""
    b = bytes(b or b"")
    return b[-20:] if len(b) > 20 else b.rjust(20, b"\x00")


def parse_address(text: str) -> bytes:
    """A ``0x`` + 40 hex digit address (either case), as Go's JSON decoder requires."""
    s = text.strip() if isinstance(text, str) else ""
    if not (s.startswith(("0x", "0X")) and len(s) == 42):
        raise ValueError(f"invalid address {text!r}: want 0x followed by 40 hex digits")
    try:
        return bytes.fromhex(s[2:])
    except ValueError as exc:
        raise ValueError(f"invalid address {text!r}: not hex") from exc


# --------------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------------
_V_BYTES = (b"\x1b", b"\x1c", b"\x1d", b"\x1e")


def sign_hash(priv: bytes, digest: bytes) -> bytes:
    """Sign a 32-byte digest as-is; returns ``r ‖ s ‖ v`` with v in {27, 28}."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    sig = _sign_recoverable(priv, digest)
    return sig[:64] + _V_BYTES[sig[64]]


def sign_personal(priv: bytes, message: bytes) -> bytes:
    """Flavour 1, ``Eth.Sign``: personal_sign over the raw message bytes."""
    return sign_hash(priv, text_hash(message))


def sign_keccak(priv: bytes, message: bytes) -> bytes:
    """Flavour 2, ``Broadcaster.Sign`` / ``Orchestrator.Sign``: personal_sign over ``keccak(message)``."""
    return sign_personal(priv, keccak(message))


# --------------------------------------------------------------------------------------------------
# Verification (crypto/verify.go)
# --------------------------------------------------------------------------------------------------
def check_signature_shape(sig: bytes) -> None:
    """Go's three pre-checks, in Go's order, with Go's messages."""
    if len(sig) != 65:
        raise SignatureError("invalid signature length")
    if int.from_bytes(sig[32:64], "big") > _HALF_N:
        raise SignatureError("signature s value too high")
    if sig[64] not in (27, 28):
        raise SignatureError("signature v value must be 27 or 28")


def recover_hash(digest: bytes, sig: bytes) -> bytes:
    """Address that signed ``digest`` (already prefixed/hashed). Raises :class:`SignatureError`."""
    check_signature_shape(sig)
    try:
        pub = _recover_pubkey(digest, sig[:64] + bytes([sig[64] - 27]))
    except Exception as exc:
        raise SignatureError(f"invalid signature: {exc}") from exc
    return keccak(pub)[12:]


def recover_personal(message: bytes, sig: bytes) -> bytes:
    """Address behind a flavour-1 signature over ``message``."""
    return recover_hash(text_hash(message), sig)


def verify_personal(addr: bytes, message: bytes, sig: bytes) -> bool:
    """Go ``crypto.VerifySig(addr, msg, sig)``: False on any failure."""
    try:
        return recover_personal(message, sig) == bytes_to_address(addr)
    except SignatureError:
        return False


def verify_keccak(addr: bytes, message: bytes, sig: bytes) -> bool:
    """The orchestrator's ``VerifySig(addr, msgString, sig)`` wrapper: hashes with keccak first."""
    return verify_personal(addr, keccak(message), sig)


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()
