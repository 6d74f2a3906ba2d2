"""The Live Runner routes of lpdev's orchestrator over real HTTP on loopback (mock chain with a fixed ETH/USD reading),
checked against go-livepeer 0.9's statuses, messages and order (``server/ai_http.go``, ``ai/runner/live_runner.go``,
go-livepeer ``doc/live-runner.md``): registration and heartbeats, expiry and the 401 that makes a runner register again,
unregister, the O2R channel, static runners and their health, discovery with capacity and converted prices, sessions,
the runner callbacks, the reverse proxy (HTTP, SSE, WebSocket, 502) and the ``/run/{proxy_id}`` URLs."""
from __future__ import annotations

import asyncio
import json
import re
import socket
from fractions import Fraction

import aiohttp
import pytest
from aiohttp import web

import devnet
from sim.clock import VirtualClock
from sim.events import EventBus
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.live_runner import LiveRunnerConfig
from sim.orchestrator.runner_registry import go_duration
from sim.runners import RunnerRegistration, start_dev_runner
from sim.trickle.client import TrickleSubscriber
from tests.runner_stack import give_feed

SECRET = "abcdef"


@pytest.fixture
def chain():
    c = devnet.open_chain("mock")
    give_feed(c, 2000)
    yield c
    c.close()


@pytest.fixture
async def orch(chain, tmp_path):
    clock = VirtualClock(1_780_000_000.0)
    bus = EventBus()
    cfg = LiveRunnerConfig(heartbeat_interval_s=3600, o2r_interval_s=0.2, health_interval_s=3600)
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=3600,
                                  bus=bus, clock=clock, http_port=0, orch_secret=SECRET, runner_config=cfg) as o:
        o.clock, o.bus = clock, bus
        yield o


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as s:
        yield s


async def call(http, method, url, body=None, headers=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    async with http.request(method, url, data=data, headers=headers or {}, allow_redirects=False) as r:
        return r.status, r.headers, await r.read()


async def until(cond, timeout: float = 5.0):
    for _ in range(int(timeout / 0.02)):
        got = cond()
        if got:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def hb(runner_url="http://127.0.0.1:9", app="t/app", **kw) -> dict:
    return {"runner_url": runner_url, "app": app, **kw}


async def register(o, http, **kw) -> dict:
    st, _, body = await call(http, "POST", o.http_url + "/runners/heartbeat", hb(**kw), {"Authorization": SECRET})
    assert st == 200, body
    return json.loads(body)


@pytest.fixture
async def app_server():
    """A small runner app: echoes what it saw, streams, SSE, WebSocket."""
    seen = []

    async def echo(req: web.Request):
        body = await req.read()
        seen.append(req)
        return web.json_response({"method": req.method, "path": req.path, "query": req.rel_url.raw_query_string,
                                  "headers": {k: v for k, v in req.headers.items()}, "len": len(body)})

    async def sse(req: web.Request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(req)
        for i in range(3):
            await resp.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.2)
        return resp

    async def ws(req: web.Request):
        w = web.WebSocketResponse()
        await w.prepare(req)
        async for m in w:
            await w.send_str("pong:" + m.data)
        return w

    app = web.Application(client_max_size=0)
    for prefix in ("", "/base"):
        app.router.add_get(prefix + "/sse", sse)
        app.router.add_get(prefix + "/ws", ws)
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


# ------------------------------------------------------------------------------------------------ registration
@pytest.mark.parametrize("body,message", [
    (b"", "EOF"),
    (b"{", "unexpected EOF"),
    (b"[]", "json: cannot unmarshal array into Go value of type runner.LiveRunnerHeartbeatRequest"),
    (b'{"capacity":"2"}', "json: cannot unmarshal string into Go struct field LiveRunnerHeartbeatRequest.capacity "
                          "of type int"),
    (b'{"capacity":1.5}', "json: cannot unmarshal number 1.5 into Go struct field "
                          "LiveRunnerHeartbeatRequest.capacity of type int"),
    (b'{"price_info":{"price":"cheap"}}', 'json: invalid number literal, trying to unmarshal "\\"cheap\\"" into '
                                          'Number'),
    (b'{"gpu":"x"}', "json: cannot unmarshal string into Go value of type runner.gpuAlias"),
    (b'{"runner_url":"ftp://x","app":"a"}', "invalid runner_url"),
    (b'{"runner_url":"/relative","app":"a"}', "invalid runner_url"),
    (b'{"runner_url":"http://x","app":" a"}', "app must be trimmed"),
    (b'{"runner_url":"http://x","app":""}', "app must be trimmed"),
    (b'{"runner_url":"http://x","app":"a","metadata":"' + b"m" * 1025 + b'"}', "metadata must be at most 1024 bytes"),
    (b'{"runner_url":"http://x","app":"a","metadata":"\\ufffd"}',
     "metadata must not contain Unicode replacement character U+FFFD"),
    (b'{"runner_url":"http://x","app":"a","metadata":"\xff"}',
     "metadata must not contain Unicode replacement character U+FFFD"),
    (b'{"runner_url":"http://x","app":"a","status":"Ready"}', "status must be lowercase and trimmed"),
    (b'{"runner_url":"http://x","app":"a","mode":"batch"}', 'mode must be "persistent" or "single-shot"'),
    (b'{"runner_url":"http://x","app":"a","capacity":-1}', "capacity must be >= 0"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":-1}}', "price_info.price must be a positive decimal"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":1,"currency":"eur"}}',
     "price_info.currency must be usd"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":1,"unit":"minute"}}',
     "price_info.unit must be hour, 720p, or fixed"),
    # lpdev: go registers it, but its O2R channel name "{id}-…-o2r" would hold the "/" too
    (b'{"runner_id":"../..","runner_url":"http://x","app":"a"}',
     "runner_id '../..' must not contain \"/\": its O2R trickle channel name would contain it too (go-livepeer "
     "registers it and hands out an O2R URL no route serves)"),
    # big.Rat.SetString refuses a decimal exponent beyond 10^6 (go's message, answered at once, no hang)
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":1e99999999}}',
     "price_info.price must be a positive decimal"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":"1e99999999"}}',
     "price_info.price must be a positive decimal"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":"5e-1000001"}}',
     "price_info.price must be a positive decimal"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":"1e9223372036854775808"}}',
     "price_info.price must be a positive decimal"),
    # lpdev's bound (go would parse these): go's message, then the reason
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":"1' + b"0" * 4999 + b'"}}',
     "price_info.price must be a positive decimal: number with 5000 digits (at most 1000)"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":1' + b"0" * 4999 + b'}}',
     "price_info.price must be a positive decimal: number with 5000 digits (at most 1000)"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":"1e5000"}}',
     "price_info.price must be a positive decimal: '1e5000' is out of range (more than 1000 digits)"),
    (b'{"runner_url":"http://x","app":"a","price_info":{"price":1' + b"0" * 10_001 + b'}}',
     "body: number with 10002 digits (at most 10000)"),
    (b'{"x":' + b"[" * 65 + b"]" * 65 + b',"runner_url":"http://x","app":"a"}', "body: nested deeper than 64 levels"),
])
async def test_heartbeat_refuses_malformed_bodies_with_go_messages(orch, http, body, message):
    st, h, got = await call(http, "POST", orch.http_url + "/runners/heartbeat", raw=body,
                            headers={"Authorization": SECRET})
    assert (st, got.decode()) == (400, message + "\n")
    assert h["Content-Type"] == "text/plain; charset=utf-8"
    assert orch.runners.registry.counts()["runners"] == 0


