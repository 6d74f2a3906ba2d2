"""The conformance matrix: which remote-signer dialect does a signer speak, and where does it depart from it?

Over the wire only (plus reads of the signer's chain), it plays a gateway with a made-up orchestrator whose ticket
params are valid on that chain (real last block and round, an exact EV, a face value far below any deposit). Each
case sends the same requests whatever the profile (a probe), records the replies, and then compares them with
what each profile (:mod:`sim.signer.profiles`) says its dialect answers: status, message, error envelope, the
refresh header, ticket counts, state envelope and blob layout, and for every 200 a valid payment (tickets signed
by the signer over the orchestrator's params, expected price verbatim, segCreds signature and auth token).

Per (case, profile): ``pass`` (the replies are what the profile expects), ``differs`` (they are not; the detail
says what was expected and what was seen) or ``n/a`` (the case depends on something the suite cannot know or
set up: the signer's configured ceiling, its metrics URL, its ETH/USD rate). The verdict names the profile the
signer matches — no departure outside lpdev's own extensions — or the closest one and its departures.

Expectations are data (:class:`Want`), built from the profile's facts, so two profiles expect the same thing
exactly when their wants are equal; a case discriminates between two profiles when they are not.

    report = await run_matrix(url, chain_view, metrics_url=None, profiles=None)
    print(report.text()); report.verdict()
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import aiohttp

from sim.pm.crypto import SignatureError, keccak, recover_personal, to_checksum_address
from sim.signer.profiles import PROFILES, Profile, get_profile
from sim.signer.testkit import make_caps, make_orch_info, request_body
from sim.wire import bounded, codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.state import LAYOUTS, sign_state

__all__ = ["Want", "Case", "CASES", "CaseResult", "MatrixReport", "Env", "run_matrix", "PASS", "DIFFERS", "NA",
           "SESSION_ID"]

PASS, DIFFERS, NA = "pass", "differs", "n/a"
SESSION_ID = "sess0001"  # the auth token session id of every made-up OrchestratorInfo (testkit.make_orch_info)
BUSY_HOLD = 64  # livepeer-node's slot count: this many slow requests are held open in the busy case
HUGE_PRICE = 2**62  # wei per unit: above any sane USD ceiling


@dataclass(frozen=True)
class Want:
    """What one reply should be. ``None`` fields are not checked."""

    status: int | None
    message: str | None = None  # the error message, exactly
    contains: str | None = None  # ... or a part of it
    envelope: str | None = None  # "go" {"error":{"message"}} | "flat" {"error":"…"}
    header: bool = False  # Livepeer-Orchestrator-URL present (= the transcoder)
    payment: bool = False  # a 200 with a valid payment
    tickets: int | None = None
    state_keys: tuple | None = None  # the response's state envelope keys
    layout: str | None = None  # the state blob's key order ("go" 13 / "node" 16)
    no_state: bool = False
    newline: bool | None = None  # the body ends with "\n"
    raw: bytes | None = None  # the exact body
    check: str | None = None  # a named extra check (CHECKS)
    extension: bool = False  # an lpdev extension: a departure here does not decide the verdict
    json_body: str | None = None  # the JSON body, exactly (canonical text: sorted keys)

    def describe(self) -> str:
        parts = [str(self.status) if self.status is not None else "any status"]
        if self.message is not None:
            parts.append(repr(self.message))
        if self.contains is not None:
            parts.append(f"containing {self.contains!r}")
        if self.tickets is not None:
            parts.append(f"{self.tickets} ticket(s)")
        if self.header:
            parts.append("+ Livepeer-Orchestrator-URL")
        if self.envelope:
            parts.append(f"{self.envelope} envelope")
        if self.layout:
            parts.append(f"{self.layout} state layout")
        if self.json_body is not None:
            parts.append(self.json_body)
        if self.check:
            parts.append(f"[{self.check}]")
        return " ".join(parts)


@dataclass
class Env:
    """What the suite knows about the target beyond its replies."""

    usd: str = "unknown"  # the chain's ETH/USD feed: fresh | stale | unknown
    metrics_url: str | None = None
    funded: bool = True


class _Fail(Exception):
    pass


class _NA(Exception):
    pass


@dataclass
class _Reply:
    status: int
    headers: dict
    raw: bytes
    body: object
    info: object = None  # the OrchestratorInfo the request carried

    @property
    def message(self) -> str:
        b = self.body
        if isinstance(b, dict):
            e = b.get("error")
            if isinstance(e, dict):
                return str(e.get("message", ""))
            if isinstance(e, str):
                return e
        return ""

    @property
    def envelope(self) -> str:
        b = self.body
        if isinstance(b, dict) and set(b) == {"error"}:
            e = b["error"]
            if isinstance(e, dict) and set(e) == {"message"} and isinstance(e["message"], str):
                return "go"
            if isinstance(e, str):
                return "flat"
        return "none"

    def seen(self) -> str:
        text = self.raw[:160].decode("utf-8", "replace").strip()
        return f"{self.status} {text}"


MAX_REPLY = 4 << 20  # bytes of a signer's reply the suite reads


class _Suite:
    def __init__(self, url: str, chain, http: aiohttp.ClientSession, timeout: float, env: Env) -> None:
        self.url = url.rstrip("/")
        if "://" not in self.url:
            self.url = "https://" + self.url  # the SDK's default
        self.chain = chain
        self.http = http
        self.timeout = timeout
        self.env = env
        self.address = b""
        self.seed = int.from_bytes(os.urandom(4), "big")
        self.recipient = keccak(os.urandom(16))[:20]  # a made-up orchestrator
        self.replies: list[_Reply] = []  # every reply of the current case (what was seen when a probe stops)

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                      base: str | None = None) -> _Reply:
        """The signer under test is another service: its reply is read within :data:`MAX_REPLY` bytes and parsed
        with :mod:`sim.wire.bounded` (a reply it refuses has no JSON body, which the case then reports)."""
        async with self.http.request(method, (base or self.url) + path, data=body, headers=headers or {},
                                     timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
            raw = await bounded.read_reply(r, MAX_REPLY)
            try:
                doc = bounded.loads_json(raw, what=f"{path} reply", max_bytes=MAX_REPLY,
                                         replace_invalid=True) if raw else None
            except bounded.BoundedInputError:
                doc = None
            reply = _Reply(r.status, {k: v for k, v in r.headers.items()}, raw[:MAX_REPLY + 1], doc)
        self.replies.append(reply)
        return reply

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
        r = await self.request("POST", "/generate-live-payment", request_body(info, **kw),
                               {"Content-Type": "application/json", **(headers or {})})
        r.info = info
        return r


# ------------------------------------------------------------------------------------------------
# Comparing replies with wants
# ------------------------------------------------------------------------------------------------
def _check_payment(s: _Suite, r: _Reply) -> int:
    """A 200's payment is valid; returns its ticket count."""
    info = r.info
    if not isinstance(r.body, dict) or not {"payment", "segCreds", "state"} <= set(r.body):
        raise _Fail("want payment, segCreds and state in the 200 body")
    if not isinstance(r.body["state"], dict):
        raise _Fail("state must be a JSON object")
    pay = codec.decode_payment(r.body["payment"])
    if pay.sender != s.address:
        raise _Fail("payment.sender is not the signer's address")
    if isinstance(info, pb.OrchestratorInfo):
        if pay.expected_price != info.price_info:
            raise _Fail("payment.expected_price is not the OrchestratorInfo price_info verbatim")
        for t, sig in codec.payment_tickets(pay):
            if recover_personal(t.hash(), sig) != s.address:
                raise _Fail(f"ticket nonce {t.sender_nonce} is not signed by the signer")
            if t.recipient != bytes(info.ticket_params.recipient) or \
                    t.recipient_rand_hash != bytes(info.ticket_params.recipient_rand_hash):
                raise _Fail("ticket does not carry the orchestrator's params")
    seg = codec.decode_segcreds(r.body["segCreds"])
    if not codec.verify_segcreds(seg, s.address):
        raise _Fail("segCreds signature does not verify against the signer's address")
    if isinstance(info, pb.OrchestratorInfo) and seg.auth_token != info.auth_token:
        raise _Fail("segCreds does not carry the orchestrator's auth token")
    return len(pay.ticket_sender_params)


