"""The stack spec: what a stack runs — chain, signers, orchestrators, gateways — as ONE declarative document.

Two spellings of the same spec, one validator:

* a scenario's ``stack:`` section (YAML, ``scenarios/*.yaml``), and
* ``lpdev.toml`` (``lpdev up --config FILE``, default ``./lpdev.toml``).

Both are read into line-aware mappings (:mod:`stack.yamlines`; TOML gets its lines from
:func:`load_toml_lines`), then :func:`parse_spec` checks every key and value and builds a :class:`StackSpec`.
A bad value is one :class:`~stack.yamlines.ScenarioError`: ``file:line: field: what was expected``.

The keys (every one optional; amounts are integer wei or a string with a unit: ``"1.5eth"``, ``"20gwei"``)::

    chain = "anvil"              # anvil | embedded | mock  (or a table: backend, block_time, round_length;
                                 # backend = "fork" with fork_url, fork_block, controller, orchestrator_address)
    seed = 7                     # seeded ids, secrets and wins; with the virtual clock: byte-identical traces
    start_time = 1780000000      # the virtual clock's start (unix s)
    deposit = "100eth"           # every sender's deposit and reserve at setup (also [sender] deposit/reserve)
    reserve = "100eth"
    round_length = 100           # blocks per round (> 2 x 40: params expiry fits the ticket validity)
    block_time = 0.5             # seconds between blocks when a block ticker runs (0 = none)
    host = "127.0.0.1"
    remote_discovery = false     # signers serve GET /discover-orchestrators
    [ports]                      # fixed ports when the policy asks for them (lpdev up); 0 = any free port
    eth = 8545                   # anvil JSON-RPC
    signer = 7936                # first signer (HTTPS); the next count up
    orchestrator = 8935          # first orchestrator (TLS gRPC + HTTP); the next count up
    orchestrator_http = 9935     # first orchestrator's plain-HTTP entry (Live Runners' default scheme)
    [signer]                     # defaults for every signer:       see SIGNER_KEYS
    [orchestrator]               # defaults for every orchestrator: see ORCH_KEYS
    [gateway]                    # defaults for every gateway:      see GATEWAY_KEYS (+ enabled = false: none)
    signers = 2                  # N dev signers (accounts sender, sender2, ...) -- or a list, below
    orchestrators = 1            # N dev orchestrators (orchestrator, orchestrator2, ...) -- or a list
    gateways = "auto"            # N, "auto" (one per orchestrator or signer, whichever is more), or a list
    runners = ["noop", "text:0.01/fixed"]   # built-in dev Live Runners: KIND[:USD[/UNIT]] or tables (RUNNER_KEYS)
    [[orchestrators]]            # the list form: each entry names its actor, the rest as in [orchestrator]
    name = "orch"
    price_per_unit = 10

In YAML the same keys are written ``signers: [{name: signer, max_price: "5/1"}]``,
``orchestrator: {ticket_ev: 1000}``, and so on. All keys lpdev prints are PUBLIC throwaway dev keys.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction

from stack.yamlines import LDict, LList, ScenarioError, line_of

__all__ = ["StackSpec", "SignerSpec", "OrchestratorSpec", "GatewaySpec", "SpecParser", "parse_spec",
           "load_toml_lines", "load_spec_file", "ORCH_ROLES", "SENDER_ROLES", "MAX_ACTORS", "DEFAULT_START_TIME",
           "UP_DEFAULTS", "devnet_config", "account_roles", "JOB_TYPES", "CHAINS", "RunnerSpec", "spec_document",
           "with_overrides"]

ETHER = 10**18
DEFAULT_START_TIME = 1_780_000_000  # virtual clock start (2026-05-28), seconds since the epoch
MAX_ACTORS = 4
# Dev-account roles, one account per actor (devnet.config.ROLES plus the indices the stack adds).
ORCH_ROLES = (("orchestrator", 1), ("orchestrator2", 4), ("orchestrator3", 6), ("orchestrator4", 8))
SENDER_ROLES = (("sender", 2), ("sender2", 5), ("sender3", 7), ("sender4", 9))
JOB_TYPES = ("", "live", "lv2v", "fixed")
CHAINS = ("mock", "embedded", "anvil", "fork")
FORK_KEYS = ("fork_url", "fork_block", "controller", "orchestrator_address")


@dataclass
class SignerSpec:
    name: str = "signer"
    account: str = "sender"  # devnet role whose key the signer holds (two stateless signers may share one)
    max_price: str | None = None  # -maxPricePerUnit/-pixelsPerUnit as a rational, None = accept any
    # The bench's defaults, not go-livepeer's (3e12 / 2e13 wei): with EVs big enough that faceValue = 100 x EV on
    # every chain's gas price, Go's limits would refuse every ticket. Scenarios about the limits set them.
    max_ticket_ev: int | None = 10**17
    max_total_ev: int | None = 10**20
    deposit_multiplier: int | None = None
    webhook: list[dict] | None = None  # scripted auth webhook replies (the last one repeats)
    replay_protection: bool = True
    max_price_per_capability: str = ""
    remote_discovery: bool = False  # serve GET /discover-orchestrators over the stack's orchestrators
    # the dialect (sim/signer/profiles.py): go-livepeer (0.9.3), go-livepeer@0.9.1, livepeer-node
    profile: str = "go-livepeer"
    # USD ceilings and rate (rationals as text; None: the profile's defaults, the chain's ETH/USD feed)
    max_hourly_price_usd: str | None = None  # livepeer-node MaxHourlyPrice
    max_fixed_price_usd: str | None = None  # livepeer-node MaxFixedPrice
    wei_per_usd: str | None = None  # pin the rate instead of reading the feed


@dataclass
class OrchestratorSpec:
    name: str = "orch"
    account: str = "orchestrator"
    price_per_unit: int = 10**7  # wei per pixel: a 5 s LV2V payment (138 240 000 px) is ~1.4 tickets
    pixels_per_unit: int = 1
    ticket_ev: int = 10**15  # high enough that faceValue = 100 x EV on every chain's gas price (docs/tickets.md)
    max_face_value: int = 0  # 0 = no cap; a cap binds the win probability to ticket_ev / max_face_value
    auto_adjust_price: bool = False  # go-livepeer's default is true; off keeps prices chain-independent
    # go-livepeer's 350 000 makes faceValue = 100 x txCost, i.e. depend on the chain's gas price; 1 000 keeps
    # faceValue = 100 x ticket EV on every backend (docs/tickets.md#expected-value-face-value-and-win-probability),
    # so outcomes agree across chains.
    redeem_gas: int = 1000
    faults: dict = field(default_factory=dict)
    tls: bool = True
    # Live Runners (go-livepeer's -orchSecret, -liveRunnerConfig): the secret runners register with (None: dynamic
    # registration off), a runners.json of static runners, and a plain-HTTP entry beside the TLS port (clients that
    # verify TLS, like the SDK's ping-pong example, and the examples' http:// defaults)
    orch_secret: str | None = None
    live_runner_config: str | None = None
    http_entry: bool = False


@dataclass
class RunnerSpec:
    """A built-in dev Live Runner (sim/runners) that registers with an orchestrator over heartbeats, as an SDK
    runner does. ``price`` is USD per ``unit`` (hour, 720p or fixed), converted to wei through the ETH/USD feed;
    "0" is a free runner."""

    name: str = "noop"
    kind: str = "noop"  # noop | echo | text
    orchestrator: str = "orch"
    price: str = "0"
    unit: str = "hour"
    capacity: int | None = None


@dataclass
class GatewaySpec:
    name: str = "gw"
    signers: list[str] = field(default_factory=lambda: ["signer"])
    orchestrator: str = "orch"
    type: str = "lv2v"
    manifest_id: str = "auto"
    in_pixels: int = 0
    app: str = ""
    max_price: dict | None = None
    interval_s: float = 5.0
    headers: dict = field(default_factory=dict)
    adopt_payment_info: bool = True  # False: keep the old params after /payment like the SDK does
    # a live stack's gateway loop: run a paid noop LV2V job (publish, echo, pay) instead of payments only
    lv2v_job: bool = False
    segment_s: float = 1.0
    identity: str | None = None  # the signer that signs GetOrchestrator's request (default: the first of signers)


@dataclass
class StackSpec:
    chain: str = "mock"
    seed: int | None = 1
    start_time: int = DEFAULT_START_TIME
    deposit: int = 100 * ETHER
    reserve: int = 100 * ETHER
    round_length: int = 100  # blocks; > 2 x 40 so params expiry (40 blocks) fits inside the ticket validity
    block_time: float = 0.5  # a ticker's seconds per block (policies that step blocks ignore it)
    host: str = "127.0.0.1"
    eth_port: int = 8545
    signer_port: int = 7936
    orch_port: int = 8935
    orch_http_port: int = 9935  # the first orchestrator's plain-HTTP entry (when it has one); the next count up
    # chain "fork": anvil forks a live chain (fork_url, at fork_block) with the real contracts, resolved through
    # controller (Arbitrum One's when the chain id is 42161); orchestrator_address impersonates an existing one
    fork: dict | None = None
    signers: list[SignerSpec] = field(default_factory=lambda: [SignerSpec()])
    orchestrators: list[OrchestratorSpec] = field(default_factory=lambda: [OrchestratorSpec()])
    gateways: list[GatewaySpec] = field(default_factory=list)
    runners: list[RunnerSpec] = field(default_factory=list)

    def signer(self, name: str) -> SignerSpec:
        return next(s for s in self.signers if s.name == name)

    def orchestrator(self, name: str) -> OrchestratorSpec:
        return next(o for o in self.orchestrators if o.name == name)

    def sender_roles(self) -> list[str]:
        return list(dict.fromkeys(s.account for s in self.signers))

    def win_prob(self) -> Fraction:
        """The first orchestrator's win probability when its face value cap binds (it does in lpdev up)."""
        o = self.orchestrators[0]
        return Fraction(o.ticket_ev, o.max_face_value) if o.max_face_value else Fraction(1, 100)

    def names(self) -> dict[str, set]:
        return {"signers": {s.name for s in self.signers}, "orchestrators": {o.name for o in self.orchestrators},
                "gateways": {g.name for g in self.gateways}, "runners": {r.name for r in self.runners}}