async def test_price_checks_run_in_gos_order_around_authorization(orch, http):
    """go parses the price (big.Rat) before it checks the secret: a price go refuses is a 400 for anyone; a price
    only lpdev's bound refuses (go would accept it) keeps go's 401 for a wrong secret and is a 400 with the reason
    for the right one, on registration and on a registered runner's heartbeat alike. Nothing hangs."""
    url = orch.http_url + "/runners/heartbeat"
    long_price = "1" + "0" * 4999
    for auth in ("", "wrong"):
        st, _, body = await call(http, "POST", url, hb(price_info={"price": "1e99999999"}), {"Authorization": auth})
        assert (st, body) == (400, b"price_info.price must be a positive decimal\n")
        st, _, body = await call(http, "POST", url, hb(price_info={"price": long_price}), {"Authorization": auth})
        assert (st, body) == (401, b"invalid registration authorization\n")
    # a currency go refuses still comes first (go's order: the whole body is validated before the secret)
    st, _, body = await call(http, "POST", url, hb(price_info={"price": long_price, "currency": "eur"}),
                             {"Authorization": "wrong"})
    assert (st, body) == (400, b"price_info.currency must be usd\n")
    st, _, body = await call(http, "POST", url, hb(price_info={"price": long_price}), {"Authorization": SECRET})
    assert (st, body) == (400, b"price_info.price must be a positive decimal: number with 5000 digits (at most "
                               b"1000)\n")
    p = await register(orch, http, price_info={"price": "0.5"})
    rid, secret = p["runner_id"], p["heartbeat_secret"]
    st, _, body = await call(http, "POST", url, hb(runner_id=rid, price_info={"price": long_price}),
                             {"Authorization": "wrong"})
    assert (st, body) == (401, b"invalid heartbeat authorization\n")
    st, _, body = await call(http, "POST", url, hb(runner_id=rid, price_info={"price": long_price}),
                             {"Authorization": secret})
    assert st == 400 and body.startswith(b"price_info.price must be a positive decimal: number with 5000 digits")
    assert orch.runners.registry.runners[rid].req.price_info.price == "0.5"  # the refused heartbeat changed nothing
    # the orchestrator is not frozen: it still answers
    st, _, _ = await call(http, "GET", orch.http_url + "/discovery")
    assert st == 200


async def test_secrets_compare_the_bytes_as_go_does(orch):
    """go ``validSecret`` compares the header's bytes with the secret's: a non-ASCII orchestrator secret sent as
    its UTF-8 bytes registers; its latin-1 reading, or the secret's characters re-encoded, do not."""
    import http.client as hc
    from urllib.parse import urlsplit

    orch.runners.registry.orch_secret = "sécret-π"
    u = urlsplit(orch.http_url)

    def post(auth: bytes):
        c = hc.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            c.putrequest("POST", "/runners/heartbeat")
            c.putheader("Authorization", auth)
            body = json.dumps(hb()).encode()
            c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    st, body = await asyncio.to_thread(post, "sécret-π".encode("utf-8"))
    assert st == 200 and json.loads(body)["heartbeat_secret"], body
    st, body = await asyncio.to_thread(post, "sécret-π".encode("utf-8").decode("latin-1").encode("utf-8"))
    assert (st, body) == (401, b"invalid registration authorization\n")
    st, body = await asyncio.to_thread(post, b"s\xe9cret-")
    assert (st, body) == (401, b"invalid registration authorization\n")