def _nonces(r: _Reply) -> list[int]:
    return [t.sender_nonce for t in codec.decode_payment(r.body["payment"]).ticket_sender_params]


def _state_blob(r: _Reply) -> bytes:
    st = r.body["state"]
    key = next((k for k in st if k.lower() == "state"), None)
    return base64.b64decode(st[key]) if key else b""


def _check_info_sig(flavour: str):
    def check(s: _Suite, r: _Reply, _replies) -> None:
        body = r.body if isinstance(r.body, dict) else {}
        addr_hex, sig_hex = str(body.get("address", "")), str(body.get("signature", ""))
        try:
            addr = bytes.fromhex(addr_hex[2:]) if addr_hex.startswith("0x") else b""
            sig = bytes.fromhex(sig_hex[2:]) if sig_hex.startswith("0x") else b""
        except ValueError:
            addr = sig = b""
        if len(addr) != 20 or len(sig) != 65:
            raise _Fail("want address (20 bytes) and signature (65 bytes) as 0x hex")
        if addr_hex != to_checksum_address(addr):
            raise _Fail("the address should be EIP-55 checksummed")
        message = addr_hex.encode("ascii")
        try:
            signer = recover_personal(keccak(message) if flavour == "keccak" else message, sig)
        except SignatureError:
            signer = b""
        if signer != addr:
            what = "keccak(EIP-55 address)" if flavour == "keccak" else "the EIP-55 address text"
            raise _Fail(f"the signature is not personal_sign({what}) by that address")
    return check


def _check_allow_post(s, r, _replies):
    if "POST" not in r.headers.get("Allow", ""):
        raise _Fail("want Allow: POST")


def _check_nonce_differs(s, r, replies):
    first = next(x for x in replies if x.status == 200)
    if _nonces(first) == _nonces(r):
        raise _Fail("the second payment reused the first one's nonces")


def _check_nonces_continue(s, r, replies):
    i = replies.index(r)
    got = _nonces(r)
    if got and got[0] != i * len(got) + 1:
        raise _Fail(f"one set of params reused: want nonces from {i * len(got) + 1}, got {got[0]}")


def _readyz_unknown(s, r, _replies):
    raise _NA("/healthz and /metrics are as expected; /readyz depends on the signer's ETH/USD rate, which the suite "
              "cannot read (pass --usd-rate fresh|stale)")


def _check_prometheus(s, r, _replies):
    if not r.headers.get("Content-Type", "").startswith("text/plain") or not r.raw.startswith(b"#"):
        raise _Fail("want Prometheus text (text/plain starting with '#')")


def _check_discovery(dialect: str):
    def check(s, r, _replies):
        if r.status == 404:
            if dialect == "go":
                raise _NA("discovery not enabled on this signer")
            raise _Fail("livepeer-node always serves /discover-orchestrators")
        if r.status == 503:
            if r.envelope != dialect:
                raise _Fail(f"want the {dialect} envelope on 503")
            return
        if r.status != 200 or not isinstance(r.body, list):
            raise _Fail("want 200 with a JSON list, or 503")
        for e in r.body:
            if not isinstance(e, dict) or "address" not in e:
                raise _Fail("want entries with an address")
            if dialect == "flat" and (not {"runners", "last_seen"} <= set(e) or "capabilities" in e):
                raise _Fail("livepeer-node entries carry runners and last_seen, no capabilities")
            if dialect == "go" and (not isinstance(e.get("capabilities"), list) or "last_seen" in e):
                raise _Fail("go-livepeer entries carry capabilities, no last_seen")
    return check


def _check_unreachable(s, r, _replies):
    if r.status not in (0, 404):
        raise _Fail("go-livepeer has no health endpoints")


CHECKS: dict[str, Callable] = {
    "info-sig-keccak": _check_info_sig("keccak"), "info-sig-raw": _check_info_sig("raw"),
    "allow-post": _check_allow_post, "nonce-differs": _check_nonce_differs, "nonces-continue": _check_nonces_continue,
    "readyz-unknown": _readyz_unknown, "prometheus": _check_prometheus, "discovery-go": _check_discovery("go"),
    "discovery-flat": _check_discovery("flat"), "no-health": _check_unreachable,
}


