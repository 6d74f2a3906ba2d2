"""A conformance suite for any remote signer, over the wire only (protocol.md §3, §5, §7).

It plays a gateway with a made-up orchestrator: it builds OrchestratorInfos whose ticket params are valid on the
signer's chain (real last block and round from a :class:`~sim.chainview.ChainView`, an exact EV, a face value far
below any deposit), posts ``/generate-live-payment`` bodies and checks the statuses, messages, headers and the
payments returned (tickets signed by the signer's address over the params, expected price verbatim, segCreds
signature, nonces, ticket counts from §3.9's arithmetic).

Each case reports ``pass`` / ``fail`` / ``n/a`` with the response seen. ``required`` cases are go-livepeer
behaviours that do not depend on the signer's configuration; ``optional`` ones are lpdev extensions (replay
protection, size limits) that other signers may legitimately lack. Cases needing the signer's key or
configuration (state blobs signed by it, webhook, configured max price) are ``n/a``.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Awaitable, Callable

import aiohttp

from sim.pm.crypto import keccak, recover_personal, to_checksum_address
from sim.signer.testkit import make_caps, make_orch_info, request_body
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.state import sign_state

__all__ = ["CaseResult", "Report", "run_conformance"]

PASS, FAIL, NA = "pass", "fail", "n/a"


@dataclass
class CaseResult:
    name: str
    ref: str
    status: str
    detail: str = ""
    seen: str = ""
    required: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "ref": self.ref, "status": self.status, "detail": self.detail,
                "seen": self.seen, "required": self.required}


@dataclass
class Report:
    signer: str
    address: str = ""
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.cases if c.required)

    def counts(self) -> dict:
        out = {PASS: 0, FAIL: 0, NA: 0}
        for c in self.cases:
            out[c.status] += 1
        return out

    def to_dict(self) -> dict:
        return {"signer": self.signer, "address": self.address, "ok": self.ok, "counts": self.counts(),
                "cases": [c.to_dict() for c in self.cases]}

    def text(self) -> str:
        lines = [f"conformance of {self.signer} (signer address {self.address or '?'})"]
        for c in self.cases:
            tag = {PASS: "PASS", FAIL: "FAIL", NA: "n/a "}[c.status]
            opt = "" if c.required else " (optional)"
            lines.append(f"  {tag}  {c.name}{opt}  [{c.ref}]")
            if c.status != PASS and (c.detail or c.seen):
                lines.append(f"        {c.detail}" + (f" | seen: {c.seen}" if c.seen else ""))
        n = self.counts()
        lines.append(f"{n[PASS]} passed, {n[FAIL]} failed, {n[NA]} not applicable -> "
                     f"{'CONFORMS' if self.ok else 'DOES NOT CONFORM'}")
        return "\n".join(lines)


class _Fail(Exception):
    pass


@dataclass
class _Reply:
    status: int
    headers: dict
    raw: bytes
    body: object

    @property
    def message(self) -> str:
        b = self.body
        if isinstance(b, dict) and isinstance(b.get("error"), dict):
            return str(b["error"].get("message", ""))
        return ""

    def seen(self) -> str:
        text = self.raw[:200].decode("utf-8", "replace").strip()
        return f"{self.status} {text}"


class _Suite:
    def __init__(self, url: str, chain, http: aiohttp.ClientSession, timeout: float) -> None:
        self.url = url.rstrip("/")
        if "://" not in self.url:
            self.url = "https://" + self.url  # the SDK's default
        self.chain = chain
        self.http = http
        self.timeout = timeout
        self.address = b""
        self.last: _Reply | None = None
        self.seed = int.from_bytes(os.urandom(4), "big")
        self.recipient = keccak(os.urandom(16))[:20]  # a made-up orchestrator

    # ---- plumbing ------------------------------------------------------------------------------
    async def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> _Reply:
        async with self.http.request(method, self.url + path, data=body, headers=headers or {},
                                     timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
            raw = await r.read()
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = None
            self.last = _Reply(r.status, {k: v for k, v in r.headers.items()}, raw, doc)
            return self.last

    def info(self, **kw) -> pb.OrchestratorInfo:
        self.seed += 1
        kw.setdefault("seed", self.seed)
        kw.setdefault("recipient", self.recipient)
        kw.setdefault("last_block", int(self.chain.last_block()))
        rnd = int(self.chain.last_initialized_round())
        kw.setdefault("creation_round", rnd)
        kw.setdefault("creation_round_block_hash", bytes(self.chain.block_hash_for_round(rnd)))
        kw.setdefault("transcoder", "https://orch.conformance.invalid:8935")
        return make_orch_info(**kw)

    async def pay(self, info=None, headers=None, **kw) -> _Reply:
        return await self.request("POST", "/generate-live-payment", request_body(info, **kw),
                                  {"Content-Type": "application/json", **(headers or {})})

    @staticmethod
    def expect(r: _Reply, status: int, message: str | None = None, contains: str | None = None) -> None:
        if r.status != status:
            raise _Fail(f"want status {status}")
        if r.headers.get("Content-Type", "").split(";")[0] != "application/json":
            raise _Fail("want Content-Type: application/json")
        if status != 200:
            if r.message == "" and not isinstance(r.body, dict):
                raise _Fail('want the error envelope {"error":{"message":...}}')
            if message is not None and r.message != message:
                raise _Fail(f"want message {message!r}")
            if contains is not None and contains not in r.message:
                raise _Fail(f"want a message containing {contains!r}")

    def tickets(self, r: _Reply, info: pb.OrchestratorInfo) -> pb.Payment:
        """Checks the payment of a 200 and returns it."""
        if not isinstance(r.body, dict) or not {"payment", "segCreds", "state"} <= set(r.body):
            raise _Fail("want payment, segCreds and state in the 200 body")
        if not isinstance(r.body["state"], dict):
            raise _Fail("state must be a JSON object")
        pay = codec.decode_payment(r.body["payment"])
        if pay.sender != self.address:
            raise _Fail("payment.sender is not the signer's address")
        if pay.expected_price != info.price_info:
            raise _Fail("payment.expected_price is not the OrchestratorInfo price_info verbatim")
        for t, sig in codec.payment_tickets(pay):
            if recover_personal(t.hash(), sig) != self.address:
                raise _Fail(f"ticket nonce {t.sender_nonce} is not signed by the signer")
            if t.recipient != bytes(info.ticket_params.recipient) or \
                    t.recipient_rand_hash != bytes(info.ticket_params.recipient_rand_hash):
                raise _Fail("ticket does not carry the orchestrator's params")
        seg = codec.decode_segcreds(r.body["segCreds"])
        if not codec.verify_segcreds(seg, self.address):
            raise _Fail("segCreds signature does not verify against the signer's address")
        if seg.auth_token != info.auth_token:
            raise _Fail("segCreds does not carry the orchestrator's auth token")
        return pay


# ------------------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------------------
Case = tuple[str, str, bool, Callable[[_Suite], Awaitable[str | None]]]
CASES: list[Case] = []


def case(name: str, ref: str, required: bool = True):
    def deco(fn):
        CASES.append((name, ref, required, fn))
        return fn
    return deco


class _NA(Exception):
    pass


@case("sign-orchestrator-info returns the address and its GetOrchestrator signature", "§3.3")
async def c_orch_info(s: _Suite):
    r = await s.request("POST", "/sign-orchestrator-info", b"{}", {"Content-Type": "application/json"})
    s.expect(r, 200)
    addr_hex = r.body.get("address", "") if isinstance(r.body, dict) else ""
    sig_hex = r.body.get("signature", "") if isinstance(r.body, dict) else ""
    addr = bytes.fromhex(addr_hex[2:]) if addr_hex.startswith("0x") else b""
    sig = bytes.fromhex(sig_hex[2:]) if sig_hex.startswith("0x") else b""
    if len(addr) != 20 or len(sig) != 65:
        raise _Fail("want address (20 bytes) and signature (65 bytes) as 0x hex")
    if addr_hex != to_checksum_address(addr):
        raise _Fail("address should be EIP-55 checksummed, as go-livepeer prints it")
    if codec.orch_request_signer(addr, sig) != addr:
        raise _Fail("signature is not personal_sign(keccak(checksummed address)) by that address")


@case("chain: the signer's sender has a deposit and a reserve", "§2.10")
async def c_funded(s: _Suite):
    info = s.chain.sender_info(s.address)
    if info.deposit <= 0 or info.reserve <= 0:
        raise _Fail(f"sender {to_checksum_address(s.address)} has deposit {info.deposit} and reserve "
                    f"{info.reserve}: fund it (lpdev chain fund) — most cases below will fail")
    return f"deposit {info.deposit} wei, reserve {info.reserve} wei"


@case("wrong method is 405 with Allow, unknown path is 404", "§3.1")
async def c_routing(s: _Suite):
    r = await s.request("GET", "/generate-live-payment")
    if r.status != 405 or "POST" not in r.headers.get("Allow", ""):
        raise _Fail(f"GET /generate-live-payment: want 405 with Allow: POST (got {r.status})")
    r = await s.request("POST", "/no-such-endpoint-conformance")
    if r.status != 404:
        raise _Fail(f"want 404 for an unknown path (got {r.status})")


@case("RequestValidation 1: body not JSON -> 400 invalid character", "§3.7.2 / §7 RV1")
async def c_rv1(s):
    s.expect(await s.request("POST", "/generate-live-payment", b"{not-json"), 400, contains="invalid character")


@case("RequestValidation 2: missing orchestrator -> 400", "§7 RV2")
async def c_rv2(s):
    s.expect(await s.pay(None, in_pixels=1), 400, "missing orchestrator")


@case("RequestValidation 3: orchestrator not protobuf -> 400 proto:", "§7 RV3")
async def c_rv3(s):
    s.expect(await s.pay(b"not-proto", in_pixels=1), 400, contains="proto:")


@case("RequestValidation 4-6: missing or zero priceInfo -> 400", "§7 RV4-6")
async def c_rv4(s):
    for price in (None, (0, 1), (1, 0)):
        s.expect(await s.pay(s.info(price=price), in_pixels=1), 400, "missing or zero priceInfo")


@case("RequestValidation 7: missing ticketParams -> 400", "§7 RV7")
async def c_rv7(s):
    s.expect(await s.pay(s.info(ticket_params=False), in_pixels=1), 400, "missing ticketParams in OrchestratorInfo")


@case("RequestValidation 8: missing auth token -> 400", "§7 RV8")
async def c_rv8(s):
    s.expect(await s.pay(s.info(auth=False), in_pixels=1), 400,
             contains="remote signer could not check whether to refresh session")


@case("RequestValidation 9: auth token expired -> 480 + Livepeer-Orchestrator-URL", "§5 / §7 RV9")
async def c_rv9(s):
    info = s.info(auth_expiration=int(time.time()) - 60)
    r = await s.pay(info, in_pixels=1)
    s.expect(r, 480, "refresh session for remote signer")
    if r.headers.get("Livepeer-Orchestrator-URL") != info.transcoder:
        raise _Fail("want header Livepeer-Orchestrator-URL = OrchestratorInfo.transcoder")


@case("RequestValidation 10: ticket params expired on chain -> 480", "§2.8 / §7 RV10")
async def c_rv10(s):
    # expiration block 1: ``1 - lastSeen <= 1`` for any block the signer has seen. ``last block + 1`` would
    # depend on the signer's view matching ours (go-livepeer polls every 5 s, and on Arbitrum it counts L1
    # blocks, not the chain's own block numbers).
    info = s.info(expiration_block=1)
    r = await s.pay(info, in_pixels=1)
    s.expect(r, 480, "refresh session for remote signer")
    if r.headers.get("Livepeer-Orchestrator-URL") != info.transcoder:
        raise _Fail("want header Livepeer-Orchestrator-URL")


@case("RequestValidation 11-12: invalid job type / no billable unit -> 400", "§3.8 / §7 RV11-12")
async def c_rv11(s):
    s.expect(await s.pay(s.info(), type="bogus", in_pixels=1), 400, "invalid job type")
    s.expect(await s.pay(s.info(), in_pixels=0), 400, "missing billable unit or job type")


@case("RequestValidation 13: more than 100 tickets -> 400", "§3.7.23 / §7 RV13")
async def c_rv13(s):
    s.expect(await s.pay(s.info(ev=1, price=(1, 1)), in_pixels=101), 400, "numTickets 101 exceeds maximum of 100")


@case("RequestValidation 14: capabilities not protobuf -> 400", "§7 RV14")
async def c_rv14(s):
    s.expect(await s.pay(s.info(), type="lv2v", capabilities=b"not-valid-protobuf"), 400,
             contains="cannot parse invalid wire-format data")


@case("RequestValidation 16: request maxPrice below price -> 481", "§3.10 / §7 RV16")
async def c_rv16(s):
    r = await s.pay(s.info(ev=2, price=(2, 1)), type="fixed", max_price={"price": 1, "currency": "wei",
                                                                          "unit": "fixed"})
    if r.status == 481 and "configured maximum price" in r.message:
        raise _NA("the signer's configured maximum price is lower")
    s.expect(r, 481, contains="request maxPrice")
    if r.message != "orchestrator price 2.000 exceeds request maxPrice ceiling 1.000":
        raise _Fail("want message 'orchestrator price 2.000 exceeds request maxPrice ceiling 1.000'")


@case("RequestValidation 17-20: maxPrice validation -> 400", "§3.10 / §7 RV17-20")
async def c_rv17(s):
    mp = {"price": 9, "currency": "wei", "unit": "fixed"}
    s.expect(await s.pay(s.info(), in_pixels=1, max_price=mp), 400, contains="maxPrice requires payment type")
    s.expect(await s.pay(s.info(), type="fixed", max_price={**mp, "currency": "usd"}), 400,
             "maxPrice.currency must be wei")
    s.expect(await s.pay(s.info(), type="live", max_price=mp), 400,
             "maxPrice.unit must be seconds for payment type live")
    s.expect(await s.pay(s.info(), type="fixed", max_price={**mp, "price": 0}), 400,
             "maxPrice.price must be a positive decimal")


@case("LV2V succeeds: 25 tickets for fee 6000/7 at EV 35, payment/segCreds valid", "§3.9 / §7 LV2V 1")
async def c_lv2v(s):
    info = s.info(ev=35, price=(150, 175))
    r = await s.pay(info, in_pixels=1000, manifest_id="conformance-lv2v")
    if r.status == 481 and "configured maximum price" in r.message:
        raise _NA("the signer's configured maximum price is below 6/7 wei")
    s.expect(r, 200)
    pay = s.tickets(r, info)
    nonces = [t.sender_nonce for t in pay.ticket_sender_params]
    if nonces != list(range(1, 26)):
        raise _Fail(f"want 25 tickets with nonces 1..25 for new params, got {nonces[:5]}… ({len(nonces)})")
    s.lv2v_state = (r.body["state"], info)


@case("LV2V second call: fee at the initial price, expected_price is the current one", "§3.9 / §7 LV2V 2")
async def c_lv2v2(s):
    if not hasattr(s, "lv2v_state"):
        raise _NA("needs the previous case")
    st, first = s.lv2v_state
    info = s.info(ev=35, price=(112, 175))
    r = await s.pay(info, state=st, in_pixels=2500, manifest_id="conformance-lv2v")
    s.expect(r, 200)
    pay = s.tickets(r, info)
    # balance after the first call 125/7; fee 2500 x 150/175 (initial price) = 15000/7
    want = -(-(Fraction(15000, 7) - Fraction(125, 7)) // 35)
    if len(pay.ticket_sender_params) != want:
        raise _Fail(f"want {want} tickets (fee at the initial price 150/175), got {len(pay.ticket_sender_params)}")
    if [t.sender_nonce for t in pay.ticket_sender_params][0] != 1:
        raise _Fail("new ticket params must restart nonces at 1")


@case("live: first call preloads 10 s -> 1 ticket at EV 35, price 3", "§3.8 / §7 LiveBills 1")
async def c_live(s):
    info = s.info(ev=35, price=(3, 1))
    r = await s.pay(info, type="live")
    s.expect(r, 200)
    if len(s.tickets(r, info).ticket_sender_params) != 1:
        raise _Fail("want exactly 1 ticket")


@case("fixed: 1 unit, state accepted, different nonce next time", "§7 FixedBills")
async def c_fixed(s):
    info = s.info(ev=3, price=(3, 1))
    mp = {"price": 4, "currency": "wei", "unit": "fixed"}
    r = await s.pay(info, type="fixed", in_pixels=1_000_000, max_price=mp)
    s.expect(r, 200)
    p1 = s.tickets(r, info)
    r2 = await s.pay(info, type="fixed", in_pixels=1_000_000, max_price=mp, state=r.body["state"],
                     manifest_id="fixed-manifest")
    s.expect(r2, 200)
    p2 = s.tickets(r2, info)
    if len(p1.ticket_sender_params) != 1 or len(p2.ticket_sender_params) != 1:
        raise _Fail("want 1 ticket per call")
    if p1.ticket_sender_params[0].sender_nonce == p2.ticket_sender_params[0].sender_nonce:
        raise _Fail("the second ticket reused the first one's nonce")
    s.fixed_state = (r2.body["state"], info)


@case("StateValidation 1: state without ManifestID -> 400", "§7 SV1")
async def c_sv1(s):
    st, info = s.fixed_state
    s.expect(await s.pay(info, type="fixed", state=st), 400, "missing manifestID")


@case("StateValidation 2: bad state signature -> 400 invalid sig", "§7 SV2")
async def c_sv2(s):
    st = {"State": base64.b64encode(b'{"stateID":"state","orchestratorAddress":"0x1"}').decode(),
          "Sig": base64.b64encode(b"bad").decode()}
    s.expect(await s.pay(s.info(), state=st, manifest_id="manifest", in_pixels=1), 400, "invalid sig")


@case("tampered, truncated and foreign-key-signed states -> 400 invalid sig", "§3.6")
async def c_tamper(s):
    st, info = s.fixed_state
    raw = base64.b64decode(st["State"])
    sig = base64.b64decode(st["Sig"])
    flipped = bytearray(raw)
    flipped[len(flipped) // 2] ^= 0x01
    foreign = sign_state(keccak(os.urandom(32)), raw)
    for name, state in (("tampered", {"State": base64.b64encode(bytes(flipped)).decode(), "Sig": st["Sig"]}),
                        ("truncated state", {"State": base64.b64encode(raw[:-3]).decode(), "Sig": st["Sig"]}),
                        ("truncated sig", {"State": st["State"], "Sig": base64.b64encode(sig[:64]).decode()}),
                        ("foreign key", {"State": st["State"], "Sig": base64.b64encode(foreign).decode()})):
        r = await s.pay(info, type="fixed", state=state, manifest_id="m")
        if (r.status, r.message) != (400, "invalid sig"):
            raise _Fail(f"{name}: want 400 invalid sig, seen {r.seen()}")


@case("StateValidation 3: correctly signed non-JSON state", "§7 SV3")
async def c_sv3(s):
    raise _NA("needs the signer's private key")


@case("StateValidation 4-6: app, job type and orchestrator mismatch -> 400", "§7 SV4-6")
async def c_sv4(s):
    info = s.info(ev=3, price=(3, 1))
    r = await s.pay(info, type="fixed", app="conformance/app-a")
    s.expect(r, 200)
    st = r.body["state"]
    s.expect(await s.pay(info, type="fixed", app="conformance/app-b", state=st, manifest_id="m"), 400,
             "app mismatch")
    s.expect(await s.pay(info, type="live", app="conformance/app-a", state=st, manifest_id="m"), 400,
             "job type mismatch")
    other = s.info(ev=3, price=(3, 1), address=keccak(b"other")[:20])
    s.expect(await s.pay(other, type="fixed", app="conformance/app-a", state=st, manifest_id="m"), 400,
             "orchestratorAddress mismatch")


@case("StateValidation 7: price above the initial session price -> 481", "§7 SV7")
async def c_sv7(s):
    info = s.info(ev=4, price=(2, 1))
    r = await s.pay(info, type="fixed")
    s.expect(r, 200)
    r2 = await s.pay(s.info(ev=4, price=(3, 1)), type="fixed", state=r.body["state"], manifest_id="m")
    if r2.status == 481 and "configured maximum price" in r2.message:
        raise _NA("the signer's configured maximum price is lower")
    s.expect(r2, 481, contains="initial session price ceiling")


@case("StateValidation 8: balance covers the fee -> 482 no tickets, no state", "§3.9 / §7 SV8")
async def c_sv8(s):
    r = await s.pay(s.info(ev=100, price=(1, 1)), in_pixels=1)
    s.expect(r, 200)  # balance 99 left
    r2 = await s.pay(s.info(ev=10, price=(1, 1)), in_pixels=1, state=r.body["state"], manifest_id="m")
    s.expect(r2, 482, "no tickets")
    if isinstance(r2.body, dict) and "state" in r2.body:
        raise _Fail("a 482 must not return a state")


@case("Go JSON quirks: case-insensitive keys, lowercase state/sig, null state, trailing bytes", "§3.4")
async def c_quirks(s):
    b64 = codec.to_b64(s.info())
    body = ('{"ORCHESTRATOR":"%s","manifestid":"x","InPixels":1,"unknown":1,"state":{"state":null,"sig":null}}'
            ' trailing' % b64).encode()
    s.expect(await s.request("POST", "/generate-live-payment", body), 200)
    s.expect(await s.request("POST", "/generate-live-payment",
                             b'{"orchestrator":"%s","inPixels":1.5}' % b64.encode()), 400)


@case("configured price ceilings (global, per capability)", "§7 RV15, RV21, RV22", required=True)
async def c_conf_price(s):
    raise _NA("depends on the signer's -maxPricePerUnit / -maxPricePerCapability")


@case("auth webhook behaviours", "§3.11-3.12 / §7 WebhookCallback 1-17")
async def c_webhook(s):
    raise _NA("depends on the signer's webhook configuration")


@case("discover-orchestrators answers a JSON list (or 503 JSON) when enabled", "§3.13")
async def c_discovery(s):
    r = await s.request("GET", "/discover-orchestrators")
    if r.status == 404:
        raise _NA("discovery not enabled on this signer")
    if r.status == 503:
        s.expect(r, 503)
        return "503 (no orchestrators yet)"
    s.expect(r, 200)
    if not isinstance(r.body, list) or not all(isinstance(e, dict) and "address" in e for e in r.body):
        raise _Fail("want a JSON list of {address, score, capabilities}")


@case("replayed (superseded) state is refused", "lpdev extension", required=False)
async def c_replay(s):
    info = s.info(ev=3, price=(3, 1))
    r = await s.pay(info, type="fixed")
    s.expect(r, 200)
    r2 = await s.pay(info, type="fixed", state=r.body["state"], manifest_id="m")
    s.expect(r2, 200)
    r3 = await s.pay(info, type="fixed", state=r.body["state"], manifest_id="m")
    if r3.status != 400 or not r3.message.startswith("invalid state"):
        raise _Fail("replaying a superseded state was accepted (go-livepeer accepts it too)")


@case("oversized body / fields are a 4xx naming the field", "lpdev extension", required=False)
async def c_limits(s):
    r = await s.request("POST", "/generate-live-payment", b'{"orchestrator":"' + b"A" * (2 << 20) + b'"}')
    if r.status not in (400, 413):
        raise _Fail("a 2 MiB body should be refused with 413/400")
    r = await s.pay(s.info(), in_pixels=1, manifest_id="m" * 5000)
    if r.status != 400 or "ManifestID" not in r.message:
        raise _Fail("a 5000-byte ManifestID should be a 400 naming ManifestID")


async def run_conformance(url: str, chain, *, timeout: float = 10.0,
                          only: list[str] | None = None) -> Report:
    """Run every case against ``url``; ``chain`` is a ChainView of the signer's chain."""
    report = Report(signer=url)
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        s = _Suite(url, chain, http, timeout)
        # the signer's identity first: everything else depends on it
        try:
            r = await s.request("POST", "/sign-orchestrator-info", b"{}", {"Content-Type": "application/json"})
            if r.status == 200 and isinstance(r.body, dict):
                s.address = bytes.fromhex(str(r.body.get("address", "0x"))[2:] or "00" * 20)
                report.address = to_checksum_address(s.address)
        except Exception as exc:  # noqa: BLE001
            report.cases.append(CaseResult("signer reachable", "§3.1", FAIL, f"{type(exc).__name__}: {exc}"))
            return report
        for name, ref, required, fn in CASES:
            if only and not any(o in name for o in only):
                continue
            s.last = None
            try:
                detail = await fn(s)
                report.cases.append(CaseResult(name, ref, PASS, detail or "", _seen(s), required=required))
            except _NA as exc:
                report.cases.append(CaseResult(name, ref, NA, str(exc), _seen(s), required=required))
            except _Fail as exc:
                report.cases.append(CaseResult(name, ref, FAIL, str(exc), _seen(s), required))
            except AttributeError as exc:
                report.cases.append(CaseResult(name, ref, NA, f"needs an earlier case that failed ({exc})",
                                               required=required))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                report.cases.append(CaseResult(name, ref, FAIL, f"request failed: {type(exc).__name__}: {exc}",
                                               required=required))
            except Exception as exc:  # noqa: BLE001 - a broken reply must not stop the suite
                report.cases.append(CaseResult(name, ref, FAIL, f"{type(exc).__name__}: {exc}", required=required))
    return report


def _seen(s: _Suite) -> str:
    return s.last.seen() if s.last is not None else ""
