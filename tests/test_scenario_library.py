"""Every scenario in scenarios/ passes on the mock chain, the embedded py-evm chain and anvil.

EVM chains are slow to open, so each distinct chain setup is opened once per backend and reused through
snapshot/revert (a scenario borrows the chain; the stack never closes it).
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stack.scenario.model import load_scenario
from stack.scenario.runner import run_scenario
from stack.spec import StackSpec, devnet_config, with_overrides
from stack.stack import Stack

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def _failures(summary: dict) -> list[str]:
    return [f"{x['name']}: {x['detail']}" for x in summary["expectations"] + summary["invariants"] if not x["passed"]]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_passes_on_mock(path):
    sc = load_scenario(path)
    s = asyncio.run(run_scenario(sc, chain="mock"))
    assert s["passed"], _failures(s)
    assert s["expectations"], "a library scenario must assert something"
    assert len(s["invariants"]) == 5


class _EvmPool:
    """One open EVM chain per backend and distinct devnet setup, returned to its snapshot before each use."""

    def __init__(self) -> None:
        self.chains: dict[str, tuple[object, str]] = {}

    def get(self, cfg: StackSpec, backend: str = "embedded"):
        from devnet import open_chain

        dc = devnet_config(cfg)
        key = backend + repr(sorted(dc.to_dict().items()))
        if key not in self.chains:
            chain = open_chain(backend, config=dc)
            self.chains[key] = (chain, chain.snapshot())
        chain, snap = self.chains[key]
        chain.revert(snap)
        self.chains[key] = (chain, chain.snapshot())
        return chain

    def close(self) -> None:
        for chain, _ in self.chains.values():
            chain.close()


@pytest.fixture(scope="module")
def evm_pool():
    pool = _EvmPool()
    yield pool
    pool.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_passes_on_embedded(path, evm_pool):
    sc = load_scenario(path)
    cfg = with_overrides(sc.stack, chain="embedded")
    chain = evm_pool.get(cfg)
    s = asyncio.run(run_scenario(sc, chain="embedded", chain_obj=chain))
    assert s["passed"], _failures(s)


@pytest.mark.anvil
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_passes_on_anvil(path, evm_pool):
    sc = load_scenario(path)
    cfg = with_overrides(sc.stack, chain="anvil")
    chain = evm_pool.get(cfg, "anvil")
    s = asyncio.run(run_scenario(sc, chain="anvil", chain_obj=chain))
    assert s["passed"], _failures(s)
