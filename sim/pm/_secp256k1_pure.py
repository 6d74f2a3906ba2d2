"""Pure-Python secp256k1: RFC 6979 signing with low-s normalisation and public-key recovery.

The fallback behind :mod:`sim.pm.crypto` when coincurve (libsecp256k1) cannot be imported. It produces the
same bytes as libsecp256k1 (tested against it); it is about 50x slower, which is fine for a devtool.
"""
from __future__ import annotations

import hashlib
import hmac

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)

# Jacobian coordinates: (X, Y, Z) represents (X/Z^2, Y/Z^3); None is the point at infinity.


def _to_jac(p):
    return None if p is None else (p[0], p[1], 1)


def _from_jac(p):
    if p is None:
        return None
    x, y, z = p
    zi = pow(z, -1, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def _jdouble(p):
    if p is None:
        return None
    x, y, z = p
    if y == 0:
        return None
    ysq = y * y % P
    s = 4 * x * ysq % P
    m = 3 * x * x % P
    nx = (m * m - 2 * s) % P
    ny = (m * (s - nx) - 8 * ysq * ysq) % P
    nz = 2 * y * z % P
    return (nx, ny, nz)


def _jadd(p, q):
    if p is None:
        return q
    if q is None:
        return p
    x1, y1, z1 = p
    x2, y2, z2 = q
    z1s, z2s = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2s % P, x2 * z1s % P
    s1, s2 = y1 * z2s * z2 % P, y2 * z1s * z1 % P
    if u1 == u2:
        return _jdouble(p) if s1 == s2 else None
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    u1h2 = u1 * h2 % P
    nx = (r * r - h3 - 2 * u1h2) % P
    ny = (r * (u1h2 - nx) - s1 * h3) % P
    nz = h * z1 * z2 % P
    return (nx, ny, nz)


def _mul(point, k):
    result = None
    addend = _to_jac(point)
    while k:
        if k & 1:
            result = _jadd(result, addend)
        addend = _jdouble(addend)
        k >>= 1
    return _from_jac(result)


def _rfc6979_k(priv: int, digest: bytes):
    """Deterministic nonces per RFC 6979 §3.2 with HMAC-SHA256 (libsecp256k1's default)."""
    x = priv.to_bytes(32, "big")
    h1 = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        cand = int.from_bytes(v, "big")
        if 1 <= cand < N:
            yield cand
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def pubkey(priv: bytes) -> bytes:
    pt = _mul(G, int.from_bytes(priv, "big"))
    return pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


def sign_recoverable(priv: bytes, digest: bytes) -> bytes:
    """``r ‖ s ‖ recid`` (recid in {0, 1}), low s."""
    d = int.from_bytes(priv, "big")
    if not 1 <= d < N:
        raise ValueError("invalid private key")
    z = int.from_bytes(digest, "big") % N
    for k in _rfc6979_k(d, digest):
        R = _mul(G, k)
        r = R[0] % N
        if r == 0:
            continue
        s = pow(k, -1, N) * (z + r * d) % N
        if s == 0:
            continue
        recid = (R[1] & 1) | (2 if R[0] >= N else 0)
        if s > N // 2:
            s = N - s
            recid ^= 1
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recid])
    raise AssertionError("unreachable")  # pragma: no cover


def recover(digest: bytes, sig: bytes) -> bytes:
    """64-byte uncompressed public key from ``r ‖ s ‖ recid``."""
    r = int.from_bytes(sig[0:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    recid = sig[64]
    if not (1 <= r < N and 1 <= s < N) or recid > 3:
        raise ValueError("invalid signature")
    x = r + (N if recid & 2 else 0)
    if x >= P:
        raise ValueError("invalid signature")
    alpha = (pow(x, 3, P) + 7) % P
    beta = pow(alpha, (P + 1) // 4, P)
    if beta * beta % P != alpha:
        raise ValueError("invalid signature")
    y = beta if (beta & 1) == (recid & 1) else P - beta
    z = int.from_bytes(digest, "big") % N
    rinv = pow(r, -1, N)
    u1 = (-z * rinv) % N
    u2 = (s * rinv) % N
    Q = _from_jac(_jadd(_to_jac(_mul(G, u1)), _to_jac(_mul((x, y), u2))))
    if Q is None:
        raise ValueError("invalid signature")
    return Q[0].to_bytes(32, "big") + Q[1].to_bytes(32, "big")