def _compare(s: _Suite, replies: list[_Reply], wants: list[Want]) -> tuple[str, bool]:
    """``("", _)`` when the replies are what ``wants`` says, else (what differs, whether the first difference is
    in an lpdev-extension reply). Raises _NA from a check."""
    for i, (r, w) in enumerate(zip(replies, wants)):
        where = f"reply {i + 1}: " if len(wants) > 1 else ""
        problem = ""
        try:
            if w.status is not None and r.status != w.status:
                raise _Fail(f"want status {w.status}")
            if w.raw is not None and r.raw != w.raw:
                raise _Fail(f"want exactly {w.raw!r}")
            if w.json_body is not None and (r.body is None or _canonical(r.body) != w.json_body):
                raise _Fail(f"want the JSON body {w.json_body}")
            if w.envelope is not None:
                if r.envelope != w.envelope:
                    raise _Fail(f"want the {w.envelope} error envelope")
                if r.headers.get("Content-Type", "").split(";")[0] != "application/json":
                    raise _Fail("want Content-Type: application/json")
            if w.message is not None and r.message != w.message:
                raise _Fail(f"want message {w.message!r}")
            if w.contains is not None and w.contains not in r.message:
                raise _Fail(f"want a message containing {w.contains!r}")
            if w.header and (not isinstance(r.info, pb.OrchestratorInfo)
                             or r.headers.get("Livepeer-Orchestrator-URL") != r.info.transcoder):
                raise _Fail("want header Livepeer-Orchestrator-URL = OrchestratorInfo.transcoder")
            if w.payment:
                n = _check_payment(s, r)
                if w.tickets is not None and n != w.tickets:
                    raise _Fail(f"want {w.tickets} ticket(s), got {n}")
            if w.state_keys is not None and (not isinstance(r.body, dict) or
                                             tuple(r.body.get("state", {})) != tuple(w.state_keys)):
                raise _Fail(f"want the state envelope keys {list(w.state_keys)}")
            if w.layout is not None:
                try:
                    keys = tuple(bounded.loads_json(_state_blob(r), what="state blob", replace_invalid=True))
                except (ValueError, TypeError):
                    keys = ()
                if keys != LAYOUTS[w.layout]:
                    raise _Fail(f"want the {w.layout} state blob ({len(LAYOUTS[w.layout])} fields in order), "
                                f"got {len(keys)} fields")
            if w.no_state and isinstance(r.body, dict) and "state" in r.body:
                raise _Fail("want no state in the reply")
            if w.newline is not None and r.raw.endswith(b"\n") != w.newline:
                raise _Fail("want a trailing newline" if w.newline else "want no trailing newline")
            if w.check is not None:
                CHECKS[w.check](s, r, replies)
        except _Fail as exc:
            problem = str(exc)
        except _PROBE_ERRORS as exc:
            problem = f"unreadable reply: {type(exc).__name__}: {exc}"
        if problem:
            return f"{where}{problem}; seen {r.seen()}", w.extension
    if len(replies) != len(wants):
        extra = f"; reply {len(wants) + 1} seen {replies[len(wants)].seen()}" if len(replies) > len(wants) else ""
        ext = wants[len(replies)].extension if len(replies) < len(wants) else False
        return f"want {len(wants)} replies before the probe stops, saw {len(replies)}{extra}", ext
    return "", False


def _canonical(doc) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


# ------------------------------------------------------------------------------------------------
# Expectation helpers (built from the profile's facts)
# ------------------------------------------------------------------------------------------------
def _node(p: Profile) -> bool:
    return "node_decode" in p.steps


def _err(p: Profile, status: int, key: str | None = None, *, text: str | None = None, contains: str | None = None,
         header: bool = False, extension: bool = False) -> Want:
    return Want(status, message=p.msg(key) if key else text, contains=contains, envelope=p.envelope, header=header,
                extension=extension)


def _ok(p: Profile, tickets: int | None = None, **kw) -> Want:
    return Want(200, payment=True, tickets=tickets, newline=p.response_newline, **kw)


def _past_usd(p: Profile, env: Env, wants: list[Want]) -> list[Want] | str:
    """Requests that reach the USD ceiling step: with a stale (or no) rate, livepeer-node answers 503 first."""
    if p.usd_ceilings and env.usd == "stale":
        return [_err(p, 503, "usd_unavailable")]
    return wants


# ------------------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------------------
Probe = Callable[[_Suite], Awaitable[list[_Reply]]]
Wants = Callable[[Profile, Env], "list[Want] | str"]


@dataclass
class Case:
    name: str
    ref: str
    probe: Probe
    want: Wants
    na_if: Callable[[Profile, list[_Reply]], str | None] | None = None


CASES: list[Case] = []


# Where each case's expectation is documented (lpdev's guide, docs/).
_OC = "docs/remote-signer.md#the-order-of-checks"
_NO = "docs/remote-signer.md#livepeer-nodes-order-of-checks"
_DI = "docs/remote-signer.md#dialects"
_BILL = "docs/remote-signer.md#billing-fee-tickets-balance"
_R480 = "docs/refreshes.md#480-refresh-the-session"


def case(name: str, ref: str, want: Wants, na_if=None):
    def deco(fn: Probe) -> Probe:
        CASES.append(Case(name, ref, fn, want, na_if))
        return fn
    return deco


def _configured_ceiling(p: Profile, replies: list[_Reply]) -> str | None:
    if not _node(p) and any(r.status == 481 and "configured maximum price" in r.message for r in replies):
        return "the signer's configured maximum price is lower than this case's price"
    return None


async def _one(s: _Suite, *args, **kw) -> list[_Reply]:
    return [await s.pay(*args, **kw)]


def _fixed(s: _Suite, ev: int = 3, price: int = 3, **kw) -> pb.OrchestratorInfo:
    return s.info(ev=ev, price=(price, 1), **kw)


@case("sign-orchestrator-info: address and signature flavour", f"docs/remote-signer.md#endpoints; {_DI}",
      lambda p, env: [Want(200, check=f"info-sig-{p.info_sig}", newline=True)])
async def c_orch_info(s):
    return [await s.request("POST", "/sign-orchestrator-info", b"{}", {"Content-Type": "application/json"})]