async def test_register_then_heartbeat_secrets_and_response_shape(orch, http):
    url = orch.http_url + "/runners/heartbeat"
    st, _, body = await call(http, "POST", url, hb(), {"Authorization": "wrong"})
    assert (st, body) == (401, b"invalid registration authorization\n")
    st, h, body = await call(http, "POST", url, hb(runner_id="", status="ready", mode="single_shot", capacity=0,
                                                   gpu=3, price_info={"price": 0}), {"Authorization": SECRET})
    assert st == 200 and h["Content-Type"] == "application/json"
    first = json.loads(body)
    assert list(first) == ["runner_id", "orchestrator", "heartbeat_interval", "heartbeat_ttl", "heartbeat_secret",
                           "o2r", "session_ids"]
    rid = first["runner_id"]
    assert re.fullmatch(r"runner_[a-z2-7]{8}", rid)
    assert first["orchestrator"] == orch.http_url  # the entry it came in on (no -liveRunnerAddr)
    assert (first["heartbeat_interval"], first["heartbeat_ttl"]) == (go_duration(3600), "20s") == ("1h0m0s", "20s")
    assert re.fullmatch(r"[a-z2-7]{52}", first["heartbeat_secret"]) and first["session_ids"] == []
    o2r = first["o2r"]
    assert re.fullmatch(rf"{rid}-[a-z2-7]{{16}}-o2r", o2r["channel_name"])
    assert o2r == {"name": "o2r", "channel_name": o2r["channel_name"],
                   "url": f"{orch.http_url}/ai/trickle/{o2r['channel_name']}", "mime_type": "application/json"}
    r = orch.runners.registry.runners[rid]
    assert (r.mode, r.req.capacity, r.req.gpu.id) == ("single-shot", 1, "3")  # normalized
    # follow-up heartbeats: the heartbeat secret, not the bootstrap one
    st, _, body = await call(http, "POST", url, hb(runner_id=rid), {"Authorization": SECRET})
    assert (st, body) == (401, b"invalid heartbeat authorization\n")
    st, _, body = await call(http, "POST", url, hb(runner_id=rid, capacity=3),
                             {"Authorization": first["heartbeat_secret"]})
    nxt = json.loads(body)
    assert st == 200 and list(nxt) == ["runner_id", "orchestrator", "heartbeat_interval", "heartbeat_ttl",
                                       "session_ids"]
    assert r.req.capacity == 3 and r.mode == "persistent"  # fields overwritten by the heartbeat
    # the same runner id proposed by someone else without the secret: refused, nothing changes
    kinds = [e.kind for e in orch.bus.recent if e.kind.startswith("runner.")]
    assert kinds.count("runner.registered") == 1 and kinds.count("runner.heartbeat") == 1


async def test_registration_disabled_without_an_orch_secret(orch, http):
    orch.runners.registry.orch_secret = ""
    st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", hb(), {"Authorization": ""})
    assert (st, body) == (404, b"dynamic live runner registration is disabled\n")


async def test_expiry_404_then_sweep_then_401_and_the_runner_registers_again(orch, http, app_server):
    url, _ = app_server
    reg = await RunnerRegistration(orch.http_url, SECRET, url, "t/app", heartbeat_interval_s=3600).start()
    try:
        rid, secret = reg.runner_id, reg.heartbeat_secret
        st, _, body = await call(http, "POST", f"{orch.http_url}/apps/{rid}/session")
        sid = json.loads(body)["session_id"]
        orch.clock.advance(20.5)  # past the TTL: not listed, not found, not yet swept
        st, _, body = await call(http, "GET", orch.http_url + "/discovery")
        assert json.loads(body) == [{"address": orch.http_url}]
        st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", hb(url, runner_id=rid),
                                 {"Authorization": secret})
        assert (st, body) == (404, b"runner not found\n")
        assert orch.runners.registry.sweep() == [rid]
        exp = [e.data for e in orch.bus.recent if e.kind == "runner.expired"]
        assert exp[0]["runner_id"] == rid and exp[0]["sessions_released"] == [sid]
        rel = [e.data for e in orch.bus.recent if e.kind == "runner.session_released" and e.data["session_id"] == sid]
        assert rel[0]["reason"] == "runner expired"
        # the id is unknown now: its heartbeat secret hits the registration path (401), so the SDK re-registers
        st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", hb(url, runner_id=rid),
                                 {"Authorization": secret})
        assert (st, body) == (401, b"invalid registration authorization\n")
        await reg.heartbeat()
        assert reg.runner_id == rid and reg.reregistrations == 1 and reg.heartbeat_secret != secret
        assert rid in orch.runners.registry.runners
    finally:
        await reg.close()
    assert rid not in orch.runners.registry.runners  # unregistered on close
    assert orch.runners.registry.counts() == {"runners": 0, "sessions": 0, "channels": 0, "proxies": 0}


async def test_unregister_in_go_order(orch, http):
    first = await register(orch, http)
    rid = first["runner_id"]
    st, _, body = await call(http, "POST", orch.http_url + "/runners/nobody/unregister")
    assert (st, body) == (404, b"runner not found\n")
    st, _, body = await call(http, "POST", f"{orch.http_url}/runners/{rid}/unregister", headers={"Authorization": "x"})
    assert (st, body) == (401, b"invalid authorization\n")
    st, h, body = await call(http, "GET", f"{orch.http_url}/runners/{rid}/unregister")
    assert (st, h["Allow"], body) == (405, "POST", b"Method Not Allowed\n")
    st, _, body = await call(http, "POST", f"{orch.http_url}/runners/{rid}/unregister",
                             headers={"Authorization": first["heartbeat_secret"]})
    assert (st, body) == (204, b"")
    assert orch.runners.registry.counts()["runners"] == 0
    assert orch.lv2v.hub.get(first["o2r"]["channel_name"]) is None  # O2R closed


async def test_o2r_channel_carries_keepalives_and_session_events(orch, http):
    first = await register(orch, http, capacity=2)
    rid = first["runner_id"]
    st, _, body = await call(http, "POST", f"{orch.http_url}/apps/{rid}/session")
    sid = json.loads(body)["session_id"]
    assert re.fullmatch(r"session_[a-z2-7]{8}", sid)
    st, _, _ = await call(http, "POST", f"{orch.http_url}/apps/{rid}/session/{sid}/stop")
    assert st == 204
    msgs = []
    async with TrickleSubscriber(first["o2r"]["url"], start_seq=0) as sub:
        while len(msgs) < 3:
            _, data = await asyncio.wait_for(sub.next(), 5)
            msgs.append(json.loads(data))
    assert [(m.get("event"), m.get("session")) for m in msgs[:2]] == [("reserved", sid), ("released", sid)]
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", msgs[0]["timestamp"])
    assert msgs[2] == {"keep": "alive"}


