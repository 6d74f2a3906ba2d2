"""Live Runner records in the signer's ``GET /discover-orchestrators`` (go-livepeer ``server/remote_discovery.go``,
go-livepeer ``doc/remote-signer.md``; #4089): validation, merging by address and by runner URL, runner apps as
capabilities, the last good runners kept when an orchestrator's ``/discovery`` fails — first with an injected source,
then over the wire from a real orchestrator with a priced dev runner, read by the SDK's ``discover_runners``."""
from __future__ import annotations

import asyncio
from fractions import Fraction

import aiohttp
import pytest

import devnet
from sim.clock import VirtualClock
from sim.orchestrator import OrchestratorServer
from sim.runners import start_dev_runner
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.discovery import Discovery, GrpcDiscoverySource
from sim.signer.http import SignerServer
from tests.loopback import serve_app
from tests.runner_stack import give_feed
from tests.test_signer_discovery import Env as _Env
from tests.test_signer_discovery import orch

A, B, C = "https://127.0.0.1:9001", "https://127.0.0.1:9002", "https://127.0.0.1:9003"


def runner(url, app="live/app", price=100, unit="seconds", currency="wei", **kw) -> dict:
    r = {"url": url, "app": app, "mode": "persistent", "capacity": 2, "capacity_used": 0, "capacity_available": 2}
    if price is not None:
        r["price_info"] = {"price": price, "currency": currency, "unit": unit}
    r.update(kw)
    return r


def Env(items, discovery, config: SignerConfig | None = None):
    """tests/test_signer_discovery.py's signer on an injected source, with ``/discovery`` answers and a higher max."""
    return _Env(items, config or SignerConfig(max_price=Fraction(1000), remote_discovery=True, discovery_refresh_s=60),
                discovery)


async def test_runner_records_are_validated_merged_and_listed_as_capabilities():
    disc = {
        A: [{"address": A + "/", "runners": [
            runner(A + "/apps/r1/session", app="live/echo"),
            runner(A + "/apps/r1/session", app="live/echo", capacity=9),  # same URL: the first one wins
            runner(A + "/apps/r2/session", app="free/one", price=None),    # free: no price, not listed
            runner(A + "/apps/r3/app", app="usd/one", price=1, currency="usd"),
            runner(A + "/apps/r4/app", app="min/one", unit="minutes"),
            runner(A + "/apps/r5/app", app="dear/one", price=10**6),      # above the signer's max price
            runner(A + "/apps/r6/app", app="meta/one", metadata="m" * 1025),
            runner("", app="no/url"), runner(A + "/apps/r7/app", app="  "),
            runner(A + "/apps/r8/app", app="fixed/one", price="5", unit="fixed")]}],
        # an address with only runners (its GetOrchestrator failed) is listed through them
        B: [{"address": C, "runners": [runner(C + "/apps/x/session", app="live/echo", price=7)]}],
    }
    async with Env([(A, orch()), (B, RuntimeError("down"))], disc) as env:
        st, doc, _ = await env.get()
    assert st == 200
    by = {e["address"].rstrip("/"): e for e in doc}
    assert set(by) == {A, C}
    assert by[A]["capabilities"] == ["fixed/one", "live-video-to-video/model-a", "live/echo"]
    assert [r["url"] for r in by[A]["runners"]] == [A + "/apps/r1/session", A + "/apps/r8/app"]
    assert by[A]["runners"][0]["capacity"] == 2
    assert list(by[A]) == ["address", "score", "capabilities", "runners"]
    assert by[C] == {"address": C, "score": 1, "capabilities": ["live/echo"],
                     "runners": [runner(C + "/apps/x/session", app="live/echo", price=7)]}
    async with Env([(A, orch()), (B, RuntimeError("down"))], disc) as env:
        st, doc, _ = await env.get("?caps=live/echo")
    assert [e["address"].rstrip("/") for e in doc] == [A, C]
    async with Env([(A, orch())], {A: [{"address": A, "runners": [runner(A + "/x", app="fixed/one",
                                                                         price="5", unit="fixed")]}]}) as env:
        st, doc, _ = await env.get("?caps=nothing/here")
    assert (st, doc) == (200, [])


