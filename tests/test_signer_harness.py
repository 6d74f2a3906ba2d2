"""Shared pieces for the signer tests: a signer on loopback with a virtual clock and an in-memory chain."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import aiohttp

from sim.clock import Rng, VirtualClock
from sim.events import EventBus
from sim.pm.crypto import private_key_to_address
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer
from sim.signer.testkit import MemoryChain, make_orch_info, request_body
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.state import RemotePaymentState, sign_state

KEY = bytes.fromhex("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19")
ADDR = private_key_to_address(KEY)
OTHER_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
T0 = 1_780_000_000.0


@dataclass
class Reply:
    status: int
    body: object
    headers: dict
    raw: bytes

    @property
    def message(self) -> str:
        return self.body["error"]["message"] if isinstance(self.body, dict) and "error" in self.body else ""

    @property
    def state(self) -> dict:
        return self.body["state"]

    def decoded_state(self) -> RemotePaymentState:
        return RemotePaymentState.from_json(base64.b64decode(self.body["state"]["State"]))

    def payment(self) -> pb.Payment:
        return pb.Payment.FromString(base64.b64decode(self.body["payment"]))

    def segcreds(self) -> pb.SegData:
        return pb.SegData.FromString(base64.b64decode(self.body["segCreds"]))


_MOCK = None


def shared_mock_chain():
    """One devnet mock chain per test process, with the harness key (the end-to-end vectors' key) funded as a sender.
    Tests only read it; tests that change chain state make their own chain."""
    global _MOCK
    if _MOCK is None:
        import devnet

        c = devnet.open_chain("mock")
        res = c.fund_deposit_and_reserve_for(c.key("deployer"), ADDR, 10**21, 10**21)
        assert res.ok, res
        _MOCK = c
    return _MOCK


class Signer:
    """A running signer plus a client; ``await s.pay(info, ...)`` posts /generate-live-payment.

    The chain is the devnet mock chain (shared, read-only) unless a test passes its own (e.g. a
    :class:`MemoryChain` whose sender info it edits)."""

    def __init__(self, config: SignerConfig | None = None, chain=None) -> None:
        self.clock = VirtualClock(T0)
        self.bus = EventBus(self.clock)
        self.chain = chain if chain is not None else shared_mock_chain()
        cfg = config or SignerConfig()
        self.core = SignerCore(key=KEY, chain=self.chain, config=cfg, clock=self.clock, rng=Rng(7), events=self.bus)
        self.server = SignerServer(self.core)
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Signer":
        await self.server.start()
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.close()
        await self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def info(self, **kw) -> pb.OrchestratorInfo:
        kw.setdefault("now", self.clock.now())
        if "last_block" not in kw:
            kw["last_block"] = self.chain.last_block()
        return make_orch_info(**kw)

    async def post(self, path: str, body: bytes = b"", headers: dict | None = None, method: str = "POST") -> Reply:
        async with self.http.request(method, self.url + path, data=body, headers=headers or {}) as r:
            raw = await r.read()
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = raw
            return Reply(r.status, doc, dict(r.headers), raw)

    async def pay(self, info=None, headers: dict | None = None, **kw) -> Reply:
        return await self.post("/generate-live-payment", request_body(info, **kw), headers)


def signed_state(state: RemotePaymentState | bytes, key: bytes = KEY) -> dict:
    raw = state if isinstance(state, bytes) else state.to_json_bytes()
    return {"State": base64.b64encode(raw).decode(), "Sig": base64.b64encode(sign_state(key, raw)).decode()}


def rat(s: str) -> Fraction:
    from sim.pm.money import parse_rat

    return parse_rat(s)


@contextmanager
def server_in_thread(server: SignerServer):
    """Run ``server`` on its own event loop in a daemon thread, for blocking clients (the SDK, http.client)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
        loop.close()
