"""GET /discover-orchestrators in livepeer/node's shape (the livepeer-node profile; livepeer/node docs/http-api.md
"Discovery filters and results"): every request asks each configured orchestrator's /discovery, keeps runners with a
url and an app matching the app/gpu filters, lists address/score/runners/last_seen per entry; 503 without sources or
when none answers, 200 [] when one answered with nothing that matches. Then over the wire, and through
`lpdev conformance --local livepeer-node` with discovery configured."""
from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from sim.signer.config import SignerConfig
from sim.signer.discovery import Discovery, GrpcDiscoverySource
from tests.loopback import LoopbackApp
from tests.test_signer_discovery import Env as _Env

A, B = "https://127.0.0.1:9001", "https://127.0.0.1:9002"
LAST_SEEN = "2026-05-28T20:26:40Z"  # the test clock's now (1 780 000 000), UTC


def runner(url, app="live/app", gpu=None, **kw) -> dict:
    r = {"url": url, "app": app, "mode": "persistent", "capacity": 2, "capacity_used": 0, "capacity_available": 2,
         "price_info": {"price": 100, "currency": "wei", "unit": "seconds"}}
    if gpu is not None:
        r["gpu"] = gpu
    r.update(kw)
    return r


def Env(discovery: dict, urls=(A, B)):
    """The signer of tests/test_signer_discovery.py with the livepeer-node profile and these /discovery answers."""
    return _Env([(u, RuntimeError("node never calls GetOrchestrator")) for u in urls],
                SignerConfig(profile="livepeer-node", remote_discovery=True), discovery)


async def test_node_lists_runner_records_live_filtered_by_app_and_gpu():
    h100, a10 = {"id": "0", "name": "H100 ", "vram_mb": 81920}, {"name": "A10"}
    disc = {
        A: [{"address": A, "runners": [runner(A + "/r1", app="live/echo", gpu=h100),
                                       runner(A + "/r2", app="live/noop", gpu=a10),
                                       runner("", app="live/echo"), runner(A + "/r3", app=""),
                                       runner(A + "/r4", app="free/one", price_info={"price": 0}),
                                       runner(A + "/r5", app="usd/one", price_info={"price": "1", "currency": "usd"})]},
            {"address": "not a url", "runners": [runner(A + "/x")]},
            {"address": A, "runners": []}],
        B: [{"address": A, "runners": [runner(A + "/r1", app="live/echo")]}],  # no dedup, no merge
    }
    async with Env(disc) as env:
        st, doc, headers = await env.get("?caps=ignored/cap")
        assert st == 200 and headers["Content-Type"] == "application/json"
        assert [list(e) for e in doc] == [["address", "score", "runners", "last_seen"]] * 2
        assert [e["address"] for e in doc] == [A, A] and {e["last_seen"] for e in doc} == {LAST_SEEN}
        assert [r["url"] for r in doc[0]["runners"]] == [A + "/r1", A + "/r2", A + "/r4", A + "/r5"]  # no price rule
        assert doc[0]["runners"][0] == runner(A + "/r1", app="live/echo", gpu=h100)
        assert doc[0]["runners"][2]["price_info"] == {"price": 0, "currency": "", "unit": ""}  # Go's zero values
        _, doc, _ = await env.get("?app=live/echo&app=live/noop&gpu=H100")  # OR within, AND across; name trimmed
        assert [[r["url"] for r in e["runners"]] for e in doc] == [[A + "/r1"]]
        _, doc, _ = await env.get("?app=nothing/here")
        assert doc == []  # a source answered: 200 and []
        assert env.source.calls == 3  # asked on every request: no cache


async def test_node_discovery_failures():
    async with Env({A: RuntimeError("refused"), B: RuntimeError("timed out")}) as env:
        st, doc, _ = await env.get()
        assert st == 503 and doc["error"].startswith("orchestrator discovery unavailable: ")
        assert "refused" in doc["error"] and "timed out" in doc["error"]
    bad_kind = [{"address": A, "runners": [runner(A + "/r1", capacity="2")]}]  # Go's typed decode fails
    async with Env({A: bad_kind, B: [{"address": B, "runners": [runner(B + "/r1")]}]}) as env:
        st, doc, _ = await env.get()
        assert st == 200 and [e["address"] for e in doc] == [B]  # that orchestrator is skipped, not the rest
    async with Env({A: bad_kind}, urls=(A,)) as env:
        st, doc, _ = await env.get()
        assert (st, doc) == (503, {"error": "orchestrator discovery unavailable: https://127.0.0.1:9001/discovery: "
                                            "json: cannot unmarshal string into Go struct field "
                                            "signer.discoveredRunner.capacity of type int"})
    async with Env({}, urls=()) as env:
        st, doc, _ = await env.get()
        assert (st, doc) == (503, {"error": "no orchestrator discovery source configured"})


