"""Hypothesis fuzz of the orchestrator over its real TLS port (mock chain), in the default suite: every route —
``/payment``, ``/refresh-payment``, ``/live-video-to-video``, the admin API, the trickle channels of a running noop
job (control messages included), the Live Runner's ``/discovery`` and ``/apps/…`` — gets generated JSON, nested
bodies, lone surrogates, long numbers, NaN, binary and UTF-16 bodies, and content-encoding games (a gzip header on
a plain body, a gzip body without the header, both, unknown encodings), with hostile payment headers. No answer is
a 5xx — except go-livepeer's own ``503 insufficient capacity`` for a model the orchestrator does not serve — and the
server keeps serving. Raw bytes to every gRPC method get a gRPC status, never a hang or a dead server."""
from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import ssl
import time
import zlib

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import devnet
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.faults import Faults
from sim.orchestrator.probe import grpc_channel
from sim.trickle import NoopJob

from tests.test_signer_harness import server_in_thread

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def orch(tmp_path_factory):
    chain = devnet.open_chain("mock")
    server = OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path_factory.mktemp("fz"),
                                block_poll_s=None)
    with server_in_thread(server) as o:
        job = NoopJob(o.lv2v.hub, "fz")
        fut = asyncio.run_coroutine_threadsafe(_start(job), _loop_of(o))
        fut.result(10)
        o.fuzz_job = job
        yield o
    chain.close()


async def _start(job: NoopJob) -> None:
    job.start()


def _loop_of(server) -> asyncio.AbstractEventLoop:
    return server._tasks[0].get_loop()


def request(o, method: str, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    c = http.client.HTTPSConnection("127.0.0.1", o.port, context=ctx, timeout=20)
    try:
        c.request(method, path, body=body, headers={"Content-Length": str(len(body)), **headers})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def check(o, path: str, status: int, body: bytes) -> None:
    if status == 503 and path == "/live-video-to-video":
        assert body == b"insufficient capacity\n", body  # go's CheckAICapacity answer for an unserved model
        return
    assert status < 500, (path, status, body[:300])
    o.orch.faults.update(Faults().to_dict())  # a generated body may have set a valid knob: back to none


# ----------------------------------------------------------------------------------------------- bodies
SURROGATES = ["\\ud800", "\\udfff", "\\ud83d", "x\\udc00y", "\\ud800\\ud800"]
KEYS = ["model_id", "params", "sender", "manifest_id", "ManifestID", "gateway_request_id", "stream_id", "delay_s",
        "reject_payments", "keep", "x"]


def _nest(n: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * n + b"]" * n
    if kind == "open":
        return b"[" * n
    return b'{"a":' * n + b"1" + b"}" * n


hostile = st.one_of(
    st.builds(_nest, st.sampled_from([63, 64, 65, 1000, 100_000]), st.sampled_from(["array", "open", "object"])),
    st.builds(lambda k, s: json.dumps({k: "PLACEHOLDER"}).replace("PLACEHOLDER", s).encode(),
              st.sampled_from(KEYS), st.sampled_from(SURROGATES)),
    st.builds(lambda k, s: ('{"%s": "x"}' % s).encode(), st.just(0), st.sampled_from(SURROGATES)),  # in a key
    st.builds(lambda k, n: ('{"%s": %s}' % (k, "9" * n)).encode(), st.sampled_from(KEYS),
              st.sampled_from([20, 78, 101, 4301, 20_000])),
    st.builds(lambda k, e: ('{"%s": 1e%s}' % (k, e)).encode(), st.sampled_from(KEYS),
              st.sampled_from(["400", "-400", "99999999", "+308"])),
    st.builds(lambda k, c: ('{"%s": %s}' % (k, c)).encode(), st.sampled_from(KEYS),
              st.sampled_from(["NaN", "Infinity", "-Infinity"])),
    st.builds(lambda s: s.encode("utf-16"), st.just('{"model_id": "noop"}')),
    st.builds(lambda s: s.encode("utf-16-le"), st.just('{"model_id": "noop"}')),
    st.just(b'{"model_id": "noop\\u0000"}'),
    st.just(b'{"model_id": "noop"'),
    st.binary(max_size=300),
)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(allow_nan=False,
                                                                                      allow_infinity=False),
                      st.text(max_size=20))
json_any = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner,
                                                 max_size=4)), max_leaves=12)
