"""The same scenario gives the same outcomes and balances on the mock, embedded (py-evm) and anvil chains.

Outcomes compared: every gateway's payment outcomes (status, signer/orchestrator status, tickets), the
signer-side balance in every state, the summary counts and, where winners do not depend on block hashes
(which differ between backends and, on py-evm, between runs), the redemptions and chain money.
all-tickets-win makes every ticket a winner; refresh-params-expired exercises the 480 path.
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sim.scenario.model import load_scenario
from sim.scenario.runner import ScenarioRun

LIB = Path(__file__).resolve().parents[1] / "scenarios"


def _fingerprint(name: str, chain: str, winners_comparable: bool) -> dict:
    run = ScenarioRun(load_scenario(LIB / f"{name}.yaml"), chain=chain)
    summary = asyncio.run(run.run())
    outcomes = {g: [(o.status, o.signer_status, o.orch_status, o.tickets) for o in gw.outcomes]
                for g, gw in run.stack.gateways.items()}
    balances = [e.data.get("balance") for e in run.events if e.kind == "gateway.signer_reply"]
    chain_exps = [(x["name"], x["detail"]) for x in summary["expectations"] if x["name"].startswith("the ")]
    money = [x["detail"] for x in summary["invariants"] if x["name"] == "money_conservation"]
    fp = {"passed": summary["passed"], "outcomes": outcomes, "balances": balances,
          "counts": {k: summary[k] for k in ("payments", "tickets")}}
    if winners_comparable:  # win/lose depends on block hashes unless every ticket wins
        fp.update(money=money, chain_expectations=chain_exps,
                  winners={k: summary[k] for k in ("winning_tickets", "redeemed")})
    return fp


def _anvil_available() -> bool:
    from pathlib import Path as _P

    return (_P(__file__).resolve().parents[1] / "devnet/tools/node_modules/.bin/anvil").exists() or bool(
        shutil.which("anvil"))


@pytest.mark.slow
@pytest.mark.parametrize("name, winners_comparable", [("all-tickets-win", True), ("refresh-params-expired", False)])
def test_same_outcomes_on_every_chain(name, winners_comparable):
    chains = ["mock", "embedded"] + (["anvil"] if _anvil_available() else [])
    assert "anvil" in chains, "anvil is part of this test; run `make bootstrap`"
    prints = {c: _fingerprint(name, c, winners_comparable) for c in chains}
    ref = prints["mock"]
    assert ref["passed"]
    for c in chains[1:]:
        assert prints[c] == ref, f"{name}: {c} differs from mock"
    if name == "all-tickets-win":
        assert ref["winners"]["redeemed"] == 5 and ref["money"][0].startswith("senders lost 5000000000000005 wei")
