"""Baselines shared by several benchmarks (measured in the same run as what they are compared with)."""
from __future__ import annotations

import time


def bare_anvil_start_s() -> float:
    """Seconds from spawning a bare anvil to its first JSON-RPC answer (no contracts, no lpdev code)."""
    from devnet.backends.anvil import AnvilProcess

    t0 = time.perf_counter()
    p = AnvilProcess.start()
    dt = time.perf_counter() - t0
    p.stop()
    return dt
