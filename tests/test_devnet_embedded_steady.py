"""The embedded (py-evm) chain with ``genesis_timestamp``: block N is stamped ``genesis_timestamp + N`` and its
PREVRANDAO is derived from its parent, so two chains that see the same transactions have the same block hashes
(what makes seeded scenario traces on the embedded chain byte-identical). Without it blocks keep the wall clock."""
from __future__ import annotations

import time

from devnet.backends.evm import open_embedded
from devnet.config import DevnetConfig

T0 = 1_780_000_000


def _head(chain):
    h = chain._tester.backend.chain.get_canonical_head()
    return h.block_number, h.timestamp, h.hash


def test_same_transactions_same_block_hashes_and_steady_timestamps():
    a = open_embedded(config=DevnetConfig(), setup=False, genesis_timestamp=T0)
    b = open_embedded(config=DevnetConfig(), setup=False, genesis_timestamp=T0)
    a.mine(3)
    b.mine(3)
    n, ts, hash_a = _head(a)
    assert n == a.last_block() and n > 3 and ts == T0 + n
    assert _head(b) == (n, ts, hash_a)
    # a revert rebuilds the pending header with the same rule: the chain grows the same way again
    snap = a.snapshot()
    a.mine(2)
    first = _head(a)
    a.revert(snap)
    a.mine(2)
    assert _head(a) == first and first[1] == T0 + first[0]
    mix = {a._tester.backend.chain.get_canonical_block_header_by_number(i).mix_hash for i in range(1, n + 1)}
    assert len(mix) == n  # PREVRANDAO still differs block to block


def test_without_genesis_timestamp_blocks_keep_the_wall_clock():
    c = open_embedded(config=DevnetConfig(), setup=False)
    n, ts, _ = _head(c)
    assert abs(ts - time.time()) < 3600 + n  # the live `lpdev up` chain: real time, not a fixed epoch
