"""Nonce carry-over across calls and across signers (scenarios/round-robin-signers.yaml): when a gateway keeps one
set of ticket params (the livepeer-gateway SDK does), every call's tickets start right after the last nonce of the
previous call — made by the *other* signer, known only from the SenderNonce in the state it signed — and the
signer's returned state carries the new last nonce. Checked from the trace, for every call, on the mock chain."""
from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from sim.events import read_trace
from stack.scenario.model import load_scenario
from stack.scenario.runner import run_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "round-robin-signers.yaml"


def test_nonces_carry_over_between_calls_and_signers(tmp_path):
    trace = tmp_path / "rr.jsonl"
    summary = asyncio.run(run_scenario(load_scenario(SCENARIO), chain="mock", trace=trace))
    assert summary["passed"], [x for x in summary["expectations"] + summary["invariants"] if not x["passed"]]
    _, events = read_trace(trace)
    events = list(events)
    replies = [e for e in events if e.kind == "gateway.signer_reply" and e.actor == "gw-sdk-like"]
    signed = [e for e in events if e.kind == "signer.payment" and e.data.get("recipient_rand_hash")
              == replies[0].data["recipient_rand_hash"]]
    assert len(replies) == len(signed) == 6
    assert {e.data["recipient_rand_hash"] for e in replies} == {replies[0].data["recipient_rand_hash"]}
    assert [e.actor for e in signed] == ["signer-b", "signer-a"] * 3  # round-robin: each call to the other one
    last = 0
    for ev, reply in zip(signed, replies):
        assert ev.data["nonce_first"] == last + 1, (ev.actor, ev.data["nonce_first"], last)
        assert reply.data["nonces"] == list(range(last + 1, ev.data["nonce_last"] + 1))
        last = ev.data["nonce_last"]
    # the orchestrator refused none of them (a repeated nonce is "already seen")
    assert not [e.data["error"] for e in events if e.kind == "orch.ticket" and e.data.get("error")]


def test_the_returned_state_carries_the_last_nonce(monkeypatch):
    """The state blob each signer returns holds SenderNonce = that call's last nonce (what the next signer reads)."""
    from sim.gateway.session import GatewaySession

    seen = []
    orig = GatewaySession._forward

    async def spy(self, reply, refreshes, **kw):
        if reply.status == 200 and self.config.name == "gw-sdk-like":
            state = json.loads(base64.b64decode(reply.state["State"]))
            pay = reply.payment
            seen.append((state["SenderNonce"], pay))
        return await orig(self, reply, refreshes, **kw)

    monkeypatch.setattr(GatewaySession, "_forward", spy)
    summary = asyncio.run(run_scenario(load_scenario(SCENARIO), chain="mock"))
    assert summary["passed"]
    from sim.wire import codec

    assert len(seen) == 6
    for sender_nonce, payment_b64 in seen:
        nonces = [t.sender_nonce for t in codec.decode_payment(payment_b64).ticket_sender_params]
        assert sender_nonce == nonces[-1], (sender_nonce, nonces)