@case("routing: wrong method 405 + Allow, unknown path 404", "docs/remote-signer.md#endpoints",
      lambda p, env: [Want(405, check="allow-post"), Want(404)])
async def c_routing(s):
    return [await s.request("GET", "/generate-live-payment"),
            await s.request("POST", "/no-such-endpoint-conformance")]


@case("error envelope: exact bytes of a first-check error", f"docs/remote-signer.md#endpoints; {_DI}",
      lambda p, env: [Want(400, raw=json.dumps(p.error_body(p.msg("bad_type" if _node(p) else "missing_orchestrator")),
                                               separators=(",", ":")).encode() + b"\n")])
async def c_envelope(s):
    return [await s.request("POST", "/generate-live-payment", b'{"type":"bogus"}',
                            {"Content-Type": "application/json"})]


@case("body not JSON -> 400", f"{_OC} (decode); {_NO} (node_decode)",
      lambda p, env: [_err(p, 400, "invalid_request") if _node(p) else _err(p, 400, contains="invalid character")])
async def c_not_json(s):
    return [await s.request("POST", "/generate-live-payment", b"{not-json", {"Content-Type": "application/json"})]


TRAILERS = (b" trailing", b"\x00", b"[" * 100)  # text; a NUL; nesting past lpdev's bound (Go reads none of it)


@case("trailing bytes after the JSON body",
      f"docs/wire.md#json-the-go-way (first value only); {_NO} (node_decode: strict)",
      lambda p, env: [_err(p, 400, "invalid_request")] + [Want(400, envelope=p.envelope)] * 2 if _node(p)
      else [_ok(p, 1)] * 3)
async def c_trailing(s):
    out = []
    for tail in TRAILERS:
        info = s.info(ev=35, price=(3, 1))
        body = request_body(info, type="live").rstrip() + tail
        r = await s.request("POST", "/generate-live-payment", body, {"Content-Type": "application/json"})
        r.info = info
        out.append(r)
    return out


def _types_want(p: Profile, env: Env, typ: str) -> list[Want] | str:
    if typ in p.job_types:
        return [_ok(p, 1)]
    return [_err(p, 400, "bad_type")] if _node(p) else [_err(p, 400, text="invalid job type")]


@case("type lv2v (60 s preload)", f"{_BILL}; {_NO} (job_type)", lambda p, env: _types_want(p, env, "lv2v"))
async def c_lv2v(s):
    return await _one(s, s.info(ev=10**9, price=(1, 10**6)), type="lv2v")


@case("type \"\" with inPixels", f"{_BILL}; {_NO} (job_type)", lambda p, env: _types_want(p, env, ""))
async def c_untyped(s):
    return await _one(s, s.info(ev=35, price=(1, 1)), in_pixels=10)


@case("type bogus -> 400", f"{_OC} (units); {_NO} (job_type)", lambda p, env: _types_want(p, env, "bogus"))
async def c_bogus(s):
    return await _one(s, s.info(), type="bogus", in_pixels=1)


@case("missing orchestrator -> 400", f"{_OC} (orchestrator); {_NO} (completeness)",
      lambda p, env: [_err(p, 400, "incomplete" if _node(p) else "missing_orchestrator")])
async def c_missing_orch(s):
    return await _one(s, None, type="live")


@case("orchestrator not protobuf -> 400",
      f"{_OC} (orchestrator); {_NO} (node_orchestrator)", lambda p, env: [_err(p, 400, "proto")])
async def c_not_proto(s):
    return await _one(s, b"not-proto", type="live")


@case("missing or zero priceInfo -> 400", f"{_OC} (price_info); {_NO} (completeness)",
      lambda p, env: [_err(p, 400, "incomplete" if _node(p) else "missing_price")] * 3)
async def c_price_info(s):
    return [await s.pay(s.info(price=price), type="live") for price in (None, (0, 1), (1, 0))]


@case("missing ticketParams -> 400", f"{_OC} (ticket_params); {_NO} (completeness)",
      lambda p, env: [_err(p, 400, "incomplete" if _node(p) else "missing_ticket_params")])
async def c_ticket_params(s):
    return await _one(s, s.info(ticket_params=False), type="live")


@case("missing auth token -> 400", f"{_OC} (refresh); {_NO} (completeness)",
      lambda p, env: [_err(p, 400, "incomplete")] if _node(p)
      else [_err(p, 400, text=p.msg("refresh_check") + "missing auth token")])
async def c_auth_missing(s):
    return await _one(s, s.info(auth=False), type="live")


@case("auth token expired -> 480 + Livepeer-Orchestrator-URL", f"{_R480}; {_NO} (auth_refresh)",
      lambda p, env: [_err(p, 480, "refresh_auth", header=True)])
async def c_auth_expired(s):
    return await _one(s, s.info(auth_expiration=int(time.time()) - 60), type="live")


AUTH_MARGIN_PROBE_S = 120  # between livepeer-node's 60 s and go-livepeer's 180 s


@case(f"auth token expiring in {AUTH_MARGIN_PROBE_S} s: refresh margin", f"{_R480} (180 s); {_NO} (auth_refresh, 60 s)",
      lambda p, env: [_err(p, 480, "refresh_auth", header=True)] if AUTH_MARGIN_PROBE_S <= p.auth_refresh_margin_s
      else _past_usd(p, env, [_ok(p, 1)]))
async def c_auth_margin(s):
    return await _one(s, s.info(ev=35, price=(3, 1), auth_expiration=int(time.time()) + AUTH_MARGIN_PROBE_S),
                      type="live")


@case("ticket params expired on chain -> 480", f"{_R480}; {_NO} (precheck)",
      lambda p, env: _past_usd(p, env, [_err(p, 480, "refresh", header=True)]))
async def c_params_expired(s):
    # expiration block 1: ``1 - lastSeen <= 1`` for any block the signer has seen
    return await _one(s, s.info(expiration_block=1), type="live")


@case("ticket params expiration block 0 -> 400",
      f"docs/tickets.md#what-the-signer-checks-in-the-params; {_NO} (precheck)",
      lambda p, env: _past_usd(p, env, [_err(p, 400, "expiration_zero")]) if _node(p)
      else [_err(p, 400, text=p.msg("refresh_check") + "ticketParams expiration block is 0")])
