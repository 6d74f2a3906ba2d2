"""The other direction: lpdev as the client of a service that may be hostile or broken — a signer under
`lpdev conformance`, a signer behind the scripted gateway, the JSON-RPC endpoint `--eth-url` names. Their replies
are untrusted input: read within bounds, parsed with `sim.wire.bounded`, and a bad one is a clear one-line error
(or a reported departure), never a RecursionError — the tests run with the recursion limit py-evm leaves behind.
"""
from __future__ import annotations

import asyncio
import http.client
import sys

import pytest
from aiohttp import web

from sim.signer.config import SignerConfig
from sim.gateway.signer_client import SignerClient
from sim.wire import bounded

from tests.loopback import LoopbackApp, serve_app
from tests.test_signer_harness import Signer

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(autouse=True)
def raised_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)  # what importing py-evm / py_ecc leaves behind
    yield
    sys.setrecursionlimit(old)


class Hostile(LoopbackApp):
    """An HTTP service answering every request with ``status`` and ``body``."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.url = ""

    def routes(self, app: web.Application) -> None:
        async def answer(_request):
            return web.Response(status=self.status, body=self.body, content_type=self.content_type)

        app.router.add_route("*", "/{tail:.*}", answer)


# ---------------------------------------------------------------------------------------------- gateway client
async def test_the_gateway_reads_livepeer_nodes_flat_error_envelope():
    async with Signer(SignerConfig(profile="livepeer-node")) as s:
        client = SignerClient([s.url])
        try:
            reply = await client.generate_live_payment(orchestrator=s.info().SerializeToString(), state=None,
                                                       manifest_id="sess0001", job_type="lv2v")
        finally:
            await client.close()
    assert (reply.status, reply.message) == (400, "payment type must be live or fixed")  # not the raw '{"error":"…"}' text


@pytest.mark.parametrize("body", [DEEP, b'{"error": ' + b"9" * 5000 + b"}", b"\xff\xfe{\x00}\x00", b"x" * (2 << 20)])
async def test_the_gateway_survives_a_hostile_signer(body):
    async with Hostile(400, body) as h:
        client = SignerClient([h.url])
        try:
            reply = await client.generate_live_payment(orchestrator=b"o", state=None, manifest_id="m", job_type="live")
            assert reply.status == 400 and reply.body is None
            assert len(reply.message) <= 4096
            h.status = 200
            with pytest.raises(bounded.BoundedInputError) as ei:
                await client.sign_orchestrator_info()
            assert str(ei.value).startswith("/sign-orchestrator-info answer")
            assert "\n" not in str(ei.value)
        finally:
            await client.close()


async def test_a_sign_orchestrator_info_answer_without_its_fields_is_named():
    async with Hostile(200, b'{"address": 5}') as h:
        client = SignerClient([h.url])
        try:
            with pytest.raises(bounded.BoundedInputError, match='want {"address": hex, "signature": hex}'):
                await client.sign_orchestrator_info()
        finally:
            await client.close()


# ---------------------------------------------------------------------------------------------- JSON-RPC
@pytest.mark.parametrize("body,problem", [
    (DEEP, "answer to eth_chainId: nested deeper than 64 levels"),
    (b'{"jsonrpc": "2.0", "id": 1, "result": ' + b"1" * 5000 + b"}", "answer to eth_chainId: number with 5000 digits"),
    (b"\x1f\x8b\x08\x00", "answer to eth_chainId: gzip-compressed data"),
    (b"<html>nope</html>", "answer to eth_chainId: invalid JSON"),
])
async def test_a_hostile_eth_url_is_one_clear_error(body, problem):
    from devnet.base import ChainError
    from devnet.rpc import HttpRpc

    async with Hostile(200, body) as h:
        with pytest.raises(http.client.HTTPException) as ei:
            await asyncio.to_thread(HttpRpc(h.url, timeout=5).chain_id)
        assert str(ei.value).startswith(problem) and "\n" not in str(ei.value), str(ei.value)
        from devnet.backends.evm import open_external

        with pytest.raises(ChainError) as ei:  # what `lpdev signer --eth-url` shows
            await asyncio.to_thread(open_external, h.url, "0x" + "11" * 20, timeout=5)
        assert problem in str(ei.value), str(ei.value)


async def test_an_oversized_json_rpc_answer_is_refused(monkeypatch):
    from devnet import rpc

    monkeypatch.setattr(rpc, "MAX_ANSWER_BYTES", 1000)
    async with Hostile(200, b'{"jsonrpc": "2.0", "id": 1, "result": "0x' + b"0" * 5000 + b'"}') as h:
        with pytest.raises(http.client.HTTPException, match="JSON-RPC answer larger than"):
            await asyncio.to_thread(rpc.HttpRpc(h.url, timeout=5).chain_id)


async def test_a_non_200_json_rpc_answer_is_read_small_before_its_status_is_reported():
    from devnet import rpc

    async def endless(request):  # a 500 whose body never ends
        resp = web.StreamResponse(status=500)
        await resp.prepare(request)
        while True:
            await resp.write(b"oops " * 20_000)

    app = web.Application()
    app.router.add_post("/", endless)
    runner, url = await serve_app(app)
    url += "/"
    try:
        with pytest.raises(http.client.HTTPException) as ei:
            await asyncio.wait_for(asyncio.to_thread(rpc.HttpRpc(url, timeout=5).chain_id), 5)
    finally:
        await runner.cleanup()
    assert str(ei.value).startswith("HTTP 500 Internal Server Error: oops oops"), str(ei.value)[:300]
    assert len(str(ei.value)) < 300


async def test_only_anvil_dump_state_may_answer_more_than_4_mib():
    from devnet import rpc

    big = b'{"jsonrpc": "2.0", "id": 1, "result": "0x' + b"ab" * (5 << 19) + b'"}'  # 5 MiB of hex
    async with Hostile(200, big) as h:
        client = rpc.HttpRpc(h.url, timeout=5)
        with pytest.raises(http.client.HTTPException, match="JSON-RPC answer larger than 4 MiB"):
            await asyncio.to_thread(client.request, "eth_getCode", ["0x" + "11" * 20, "latest"])
        state = await asyncio.to_thread(client.request, "anvil_dumpState", [])
    assert len(state) == 2 + (5 << 20)


# ---------------------------------------------------------------------------------------------- conformance
# every request answered 200 with one of these: what a broken or hostile signer could say to the whole suite
HOSTILE_SIGNER_BODIES = {
    "deep": DEEP,
    "empty object": b"{}",
    "not an object": b"[1, 2, 3]",
    "state not an object": b'{"payment": "", "segCreds": "", "state": "x"}',
    "state of three keys": b'{"payment": "", "segCreds": "", "state": {"a": "!!", "b": 1, "c": null}}',
    "state of bad base64": b'{"payment": "AA==", "segCreds": 5, "state": {"State": "!!", "Sig": null}}',
    "state of empty blobs": b'{"payment": "AA==", "segCreds": "AA==", "state": {"State": "", "Sig": ""}}',
    "an error envelope": b'{"error": {"message": 5}}',
    "not JSON": b"\xff\xfe<html>",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_SIGNER_BODIES))
async def test_conformance_against_a_hostile_signer_reports_instead_of_crashing(kind):
    """Every case runs; each cell is ``differs`` (with what was seen) or ``n/a``, never a traceback."""
    import devnet
    from sim.signer.conformance import DIFFERS, NA, run_matrix

    chain = devnet.open_chain("mock")
    try:
        async with Hostile(200, HOSTILE_SIGNER_BODIES[kind]) as h:
            report = await run_matrix(h.url, chain, timeout=10, metrics_url=h.url, usd="fresh")
    finally:
        chain.close()
    assert not report.ok and len(report.cases) > 30
    for c in report.cases:
        for profile, (status, detail, _ext) in c.results.items():
            assert status in (DIFFERS, NA), (kind, c.name, profile, status)
            if status == DIFFERS:
                assert "seen" in detail or "saw" in detail, (kind, c.name, detail)
    if kind == "state of three keys":  # the tampering probe cannot split the state: said, with what was seen
        tampered = next(c for c in report.cases if c.name.startswith("tampered"))
        assert tampered.results["go-livepeer"][1].startswith("the probe could not use reply 1: ValueError"), \
            tampered.results["go-livepeer"][1]
    text = report.text()
    assert "differs" in text and "RecursionError" not in text and "Traceback" not in text


# ---------------------------------------------------------------------------------------------- discovery
async def test_the_signers_discovery_survives_a_hostile_orchestrator():
    from sim.signer.discovery import fetch_runner_discovery

    async with Hostile(200, DEEP) as h:  # with the raised limit, json.loads of this could kill the process
        entries, error = await fetch_runner_discovery(h.url)
    assert entries is None and error == f"{h.url}/discovery: nested deeper than 64 levels"
