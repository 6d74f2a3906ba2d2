"""lpdev's own Live Runner clients treat the other service as untrusted, and the echo dev runner serves one session:

* the runner registration client, the echo runner's session callback and the gateway's runner client read replies
  through ``sim.wire.bounded.read_reply`` (at most 1 MiB, then a one-line error) and parse them with
  ``bounded.loads_json``: an orchestrator or runner that answers without end cannot eat memory or hang them;
* two sessions starting on the echo runner at once: one gets it, the other the 409 (they used to both get it).
"""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from sim.gateway.runner_client import RunnerClient
from sim.runners.apps import ECHO_KEY, make_app
from sim.runners.registration import RegistrationError, RunnerRegistration
from sim.wire import bounded
from tests.loopback import serve_app


async def _endless(request: web.Request) -> web.StreamResponse:
    """An answer that never ends (64 KiB chunks of JSON-looking bytes)."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"runner_id": "')
    try:
        while True:
            await resp.write(b"a" * 65536)
    except (ConnectionError, asyncio.CancelledError):
        pass
    return resp


@pytest.fixture
async def endless():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _endless)
    runner, url = await serve_app(app)
    yield url
    await runner.cleanup()


async def test_read_reply_stops_at_the_bound_and_names_it(endless):
    async with aiohttp.ClientSession() as http:
        async with http.get(endless + "/x") as r:
            with pytest.raises(bounded.BoundedInputError, match=r"^the answer: larger than 1048576 bytes$"):
                await asyncio.wait_for(bounded.read_reply(r, what="the answer"), 10)
        async with http.get(endless + "/x") as r:
            with pytest.raises(bounded.BoundedInputError, match="larger than 100 bytes"):
                await bounded.read_reply(r, 100, what="reply")


async def test_registration_refuses_an_endless_answer_in_one_line(endless):
    reg = RunnerRegistration(orchestrator_url=endless, secret="abcdef", runner_url="http://127.0.0.1:9", app="a",
                             timeout_s=60, background=False)
    try:
        with pytest.raises(RegistrationError) as exc:
            await asyncio.wait_for(reg.start(), 10)  # it used to read until its 60 s timeout
        assert exc.value.status == 200
        assert exc.value.message == "the orchestrator's answer to /runners/heartbeat: larger than 1048576 bytes"
    finally:
        await reg.close(unregister=False)


async def test_registration_names_an_answer_without_its_fields():
    async def heartbeat(_request):
        return web.json_response(["not", "an", "object"])

    app = web.Application()
    app.router.add_post("/runners/heartbeat", heartbeat)
    runner, url = await serve_app(app)
    reg = RunnerRegistration(orchestrator_url=url, secret="abcdef", runner_url="http://127.0.0.1:9", app="a",
                             background=False)
    try:
        with pytest.raises(RegistrationError, match="heartbeat answer has no runner_id/heartbeat_secret"):
            await reg.start()
    finally:
        await reg.close(unregister=False)
        await runner.cleanup()


async def test_the_runner_client_reports_an_endless_answer_as_a_transport_failure(endless):
    c = RunnerClient("app", orchestrator_url=endless)
    try:
        reply = await asyncio.wait_for(c.discover(), 10)
        assert reply.status == 0 and "larger than 1048576 bytes" in reply.message, reply
    finally:
        await c.close()


async def test_two_echo_sessions_starting_at_once_one_gets_409():
    """The session callback is slow; a second session starts meanwhile. Only one pump runs."""
    calls = []

    async def channels(request: web.Request):
        calls.append(request.path)
        await asyncio.sleep(0.3)
        base = f"http://127.0.0.1:{request.url.port}/ai/trickle/{request.path.split('/')[2]}"
        return web.json_response({"channels": [{"name": n, "url": f"{base}-{n}"} for n in ("in", "out")]})

    async def gone(_request):
        return web.Response(status=404)

    control = web.Application()
    control.router.add_post("/runner/{sid}/channels", channels)
    control.router.add_route("*", "/ai/trickle/{tail:.*}", gone)
    crunner, curl = await serve_app(control)
    echo_app = make_app("echo")
    erunner, eurl = await serve_app(echo_app)
    try:
        async with aiohttp.ClientSession() as http:
            async def start(sid):
                h = {"Livepeer-Session-Id": sid, "Livepeer-Session-Token": "t",
                     "Livepeer-Session-Control": f"{curl}/runner/{sid}"}
                async with http.post(eurl + "/echo", headers=h) as r:
                    return r.status, await r.read()
            got = await asyncio.gather(start("s1"), start("s2"))
        assert sorted(st for st, _ in got) == [200, 409], got
        assert b"echo runner already has an active session" in next(b for st, b in got if st == 409)
        assert len(calls) == 1  # the refused session never opened channels
        winner = json.loads(next(b for st, b in got if st == 200))["session"]
        assert echo_app[ECHO_KEY].session == winner
    finally:
        await erunner.cleanup()
        await crunner.cleanup()