async def c_expiration_zero(s):
    return await _one(s, s.info(expiration_block=0), type="live")


@case("more than 100 tickets -> 400", f"{_OC} (tickets); {_NO} (node_tickets)",
      lambda p, env: _past_usd(p, env, [_err(p, 400, text=p.msg("too_many_tickets", n=101))]),
      na_if=_configured_ceiling)
async def c_too_many(s):
    return await _one(s, _fixed(s, ev=1, price=101), type="fixed")


@case("capabilities: valid, then not protobuf", f"{_OC} (capabilities); {_NO} (capabilities_refused)",
      lambda p, env: [_err(p, 400, "caps_refused")] * 2 if _node(p) else [_ok(p, 1), _err(p, 400, "proto")])
async def c_caps(s):
    caps = make_caps({35: ["conformance-model"]})
    return [await s.pay(s.info(ev=35, price=(3, 1)), type="live", capabilities=caps),
            await s.pay(s.info(), type="live", capabilities=b"not-valid-protobuf")]


@case("request maxPrice below the price -> 481", f"docs/remote-signer.md#price-ceilings; {_NO} (node_max_price)",
      lambda p, env: [_err(p, 481, "max_price_exceeded")] if _node(p)
      else [_err(p, 481, text="orchestrator price 2.000 exceeds request maxPrice ceiling 1.000")],
      na_if=_configured_ceiling)
async def c_request_max(s):
    return await _one(s, _fixed(s, ev=2, price=2), type="fixed",
                      max_price={"price": 1, "currency": "wei", "unit": "fixed"})


@case("maxPrice validation -> 400 (currency usd, unit for live, price 0)",
      f"{_OC} (request_max_price); {_NO} (node_max_price)",
      lambda p, env: [_err(p, 400, "max_price_invalid"), _err(p, 400, "max_price_unit"),
                      _err(p, 400, "max_price_invalid")] if _node(p)
      else [_err(p, 400, text="maxPrice.currency must be wei"),
            _err(p, 400, text="maxPrice.unit must be seconds for payment type live"),
            _err(p, 400, text="maxPrice.price must be a positive decimal")])
async def c_max_validation(s):
    mp = {"price": 9, "currency": "wei", "unit": "fixed"}
    return [await s.pay(s.info(), type="fixed", max_price={**mp, "currency": "usd"}),
            await s.pay(s.info(), type="live", max_price=mp),
            await s.pay(s.info(), type="fixed", max_price={**mp, "price": 0})]


@case("live: first call preloads 10 s -> 1 ticket at EV 35, price 3", f"{_BILL}; {_NO} (node_units)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1)]))
async def c_live(s):
    return await _one(s, s.info(ev=35, price=(3, 1)), type="live")


@case("fixed with state: 1 ticket each, new nonces, state envelope and blob layout",
      f"docs/remote-signer.md#the-state-blob; {_DI} (state blob)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1, state_keys=p.state_keys, layout=p.state_layout),
                                        _ok(p, 1, state_keys=p.state_keys, layout=p.state_layout,
                                            check="nonce-differs")]))
async def c_fixed_state(s):
    info = _fixed(s)
    r1 = await s.pay(info, type="fixed")
    if _state_of(r1) is None:
        return [r1]
    return [r1, await s.pay(info, type="fixed", state=_state_of(r1), manifest_id=SESSION_ID)]


def _state_of(r: _Reply) -> dict | None:
    """The state object a 200 carried, or None: the probe stops there, and comparing that reply says what it
    lacked (a signer that answers 200 without a state is a departure, not a crash of the suite)."""
    st = r.body.get("state") if r.status == 200 and isinstance(r.body, dict) else None
    return st if isinstance(st, dict) else None


async def _then(s: _Suite, first: _Reply, fn) -> list[_Reply]:
    """``[first]``, then what ``fn(first)`` sends with ``first``'s state, when ``first`` is a 200 with a state."""
    if _state_of(first) is None:
        return [first]
    return [first, *(await fn(first))]


async def _fixed_twice(s: _Suite, first: tuple[int, int], then: tuple[int, int]) -> list[_Reply]:
    """Two ``fixed`` payments of one session, each ``(ticket EV, price)``: the second with the first's state."""
    return await _then(s, await s.pay(_fixed(s, ev=first[0], price=first[1]), type="fixed"),
                       lambda r: _one(s, _fixed(s, ev=then[0], price=then[1]), type="fixed", state=_state_of(r),
                                      manifest_id=SESSION_ID))


