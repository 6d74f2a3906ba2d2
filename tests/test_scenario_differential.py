"""The same scenario gives the same outcomes and balances on the mock, embedded (py-evm) and anvil chains.

Outcomes compared: every gateway's payment outcomes (status, signer/orchestrator status, tickets), the
signer-side balance in every state, the summary counts and the final chain money (deposit, reserve, fees).
all-tickets-win makes every ticket a winner, so redemptions do not depend on block hashes (which differ
between backends); refresh-params-expired and price-ceilings-481 exercise 480/481 paths.
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sim.scenario.model import load_scenario
from sim.scenario.runner import ScenarioRun

LIB = Path(__file__).resolve().parents[1] / "scenarios"


def _fingerprint(name: str, chain: str) -> dict:
    run = ScenarioRun(load_scenario(LIB / f"{name}.yaml"), chain=chain)
    summary = asyncio.run(run.run())
    outcomes = {g: [(o.status, o.signer_status, o.orch_status, o.tickets) for o in gw.outcomes]
                for g, gw in run.stack.gateways.items()}
    balances = [e.data.get("balance") for e in run.events if e.kind == "gateway.signer_reply"]
    chain_exps = [(x["name"], x["detail"]) for x in summary["expectations"] if x["name"].startswith("the ")]
    money = [x["detail"] for x in summary["invariants"] if x["name"] == "money_conservation"]
    return {"passed": summary["passed"], "outcomes": outcomes, "balances": balances, "money": money,
            "chain_expectations": chain_exps,
            "counts": {k: summary[k] for k in ("payments", "tickets", "winning_tickets", "redeemed")}}


def _anvil_available() -> bool:
    from pathlib import Path as _P

    return (_P(__file__).resolve().parents[1] / "devnet/tools/node_modules/.bin/anvil").exists() or bool(
        shutil.which("anvil"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["all-tickets-win", "refresh-params-expired"])
def test_same_outcomes_on_every_chain(name):
    chains = ["mock", "embedded"] + (["anvil"] if _anvil_available() else [])
    assert "anvil" in chains, "anvil is part of this test; run `make bootstrap`"
    prints = {c: _fingerprint(name, c) for c in chains}
    ref = prints["mock"]
    assert ref["passed"]
    for c in chains[1:]:
        assert prints[c] == ref, f"{name}: {c} differs from mock"
    if name == "all-tickets-win":
        assert ref["counts"]["redeemed"] == 5 and ref["money"][0].startswith("senders lost 5000000000000005 wei")