# What `lpdev up` runs when nothing else is said (lpdev.toml and flags go on top). The demo economics: ticket EV
# 0.001 ETH with the face value capped at 5 x EV (win probability 1/5); a 5 s LV2V payment at 1e7 wei/pixel is
# 1.38e15 wei (~1.4 tickets), so a winner comes every few payments; go-livepeer's redemption gas estimate.
# Live Runners: registration with the SDK examples' secret, a plain-HTTP entry, and one free dev runner, so
# discovery lists something before the user writes a runner.
UP_DEFAULTS: dict = {
    "chain": "anvil", "seed": None, "signers": 1, "orchestrators": 1, "gateways": "auto",
    "orchestrator": {"max_face_value": 5 * 10**15, "redeem_gas": 350_000, "orch_secret": "abcdef",
                     "http_entry": True},
    "runners": [{"name": "noop", "kind": "noop"}],
}

SPEC_KEYS = {"chain", "seed", "start_time", "deposit", "reserve", "round_length", "block_time", "host",
             "remote_discovery", "ports", "sender", "signer", "orchestrator", "gateway", "signers",
             "orchestrators", "gateways", "runners"}
RUNNER_KEYS = {f.name for f in fields(RunnerSpec)}
SIGNER_KEYS = {f.name for f in fields(SignerSpec)}
ORCH_KEYS = {f.name for f in fields(OrchestratorSpec)}
GATEWAY_KEYS = {f.name for f in fields(GatewaySpec)}
_AMOUNT_KEYS = {"deposit", "reserve", "max_ticket_ev", "max_total_ev", "price_per_unit", "ticket_ev",
                "max_face_value"}