@case("state without ManifestID", f"{_OC} (manifest_id); {_NO} (manifest_from_auth: defaults to the auth session id)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1), _ok(p, 1) if _node(p) else _err(p, 400, "missing_manifest")]))
async def c_manifest_missing(s):
    info = _fixed(s)
    return await _then(s, await s.pay(info, type="fixed"),
                       lambda r: _one(s, info, type="fixed", state=_state_of(r)))


@case("ManifestID other than the auth session id", f"{_OC} (manifest_id); {_NO} (manifest_from_auth)",
      lambda p, env: [_err(p, 400, "manifest_mismatch")] if _node(p) else [_ok(p, 1)])
async def c_manifest_other(s):
    return await _one(s, _fixed(s), type="fixed", manifest_id="other-manifest")


@case("bad state signature -> 400", f"{_OC} (state); {_NO} (node_state)",
      lambda p, env: _past_usd(p, env, [_err(p, 400, "invalid_sig")]))
async def c_bad_sig(s):
    st = {"State": base64.b64encode(b'{"StateID":"state","OrchestratorAddress":"0x1"}').decode(),
          "Sig": base64.b64encode(b"bad").decode()}
    return await _one(s, _fixed(s), type="fixed", state=st, manifest_id=SESSION_ID)


@case("tampered, truncated and foreign-key-signed states -> 400",
      f"docs/remote-signer.md#the-state-blob; {_NO} (node_state)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1)] + [_err(p, 400, "invalid_sig")] * 4))
async def c_tampered(s):
    info = _fixed(s)

    async def tamper(r: _Reply) -> list[_Reply]:
        st = _state_of(r)
        ks, kg = list(st)
        raw, sig = base64.b64decode(st[ks]), base64.b64decode(st[kg])
        flipped = bytearray(raw)
        flipped[len(flipped) // 2] ^= 0x01
        foreign = sign_state(keccak(os.urandom(32)), raw)
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        out = []
        for bad in ({ks: b64(bytes(flipped)), kg: st[kg]}, {ks: b64(raw[:-3]), kg: st[kg]},
                    {ks: st[ks], kg: b64(sig[:64])}, {ks: st[ks], kg: b64(foreign)}):
            out.append(await s.pay(info, type="fixed", state=bad, manifest_id=SESSION_ID))
        return out
    return await _then(s, await s.pay(info, type="fixed"), tamper)


@case("state scope: app, type, orchestrator mismatch -> 400", f"{_OC} (state); {_NO} (node_state)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1)] + ([_err(p, 400, "scope")] * 3 if _node(p) else
                                                     [_err(p, 400, "app_mismatch"), _err(p, 400, "type_mismatch"),
                                                      _err(p, 400, "orch_mismatch")])))
async def c_scope(s):
    info = _fixed(s)
    other = keccak(b"other orchestrator" + os.urandom(8))[:20]

    async def mismatches(r: _Reply) -> list[_Reply]:
        st = _state_of(r)
        return [await s.pay(info, type="fixed", app="conformance/app-b", state=st, manifest_id=SESSION_ID),
                await s.pay(s.info(ev=35, price=(3, 1)), type="live", app="conformance/app-a", state=st,
                            manifest_id=SESSION_ID),
                await s.pay(_fixed(s, recipient=other, address=other), type="fixed", app="conformance/app-a",
                            state=st, manifest_id=SESSION_ID)]
    return await _then(s, await s.pay(info, type="fixed", app="conformance/app-a"), mismatches)


@case("price rise 2 -> 3 over the state's initial price -> 481",
      f"docs/remote-signer.md#price-ceilings (initial session price); {_NO} (price_rise)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1), _err(p, 481, "price_rise") if _node(p) else
                                        _err(p, 481, text="orchestrator price 3.000 exceeds initial session price "
                                                          "ceiling 2.000")]),
      na_if=_configured_ceiling)
async def c_price_rise(s):
    return await _fixed_twice(s, (4, 2), (4, 3))


@case("price drop 3 -> 1: fee at the initial or the current price", f"{_OC} (fee); {_NO} (fee at the current price)",
      lambda p, env: _past_usd(p, env, [_ok(p, 3), _ok(p, 1 if p.fee_basis == "current" else 3)]),
      na_if=_configured_ceiling)
async def c_fee_basis(s):
    return await _fixed_twice(s, (1, 3), (1, 1))


@case("balance covers the fee -> 482, no state", f"docs/refreshes.md#482-no-tickets; {_NO} (node_tickets)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1), Want(482, message=p.msg("no_tickets"), envelope=p.envelope,
                                                       no_state=True)]))
async def c_no_tickets(s):
    return await _fixed_twice(s, (100, 1), (10, 1))


NONCE_CALLS = 7  # 100 tickets each on one set of params: nonces up to 700 without a refresh


def _nonce_wants(p: Profile, env: Env) -> list[Want] | str:
    ok = _ok(p, 100, check="nonces-continue")
    limit = p.nonce_refresh_at
    if limit is not None and limit // 100 < NONCE_CALLS:
        return _past_usd(p, env, [ok] * (limit // 100) + [_err(p, 480, "refresh", header=True)])
    return _past_usd(p, env, [ok] * NONCE_CALLS)


@case("one set of params reused, 100 tickets a call: refresh at nonce 500", f"{_R480} (#4028); {_NO} (nonce_refresh)",
      _nonce_wants, na_if=_configured_ceiling)
async def c_nonce_500(s):
    info = _fixed(s, ev=1000, price=100_000)
    replies: list[_Reply] = []
    state = None
    for _ in range(NONCE_CALLS):
        kw = {"state": state, "manifest_id": SESSION_ID} if state is not None else {}
        r = await s.pay(info, type="fixed", **kw)
        replies.append(r)
        state = _state_of(r)
        if state is None:
            break
    return replies


@case("Signer-Auth-Id changed on an established state",
      f"docs/remote-signer.md#auth-webhook-and-caller-identity (500); {_DI} (403)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1), _err(p, p.auth_id_changed_status, "auth_id_changed")
                                        if _node(p) else Want(p.auth_id_changed_status, envelope=p.envelope)]))
async def c_auth_id(s):
    info = _fixed(s)
    return await _then(s, await s.pay(info, type="fixed", headers={"Signer-Auth-Id": "conformance-a"}),
                       lambda r: _one(s, info, type="fixed", state=_state_of(r), manifest_id=SESSION_ID,
                                      headers={"Signer-Auth-Id": "conformance-b"}))


def _usd_wants(p: Profile, env: Env) -> list[Want] | str:
    if p.usd_ceilings:
        if env.usd == "unknown":
            return "the suite cannot read the chain's ETH/USD feed (pass --usd-rate fresh|stale)"
        return [_err(p, 503, "usd_unavailable") if env.usd == "stale" else _err(p, 481, "usd_exceeded")]
    return [_err(p, 400, text=p.msg("too_many_tickets", n=HUGE_PRICE))]


@case("USD ceiling: a price of 2^62 wei a job (481), or 503 on a stale ETH/USD rate", f"{_DI} (USD)",
      _usd_wants, na_if=_configured_ceiling)
async def c_usd(s):
    return await _one(s, _fixed(s, ev=1, price=HUGE_PRICE), type="fixed")


async def _slow_body(release: asyncio.Event, sent):
    yield b'{"orchestrator":'
    sent()  # aiohttp asks for the next chunk once the head and the first one are written to the socket
    await release.wait()
    yield b'""}'


@case(f"busy: a request while {BUSY_HOLD} others are in flight", f"{_DI} (64 slots -> 503)",
      lambda p, env: [_err(p, 503, "busy")] if p.busy_limit is not None and p.busy_limit <= BUSY_HOLD
      else _past_usd(p, env, [_ok(p, 1)]))
