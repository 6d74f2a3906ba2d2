"""devnet.txsign (our EIP-155 signer, used to avoid eth_account's start-up cost) gives the same bytes and hash
as eth_account for creation and call transactions."""
from __future__ import annotations

import pytest
from eth_account import Account

from devnet.config import DEV_ADDRESSES, DEV_KEYS
from devnet.txsign import address_of, sign_legacy_tx


@pytest.mark.parametrize("to", [None, "0x5FbDB2315678afecb367f032d93F642f64180aa3"])
@pytest.mark.parametrize("chain_id", [31337, 131277322940537])
def test_matches_eth_account(to, chain_id):
    key = bytes.fromhex(DEV_KEYS[3][2:])
    for nonce, value, data in [(0, 0, b""), (7, 10**18 + 3, bytes(range(40)))]:
        raw, h = sign_legacy_tx(key, nonce=nonce, gas_price=2 * 10**9, gas=1_500_000,
                                to=None if to is None else bytes.fromhex(to[2:]), value=value, data=data,
                                chain_id=chain_id)
        tx = {"nonce": nonce, "gasPrice": 2 * 10**9, "gas": 1_500_000, "value": value, "data": data,
              "chainId": chain_id}
        if to:
            tx["to"] = to
        ref = Account.sign_transaction(tx, key)
        assert raw == bytes(ref.raw_transaction)
        assert h == bytes(ref.hash)


def test_address_of():
    for k, a in zip(DEV_KEYS, DEV_ADDRESSES):
        assert address_of(bytes.fromhex(k[2:])) == a