async def test_body_limits_and_methods(orch, http):
    st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", raw=b"{" + b" " * (1 << 20) + b"}",
                             headers={"Authorization": SECRET})
    assert (st, body) == (413, b"request body too large\n")
    st, h, _ = await call(http, "POST", orch.http_url + "/discovery")
    assert (st, h["Allow"]) == (405, "GET, HEAD")
    st, h, _ = await call(http, "PUT", orch.http_url + "/runner/r/session/s/channels")
    assert (st, h["Allow"]) == (405, "DELETE, POST")
    st, _, body = await call(http, "GET", orch.http_url + "/runners/heartbeat/x")
    assert (st, body) == (404, b"404 page not found\n")
    orch.runners.config.enabled = False
    st, _, body = await call(http, "GET", orch.http_url + "/discovery")
    assert (st, body) == (404, b"live runners are not supported\n")


# ------------------------------------------------------------------------------------------------ discovery
async def test_discovery_lists_ready_runners_with_capacity_and_converted_prices(orch, http):
    url = orch.http_url + "/runners/heartbeat"
    await register(orch, http, app="free")
    h = await register(orch, http, app="hourly", price_info={"price": 0.36}, capacity=2, version="1.2",
                       metadata='{"x":1}', gpu={"id": "0", "name": "H100", "vram_mb": 81559})
    px = await register(orch, http, app="pixels", price_info={"price": "3.6", "unit": "720p"}, mode="single-shot")
    await register(orch, http, app="fixed", price_info={"price": 0.01, "unit": "fixed"})
    busy = await register(orch, http, app="busy", status="busy")
    st, _, body = await call(http, "POST", url, hb(app="busy", runner_id=busy["runner_id"], status="busy"),
                             {"Authorization": busy["heartbeat_secret"]})
    await call(http, "POST", f"{orch.http_url}/apps/{h['runner_id']}/session",
               headers={"Livepeer-Payer-Address": "0x" + "11" * 20})  # a challenge reserves nothing
    st, _, body = await call(http, "GET", orch.url + "/discovery")
    doc = json.loads(body)
    assert doc[0]["address"] == orch.url  # the TLS entry lists https URLs
    by_app = {r["app"]: r for r in doc[0]["runners"]}
    assert set(by_app) == {"free", "hourly", "pixels", "fixed"}  # "busy" is not ready
    wei_per_usd = Fraction(10**18, 2000)
    assert by_app["free"] == {"url": f"{orch.url}/apps/{by_app['free']['url'].split('/')[4]}/session", "app": "free",
                              "mode": "persistent", "capacity": 1, "capacity_used": 0, "capacity_available": 1}
    assert by_app["hourly"] == {
        "url": f"{orch.url}/apps/{h['runner_id']}/session", "gpu": {"id": "0", "name": "H100", "vram_mb": 81559},
        "app": "hourly", "version": "1.2", "metadata": '{"x":1}', "mode": "persistent", "capacity": 2,
        "capacity_used": 0, "capacity_available": 2,
        "price_info": {"price": int(Fraction("0.36") / 3600 * wei_per_usd), "currency": "wei", "unit": "seconds"}}
    assert by_app["pixels"]["url"] == f"{orch.url}/apps/{px['runner_id']}/app"
    assert by_app["pixels"]["price_info"] == {"price": int(Fraction("3.6") / (3600 * 1280 * 720 * 30) * wei_per_usd),
                                              "currency": "wei", "unit": "720p-pixel-seconds"}
    assert by_app["fixed"]["price_info"] == {"price": int(Fraction("0.01") * wei_per_usd), "currency": "wei",
                                             "unit": "fixed"}


async def test_price_unavailable_without_a_feed_and_below_one_wei(orch, http, chain):
    h = await register(orch, http, app="hourly", price_info={"price": 0.36})
    tiny = await register(orch, http, app="tiny", price_info={"price": "1e-20"})

    def no_feed():
        raise RuntimeError("no ETH/USD price feed on this chain")

    chain.eth_usd = no_feed
    orch.orch._eth_usd = None
    st, _, body = await call(http, "POST", f"{orch.http_url}/apps/{h['runner_id']}/session")
    assert (st, body) == (503, b"live runner price unavailable: no ETH/USD price feed on this chain\n")
    st, _, body = await call(http, "GET", orch.http_url + "/discovery")
    assert all("price_info" not in r for r in json.loads(body)[0]["runners"])  # listed, unpriced (go logs)
    give_feed_back = give_feed
    del chain.eth_usd
    give_feed_back(chain, 2000)
    orch.orch._eth_usd = None
    st, _, body = await call(http, "POST", f"{orch.http_url}/apps/{tiny['runner_id']}/session")
    assert (st, body) == (503, b"live runner price unavailable: converted live runner price must be at least "
                               b"one wei\n")


async def test_strict_go_onchain_registration_refuses_free_runners(orch, http):
    orch.runners.registry.free_runners = False
    st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", hb(price_info={"price": 0}),
                             {"Authorization": SECRET})
    assert (st, body) == (400, b"price_info.price must be a positive decimal\n")
    st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", hb(), {"Authorization": SECRET})
    assert (st, body) == (400, b"price_info.price is required\n")


