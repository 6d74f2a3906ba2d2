"""`lpdev conformance` against signers that are not lpdev's own in-sync signer: cases must hold for any signer
that follows go-livepeer's protocol (docs/remote-signer.md), whatever its view of the chain."""
from __future__ import annotations

import devnet
from sim.clock import RealClock
from sim.signer.conformance import PASS, run_matrix
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer


class _LaggingChain:
    """The signer's chain view several blocks behind the one the suite reads (a go-livepeer signer polls blocks
    every 5 s, and on Arbitrum counts L1 blocks)."""

    def __init__(self, chain, lag: int) -> None:
        self._chain, self._lag = chain, lag

    def last_block(self) -> int:
        return max(0, int(self._chain.last_block()) - self._lag)

    def __getattr__(self, name):
        return getattr(self._chain, name)


async def test_expired_params_case_holds_for_a_signer_whose_block_view_lags():
    chain = devnet.open_chain("mock")
    chain.mine(10)
    core = SignerCore(key=chain.key("sender"), chain=_LaggingChain(chain, 5), config=SignerConfig(),
                      clock=RealClock())
    async with SignerServer(core) as s:
        report = await run_matrix(s.url, chain, only=["ticket params expired on chain"])
    assert [(c.name, c.results["go-livepeer"][0]) for c in report.cases] == [
        ("ticket params expired on chain -> 480", PASS)], report.text()