@pytest.mark.parametrize("profile", ["go-livepeer", "go-livepeer@0.9.1"])
async def test_an_orchestrator_whose_discovery_fails_keeps_its_last_runners_4089(profile):
    """#4089 landed in v0.9.3: the go-livepeer profile keeps the last runners, go-livepeer@0.9.1 does not."""
    disc = {A: [{"address": A, "runners": [runner(A + "/apps/r1/session")]}]}
    async with Env([(A, orch())], disc, SignerConfig(max_price=Fraction(1000), remote_discovery=True,
                                                     discovery_refresh_s=0, profile=profile)) as env:
        st, first, _ = await env.get()
        assert first[0]["runners"] == [runner(A + "/apps/r1/session")]
        env.source.discovery[A] = RuntimeError("discovery timed out")
        env.clock.advance(1)
        st, again, _ = await env.get()
        if profile == "go-livepeer@0.9.1":
            assert "runners" not in again[0]  # v0.9.1: the failed /discovery lists no runners
            return
        assert again[0]["runners"] == [runner(A + "/apps/r1/session")]  # kept
        env.source.discovery[A] = []  # an answer with no runners is authoritative
        env.clock.advance(1)
        st, last, _ = await env.get()
        assert "runners" not in last[0]
        assert env.source.calls == 3


async def test_signer_lists_a_real_orchestrators_priced_dev_runner(tmp_path):
    from livepeer_gateway.discovery import discover_runners  # installed by `make`: a broken install fails

    chain = devnet.open_chain("mock")
    give_feed(chain)
    try:
        async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                      block_poll_s=3600, orch_secret="abcdef", price_per_unit=1000,
                                      auto_adjust_price=False) as o:
            priced = await start_dev_runner("noop", o.url, "abcdef", price="0.36")
            free = await start_dev_runner("echo", o.url, "abcdef")
            try:
                config = SignerConfig(remote_discovery=True, orch_addrs=(o.url,))
                core = SignerCore(key=chain.key("sender"), chain=chain, config=config)
                disco = Discovery(GrpcDiscoverySource(config.orch_addrs, chain.key("sender")), config,
                                  VirtualClock(0))
                async with SignerServer(core, discovery=disco) as s:
                    async with aiohttp.ClientSession() as http:
                        async with http.get(s.url + "/discover-orchestrators") as r:
                            doc = await r.json()
                    assert [e["address"] for e in doc] == [o.url]
                    assert "lpdev/noop" in doc[0]["capabilities"] and "lpdev/echo" not in doc[0]["capabilities"]
                    (rec,) = doc[0]["runners"]
                    assert rec["url"] == f"{o.url}/apps/{priced.runner_id}/session"
                    assert rec["price_info"] == {"price": int(Fraction("0.36") / 3600 * Fraction(10**18, 2000)),
                                                 "currency": "wei", "unit": "seconds"}
                    got = await asyncio.to_thread(lambda: asyncio.run(
                        discover_runners(signer_url=s.url, app="lpdev/noop")))
                    assert [r["runners"][0]["url"] for r in got] == [rec["url"]]
            finally:
                await priced.aclose()
                await free.aclose()
    finally:
        chain.close()


async def _orchestrator_discovery(*writes: bytes, status: int = 200):
    """An orchestrator's ``GET /discovery`` answering ``writes`` one at a time (a pause between: separate reads)."""
    from aiohttp import web

    async def discovery(request):
        resp = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for i, w in enumerate(writes):
            if i:
                await asyncio.sleep(0.05)
            await resp.write(w)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/discovery", discovery)
    return await serve_app(app)


async def test_a_discovery_answer_sent_in_several_writes_is_read_whole():
    from sim.signer.discovery import fetch_runner_discovery
    import json

    doc = [{"address": A, "runners": [runner(A + "/apps/r1/session")]}]
    text = json.dumps(doc).encode()
    runner_, url = await _orchestrator_discovery(text[:10], text[10:40], text[40:])
    try:
        assert await fetch_runner_discovery(url) == (doc, None)
    finally:
        await runner_.cleanup()


async def test_a_hostile_discovery_answer_is_an_error_naming_the_endpoint():
    from sim.signer.discovery import DISCOVERY_MAX_BYTES, fetch_runner_discovery

    for writes, problem in (([b"[" * 5000 + b"]" * 5000], "nested deeper than 64 levels"),
                            ([b'[{"address": 1e999999999}]'], "out of range"),
                            ([b"[" + b" " * DISCOVERY_MAX_BYTES, b"]"], "larger than 1048576 bytes"),
                            ([b'{"address": "x"}'], "not a JSON array")):
        runner_, url = await _orchestrator_discovery(*writes)
        try:
            entries, error = await fetch_runner_discovery(url)
        finally:
            await runner_.cleanup()
        assert entries is None and error.startswith(f"{url}/discovery") and problem in error, error


def test_a_runner_price_is_parsed_within_bounds():
    from sim.signer.discovery import valid_runner

    config = SignerConfig(max_price=Fraction(1000))
    assert valid_runner(runner("u", price="1e999999999"), config) == "invalid price"  # refused, not expanded
    assert valid_runner(runner("u", price="1" * 5000), config) == "invalid price"
    assert valid_runner(runner("u", price="1e2"), config) is None
    assert valid_runner(runner("u", price="3/2"), config) is None  # big.Rat.SetString syntax
    assert valid_runner(runner("u", price="1e4"), config) == "above global max price"