# ------------------------------------------------------------------------------------------------ sessions
async def test_session_refusals_capacity_and_stop(orch, http):
    p = await register(orch, http, capacity=1)
    s = await register(orch, http, mode="single-shot")
    base = orch.http_url
    st, _, body = await call(http, "POST", base + "/apps/nobody/session")
    assert (st, body) == (404, b"runner not found\n")
    st, _, body = await call(http, "POST", f"{base}/apps/{s['runner_id']}/session")
    assert (st, body) == (400, b"only persistent runners have sessions\n")
    st, _, body = await call(http, "GET", f"{base}/apps/{p['runner_id']}/app/x")
    assert (st, body) == (400, b"runner is not single-shot\n")
    st, _, body = await call(http, "POST", f"{base}/apps/{p['runner_id']}/session")
    sess = json.loads(body)
    sid = sess["session_id"]
    assert sess == {"session_id": sid, "app_url": f"{base}/apps/{p['runner_id']}/session/{sid}/app",
                    "control_url": f"{base}/apps/{p['runner_id']}/session/{sid}"}
    st, _, body = await call(http, "POST", f"{base}/apps/{p['runner_id']}/session")
    assert (st, body) == (503, b"no capacity available for runner\n")
    st, _, body = await call(http, "GET", f"{base}/apps/{p['runner_id']}/session/nope/app/x")
    assert (st, body) == (404, b"runner session not found\n")
    st, _, _ = await call(http, "POST", f"{base}/apps/{p['runner_id']}/session/nope/stop")
    assert st == 204  # an unknown session of a known runner: go releases nothing and says 204
    st, _, body = await call(http, "POST", f"{base}/apps/nobody/session/{sid}/stop")
    assert (st, body) == (404, b"runner not found\n")
    st, _, body = await call(http, "POST", f"{base}/apps/{p['runner_id']}/session/{sid}/payment")
    assert (st, body) == (403, b"ErrSegSig\n")  # a free session still takes payments: no segment, go's 403
    st, _, _ = await call(http, "POST", sess["control_url"] + "/stop")
    assert st == 204 and orch.runners.registry.counts()["sessions"] == 0


# ------------------------------------------------------------------------------------------------ callbacks
async def test_runner_callbacks_channels_proxy_stop(orch, http, app_server):
    url, _ = app_server
    p = await register(orch, http, runner_url=url)
    rid, base = p["runner_id"], orch.http_url
    _, _, body = await call(http, "POST", f"{base}/apps/{rid}/session")
    sid = json.loads(body)["session_id"]
    token = orch.runners.registry.runners[rid].session_token(sid)
    ctl = f"{base}/runner/{rid}/session/{sid}"
    tok = {"Livepeer-Session-Token": token}
    # token and ids first
    st, _, body = await call(http, "POST", ctl + "/channels", {"channels": [{"name": "in"}]})
    assert (st, body) == (401, b"invalid authorization\n")
    st, _, body = await call(http, "POST", f"{base}/runner/{rid}/session/nope/channels", {"channels": []}, tok)
    assert (st, body) == (404, b"runner session not found\n")
    st, _, body = await call(http, "POST", f"{base}/runner/nobody/session/{sid}/channels", {}, tok)
    assert (st, body) == (404, b"runner not found\n")
    st, _, body = await call(http, "POST", ctl + "/channels", raw=b'{"channels":[1]}', headers=tok)
    assert (st, body) == (400, b"json: cannot unmarshal number into Go struct field liveRunnerTrickleChannelsRequest"
                               b".channels of type server.liveRunnerTrickleChannelRequest\n")
    st, _, body = await call(http, "POST", ctl + "/channels", {"channels": []}, tok)
    assert (st, body) == (400, b"channels is required\n")
    st, _, body = await call(http, "POST", ctl + "/channels", {"channels": [{"name": f"c{i}"} for i in range(26)]},
                             tok)
    assert (st, body) == (400, b"channels cannot contain more than 25 entries\n")
    st, _, body = await call(http, "POST", ctl + "/channels", {"channels": [{"name": "a b"}]}, tok)
    assert (st, body) == (400, b"trickle channel name may only contain alphanumerics, underscores, or hyphens\n")
    st, _, body = await call(http, "POST", ctl + "/channels", {"channels": [{"name": "  "}]}, tok)
    assert (st, body) == (400, b"trickle channel name is required\n")
    st, _, body = await call(http, "POST", ctl + "/channels",
                             {"channels": [{"name": "in/x", "mime_type": "video/mp2t"}, {"name": "events"}]}, tok)
    chans = json.loads(body)["channels"]
    assert st == 200 and chans == [
        {"name": "in-x", "channel_name": f"{sid}-in-x", "url": f"{base}/ai/trickle/{sid}-in-x",
         "internal_url": f"{base}/ai/trickle/{sid}-in-x", "mime_type": "video/mp2t"},
        {"name": "events", "channel_name": f"{sid}-events", "url": f"{base}/ai/trickle/{sid}-events",
         "internal_url": f"{base}/ai/trickle/{sid}-events", "mime_type": "application/octet-stream"}]
    st, _, again = await call(http, "POST", ctl + "/channels", {"channels": [{"name": "in-x", "mime_type": "x/y"}]},
                              tok)
    assert json.loads(again)["channels"][0] == chans[0]  # the same name is the same descriptor
    st, _, body = await call(http, "DELETE", ctl + "/channels", {"channels": ["nope"]}, tok)
    assert (st, body) == (404, b"trickle channel not found\n")
    st, _, body = await call(http, "DELETE", ctl + "/channels", {"channels": ["events"]}, tok)
    assert (st, json.loads(body)) == (200, {"deleted": ["events"]})
    assert orch.lv2v.hub.get(f"{sid}-events") is None and orch.lv2v.hub.get(f"{sid}-in-x") is not None
    # proxies: target checks, then a /run/ URL that proxies with the four headers
    for target, msg in [("ftp://127.0.0.1/x", "target_url scheme must be http or https"),
                        ("relative/path", "target_url must be an absolute URL"),
                        ("http://127.0.0.1#f/x", "target_url must be an absolute URL"),  # "#" in the host
                        ("http://example.com/x", "target_url hostname must match registered runner_url hostname")]:
        st, _, body = await call(http, "POST", ctl + "/proxy", {"target_url": target}, tok)
        assert (st, body.decode()) == (400, msg + "\n"), target
    st, _, body = await call(http, "POST", ctl + "/proxy", raw=b"", headers=tok)
    prox = json.loads(body)
    assert st == 200 and re.fullmatch(r"[a-z2-7]{26}", prox["proxy_id"])
    assert prox["url"] == f"{base}/run/{prox['proxy_id']}"
    st, _, body = await call(http, "POST", ctl + "/proxy", {"target_url": url + "/sub/"}, tok)
    sub = json.loads(body)
    st, _, body = await call(http, "PUT", sub["url"] + "/deep/path?a=1&b=2", raw=b"12345")
    seen = json.loads(body)
    assert (seen["method"], seen["path"], seen["query"], seen["len"]) == ("PUT", "/sub/deep/path", "a=1&b=2", 5)
    assert seen["headers"]["Livepeer-Session-Id"] == sid and seen["headers"]["Livepeer-Runner-Route"] == rid
    assert seen["headers"]["Livepeer-Session-Control"] == ctl and seen["headers"]["Livepeer-Session-Token"] == token
    # go's ParseRequestURI never splits a fragment off: "#f" is part of the path, forwarded as %23
    st, _, body = await call(http, "POST", ctl + "/proxy", {"target_url": url + "/frag#f"}, tok)
    assert st == 200, body
    st, _, body = await call(http, "GET", json.loads(body)["url"] + "/y")
    assert st == 200 and json.loads(body)["path"] == "/frag#f/y"
    # go compares hostnames only: an upper-case scheme and another port on the runner's host are accepted, and a
    # request through that proxy is go's ReverseProxy error for the dial (what the fuzz test allows, and only there)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    st, _, body = await call(http, "POST", ctl + "/proxy", {"target_url": f"HTTP://127.0.0.1:{port}"}, tok)
    assert st == 200, body
    pid = json.loads(body)["proxy_id"]
    assert orch.runners.registry.runners[rid].sessions[sid].proxies[pid] == f"http://127.0.0.1:{port}"
    st, _, body = await call(http, "GET", json.loads(body)["url"] + "/x")
    assert (st, body) == (502, f"dial tcp 127.0.0.1:{port}: connect: connection refused\n".encode())
    st, _, body = await call(http, "POST", ctl + "/proxy", {"target_url": "http://127.0.0.1:0/"}, tok)
    st, _, body = await call(http, "GET", json.loads(body)["url"] + "/x")  # go names port 0 like any other
    assert (st, body) == (502, b"dial tcp 127.0.0.1:0: connect: connection refused\n")
    st, _, body = await call(http, "GET", f"{base}/run/{'a' * 26}/x")
    assert (st, body) == (404, b"live runner proxy not found\n")
    # the runner stops its own session: channels and proxies go with it
    st, _, body = await call(http, "POST", ctl + "/stop", headers={"Livepeer-Session-Token": "bad"})
    assert (st, body) == (401, b"invalid authorization\n")
    st, _, _ = await call(http, "POST", ctl + "/stop", headers=tok)
    assert st == 204
    assert orch.lv2v.hub.get(f"{sid}-in-x") is None and orch.runners.registry.counts() == \
        {"runners": 1, "sessions": 0, "channels": 0, "proxies": 0}
    st, _, body = await call(http, "GET", sub["url"] + "/x")
    assert (st, body) == (404, b"live runner proxy not found\n")


