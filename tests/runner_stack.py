"""A Live Runner test stack from lpdev's public pieces, on a background event loop: a devnet chain, lpdev's signer
(TLS and plain HTTP) and an orchestrator with the plain-HTTP entry and an orchestrator secret. Until the stack
assembly grows runner knobs, tests that run SDK scripts as subprocesses build it here.

The chain gets a fixed ETH/USD reading (the ``eth_usd()`` the chain view will offer once every backend deploys a
feed) so USD-priced runners convert to wei: ``usd_per_eth`` (default 2000).
"""
from __future__ import annotations

import asyncio
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import devnet
from sim.events import EventBus


@dataclass(frozen=True)
class FakeEthUsd:
    """The ``EthUsd`` reading agreed between branches (sim/chainview.py), for chains that have no feed yet."""

    usd_per_eth: Fraction
    updated_at: int = 0
    decimals: int = 8
    round_id: int = 1

    def wei_per_usd(self) -> Fraction:
        return Fraction(10**18) / self.usd_per_eth


def give_feed(chain, usd_per_eth=2000):
    """Set ``chain``'s ETH/USD feed (every devnet backend deploys one) to ``usd_per_eth``; a chain view without
    the interface gets a fixed reading. Returns the reading."""
    if callable(getattr(chain, "set_eth_usd", None)):
        res = chain.set_eth_usd(usd_per_eth)
        assert res.ok, res.revert_reason
        return chain.eth_usd()
    feed = FakeEthUsd(Fraction(usd_per_eth))
    chain.eth_usd = lambda: feed
    return feed


class RunnerStack:
    """``with RunnerStack() as st:`` → ``st.orch`` (OrchestratorServer), ``st.signer_url`` / ``st.signer_http``,
    ``st.chain``, ``st.bus``; ``st.call(coro)`` runs a coroutine on the stack's loop."""

    def __init__(self, *, chain: str = "mock", orch_secret: str | None = "abcdef", live_runner_config=None,
                 usd_per_eth=2000, signer: bool = True, runner_config=None, round_length: int = 100,
                 signer_config=None, **orch_kwargs) -> None:
        self.backend = chain
        self.round_length = round_length
        self.signer_config = signer_config
        self.orch_secret = orch_secret
        self.live_runner_config = live_runner_config
        self.usd_per_eth = usd_per_eth
        self.with_signer = signer
        self.runner_config = runner_config
        self.orch_kwargs = orch_kwargs
        self.bus = EventBus()
        self.seen: list = []
        self.bus.subscribe(self.seen.append)
        self._tmp = tempfile.TemporaryDirectory(prefix="lpdev-runners-")
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="runner-stack", daemon=True)

    def call(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> "RunnerStack":
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    async def _start(self) -> None:
        from sim.orchestrator import OrchestratorServer

        from devnet.config import DevnetConfig

        self.chain = await asyncio.to_thread(devnet.open_chain, self.backend,
                                             config=DevnetConfig(round_length=self.round_length))
        give_feed(self.chain, self.usd_per_eth)
        kw = dict(ticket_ev=10**12, price_per_unit=1000, auto_adjust_price=False, block_poll_s=0.5)
        kw.update(self.orch_kwargs)
        (Path(self._tmp.name) / "orch").mkdir(exist_ok=True)
        self.orch = OrchestratorServer(self.chain, eth_key=self.chain.key("orchestrator"),
                                       data_dir=Path(self._tmp.name) / "orch", bus=self.bus, http_port=0,
                                       orch_secret=self.orch_secret, live_runner_config=self.live_runner_config,
                                       runner_config=self.runner_config, **kw)
        await self.orch.start()
        self.signer_url = self.signer_http = None
        if self.with_signer:
            from sim.signer.config import SignerConfig
            from sim.signer.core import SignerCore
            from sim.signer.http import SignerServer

            key = self.chain.key("sender")
            core = SignerCore(key=key, chain=self.chain, config=self.signer_config or SignerConfig(), events=self.bus,
                              actor="signer")
            self.signer_address = self.chain.address("sender")
            self._signers = [SignerServer(core, port=0, tls=True), SignerServer(core, port=0, tls=False)]
            for s in self._signers:
                await s.start()
            self.signer_url, self.signer_http = self._signers[0].url, self._signers[1].url

    def __exit__(self, *exc) -> None:
        try:
            if self.loop.is_running():
                self.call(self._stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self._tmp.cleanup()

    async def _stop(self) -> None:
        for s in getattr(self, "_signers", []):
            await s.stop()
        if getattr(self, "orch", None) is not None:
            await self.orch.stop()
        if getattr(self, "chain", None) is not None:
            await asyncio.to_thread(self.chain.close)

    def events(self, kind: str, **match) -> list:
        return [e for e in list(self.seen) if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]
