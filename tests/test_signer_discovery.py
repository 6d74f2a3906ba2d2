"""GET /discover-orchestrators (docs/remote-signer.md#discovery; go-livepeer's discovery tests) with an injected
source."""
from __future__ import annotations

from fractions import Fraction

from sim.clock import Rng, VirtualClock
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.discovery import Discovery, StaticDiscoverySource
from sim.signer.http import SignerServer
from sim.signer.testkit import MemoryChain, make_caps
from sim.wire import lp_rpc_pb2 as pb

import aiohttp
import pytest

from tests.test_signer_harness import KEY

LV2V = 35


def orch(price=(1, 1), models=("model-a",), cap_prices=()) -> pb.OrchestratorInfo:
    info = pb.OrchestratorInfo(transcoder="https://ignored:1")
    if price is not None:
        info.price_info.CopyFrom(pb.PriceInfo(pricePerUnit=price[0], pixelsPerUnit=price[1]))
    if models:
        info.capabilities.CopyFrom(make_caps({LV2V: list(models)}))
    for model, p in cap_prices:
        info.capabilities_prices.add(pricePerUnit=p[0], pixelsPerUnit=p[1], capability=LV2V, constraint=model)
    return info


class Env:
    def __init__(self, items, config: SignerConfig | None = None, discovery: dict | None = None) -> None:
        """``discovery``: each orchestrator's ``/discovery`` entries (or an Exception), for runner records."""
        self.clock = VirtualClock(1_780_000_000)
        self.config = config or SignerConfig(max_price=Fraction(100), remote_discovery=True, discovery_refresh_s=60)
        self.source = StaticDiscoverySource(items, discovery)
        core = SignerCore(key=KEY, chain=MemoryChain(), config=self.config, clock=self.clock, rng=Rng(1))
        self.server = SignerServer(core, discovery=Discovery(self.source, self.config, self.clock))

    async def __aenter__(self):
        await self.server.start()
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc):
        await self.http.close()
        await self.server.stop()

    async def get(self, query: str = ""):
        async with self.http.get(self.server.url + "/discover-orchestrators" + query) as r:
            return r.status, await r.json(), r.headers


async def test_lists_priced_orchestrators_from_first_request():
    items = [("127.0.0.1:9001", orch()),
             ("https://127.0.0.1:9002/", orch(price=None, models=("model-a", "model-b"),
                                               cap_prices=[("model-b", (5, 1))])),
             ("127.0.0.1:9003", orch(price=(1000, 1))),          # above the signer's max
             ("127.0.0.1:9004", orch(price=(0, 1))),             # zero price
             ("127.0.0.1:9005", orch(models=())),                # no capability
             ("127.0.0.1:9006", RuntimeError("connection refused"))]
    async with Env(items) as e:
        status, body, headers = await e.get()
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert body == [
            {"address": "https://127.0.0.1:9001", "score": 1, "capabilities": ["live-video-to-video/model-a"]},
            {"address": "https://127.0.0.1:9002", "score": 1, "capabilities": ["live-video-to-video/model-b"]},
        ]
        assert e.source.calls == 1


async def test_caps_filter_or_and_order():
    items = [("a:1", orch(models=("model-a",))), ("b:1", orch(models=("model-b",))),
             ("c:1", orch(models=("model-a", "model-b")))]
    async with Env(items) as e:
        _, body, _ = await e.get("?caps=live-video-to-video/model-b&caps=&caps=live-video-to-video/model-a")
        assert [x["address"] for x in body] == ["https://b:1", "https://c:1", "https://a:1"]
        _, body, _ = await e.get("?caps=text-to-image/x")
        assert body == []


async def test_empty_is_503_and_not_cached():
    async with Env([("a:1", RuntimeError("boom"))]) as e:
        status, body, headers = await e.get()
        assert status == 503 and headers["Content-Type"] == "application/json"
        assert "no orchestrators available" in body["error"]["message"] and "boom" in body["error"]["message"]
        e.source.items = [("a:1", orch())]
        status, body, _ = await e.get()  # the very next request sees it: empty snapshots are not cached
        assert status == 200 and len(body) == 1 and e.source.calls == 2


async def test_cache_refresh_interval():
    async with Env([("a:1", orch())]) as e:
        await e.get()
        e.source.items = [("a:1", orch()), ("b:1", orch())]
        _, body, _ = await e.get()
        assert len(body) == 1 and e.source.calls == 1
        e.clock.advance(61)
        _, body, _ = await e.get()
        assert len(body) == 2 and e.source.calls == 2


async def test_capability_max_price_applies():
    cfg = SignerConfig(max_price=Fraction(100), capability_max_prices={LV2V: {"model-a": Fraction(2)}},
                       remote_discovery=True)
    async with Env([("a:1", orch(price=(3, 1), models=("model-a", "model-b")))], cfg) as e:
        _, body, _ = await e.get()
        assert body[0]["capabilities"] == ["live-video-to-video/model-b"]


async def test_wrong_method_405():
    async with Env([("a:1", orch())]) as e:
        async with e.http.post(e.server.url + "/discover-orchestrators") as r:
            assert r.status == 405 and r.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("items, why", [
    ([("", orch())], "invalid orchestrator URI ''"),
    ([("http://[bad", orch())], "invalid orchestrator URI 'http://[bad'"),
    ([("https://a:notaport", orch())], "invalid orchestrator URI"),
    ([("a:1", orch(price=(1000, 1)))], "priced capability within the signer's maximum price"),  # above max
    ([("a:1", orch(price=(0, 1)))], "priced capability"),  # zero price
    ([("a:1", orch(price=None))], "priced capability"),  # no price at all
])
async def test_only_invalid_or_ineligible_entries_is_503(items, why):
    # go-livepeer's discovery test: empty URI, bad URI, above max, zero price, nil price -> 503 with a JSON body
    async with Env(items) as e:
        status, body, headers = await e.get()
        assert status == 503 and headers["Content-Type"] == "application/json"
        assert why in body["error"]["message"]