generated = json_any.map(lambda v: json.dumps(v).encode())
bodies = st.one_of(hostile, generated, st.builds(lambda m, p: json.dumps({"model_id": m, "params": p}).encode(),
                                                 st.one_of(st.just("noop"), st.text(max_size=10)), json_any))

ROUTES = ["/live-video-to-video", "/refresh-payment", "/admin/faults", "/payment", "/apps/noop/session",
          "/discovery", "/ai/trickle/fz-control/-1", "/ai/trickle/fz/-1", "/apps/noop/session/x/app/y", "/nope"]

b64ish = st.one_of(st.binary(max_size=120).map(lambda b: __import__("base64").b64encode(b).decode()),
                   st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60),
                   st.just("A" * 10_000))


def _encode(body: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(body)
    if how == "deflate":
        return zlib.compress(body)
    return body


@SETTINGS
@given(path=st.sampled_from(ROUTES), body=bodies,
       ctype=st.sampled_from([None, "application/json", "text/plain", "application/json; charset=utf-16", "x/y"]),
       encoding_header=st.sampled_from([None, "gzip", "deflate", "br", "gzip, gzip", "identity", "x-unknown"]),
       body_encoding=st.sampled_from(["plain", "plain", "gzip", "deflate"]),
       payment=st.one_of(st.none(), b64ish), segment=st.one_of(st.none(), b64ish),
       method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE"]))
def test_fuzz_every_route_never_5xx(orch, path, body, ctype, encoding_header, body_encoding, payment, segment,
                                    method):
    headers = {}
    if ctype:
        headers["Content-Type"] = ctype
    if encoding_header:
        headers["Content-Encoding"] = encoding_header
    if payment is not None:
        headers["Livepeer-Payment"] = payment
    if segment is not None:
        headers["Livepeer-Segment"] = segment
    if path.startswith("/ai/trickle/") and method in ("GET", "DELETE"):
        method = "POST"  # a GET subscribes (a long poll, by design) and a DELETE ends the job's channel
    status, reply = request(orch, method, path, _encode(body, body_encoding), headers)
    check(orch, path, status, reply)


def test_fuzz_server_is_healthy_afterwards(orch):
    status, body = request(orch, "GET", "/admin/status", b"", {})
    assert status == 200 and json.loads(body)
    assert orch.fuzz_job.running, orch.fuzz_job.stop_reason
    # and the job still reads its control channel (an assertion that can fail, unlike a count >= 0)
    before = orch.fuzz_job.stats.control_messages
    status, body = request(orch, "POST", "/ai/trickle/fz-control/-1", b'{"after_fuzz": 1}', {})
    assert status == 200, body
    for _ in range(200):
        if orch.fuzz_job.stats.control_messages > before:
            break
        time.sleep(0.02)
    assert orch.fuzz_job.stats.control_messages > before


# ----------------------------------------------------------------------------------------------- gRPC
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GetOrchestrator", "Ping", "EndTranscodingSession", "Nope"]),
       raw=st.one_of(st.binary(max_size=400), st.just(b"\x0a" + b"\xff" * 10), st.just(b"\x0a\x80\x80\x80\x80\x10")))
def test_fuzz_grpc_raw_messages_get_a_status(orch, method, raw):
    ch = grpc_channel(orch.url)
    try:
        call = ch.unary_unary(f"/net.Orchestrator/{method}", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        try:
            call(raw, timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED), (exc.code(), exc.details())
    finally:
        ch.close()