_INT_KEYS = {"deposit_multiplier", "pixels_per_unit", "redeem_gas", "in_pixels"}
_BOOL_KEYS = {"replay_protection", "remote_discovery", "auto_adjust_price", "tls", "adopt_payment_info", "lv2v_job",
              "http_entry"}
_STR_KEYS = {"account", "max_price_per_capability", "orchestrator", "manifest_id", "app", "orch_secret",
             "live_runner_config"}
_USD_KEYS = {"max_hourly_price_usd", "max_fixed_price_usd", "wei_per_usd"}


def account_roles() -> dict[str, int]:
    """role -> dev account index: the devnet's roles plus one per possible stack actor."""
    from devnet.config import ROLES

    roles = dict(ROLES)
    roles.update(dict(ORCH_ROLES))
    roles.update(dict(SENDER_ROLES))
    return roles


def devnet_config(spec: StackSpec):
    """The chain setup a stack needs (transcoders, funded senders, deposit, reserve, round length)."""
    from devnet.config import DevnetConfig

    cfg = DevnetConfig(round_length=spec.round_length, sender_deposit=spec.deposit, sender_reserve=spec.reserve)
    cfg.transcoders = tuple(dict.fromkeys(o.account for o in spec.orchestrators))
    cfg.senders = tuple(spec.sender_roles())
    cfg.roles = account_roles()
    return cfg


# ====================================================================================== validation
def _kind(v) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"the text {v!r}" if len(v) <= 40 else f"a text of {len(v)} characters"
    if isinstance(v, (int, float)):
        s = str(v)
        return f"the number {s}" if len(s) <= 40 else f"a number of {len(s)} digits"
    return type(v).__name__


