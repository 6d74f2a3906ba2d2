"""The same scenario gives the same outcomes and balances on the mock, embedded (py-evm) and anvil chains.

Compared everywhere: every gateway's payment outcomes (status, signer/orchestrator status, tickets, message,
refreshes), the signer-side balance in every state and the payment/ticket counts. Where winners do not depend
on block hashes (which differ between backends), also: every expectation and invariant verdict with its detail,
the chain money before and after (deposit, reserve, fees), what each redemption paid, and how every stored
winner ended (status, reason).

all-tickets-win makes every ticket a winner (face value EV + 1 wei); refresh-params-expired exercises the 480
path with ordinary, chain-dependent winners. The other cases are library scenarios made all-win the same way
(fault knob face_value = ticket EV + 1 on every orchestrator), so their redemptions are comparable too: fixed
jobs, an unlock + withdraw (deposit and reserve paid back, held winners expire), and an orchestrator killed and
restarted with queued winners. They share one EVM chain per backend (same devnet setup), reverted to its
snapshot before each run.
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from stack.scenario.model import load_scenario
from stack.scenario.runner import ScenarioRun
from stack.spec import StackSpec, devnet_config, with_overrides
from stack.stack import Stack

LIB = Path(__file__).resolve().parents[1] / "scenarios"

# (library scenario, make every ticket win, winners comparable across chains)
CASES = [
    ("all-tickets-win", False, True),
    ("refresh-params-expired", False, False),
    ("happy-path-fixed", True, True),
    ("unlock-withdraw-mid-session", True, True),
    ("orchestrator-restart-pending-winners", True, True),
]


def _all_win(sc):
    """Face value = ticket EV + 1 wei on every orchestrator: win probability EV/(EV+1), one loss in 10^15."""
    for o in sc.stack.orchestrators:
        o.faults = {**o.faults, "face_value": o.ticket_ev + 1}
    return sc


class _Chains:
    """One open EVM chain per backend and devnet setup, returned to its snapshot before each run."""

    def __init__(self) -> None:
        self.open: dict[str, tuple[object, object]] = {}

    def get(self, sc, backend: str):
        if backend == "mock":
            return None  # cheap: each run opens its own
        from devnet import open_chain

        dc = devnet_config(with_overrides(sc.stack, chain=backend))
        key = backend + repr(sorted(dc.to_dict().items()))
        if key not in self.open:
            chain = open_chain(backend, config=dc)
            self.open[key] = (chain, chain.snapshot())
        chain, snap = self.open[key]
        chain.revert(snap)
        self.open[key] = (chain, chain.snapshot())
        return chain

    def close(self) -> None:
        for chain, _ in self.open.values():
            chain.close()


@pytest.fixture(scope="module")
def chains():
    c = _Chains()
    yield c
    c.close()


def _fingerprint(name: str, all_win: bool, chain: str, winners_comparable: bool, chains: _Chains) -> dict:
    sc = load_scenario(LIB / f"{name}.yaml")
    if all_win:
        sc = _all_win(sc)
    run = ScenarioRun(sc, chain=chain, chain_obj=chains.get(sc, chain))
    summary = asyncio.run(run.run())
    evs = [run.stack.normalise(e) for e in run.events]  # per-run URLs and ports -> actor names
    outcomes = {g: [(o.status, o.signer_status, o.orch_status, o.tickets, o.refreshes, o.face_value, o.win_prob,
                     o.nonces) for o in gw.outcomes] for g, gw in run.stack.gateways.items()}
    messages = [e.data.get("message") for e in evs if e.kind in ("gateway.error", "gateway.stopped")]
    balances = [e.data.get("balance") for e in evs if e.kind == "gateway.signer_reply"]
    fp = {"passed": summary["passed"], "outcomes": outcomes, "messages": messages, "balances": balances,
          "counts": {k: summary[k] for k in ("payments", "tickets")}}
    if winners_comparable:  # win/lose depends on block hashes unless every ticket wins
        checks = [e.data for e in evs if e.kind == "scenario.expectation"]
        money = next(d["books"] for d in checks if d["name"] == "money_conservation")
        stores = next(d["stores"] for d in checks if d["name"] == "winners_accounted")
        fp.update(
            verdicts=[(d["group"], d["name"], d["passed"], d["detail"]) for d in checks],
            money=money,
            paid=[(e.data["face_value"], e.data.get("amount_paid")) for e in evs if e.kind == "orch.redemption_mined"],
            stored={n: sorted((status, reason) for _, status, reason in ws) for n, ws in stores.items()},
            winners={k: summary[k] for k in ("winning_tickets", "redeemed")})
    return fp


def _anvil_available() -> bool:
    return (LIB.parent / "devnet/tools/node_modules/.bin/anvil").exists() or bool(shutil.which("anvil"))


@pytest.mark.slow
@pytest.mark.parametrize("name, all_win, winners_comparable", CASES, ids=[c[0] for c in CASES])
def test_same_outcomes_on_every_chain(name, all_win, winners_comparable, chains):
    backends = ["mock", "embedded"] + (["anvil"] if _anvil_available() else [])
    assert "anvil" in backends, "anvil is part of this test; run `make bootstrap`"
    prints = {c: _fingerprint(name, all_win, c, winners_comparable, chains) for c in backends}
    ref = prints["mock"]
    assert ref["passed"]
    for c in backends[1:]:
        for k in ref:
            assert prints[c][k] == ref[k], f"{name}: {c} differs from mock in {k}"
    if winners_comparable:  # the comparison is about something: money moved, winners were stored
        assert ref["winners"]["winning_tickets"] > 0 and ref["stored"]
        assert ref["money"]["after"] != ref["money"]["before"]
    if name == "all-tickets-win":
        assert ref["winners"]["redeemed"] == 5 and ref["paid"] == [(10**15 + 1, 10**15 + 1)] * 5
    if name == "unlock-withdraw-mid-session":  # deposit and reserve paid back; every held winner expired unpaid
        assert ref["money"]["after"]["senders"]["sender"] == {"deposit": 0, "reserve": 0}
        assert ref["paid"] == [] and {s for s, _ in ref["stored"]["orch"]} == {"failed"}
