"""Orchestrator /payment requests per second, 2 tickets each, over TLS on loopback (mock chain, in process).

Each request is a full go-livepeer /payment: decode both headers, verify the segCreds signature and the auth
token, issue a refreshed OrchestratorInfo (fresh params, recipientRand HMAC), check 2 tickets (recipientRand,
signature recovery, win test, nonce) and credit the balance. Payments are signed before the clock starts.

Baseline (same run, same server, same client): requests to an unknown path (``404 page not found``), i.e. the
cost of TLS + HTTP + routing alone. The ratio says how much of the transport's capacity the protocol work
leaves. Winners are not the point here: default ticket EV, so almost none win.
"""
from __future__ import annotations

import asyncio
import tempfile
import time

TICKETS_PER_PAYMENT = 2


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--http", action="store_true", help="cleartext http:// instead of TLS")


async def _measure(url: str, make_headers, seconds: float, concurrency: int, path: str) -> tuple[float, int, dict]:
    import aiohttp

    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    done = 0

    async def worker(session) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            async with session.post(url + path, headers=make_headers(), ssl=False) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
                done += 1

    conn = aiohttp.TCPConnector(limit=concurrency, ssl=False)
    async with aiohttp.ClientSession(connector=conn) as session:
        async with session.post(url + path, headers=make_headers(), ssl=False) as r:  # warm up
            await r.read()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return done / elapsed, done, statuses


async def _run(args) -> dict:
    import devnet
    from sim.orchestrator.probe import Payer, get_orchestrator
    from sim.orchestrator.server import OrchestratorServer

    seconds = getattr(args, "seconds", 2.0)
    concurrency = max(1, getattr(args, "concurrency", 8))
    scheme = "http" if getattr(args, "http", False) else "https"
    chain = devnet.open_chain("mock")
    with tempfile.TemporaryDirectory(prefix="lpdev-bench-orch-") as d:
        async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=d, block_poll_s=3600,
                                      service_addr=f"{scheme}://127.0.0.1:0") as o:
            payer = Payer(chain.key("sender"), manifest_id="bench")
            # Pre-sign enough payments (new params every 250 payments: 500 nonces < the 600 per recipientRand).
            budget = int(seconds * 1500) + 100
            queue: list[dict] = []
            while len(queue) < budget:
                payer.use(await asyncio.to_thread(get_orchestrator, o.url, payer.request()))
                for _ in range(250):
                    queue.append(payer.headers(TICKETS_PER_PAYMENT))
            it = iter(queue)

            base_rate, base_n, base_st = await _measure(o.url, lambda: {}, seconds, concurrency, "/bench-baseline")
            pay_rate, pay_n, pay_st = await _measure(o.url, lambda: next(it), seconds, concurrency, "/payment")
            ok = set(pay_st) == {200} and pay_n > 0
    chain.close()
    return {
        "name": "orchestrator", "ok": ok, "scheme": scheme, "concurrency": concurrency,
        "tickets_per_payment": TICKETS_PER_PAYMENT,
        "payment_rps": round(pay_rate, 1), "tickets_per_s": round(pay_rate * TICKETS_PER_PAYMENT, 1),
        "baseline_404_rps": round(base_rate, 1), "ratio": round(pay_rate / base_rate, 3) if base_rate else None,
        "payment_statuses": {str(k): v for k, v in pay_st.items()}, "requests": pay_n + base_n,
    }


def run(args) -> dict:
    return asyncio.run(_run(args))


def format_text(r: dict) -> str:
    return (f"orchestrator /payment ({r['tickets_per_payment']} tickets, {r['scheme']}, {r['concurrency']} in "
            f"flight): {r['payment_rps']} req/s = {r['tickets_per_s']} tickets/s; baseline 404 route "
            f"{r['baseline_404_rps']} req/s; ratio {r['ratio']}; statuses {r['payment_statuses']}")