class SpecParser:
    """Validation helpers bound to a file for ``file:line: message`` errors (scenario files reuse them)."""

    MAX_DIGITS = 80  # uint256 is 78 digits: anything longer is a typo or an attack, not an amount

    def __init__(self, path: str) -> None:
        self.path = path

    def err(self, line: int, msg: str) -> ScenarioError:
        return ScenarioError(self.path, line, msg)

    def mapping(self, obj, line: int, what: str) -> LDict:
        if not isinstance(obj, dict):
            raise self.err(line_of(obj, line), f"{what}: expected a mapping, got {_kind(obj)}")
        if not isinstance(obj, LDict):  # a plain dict (built in code): no line numbers, same checks
            d = LDict(obj)
            d.line, d.key_lines = line, {}
            return d
        return obj

    def seq(self, obj, line: int, what: str) -> LList:
        if not isinstance(obj, list):
            raise self.err(line_of(obj, line), f"{what}: expected a list, got {_kind(obj)}")
        if not isinstance(obj, LList):
            lst = LList(obj)
            lst.line, lst.item_lines = line, [line] * len(obj)
            return lst
        return obj

    def keys(self, d: LDict, allowed: set[str], what: str, required: tuple[str, ...] = ()) -> None:
        for k in d:
            if k not in allowed:
                raise self.err(d.line_of(k), f"{what}: unknown key {k!r}; expected one of {', '.join(sorted(allowed))}")
        for k in required:
            if k not in d:
                raise self.err(d.line, f"{what}: missing required key {k!r}")

    def integer(self, v, line: int, what: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(v, bool):
            raise self.err(line, f"{what}: expected an integer, got a boolean")
        if isinstance(v, str) and re.fullmatch(r"\s*-?\d{1,%d}\s*" % self.MAX_DIGITS, v):
            v = int(v)
        if not isinstance(v, int):
            raise self.err(line, f"{what}: expected an integer, got {_kind(v)}")
        if abs(v).bit_length() > 256:
            raise self.err(line, f"{what}: {_kind(v)} is larger than a uint256")
        if minimum is not None and v < minimum:
            raise self.err(line, f"{what}: expected an integer >= {minimum}, got {v}")
        if maximum is not None and v > maximum:
            raise self.err(line, f"{what}: expected an integer <= {maximum}, got {v}")
        return v

    def amount(self, v, line: int, what: str, *, minimum: int = 0) -> int:
        """Integer wei, or a string with a unit (``"1.5eth"``, ``"20 gwei"``, ``"100"``)."""
        if isinstance(v, str) and not re.fullmatch(r"\s*-?\d+\s*", v):
            from sim.pm.money import parse_wei

            try:
                v = parse_wei(v)
            except ValueError as exc:
                raise self.err(line, f"{what}: {exc}") from None
        return self.integer(v, line, what, minimum=minimum)

    def number(self, v, line: int, what: str, *, positive: bool = False, maximum: float | None = None) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, int) and v.bit_length() > 64):
            raise self.err(line, f"{what}: expected a number of seconds, got {_kind(v)}")
        v = float(v)
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            raise self.err(line, f"{what}: expected a {'positive' if positive else 'non-negative'} finite number "
                                 f"of seconds, got {v}")
        if maximum is not None and v > maximum:
            raise self.err(line, f"{what}: expected at most {maximum:g} seconds, got {v:g}")
        return v

    def boolean(self, v, line: int, what: str) -> bool:
        if not isinstance(v, bool):
            raise self.err(line, f"{what}: expected true or false, got {_kind(v)}")
        return v

    def text(self, v, line: int, what: str, *, max_len: int = 1024) -> str:
        if not isinstance(v, str):
            raise self.err(line, f"{what}: expected text, got {_kind(v)}")
        if len(v) > max_len:
            raise self.err(line, f"{what}: text longer than {max_len} characters")
        return v

    def name(self, v, line: int, what: str) -> str:
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", v):
            raise self.err(line, f"{what}: expected a name (letters, digits, - or _), got {_kind(v)}")
        return v

    def need(self, v, known, line: int, what: str, noun: str) -> str:
        """``v`` must be one of ``known`` (a name the document declares, or a word of a fixed vocabulary)."""
        if isinstance(v, bool) or not isinstance(v, str) or v not in known:
            raise self.err(line, f"{what}: unknown {noun} {_kind(v) if not isinstance(v, str) else repr(v)}; "
                                 f"expected one of {', '.join(known) or '(none declared)'}")
        return v


def _actor_fields(p: SpecParser, d: LDict, allowed: set[str], what: str, roles, role: str) -> dict:
    """Check one actor's (or a role-default table's) keys and values; returns plain Python values."""
    p.keys(d, allowed, what)
    out = {}
    for k, v in d.items():
        line, w = d.line_of(k), f"{what}.{k}"
        if k == "name":
            out[k] = p.name(v, line, w)
        elif k in _AMOUNT_KEYS:
            out[k] = p.amount(v, line, w)
        elif k in _INT_KEYS:
            out[k] = p.integer(v, line, w, minimum=0)
        elif k in _BOOL_KEYS:
            out[k] = p.boolean(v, line, w)
        elif k == "account":
            out[k] = p.need(v, list(roles), line, w, "account role")
        elif k in _STR_KEYS:
            out[k] = p.text(v, line, w) if v is not None or k != "manifest_id" else None
        elif k == "profile":
            from sim.signer.profiles import PROFILE_NAMES

            out[k] = p.need(v, PROFILE_NAMES, line, w, "signer profile")
        elif k == "identity":
            out[k] = p.name(v, line, w)
        elif k in _USD_KEYS:
            from sim.pm.money import RatParseError, parse_rat

            try:
                if parse_rat(str(v)[:200]) <= 0:
                    raise RatParseError("not positive")
            except (RatParseError, ValueError):
                raise p.err(line, f"{w}: expected a positive number like 36 or \"1000000000000000/3\", "
                                  f"got {_kind(v)}") from None
            out[k] = str(v)
        elif k == "max_price":
            if role == "gateway":  # a gateway's request maxPrice: {pricePerUnit, pixelsPerUnit, ...}
                out[k] = dict(p.mapping(v, line, w)) if v is not None else None
            else:
                if v is not None:
                    from sim.pm.money import RatParseError, parse_rat

                    try:
                        parse_rat(str(v)[:200])
                    except (RatParseError, ValueError):
                        raise p.err(line, f"{w}: expected a price per unit like 5 or \"5/2\", got {_kind(v)}") from None
                out[k] = None if v is None else str(v)
        elif k == "webhook":
            wh = p.seq(v, line, f"{w} (a list of replies)")
            out[k] = []
            for j, r in enumerate(wh):
                rl = wh.item_lines[j] if j < len(wh.item_lines) else wh.line
                reply = dict(p.mapping(r, rl, f"{w}[{j}]"))
                # the transport fields the scripted webhook reads; the rest is the JSON body, sent as written
                if "http_status" in reply:
                    reply["http_status"] = p.integer(reply["http_status"], rl, f"{w}[{j}].http_status", minimum=100,
                                                    maximum=599)
                if "expiry_in" in reply:
                    reply["expiry_in"] = p.integer(reply["expiry_in"], rl, f"{w}[{j}].expiry_in", minimum=-10**9,
                                                  maximum=10**9)
                out[k].append(reply)
        elif k in ("faults", "headers"):
            out[k] = dict(p.mapping(v, line, w))
            if k == "faults" and role == "orchestrator":  # the orchestrator's own check, before anything starts
                from sim.orchestrator.faults import FaultError, Faults

                try:
                    Faults().update(out[k])
                except FaultError as exc:
                    raise p.err(line, f"{w}: {exc}") from None
        elif k == "type":
            if v not in JOB_TYPES:
                raise p.err(line, f"{w}: expected one of live, lv2v, fixed or \"\", got {_kind(v)}")
            out[k] = v
        elif k == "interval_s":
            out[k] = p.number(v, line, w, positive=True, maximum=86400)
        elif k == "segment_s":
            out[k] = p.number(v, line, w, positive=True, maximum=60)
        elif k == "signers":
            sig = [v] if isinstance(v, str) else v
            out[k] = [p.name(s, line, w) for s in p.seq(sig, line, w)]
        else:  # pragma: no cover - every allowed key is handled above
            raise AssertionError(k)
    if out.get("max_face_value") and "ticket_ev" in out and out["max_face_value"] <= out["ticket_ev"]:
        raise p.err(d.line_of("max_face_value"), f"{what}.max_face_value: must be > ticket_ev (the sender refuses "
                                                 "EV >= face value), or 0 for no cap")
    if out.get("lv2v_job") and out.get("type", "lv2v") != "lv2v":
        raise p.err(d.line_of("lv2v_job"), f"{what}.lv2v_job: the job pays with type lv2v, not {out['type']!r}")
    return out


