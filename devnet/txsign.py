"""Legacy (EIP-155) transaction signing with the PM core's secp256k1 signer — no eth_account import (which
costs about a second of start-up through eth_keyfile), so `lpdev chain up` reaches a funded chain sooner.
tests/test_devnet_txsign.py checks the bytes against eth_account."""
from __future__ import annotations

import rlp

from sim.pm.crypto import keccak, private_key_to_address, sign_hash

__all__ = ["sign_legacy_tx", "address_of"]

_ADDR_CACHE: dict[bytes, str] = {}


def address_of(key: bytes) -> str:
    """Checksum address of a 32-byte private key (cached)."""
    a = _ADDR_CACHE.get(key)
    if a is None:
        from sim.pm.crypto import to_checksum_address

        a = _ADDR_CACHE[key] = to_checksum_address(private_key_to_address(key))
    return a


def sign_legacy_tx(key: bytes, *, nonce: int, gas_price: int, gas: int, to: bytes | None, value: int, data: bytes,
                   chain_id: int) -> tuple[bytes, bytes]:
    """-> (raw signed transaction, transaction hash)."""
    to_b = b"" if to is None else bytes(to)
    fields = [nonce, gas_price, gas, to_b, value, bytes(data)]
    digest = keccak(rlp.encode(fields + [chain_id, 0, 0]))
    sig = sign_hash(key, digest)  # r ‖ s ‖ v(27/28)
    r, s, recid = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64] - 27
    raw = rlp.encode(fields + [recid + 35 + 2 * chain_id, r, s])
    return raw, keccak(raw)
