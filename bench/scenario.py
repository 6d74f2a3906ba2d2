"""A 1,000-payment scenario on the mock chain with the real HTTP signer and TLS orchestrator, vs in-process calls.

Measured (same run, same machine):

* ``elapsed_s``: the whole scenario through the runner — stack start (mock chain, signer on aiohttp, orchestrator
  on hypercorn with TLS), GetOrchestrator over gRPC, N LV2V payments at a 5 s virtual cadence (signer HTTP +
  ``/payment`` HTTPS each), settle (mine + redeem), invariants. Target: < 20 s for 1,000 payments.
* ``http_loop_s``: the N payments alone, over the wire;
* ``baseline_s``: the same N payments as in-process core calls (``SignerCore.generate_live_payment`` +
  ``Orchestrator.payment_from_headers``, same JSON and protobuf bytes, no sockets) on a fresh stack.

``ratio`` = http_loop_s / baseline_s: what the real transports cost on top of the protocol work.
"""
from __future__ import annotations

import asyncio
import json
import time

from stack.scenario.model import parse_scenario
from stack.scenario.runner import ScenarioRun
from stack.spec import GatewaySpec, StackSpec
from stack.stack import Stack

TARGET_S = 20.0


def add_arguments(parser) -> None:
    parser.add_argument("--payments", type=int, default=1000, help="payments in the scenario (default 1000)")
    parser.add_argument("--seed", type=int, default=1)


def _scenario_text(n: int, seed: int) -> str:
    return f"""
name: bench-{n}-payments
stack:
  chain: mock
  seed: {seed}
  signers: [{{name: signer}}]
  orchestrators: [{{name: orch}}]
  gateways: [{{name: gw, type: lv2v, interval_s: 5}}]
steps:
  - start: gw
  - pay: {{gateway: gw, count: {n}}}
expect:
  - name: every payment accepted
    outcomes: {{gateway: gw, status: paid, count: {n}}}
"""


async def _http_run(n: int, seed: int) -> tuple[dict, float]:
    run = ScenarioRun(parse_scenario(_scenario_text(n, seed), "bench.yaml"))
    loop_t: dict = {}
    orig = run.do

    async def timed(step):
        t = time.perf_counter()
        await orig(step)
        if step.action == "pay":
            loop_t["s"] = time.perf_counter() - t

    run.do = timed
    summary = await run.run()
    return summary, loop_t.get("s", 0.0)


async def _inprocess_loop(n: int, seed: int) -> tuple[float, int]:
    """The same payments without sockets: the signer core and the orchestrator core called directly."""
    from sim.pm.crypto import private_key_to_address
    from sim.wire import lp_rpc_pb2 as pb
    from sim.wire.gojson import b64decode, b64encode

    cfg = StackSpec(chain="mock", seed=seed, gateways=[GatewaySpec(name="gw")])
    async with Stack(cfg) as st:
        core = st.signers["signer"].core
        orch = st.orchestrators["orch"].node
        sender = private_key_to_address(st.chain.key("sender"))
        info = orch.orchestrator_info(sender)
        state, mid, paid = None, "", 0
        headers = [("Content-Type", "application/json")]
        t = time.perf_counter()
        for i in range(n):
            if i:
                st.clock.advance(5)
            for _attempt in range(5):
                body = json.dumps({"state": state or {"State": None, "Sig": None},
                                   "orchestrator": b64encode(info.SerializeToString()), "ManifestID": mid,
                                   "inPixels": 0, "type": "lv2v", "capabilities": None}).encode()
                resp = await core.generate_live_payment(headers, body, None)
                if resp.status != 480:
                    break
                info = orch.orchestrator_info(sender)  # the refresh a gateway does on 480
            if resp.status != 200:
                raise RuntimeError(f"baseline payment {i}: signer {resp.status} {resp.message}")
            state = resp.body["state"]
            if not mid:
                seg = pb.SegData()
                seg.ParseFromString(b64decode(resp.body["segCreds"]))
                mid = seg.manifestId.decode()
            reply, _seg, _sender = orch.payment_from_headers(resp.body["payment"], resp.body["segCreds"])
            if reply.status != 200:
                raise RuntimeError(f"baseline payment {i}: orchestrator {reply.status} {reply.body!r}")
            res = pb.PaymentResult()
            res.ParseFromString(reply.body)
            info = res.info
            paid += 1
        return time.perf_counter() - t, paid


def run(args) -> dict:
    n = int(getattr(args, "payments", 1000))
    seed = int(getattr(args, "seed", 1))
    t0 = time.perf_counter()
    summary, http_loop = asyncio.run(_http_run(n, seed))
    elapsed = time.perf_counter() - t0
    baseline, paid = asyncio.run(_inprocess_loop(n, seed))
    return {
        "payments": summary["payments"], "tickets": summary["tickets"], "passed": summary["passed"],
        "elapsed_s": round(elapsed, 3), "http_loop_s": round(http_loop, 3), "baseline_s": round(baseline, 3),
        "baseline_payments": paid, "ratio": round(http_loop / baseline, 2) if baseline else None,
        "payments_per_s": round(n / http_loop, 1) if http_loop else None, "target_s": TARGET_S,
        "ok": bool(summary["passed"] and elapsed < TARGET_S * n / 1000),
    }


def format_text(r: dict) -> str:
    return (f"{r['payments']} payments ({r['tickets']} tickets) over HTTP/gRPC/TLS on the mock chain: "
            f"scenario {r['elapsed_s']} s (target < {r['target_s']} s), payment loop {r['http_loop_s']} s "
            f"= {r['payments_per_s']}/s; same payments in-process {r['baseline_s']} s; ratio {r['ratio']}x; "
            f"{'PASS' if r['ok'] else 'FAIL'}")