def parse_spec(doc, p: SpecParser, *, base: dict | None = None, overrides: dict | None = None, line: int = 1,
               what: str = "stack") -> StackSpec:
    """Validate a spec mapping (YAML ``stack:`` section or a whole ``lpdev.toml``) and build the stack spec.
    ``base``: a plain mapping of the same shape applied first (e.g. :data:`UP_DEFAULTS`); the document's
    keys override it, key by key (actor lists and counts replace); ``overrides`` (command-line flags, already
    checked by their parser) go on top."""
    d = p.mapping(doc, line, what)
    p.keys(d, SPEC_KEYS, what)
    merged = _merge(_merge(base or {}, d), overrides or {})
    roles = account_roles()
    spec = StackSpec()

    moved: dict[str, int] = {}  # keys given in a table (chain.block_time) -> their line

    def loc(key: str) -> int:
        """The line of a top-level key, else the document's."""
        return moved.get(key) or d.line_of(key)

    # -- chain: a backend name, or a table {backend, block_time, round_length}
    chain = merged.get("chain", spec.chain)
    chain_line = loc("chain")
    fork = {}
    if isinstance(chain, dict):
        ct = p.mapping(chain, chain_line, f"{what}.chain")
        p.keys(ct, {"backend", "block_time", "round_length", *FORK_KEYS}, f"{what}.chain")
        merged.update({k: ct[k] for k in ("block_time", "round_length") if k in ct})
        moved.update({k: ct.line_of(k) for k in ("block_time", "round_length") if k in ct})
        fork = {k: (ct[k], ct.line_of(k)) for k in FORK_KEYS if k in ct and ct[k] is not None}
        chain, chain_line = ct.get("backend", "fork" if "fork_url" in fork else spec.chain), ct.line_of("backend")
    spec.chain = p.need(chain, CHAINS, chain_line, f"{what}.chain", "chain backend")
    if spec.chain == "fork" or fork:
        spec.fork = _fork(p, fork, chain_line, what, spec.chain)
    if "seed" in merged:
        spec.seed = None if merged["seed"] is None else p.integer(merged["seed"], loc("seed"), f"{what}.seed",
                                                                 minimum=0, maximum=2**63 - 1)
    for k in ("start_time", "round_length"):
        if k in merged:
            setattr(spec, k, p.integer(merged[k], loc(k), f"{what}.{k}", minimum=1, maximum=2**40))
    if "block_time" in merged:
        spec.block_time = p.number(merged["block_time"], loc("block_time"), f"{what}.block_time", maximum=3600)
    if "host" in merged:
        spec.host = p.text(merged["host"], loc("host"), f"{what}.host", max_len=255)
        import ipaddress

        try:
            ipaddress.ip_address(spec.host)
        except ValueError:
            if spec.host != "localhost":
                raise p.err(loc("host"), f"{what}.host: expected an IP address to listen on (127.0.0.1, 0.0.0.0, "
                                         f"::1) or localhost, got {spec.host[:80]!r}") from None
    sender = p.mapping(merged.get("sender", {}), loc("sender"), f"{what}.sender")
    p.keys(sender, {"deposit", "reserve"}, f"{what}.sender")
    for k in ("deposit", "reserve"):
        v = sender.get(k, merged.get(k))
        if v is not None:
            at = sender.line_of(k) if k in sender else loc(k)
            setattr(spec, k, p.amount(v, at, f"{what}.{k}", minimum=1 if k == "deposit" else 0))
    ports = p.mapping(merged.get("ports", {}), loc("ports"), f"{what}.ports")
    p.keys(ports, {"eth", "signer", "orchestrator", "orchestrator_http"}, f"{what}.ports")
    for k, attr in (("eth", "eth_port"), ("signer", "signer_port"), ("orchestrator", "orch_port"),
                    ("orchestrator_http", "orch_http_port")):
        if k in ports:
            setattr(spec, attr, p.integer(ports[k], ports.line_of(k), f"{what}.ports.{k}", minimum=0, maximum=65535))

    # -- actors: role defaults, then a count or a list
    defaults = {}
    for table, allowed in (("signer", SIGNER_KEYS), ("orchestrator", ORCH_KEYS),
                           ("gateway", GATEWAY_KEYS | {"enabled"})):
        t = p.mapping(merged.get(table, {}), loc(table), f"{what}.{table}")
        enabled = t.get("enabled", True)
        t2 = LDict({k: v for k, v in t.items() if k != "enabled"})
        t2.line, t2.key_lines = t.line, getattr(t, "key_lines", {})
        defaults[table] = _actor_fields(p, t2, allowed - {"name"}, f"{what}.{table}", roles, table)
        if table == "gateway":
            defaults["gateway_enabled"] = p.boolean(enabled, t.line_of("enabled") if "enabled" in t else t.line,
                                                    f"{what}.gateway.enabled")
    if "remote_discovery" in merged:
        defaults["signer"].setdefault("remote_discovery", p.boolean(merged["remote_discovery"], loc("remote_discovery"),
                                                                    f"{what}.remote_discovery"))

    def listed(section: str, allowed: set[str]) -> list[tuple[dict, int]] | int | str | None:
        """The actors of a section as written: None (absent), a count, "auto", or [(fields, line)]."""
        raw = merged.get(section)
        if raw is None:
            return None
        at = loc(section)
        if section == "gateways" and raw == "auto":
            return "auto"
        if not isinstance(raw, list):
            return p.integer(raw, at, f"{what}.{section} (a number or a list)",
                             minimum=0 if section == "gateways" else 1, maximum=MAX_ACTORS)
        items = p.seq(raw, at, f"{what}.{section}")
        out, seen = [], set()
        for i, item in enumerate(items):
            w = f"{what}.{section}[{i}]"
            item = p.mapping(item, items.item_lines[i] if i < len(items.item_lines) else items.line, w)
            p.keys(item, allowed, w, required=("name",))
            vals = _actor_fields(p, item, allowed, w, roles, section[:-1])
            if vals["name"] in seen:
                raise p.err(item.line_of("name"), f"{w}.name: duplicate name {vals['name']!r}")
            seen.add(vals["name"])
            out.append((vals, item.line))
        if not out and section != "gateways":
            raise p.err(at, f"{what}.{section}: expected at least one {section[:-1]}")
        return out

    def numbered(prefix: str, i: int) -> str:
        return prefix if i == 0 else f"{prefix}{i + 1}"

    # signers: a count gives N dev signers with their own accounts; a list names them (account: sender)
    raw = listed("signers", SIGNER_KEYS)
    if raw is None:
        raw = [({"name": "signer"}, d.line)]
    if isinstance(raw, int):
        spec.signers = [SignerSpec(**{"account": SENDER_ROLES[i][0], **defaults["signer"],
                                      "name": numbered("signer", i)}) for i in range(raw)]
    else:
        spec.signers = [SignerSpec(**{**defaults["signer"], **vals}) for vals, _ in raw]
    # orchestrators: the i-th defaults to dev account orchestrator, orchestrator2, ...
    raw = listed("orchestrators", ORCH_KEYS)
    if raw is None:
        raw = [({"name": "orch"}, d.line)]
    if isinstance(raw, int):
        raw = [({"name": numbered("orch", i), "account": ORCH_ROLES[i][0]}, d.line) for i in range(raw)]
    spec.orchestrators = [OrchestratorSpec(**{"account": ORCH_ROLES[i][0] if i < MAX_ACTORS else "orchestrator",
                                              **defaults["orchestrator"], **vals})
                          for i, (vals, _) in enumerate(raw)]
    for s in spec.signers:
        if s.max_price_per_capability:
            from sim.signer.config import parse_capability_max_prices

            try:
                parse_capability_max_prices(s.max_price_per_capability, pixels_per_unit=Fraction(1),
                                            max_price_per_unit=Fraction(0))
            except Exception as exc:  # noqa: BLE001 - any parse failure is the user's value, said in one line
                raise p.err(loc("signers"), f"{what}.signers: {s.name}.max_price_per_capability: {exc}") from None
    sig_names = [s.name for s in spec.signers]
    orch_names = [o.name for o in spec.orchestrators]
    # gateways: a count or "auto" pairs gateway i with signer i and orchestrator i (round-robin); a listed
    # gateway defaults to the first signer and the first orchestrator
    raw = listed("gateways", GATEWAY_KEYS)
    if not defaults["gateway_enabled"] or raw is None:
        raw = 0
    if raw == "auto":
        raw = max(len(sig_names), len(orch_names))
    if isinstance(raw, int):
        raw = [({"name": numbered("gateway", i), "signers": [sig_names[i % len(sig_names)]],
                 "orchestrator": orch_names[i % len(orch_names)]}, d.line_of("gateways")) for i in range(raw)]
    spec.gateways = []
    for i, (vals, line) in enumerate(raw):
        kw = {"signers": [sig_names[0]], "orchestrator": orch_names[0], **defaults["gateway"], **vals}
        for s in kw["signers"] + ([kw["identity"]] if kw.get("identity") else []):
            p.need(s, sig_names, line, f"{what}.gateways[{i}].signers", "signer")
        p.need(kw["orchestrator"], orch_names, line, f"{what}.gateways[{i}].orchestrator", "orchestrator")
        spec.gateways.append(GatewaySpec(**kw))
    spec.runners = _runners(p, merged.get("runners"), loc("runners"), what, spec)
    return spec