async def c_busy(s):
    release, all_in = asyncio.Event(), asyncio.Event()
    settled = 0

    def one_settled() -> None:  # a held request is on the wire (or already answered: it holds nothing)
        nonlocal settled
        settled += 1
        if settled == BUSY_HOLD:
            all_in.set()

    conn = aiohttp.TCPConnector(limit=0, ssl=False)
    async with aiohttp.ClientSession(connector=conn) as held:
        async def hold():
            on_wire = False

            def sent() -> None:
                nonlocal on_wire
                on_wire = True
                one_settled()
            try:
                async with held.post(s.url + "/generate-live-payment", data=_slow_body(release, sent),
                                     timeout=aiohttp.ClientTimeout(total=s.timeout)) as r:
                    await r.read()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            finally:
                if not on_wire:
                    one_settled()
        tasks = [asyncio.create_task(hold()) for _ in range(BUSY_HOLD)]
        try:
            # every held request's head and first body bytes are in the signer's socket before the probe connects
            # (their bodies never end), so it reads them first
            try:
                await asyncio.wait_for(all_in.wait(), s.timeout)
            except asyncio.TimeoutError:
                pass  # some never got on the wire: the probe tells what the signer does anyway
            r = await s.pay(s.info(ev=35, price=(3, 1)), type="fixed")
        finally:
            release.set()
            await asyncio.gather(*tasks, return_exceptions=True)
    return [r]


@case("body over 1 MiB", f"lpdev 413 (go-livepeer: no limit); {_DI} (400)",
      lambda p, env: [_err(p, 400, "too_large")] if _node(p)
      else [_err(p, 413, contains="request body too large", extension=True)])
async def c_body_limit(s):
    return [await s.request("POST", "/generate-live-payment", b'{"orchestrator":"' + b"A" * (1 << 20) + b'"}',
                            {"Content-Type": "application/json"})]


@case("no /healthz on the API port",
      f"docs/remote-signer.md#endpoints; {_DI} (metrics port)", lambda p, env: [Want(404)])
async def c_health_api(s):
    return [await s.request("GET", "/healthz")]


HEALTH_PATHS = ("/healthz", "/metrics", "/readyz")  # /readyz last: with the ETH/USD rate unknown it is n/a


def _health_wants(p: Profile, env: Env) -> list[Want] | str:
    if env.metrics_url is None:
        return "no --metrics URL given"
    if not p.health_endpoints:
        return [Want(None, check="no-health")]
    bodies = p.health_bodies or {}
    healthz = Want(200, json_body=_canonical(bodies["healthz"]) if "healthz" in bodies else None)
    if env.usd == "unknown":
        readyz = Want(None, check="readyz-unknown")
    elif env.funded and env.usd != "stale":
        readyz = Want(200, json_body=_canonical(bodies["readyz"]) if "readyz" in bodies else None)
    else:
        readyz = _err(p, 503)
    return [healthz, Want(200, check="prometheus"), readyz]


@case("health endpoints on the metrics listener: /healthz, /readyz, /metrics", f"{_DI} (health)", _health_wants)
async def c_health(s):
    if s.env.metrics_url is None:
        return []
    base = s.env.metrics_url.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    out = []
    for path in HEALTH_PATHS:
        try:
            out.append(await s.request("GET", path, base=base))
        except (aiohttp.ClientError, asyncio.TimeoutError):
            out.append(_Reply(0, {}, b"(no answer)", None))
            break
    return out


@case("discover-orchestrators: list, or 503 in the dialect's envelope",
      f"docs/remote-signer.md#discovery; {_DI} (discovery)",
      lambda p, env: [Want(None, check=f"discovery-{p.envelope}")])
async def c_discovery(s):
    return [await s.request("GET", "/discover-orchestrators")]


@case("replayed (superseded) state is refused", "lpdev extension (the dialects accept replays)",
      lambda p, env: _past_usd(p, env, [_ok(p, 1), _ok(p, 1), Want(400, contains="invalid state",
                                                                   envelope=p.envelope, extension=True)]))
async def c_replay(s):
    info = _fixed(s)
    r1 = await s.pay(info, type="fixed")
    if _state_of(r1) is None:
        return [r1]
    r2 = await s.pay(info, type="fixed", state=_state_of(r1), manifest_id=SESSION_ID)
    if r2.status != 200:
        return [r1, r2]
    return [r1, r2, await s.pay(info, type="fixed", state=_state_of(r1), manifest_id=SESSION_ID)]


@case("a 5000-byte ManifestID is a 400 naming the field", "lpdev extension (field size limits)",
      lambda p, env: [Want(400, contains="ManifestID", envelope=p.envelope, extension=True)])
async def c_limits(s):
    return await _one(s, _fixed(s), type="fixed", manifest_id="m" * 5000)


# ------------------------------------------------------------------------------------------------
# Running, the report, the verdict
# ------------------------------------------------------------------------------------------------
@dataclass
class CaseResult:
    name: str
    ref: str
    results: dict[str, tuple[str, str, bool]]  # profile -> (status, detail, extension)
    seen: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "ref": self.ref, "seen": self.seen,
                "results": {p: {"status": st, "detail": d, "extension": ext}
                            for p, (st, d, ext) in self.results.items()}}