# ------------------------------------------------------------------------------------------------ proxy
async def test_reverse_proxy_http_sse_websocket_and_502(orch, http, app_server):
    url, seen = app_server
    p = await register(orch, http, runner_url=url + "/base")
    rid = p["runner_id"]
    _, _, body = await call(http, "POST", f"{orch.http_url}/apps/{rid}/session")
    sess = json.loads(body)
    app = sess["app_url"]
    # any method, query, body; hop-by-hop and client-sent Livepeer headers are not passed on
    st, h, body = await call(http, "DELETE", app + "/a/../b/?q=%20x", raw=b"x" * 70_000,
                             headers={"Livepeer-Session-Token": "forged", "Connection": "keep-alive, X-Hop",
                                      "X-Hop": "1", "X-Forwarded-For": "1.2.3.4", "X-Keep": "yes"})
    got = json.loads(body)
    assert st == 200 and got["method"] == "DELETE" and got["path"] == "/base/b/" and got["query"] == "q=%20x"
    assert got["len"] == 70_000 and got["headers"]["X-Keep"] == "yes"  # Go's canonical header names
    assert "X-Hop" not in got["headers"] and "X-Forwarded-For" not in got["headers"]
    assert got["headers"]["Livepeer-Session-Token"] == orch.runners.registry.runners[rid].session_token(
        sess["session_id"])
    assert got["headers"]["Host"] == url.split("://")[1]
    # SSE arrives event by event, not at the end
    t0 = asyncio.get_running_loop().time()
    async with http.get(app + "/sse") as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        first = await r.content.readline()
        first_at = asyncio.get_running_loop().time() - t0
        rest = await r.read()
    assert first == b"data: 0\n" and first_at < 0.35 and rest.count(b"data:") == 2
    # WebSocket through the session proxy
    async with http.ws_connect(app + "/ws") as ws:
        for i in range(3):
            await ws.send_str(f"p{i}")
            assert (await ws.receive_str()) == f"pong:p{i}"
    evs = await until(lambda: [e.data for e in orch.bus.recent if e.kind == "runner.proxied" and e.data["websocket"]])
    assert evs[-1]["messages_in"] == 3 and evs[-1]["messages_out"] == 3 and evs[-1]["status"] == 101
    # the runner is gone: 502 with the dial error
    gone = await register(orch, http, runner_url="http://127.0.0.1:1")
    _, _, body = await call(http, "POST", f"{orch.http_url}/apps/{gone['runner_id']}/session")
    st, _, body = await call(http, "GET", json.loads(body)["app_url"] + "/x")
    assert (st, body) == (502, b"dial tcp 127.0.0.1:1: connect: connection refused\n")
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await http.ws_connect(f"{orch.http_url}/apps/{gone['runner_id']}/session/nope/app/ws")
    assert exc.value.status == 404