def _fork(p: SpecParser, given: dict, line: int, what: str, backend: str) -> dict:
    """The fork's settings, checked: an http(s) ``fork_url``, a block number, 20-byte hex addresses."""
    if backend != "fork":
        raise p.err(line, f"{what}.chain: {', '.join(given)} only go with backend \"fork\", not {backend!r}")
    if "fork_url" not in given:
        raise p.err(line, f"{what}.chain: backend \"fork\" needs fork_url (the JSON-RPC URL of the chain to fork)")
    out = {}
    for k, (v, at) in given.items():
        w = f"{what}.chain.{k}"
        if k == "fork_url":
            v = p.text(v, at, w, max_len=2048)
            if not re.match(r"https?://[^\s]+$", v):
                raise p.err(at, f"{w}: expected an http(s):// JSON-RPC URL, got {_kind(v)}")
        elif k == "fork_block":
            v = p.integer(v, at, w, minimum=0, maximum=2**63 - 1)
        elif not (isinstance(v, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", v)):
            raise p.err(at, f"{w}: expected a 0x-prefixed 20-byte hex address, got {_kind(v)}")
        out[k] = v
    return out


def _runners(p: SpecParser, raw, line: int, what: str, spec: StackSpec) -> list[RunnerSpec]:
    """``runners``: a list of dev runners, each ``{name, kind, orchestrator, price, unit, capacity}`` or the text
    ``KIND[:USD[/UNIT]]`` (``echo``, ``noop:0.36``, ``text:0.01/fixed``), as ``lpdev up --runner`` takes it."""
    from sim.runners import KINDS, parse_runner_spec

    if raw is None:
        return []
    items = p.seq(raw, line, f"{what}.runners")
    out, seen = [], set()
    for i, item in enumerate(items):
        w, at = f"{what}.runners[{i}]", items.item_lines[i] if i < len(items.item_lines) else items.line
        if isinstance(item, str):
            try:
                kind, price, unit = parse_runner_spec(item)
            except ValueError as exc:
                raise p.err(at, f"{w}: {exc}") from None
            kw = {"kind": kind, "price": price, "unit": unit}
        else:
            d = p.mapping(item, at, w)
            p.keys(d, RUNNER_KEYS, w)
            kw = {}
            for k, v in d.items():
                kl = d.line_of(k)
                if k == "name":
                    kw[k] = p.name(v, kl, f"{w}.name")
                elif k == "kind":
                    kw[k] = p.need(v, sorted(KINDS), kl, f"{w}.kind", "dev runner kind")
                elif k == "orchestrator":
                    kw[k] = p.need(v, [o.name for o in spec.orchestrators], kl, f"{w}.orchestrator", "orchestrator")
                elif k == "capacity":
                    kw[k] = p.integer(v, kl, f"{w}.capacity", minimum=1, maximum=1000)
                else:  # price, unit: checked together, as --runner KIND:PRICE/UNIT is
                    kw[k] = str(v)
            try:
                parse_runner_spec(f"{kw.get('kind', 'noop')}:{kw.get('price', '0')}/{kw.get('unit', 'hour')}")
            except ValueError as exc:
                raise p.err(at, f"{w}: {exc}") from None
        kw.setdefault("orchestrator", spec.orchestrators[0].name)
        kw.setdefault("name", kw.get("kind", "noop") if kw.get("kind", "noop") not in seen else
                      f"{kw.get('kind', 'noop')}{i + 1}")
        if kw["name"] in seen:
            raise p.err(at, f"{w}.name: duplicate name {kw['name']!r}")
        seen.add(kw["name"])
        orch = spec.orchestrator(kw["orchestrator"])
        if not orch.orch_secret:
            raise p.err(at, f"{w}: orchestrator {orch.name!r} has no orch_secret, so no runner can register with it "
                            "(set orchestrator.orch_secret, e.g. \"abcdef\" as the SDK examples use)")
        out.append(RunnerSpec(**kw))
    return out


def _merge(base: dict, doc: dict) -> dict:
    """``doc`` over ``base``: role-default tables merge key by key; everything else replaces."""
    out = dict(base)
    for k, v in doc.items():
        if k in ("signer", "orchestrator", "gateway", "sender", "ports") and isinstance(v, dict) \
                and isinstance(base.get(k), dict):
            m = LDict({**base[k], **v})
            m.line, m.key_lines = getattr(v, "line", 1), dict(getattr(v, "key_lines", {}))
            out[k] = m
        else:
            out[k] = v
    return out


# ====================================================================================== TOML with lines
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _key_parts(s: str) -> list[str]:
    return [k.strip().strip("\"'") for k in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", s)]


def load_toml_lines(text: str, path: str) -> LDict:
    """Parse TOML (``tomllib``) and give every mapping and list the line it came from, like the YAML loader,
    so a bad ``lpdev.toml`` value is reported as ``file:line: field: ...`` by the same validator."""
    from sim.wire import bounded

    try:
        doc = bounded.loads_toml(text, what=path)
    except bounded.BoundedInputError as exc:
        raise ScenarioError(path, exc.line or 1, exc.problem) from None
    # (table path, key) -> line; table path -> header line; array-of-tables path -> [header lines]
    key_lines: dict[tuple, int] = {}
    table_lines: dict[tuple, int] = {}
    array_lines: dict[tuple, list[int]] = {}
    current: tuple = ()
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        h = _HEADER.match(line)
        if h and not _KEY.match(line):
            parts = tuple(_key_parts(h.group(2)))
            if h.group(1) == "[[":
                array_lines.setdefault(parts, []).append(i)
                current = parts + (len(array_lines[parts]) - 1,)
            else:
                current = parts
            table_lines.setdefault(current, i)
            continue
        k = _KEY.match(raw)
        if k:
            parts = tuple(_key_parts(k.group(1)))
            key_lines.setdefault(current + parts, i)

    def wrap(obj, where: tuple, line: int):
        if isinstance(obj, dict):
            d = LDict()
            d.line = table_lines.get(where, line)
            d.key_lines = {}
            for k, v in obj.items():
                kl = key_lines.get(where + (k,), table_lines.get(where + (k,), d.line))
                d.key_lines[k] = kl
                d[k] = wrap(v, where + (k,), kl)
            return d
        if isinstance(obj, list):
            heads = array_lines.get(where)
            lst = LList(wrap(v, where + (j,), heads[j] if heads and j < len(heads) else line)
                        for j, v in enumerate(obj))
            lst.line = heads[0] if heads else line
            lst.item_lines = [heads[j] if heads and j < len(heads) else line for j in range(len(obj))]
            return lst
        return obj

    return wrap(doc, (), 1)


def load_spec_file(path: str, *, base: dict | None = None) -> StackSpec:
    """A spec from a file: ``*.toml`` (lpdev.toml) or ``*.yaml``/``*.yml`` (a scenario's ``stack:`` section, or
    a bare spec). Raises :class:`ScenarioError` (``file:line: ...``) on any problem."""
    from stack.yamlines import read_text_file, load_yaml

    text = read_text_file(path)
    p = SpecParser(path)
    if path.endswith((".yaml", ".yml")):
        doc = load_yaml(text, path)
        doc = p.mapping(doc, 1, "spec file")
        if "stack" in doc and "steps" in doc:  # a scenario file: its stack section
            return parse_spec(doc["stack"], p, base=base, line=doc.line_of("stack"))
        return parse_spec(doc, p, base=base, what="spec")
    return parse_spec(load_toml_lines(text, path), p, base=base, what=_toml_what(path))


def _toml_what(path: str) -> str:
    return "lpdev.toml" if path.endswith("lpdev.toml") else "config"


def spec_document(spec: StackSpec) -> dict:
    """The spec as a document :func:`parse_spec` reads back to an equal spec (what ``lpdev up`` saves in its data
    dir, so ``--resume`` restarts the same stack)."""
    from dataclasses import asdict

    d = asdict(spec)
    chain = d.pop("chain")
    fork = d.pop("fork")
    d["chain"] = {"backend": chain, **(fork or {})} if fork else chain
    d["ports"] = {"eth": d.pop("eth_port"), "signer": d.pop("signer_port"), "orchestrator": d.pop("orch_port"),
                  "orchestrator_http": d.pop("orch_http_port")}
    for s in d["signers"]:
        for k in [k for k, v in s.items() if v is None]:
            del s[k]
    for g in d["gateways"]:
        for k in [k for k, v in g.items() if v is None]:
            del g[k]
    for o in d["orchestrators"]:
        for k in [k for k, v in o.items() if v is None]:
            del o[k]
    for r in d["runners"]:
        for k in [k for k, v in r.items() if v is None]:
            del r[k]
    return d  # (a seed of None stays: null, the unseeded run)


def with_overrides(spec: StackSpec, **kw) -> StackSpec:
    """A copy with top-level fields replaced (``chain``, ``seed``, ports...)."""
    return replace(spec, **{k: v for k, v in kw.items() if v is not None})
