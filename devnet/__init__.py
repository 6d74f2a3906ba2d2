"""Local chains with the Livepeer PM contracts behind one client (:mod:`devnet.base`).

``open_chain("anvil" | "embedded" | "mock" | "external" | "fork", ...)`` returns a :class:`devnet.base.DevChain`.
"""
from __future__ import annotations

from devnet.base import (  # noqa: F401  (re-exported)
    AnvilCrashed, AnvilMissing, ChainError, ChainUnreachable, ContractNotFound, DevChain, TxResult,
)
from devnet.config import DevnetConfig

__all__ = ["open_chain", "DevnetConfig", "DevChain", "TxResult", "ChainError", "ChainUnreachable",
           "ContractNotFound", "AnvilMissing", "AnvilCrashed", "BACKENDS"]

BACKENDS = ("anvil", "embedded", "mock", "external", "fork")


def open_chain(backend: str = "embedded", *, config: DevnetConfig | None = None, port: int | None = None,
               eth_url: str | None = None, controller: str | None = None, setup: bool = True,
               load_state: str | None = None, genesis_timestamp: int | None = None, fork_url: str | None = None,
               fork_block: int | None = None, orchestrator_address: str | None = None) -> DevChain:
    """Open a chain.

    - ``anvil``: start a managed anvil (free port unless ``port``), deploy the contracts and, if ``setup``,
      unpause, initialize a round, register + activate the transcoders and fund the senders. The returned
      object owns the process: ``close()`` (or leaving the ``with`` block) stops it. ``load_state``: an
      ``anvil_dumpState`` hex blob / file written by ``EvmChain.dump_state`` to start from instead of deploying.
    - ``embedded``: py-evm in this process, same bytecode, same setup. ``genesis_timestamp``: stamp block N
      ``genesis_timestamp + N`` instead of the wall clock, so a replayed run gets the same block hashes (other
      backends ignore it: anvil keeps the wall clock, the mock chain has no timestamps).
    - ``setup=False``: deploy, register and set the parameters only; the system stays paused (the Controller
      starts paused), no round is initialized, nobody is registered or funded.
    - ``mock``: pure-Python model of the same contracts (``devnet.backends.mock``).
    - ``external``: ``eth_url`` + ``controller`` of an existing deployment; every contract is resolved through
      ``Controller.getContract``; nothing is deployed (``setup`` ignored).
    - ``fork``: a managed anvil forking ``fork_url`` (at ``fork_block``, default its latest block) with the real
      contracts, resolved through ``controller`` (default: Arbitrum One's when the chain id is 42161); the current
      round initialized, an orchestrator made payable (the dev one, or ``orchestrator_address`` impersonated), the
      dev sender funded, lpdev's ETH/USD feed deployed (``devnet.backends.fork``); ``chain.fork`` describes it.
    - ``mock`` also takes ``genesis_timestamp`` (block N is stamped genesis + N seconds).
    """
    config = config or DevnetConfig()
    if backend == "fork":
        if not fork_url:
            raise ChainError("the fork backend needs fork_url (`--fork-url URL`)")
        from devnet.backends.fork import open_fork

        return open_fork(fork_url, fork_block=fork_block, controller=controller,
                         orchestrator_address=orchestrator_address, config=config, port=port)
    if backend in ("anvil", "embedded", "external"):
        from devnet.backends import evm

        if backend == "anvil":
            return evm.open_anvil(config=config, port=port, setup=setup, load_state=load_state)
        if backend == "embedded":
            return evm.open_embedded(config=config, setup=setup, genesis_timestamp=genesis_timestamp)
        if not eth_url or not controller:
            raise ChainError("the external backend needs --eth-url and --controller (or --config FILE from "
                             "`lpdev chain up`)")
        return evm.open_external(eth_url, controller, config=config)
    if backend == "mock":
        from devnet.backends import mock

        return mock.open_mock(config=config, setup=setup, genesis_timestamp=genesis_timestamp)
    raise ChainError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