async def test_single_shot_reserves_per_request_and_releases(orch, http, app_server):
    url, _ = app_server
    s = await register(orch, http, runner_url=url, mode="single-shot", capacity=1)
    rid = s["runner_id"]
    st, h, body = await call(http, "GET", f"{orch.http_url}/apps/{rid}/app")
    assert st == 301 and h["Location"] == f"/apps/{rid}/app/"
    async with http.get(f"{orch.http_url}/apps/{rid}/app/sse") as r:
        await r.content.readline()
        # while the stream is open, the single slot is taken
        st, _, body = await call(http, "GET", f"{orch.http_url}/apps/{rid}/app/x")
        assert (st, body) == (503, b"no capacity available for runner\n")
        await r.read()
    await asyncio.sleep(0.05)
    st, _, body = await call(http, "POST", f"{orch.http_url}/apps/{rid}/app/x?z=1", raw=b"{}")
    got = json.loads(body)
    assert st == 200 and got["path"] == "/x" and got["query"] == "z=1"
    assert orch.runners.registry.counts()["sessions"] == 0
    rel = [e.data["reason"] for e in orch.bus.recent if e.kind == "runner.session_released"]
    assert rel == ["single-shot done"] * 2


async def test_proxy_enabled_runners(orch, http, app_server):
    url, _ = app_server
    p = await register(orch, http, runner_url=url, proxy=True)
    s = await register(orch, http, runner_url=url, mode="single-shot", proxy=True)
    _, _, body = await call(http, "POST", f"{orch.http_url}/apps/{p['runner_id']}/session")
    sess = json.loads(body)
    assert re.fullmatch(rf"{re.escape(orch.http_url)}/run/[a-z2-7]{{26}}", sess["app_url"])
    assert sess["control_url"] == f"{orch.http_url}/apps/{p['runner_id']}/session/{sess['session_id']}"
    st, _, body = await call(http, "GET", sess["app_url"] + "/hello")
    assert st == 200 and json.loads(body)["path"] == "/hello"
    _, _, body = await call(http, "GET", orch.http_url + "/discovery")
    ss = next(r for r in json.loads(body)[0]["runners"] if r["mode"] == "single-shot")
    assert ss["url"] == f"{orch.http_url}/run/{s['runner_id']}"
    st, _, body = await call(http, "GET", ss["url"] + "/via/run")
    assert st == 200 and json.loads(body)["path"] == "/via/run"


# ------------------------------------------------------------------------------------------------ static runners
async def test_static_config_validation_is_atomic_with_go_messages(orch, app_server):
    url, _ = app_server
    static = orch.runners.static
    good = {"label": "ok", "runner_url": url, "health_url": "/healthz", "app": "a"}
    cases = [
        ({"runners": [good, dict(good, label="x", routing="path")]}, 'runners[1]: routing must be "runner-id" or "label"'),
        ({"runners": [dict(good, label=" ok")]}, "runners[0]: label is required and must be trimmed"),
        ({"runners": [dict(good, health_url="")]}, "runners[0]: health_url is required"),
        ({"runners": [dict(good, runner_url="nope")]}, "runners[0]: invalid runner_url"),
        ({"runners": [dict(good, healthy_status_code=700)]},
         "runners[0]: healthy_status_code must be a valid HTTP status code"),
        ({"runners": [good, good]}, 'runners[1]: duplicate label "ok"'),
        ({"runners": [dict(good, label="a/b", routing="label")]},
         'runners[0]: label cannot contain / when routing is "label"'),
        ({"runners": [dict(good, capacity=-2)]}, "runners[0]: capacity must be >= 0"),
        ({"runners": {"label": "x"}}, "json: cannot unmarshal object into Go struct field StaticLiveRunnerConfig"
                                      ".runners of type []runner.StaticLiveRunnerConfigEntry"),
    ]
    from sim.orchestrator.runner_registry import RunnerError
    for doc, msg in cases:
        with pytest.raises(RunnerError) as exc:
            await static.register_json(json.dumps(doc).encode())
        assert (exc.value.status, exc.value.message) == (400, msg)
    assert orch.runners.registry.counts()["runners"] == 0  # nothing from a refused batch


async def test_static_runner_health_routing_and_limits(orch, http, app_server):
    url, _ = app_server
    static = orch.runners.static
    resp = await static.register_json(json.dumps({"runners": [
        {"label": "story", "routing": "label", "runner_url": url, "health_url": "/healthz", "app": "s",
         "mode": "single-shot", "capacity": 2},
        {"label": "down", "runner_url": "http://127.0.0.1:1", "health_url": "/healthz", "app": "d"}]}).encode())
    (a, b) = resp["runners"]
    assert a["healthy"] is True and a["label"] == "story" and a["health_url"] == url + "/healthz"
    assert b["healthy"] is False and re.fullmatch(r"runner_[a-z2-7]{8}", b["runner_id"])
    _, _, body = await call(http, "GET", orch.http_url + "/discovery")
    assert [r["url"] for r in json.loads(body)[0]["runners"]] == [f"{orch.http_url}/apps/story/app"]
    st, _, body = await call(http, "GET", f"{orch.http_url}/apps/story/app/hi")
    assert st == 200 and json.loads(body)["headers"]["Livepeer-Runner-Route"] == "story"
    st, _, body = await call(http, "GET", f"{orch.http_url}/apps/{b['runner_id']}/app/x")
    assert (st, body) == (404, b"runner not found\n")  # unavailable
    st, _, body = await call(http, "POST", f"{orch.http_url}/runners/story/unregister")
    assert (st, body) == (400, b"static runner cannot unregister with heartbeat credentials\n")
    st, _, body = await call(http, "POST", orch.http_url + "/runners/heartbeat", hb(url, runner_id="story"),
                             {"Authorization": ""})
    assert (st, body) == (400, b"static runner cannot heartbeat\n")
    # never expire; an upsert keeps the id; unhealthy later -> hidden and sessions released
    orch.clock.advance(3600)
    again = await static.register_json(json.dumps({"runners": [
        {"label": "story", "routing": "label", "runner_url": url, "health_url": "/healthz", "app": "s2",
         "mode": "single-shot", "capacity": 2}]}).encode())
    assert again["runners"][0]["runner_id"] == a["runner_id"]
    r = orch.runners.registry.runners["story"]
    r.req.mode = "persistent"
    _, _, body = await call(http, "POST", f"{orch.http_url}/apps/story/session")
    sid = json.loads(body)["session_id"]
    r.health_url = "http://127.0.0.1:1/healthz"
    await static.check()
    assert r.req.status == "unavailable" and not r.sessions
    rel = [e.data for e in orch.bus.recent if e.kind == "runner.session_released" and e.data["session_id"] == sid]
    assert rel[0]["reason"] == "runner unhealthy"
    assert [e.data["status"] for e in orch.bus.recent if e.kind == "runner.health"] == ["unavailable"]