@dataclass
class MatrixReport:
    signer: str
    profiles: list[str]
    address: str = ""
    env: Env = field(default_factory=Env)
    notes: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)

    def counts(self, profile: str) -> dict:
        out = {PASS: 0, DIFFERS: 0, NA: 0}
        for c in self.cases:
            out[c.results[profile][0]] += 1
        return out

    def departures(self, profile: str) -> list[str]:
        """Cases where the signer differs from ``profile``, lpdev extensions excluded."""
        return [c.name for c in self.cases if c.results[profile][0] == DIFFERS and not c.results[profile][2]]

    def verdict(self) -> dict:
        """``{"match": profile or None, "closest": profile, "departures": {profile: [case names]}}``."""
        deps = {p: self.departures(p) for p in self.profiles}
        ranked = sorted(self.profiles, key=lambda p: (len(deps[p]), -self.counts(p)[PASS]))
        matches = [p for p in ranked if not deps[p]]
        return {"match": matches[0] if matches else None, "closest": ranked[0] if ranked else None,
                "departures": deps}

    @property
    def ok(self) -> bool:
        return self.verdict()["match"] is not None

    def to_dict(self) -> dict:
        v = self.verdict()
        return {"signer": self.signer, "address": self.address, "profiles": self.profiles,
                "env": {"usd": self.env.usd, "metrics_url": self.env.metrics_url, "funded": self.env.funded},
                "notes": self.notes, "verdict": v, "counts": {p: self.counts(p) for p in self.profiles},
                "cases": [c.to_dict() for c in self.cases]}

    def matrix(self) -> str:
        """The case × profile table (markdown)."""
        head = "| case | " + " | ".join(self.profiles) + " |"
        rows = [head, "|---|" + "---|" * len(self.profiles)]
        for c in self.cases:
            cells = []
            for p in self.profiles:
                st, _d, ext = c.results[p]
                cells.append(st + (" (ext)" if ext and st == DIFFERS else ""))
            rows.append(f"| {c.name} | " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def text(self, details: bool = True) -> str:
        lines = [f"conformance of {self.signer} (signer address {self.address or '?'}; ETH/USD {self.env.usd})"]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(self.matrix())
        v = self.verdict()
        if v["match"]:
            n = self.counts(v["match"])
            lines.append(f"verdict: behaves like {v['match']} ({n[PASS]} pass, {n[DIFFERS]} differ, {n[NA]} n/a; "
                         "differences only in lpdev extensions)" if n[DIFFERS] else
                         f"verdict: behaves like {v['match']} ({n[PASS]} pass, {n[NA]} n/a)")
        elif v["closest"]:
            lines.append(f"verdict: matches no profile; closest is {v['closest']} "
                         f"({len(v['departures'][v['closest']])} departures)")
        for p in self.profiles:
            if p == v["match"]:
                continue
            dep = v["departures"][p]
            listed = "; ".join(dep) if len(dep) <= 3 else "; ".join(dep[:3]) + f"; … ({len(dep) - 3} more)"
            lines.append(f"  departs from {p} on {len(dep)} case(s)" + (": " + listed if dep else ""))
        if details:
            focus = v["match"] or v["closest"]
            shown = [p for p in self.profiles if p == focus] if len(self.profiles) > 1 else self.profiles
            for p in shown:
                for c in self.cases:
                    st, d, ext = c.results[p]
                    if st == DIFFERS:
                        lines.append(f"  [{p}] {c.name}{' (lpdev extension)' if ext else ''}: {d}")
        return "\n".join(lines)


#: what a probe raises when a reply is not what it can build on (the signer's fault, reported as ``differs``)
_PROBE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, binascii.Error)


def _usd_state(chain, max_age_s: float) -> str:
    fn = getattr(chain, "eth_usd", None)
    if fn is None:
        return "unknown"
    try:
        q = fn()
    except Exception:  # noqa: BLE001 - no feed: node signers have no rate
        return "stale"
    return "fresh" if time.time() < int(q.updated_at) + max_age_s else "stale"


async def run_matrix(url: str, chain, *, profiles: list[str] | None = None, metrics_url: str | None = None,
                     usd: str = "auto", usd_max_age_s: float = 7200, timeout: float = 10.0,
                     only: list[str] | None = None) -> MatrixReport:
    """Run every case against ``url`` and judge the replies under every profile (or ``profiles``).
    ``chain`` is a ChainView of the signer's chain."""
    names = [get_profile(p).name for p in (profiles or list(PROFILES))]
    env = Env(usd=_usd_state(chain, usd_max_age_s) if usd == "auto" else usd, metrics_url=metrics_url)
    report = MatrixReport(signer=url, profiles=names, env=env)
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        s = _Suite(url, chain, http, timeout, env)
        try:
            r = await s.request("POST", "/sign-orchestrator-info", b"{}", {"Content-Type": "application/json"})
            addr = str(r.body.get("address", "")) if isinstance(r.body, dict) else ""
            s.address = bytes.fromhex(addr[2:]) if addr.startswith("0x") and len(addr) == 42 else b""
            report.address = to_checksum_address(s.address) if s.address else ""
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            report.notes.append(f"signer unreachable: {type(exc).__name__}: {exc}")
            return report
        if s.address:
            info = await asyncio.to_thread(chain.sender_info, s.address)
            env.funded = info.deposit > 0 and info.reserve > 0
            if not env.funded:
                report.notes.append(f"sender {report.address} has deposit {info.deposit} and reserve {info.reserve}: "
                                    "fund it (lpdev chain fund) — payment cases will differ")
        for c in CASES:
            if only and not any(o in c.name for o in only):
                continue
            s.replies = []
            try:
                replies = await c.probe(s)
                probe_error = ""
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                replies, probe_error = list(s.replies), f"request failed: {type(exc).__name__}: {exc}"
            except _PROBE_ERRORS as exc:  # a reply the probe could not use (a state that is not two base64 keys…)
                replies = list(s.replies)
                probe_error = (f"the probe could not use reply {len(replies)}: {type(exc).__name__}: {exc}; "
                               f"seen {replies[-1].seen() if replies else 'nothing'}")
            results: dict[str, tuple[str, str, bool]] = {}
            for name in names:
                p = PROFILES[name]
                wants = c.want(p, env)
                if isinstance(wants, str):
                    results[name] = (NA, wants, False)
                    continue
                if probe_error:
                    results[name] = (DIFFERS, probe_error, False)
                    continue
                na = c.na_if(p, replies) if c.na_if else None
                if na:
                    results[name] = (NA, na, False)
                    continue
                try:
                    problem, ext = _compare(s, replies, wants)
                except _NA as exc:
                    results[name] = (NA, str(exc), False)
                    continue
                results[name] = (DIFFERS, problem, ext) if problem else (PASS, "", False)
            report.cases.append(CaseResult(c.name, c.ref, results, [r.seen() for r in replies]))
    return report


def expectations(profile: str | Profile, env: Env | None = None) -> list[tuple[str, list[Want] | str]]:
    """What ``profile`` expects in every case (for docs and tests)."""
    p = get_profile(profile)
    env = env or Env(usd="fresh", metrics_url="http://metrics.invalid")
    return [(c.name, c.want(p, env)) for c in CASES]