class Orchestrator(LoopbackApp):
    """An orchestrator's GET /discovery answering ``body`` and recording the query it was asked."""

    def __init__(self, body: bytes) -> None:
        self.body, self.queries = body, []

    def routes(self, app: web.Application) -> None:
        async def discovery(request):
            self.queries.append(sorted(request.query.items()))
            return web.Response(body=self.body, content_type="application/json")

        app.router.add_get("/discovery", discovery)


async def test_node_passes_the_filters_on_and_reads_the_first_value_like_go():
    from sim.clock import VirtualClock
    from sim.signer.core import SignerCore
    from sim.signer.http import SignerServer
    from sim.signer.testkit import MemoryChain
    from tests.test_signer_harness import KEY

    body = json.dumps([{"address": "https://o.example:8935", "runners": [runner("https://o.example:8935/r1")]}])
    async with Orchestrator(body.encode() + b"\x00 trailing bytes go's decoder never reads") as o:
        config = SignerConfig(profile="livepeer-node", remote_discovery=True, orch_addrs=(o.url,))
        core = SignerCore(key=KEY, chain=MemoryChain(), config=config)
        disco = Discovery(GrpcDiscoverySource(config.orch_addrs, KEY), config, VirtualClock(1_780_000_000))
        async with SignerServer(core, discovery=disco) as s:
            import aiohttp

            async with aiohttp.ClientSession() as http:
                async with http.get(s.url + "/discover-orchestrators?app=live/app&gpu=A10&caps=x") as r:
                    st, doc = r.status, await r.json()
    assert o.queries == [[("app", "live/app"), ("gpu", "A10")]]  # caps is not passed on
    assert st == 200 and doc == []  # the runner has no GPU named A10
    assert disco.source.addrs == [o.url]


@pytest.fixture
def orchestrator_with_runners():
    """An orchestrator whose /discovery lists one runner (in its own event loop's thread: the CLI runs its own)."""
    import threading

    body = json.dumps([{"address": "https://o.example:8935", "runners": [runner("https://o.example:8935/r1")]}])
    ready = threading.Event()
    box: dict = {}

    async def main():
        async with Orchestrator(body.encode()) as o:
            box["loop"], box["url"], box["done"] = asyncio.get_running_loop(), o.url, asyncio.Event()
            ready.set()
            await box["done"].wait()

    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    assert ready.wait(10)
    yield box["url"]
    box["loop"].call_soon_threadsafe(box["done"].set)
    t.join(10)


def test_lpdev_conformance_local_livepeer_node_with_discovery_configured(orchestrator_with_runners, monkeypatch,
                                                                         capsys):
    """`lpdev conformance --local livepeer-node`, its signer given an orchestrator to discover from (the command has
    no flag for it: the signer it builds gets the discovery lpdev signer --remote-discovery --orch-addr builds)."""
    import sim.signer.http as signer_http
    from lpdev.cli import main

    class WithDiscovery(signer_http.SignerServer):
        def __init__(self, core, **kw):
            core.config.remote_discovery, core.config.orch_addrs = True, (orchestrator_with_runners,)
            kw["discovery"] = Discovery(GrpcDiscoverySource(core.config.orch_addrs, b"\x01" * 32), core.config,
                                        core.clock)
            super().__init__(core, **kw)

    monkeypatch.setattr(signer_http, "SignerServer", WithDiscovery)
    assert main(["conformance", "--local", "livepeer-node", "--json", "--only", "discover-orchestrators"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (case,) = doc["cases"]
    assert case["seen"][0].startswith('200 [{"address":"https://o.example:8935","score":1,"runners":')
    assert case["results"]["livepeer-node"]["status"] == "pass"
    for go in ("go-livepeer", "go-livepeer@0.9.1"):  # the shape tells the dialects apart
        assert case["results"][go]["status"] == "differs"
        assert "go-livepeer entries carry capabilities" in case["results"][go]["detail"]
    assert doc["verdict"]["match"] == "livepeer-node"