async def test_dev_runners_register_over_heartbeats(orch, http):
    echo = await start_dev_runner("echo", orch.url, SECRET)
    noop = await start_dev_runner("noop", orch.http_url, SECRET, price="0.36")
    try:
        assert echo.registration.orchestrator_url == orch.url and noop.registration.orchestrator_url == orch.http_url
        # the echo runner called back over TLS; the client reserved over plain HTTP and gets plain-HTTP channel URLs
        _, _, body = await call(http, "GET", orch.http_url + "/discovery")
        apps = {r["app"]: r for r in json.loads(body)[0]["runners"]}
        assert set(apps) == {"lpdev/echo", "lpdev/noop"} and "price_info" in apps["lpdev/noop"]
        _, _, body = await call(http, "POST", f"{orch.http_url}/apps/{echo.runner_id}/session")
        sess = json.loads(body)
        st, _, body = await call(http, "POST", sess["app_url"] + "/echo", {})
        urls = json.loads(body)
        assert st == 200 and urls["in"] == f"{orch.http_url}/ai/trickle/{sess['session_id']}-in"
        await asyncio.sleep(0.3)
        assert echo.registration.session_ids == [sess["session_id"]]  # learned over O2R
        await call(http, "POST", sess["control_url"] + "/stop")
        await asyncio.sleep(0.3)
        assert echo.registration.session_ids == []
    finally:
        await echo.aclose()
        await noop.aclose()
    assert orch.runners.registry.counts()["runners"] == 0


async def test_websocket_messages_are_bounded_both_ways(orch, http):
    """A message larger than Hypercorn's bound (WS_MAX_MESSAGE, which the TLS entry has too) closes the proxied
    WebSocket with 1009 on the side that sent it and never reaches the other side; one of exactly that size
    passes."""
    from sim.serving import WS_MAX_MESSAGE

    got = []

    async def ws(req: web.Request):
        w = web.WebSocketResponse(max_msg_size=0)
        await w.prepare(req)
        async for m in w:
            if m.type == aiohttp.WSMsgType.TEXT and m.data == "big":
                await w.send_bytes(b"r" * (WS_MAX_MESSAGE + 1))
            elif m.type == aiohttp.WSMsgType.BINARY:
                got.append(len(m.data))
                await w.send_str(str(len(m.data)))
        return w

    app = web.Application()
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        p = await register(orch, http, runner_url=f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
        _, _, body = await call(http, "POST", f"{orch.http_url}/apps/{p['runner_id']}/session")
        url = json.loads(body)["app_url"] + "/ws"
        async with http.ws_connect(url, max_msg_size=0) as w:
            await w.send_bytes(b"c" * WS_MAX_MESSAGE)
            assert (await w.receive_str(timeout=20)) == str(WS_MAX_MESSAGE)
            try:
                await w.send_bytes(b"c" * (WS_MAX_MESSAGE + 1))
            except ConnectionError:  # the entry closed (1009) after the frame header and reset what followed
                pass
            else:
                m = await w.receive(timeout=20)
                assert m.type == aiohttp.WSMsgType.CLOSE and m.data == 1009, m
        assert got == [WS_MAX_MESSAGE]  # the oversized one never reached the runner
        async with http.ws_connect(url, max_msg_size=0) as w:
            await w.send_str("big")
            m = await w.receive(timeout=20)
            assert m.type == aiohttp.WSMsgType.CLOSE and m.data == 1009, m
    finally:
        await runner.cleanup()


async def test_a_fast_websocket_sender_meets_backpressure_not_a_growing_queue():
    """The plain-HTTP entry holds at most WS_QUEUE messages the app has not read; then it stops reading the socket,
    so a client sending faster than the app reads is held back by TCP (it used to queue everything in memory).
    Once the app reads, every message arrives, in order."""
    from sim.orchestrator import aiohttp_asgi

    reading = asyncio.Event()
    received: list[int] = []

    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await reading.wait()
        while (m := await receive())["type"] == "websocket.receive":
            received.append(m["bytes"][0])
            if len(received) == 64:
                await send({"type": "websocket.close", "code": 1000})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    entry = await aiohttp_asgi.serve(app, sock)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"http://127.0.0.1:{sock.getsockname()[1]}/ws") as w:
                async def flood():
                    for i in range(64):
                        await w.send_bytes(bytes([i]) + b"\0" * (1 << 20))  # 64 MiB in all

                sender = asyncio.ensure_future(flood())
                done, _ = await asyncio.wait([sender], timeout=2)
                assert not done, "64 MiB went into the server while the app read nothing"
                reading.set()
                await asyncio.wait_for(sender, 30)
                assert (await w.receive(timeout=30)).type == aiohttp.WSMsgType.CLOSE
        assert received == list(range(64))
    finally:
        await entry.cleanup()
