"""The scenario file format (YAML in ``scenarios/``) and its parser (errors: ``file:line: what was expected``).

A scenario has four parts::

    name: happy-path-lv2v             # defaults to the file name
    description: one paragraph for humans
    stack:                            # what runs (stack/spec.py: the same keys as lpdev.toml)
      chain: mock                     # mock | embedded | anvil (``--chain`` overrides)
      seed: 7                         # virtual clock + seeded ids (``--seed`` overrides)
      deposit: 100000000000000000000  # sender deposit / reserve funded at setup (wei)
      reserve: 100000000000000000000
      signers: [{name: signer, max_ticket_ev: ..., max_price: "5/1", webhook: [...replies...]}]
      orchestrators: [{name: orch, price_per_unit: 10, pixels_per_unit: 1, ticket_ev: ..., faults: {...}}]
      gateways: [{name: gw, signers: [signer], orchestrator: orch, type: lv2v, interval_s: 5}]
    steps:                            # run in order; each is {ACTION: ARGS} plus optional name/expect
      - start: gw
      - pay: {gateway: gw, count: 3}
      - expect: [...]                 # expectations checked right here
    expect: [...]                     # checked at the end, after settling redemptions
    invariants: {nonce_unique: violated}   # optional: an invariant this scenario is MEANT to break
    clients:                          # optional: Live Runner clients (sim/gateway/runner_client.py), as the SDK's
      - {name: app, signer: signer, orchestrator: orch}   # reserve_session / call_runner: discovery, 402, payment

Actions and expectation kinds are listed in :data:`ACTIONS` and :data:`EXPECTATIONS`. Live Runner steps name
a client (``clients:``) or a runner (``stack.runners``, or a ``static_runner`` step before them); a client's
sessions are named by ``as:`` (default ``s1``, ``s2``, ...) and a step without ``session:`` uses the latest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from stack.spec import SpecParser, StackSpec, _kind, parse_spec
from stack.spec import account_roles as _roles
from stack.yamlines import LDict, LList, ScenarioError, line_of, load_yaml

__all__ = ["Scenario", "Step", "Expectation", "ACTIONS", "EXPECTATIONS", "parse_scenario", "load_scenario",
           "Cmp", "INVARIANTS", "ClientSpec"]

# action -> (argument shape, help)
ACTIONS: dict[str, str] = {
    "start": "GATEWAY — sign-orchestrator-info + GetOrchestrator",
    "pay": "{gateway, count: 1, interval_s: session cadence, headers: {}} — payment cycles on the virtual clock",
    "pay_concurrently": "{gateway, count} — COUNT signer calls at once with the same state (misuse)",
    "wait": "SECONDS — advance the virtual clock",
    "mine": "BLOCKS — mine empty blocks (orchestrators see them; redemptions run)",
    "advance_round": "N — mine to the next round boundary and initialize it, N times",
    "fault": "{orchestrator, set: {knob: value}} — orchestrator fault knobs (sim/orchestrator/faults.py)",
    "kill": "ORCHESTRATOR — stop it abruptly (its SQLite data dir survives)",
    "restart": "ORCHESTRATOR — start it again on the same data dir (new secret, new cert, same port)",
    "redeem": "ORCHESTRATOR | all — one redemption pass now",
    "fund": "{account: sender, deposit: WEI, reserve: WEI}",
    "unlock": "ACCOUNT — TicketBroker.unlock()",
    "cancel_unlock": "ACCOUNT",
    "withdraw": "ACCOUNT — TicketBroker.withdraw()",
    "save_state": "{gateway, as: LABEL} — remember the gateway's signer state blob",
    "restore_state": "{gateway, from: LABEL} — send an old state again (replay)",
    "tamper_state": "{gateway, balance: RAT} — rewrite the state's Balance, keep the old signature",
    "set": "{gateway, manifest_id | max_price | type | in_pixels | app | interval_s} — change the gateway",
    "note": "TEXT — a scenario.note event for humans",
    "expect": "[EXPECTATION, ...] — check now",
    # Live Runners: clients (the SDK's side) and runners (the stack drives dev runners on its clock)
    "discover": "CLIENT — GET /discovery: the client remembers the runners and their prices (for maxPrice)",
    "reserve": "{client, runner, as: LABEL} — POST /apps/{id}/session: free, or 402 -> signer -> paid retry",
    "call": "{client, session: LABEL | runner: RUNNER, path, method: POST, body} — a request through the proxy "
            "(runner: a single-shot runner, reserved for this request)",
    "runner_pay": "CLIENT | {client, session} — a follow-up payment: the signer, then POST payment_url",
    "runner_stop": "CLIENT | {client, session} — POST {control_url}/stop",
    "heartbeat": "RUNNER | {runner, price, unit, capacity} — heartbeat now (a 401 re-registers), ending a silence",
    "silence": "RUNNER — stop its heartbeats: after the 20 s TTL (wait) it expires, its sessions released",
    "health": "{runner, ok: true|false} — a static runner's GET /healthz answers 200 or 503; checked now",
    "static_runner": "{name, kind, orchestrator, label, routing, price, unit, capacity} — serve a dev runner and "
                     "register it from a runners.json entry (health_url /healthz)",
}

EXPECTATIONS: dict[str, str] = {
    "outcome": "{gateway, payment: N|last, status, signer_status, orch_status, message_contains, tickets: CMP}",
    "outcomes": "{gateway, status (or any), count: CMP}",
    "event": "{kind, actor, where: {k: v}, contains: {k: text}, count: CMP (default >=1)}",
    "chain": "{account: ROLE, deposit: CMP, reserve: CMP} | {orchestrator: NAME, fees: CMP}",
    "summary": "{payments|tickets|winning_tickets|redeemed: CMP}",
    "winners": "{orchestrator, status: queued|redeemed|failed|sending, count: CMP}",
    "reply": "{client, action: discover|reserve|call|pay|stop, request: N|last, status, signer_status, "
             "message_contains, paid} — the client's N-th such request",
    "session": "{client, session: LABEL|last, state: open|released, reason_contains, debits: CMP}",
    "runner": "{runner, registered, listed, status: ready|unavailable|gone, sessions: CMP, heartbeats: CMP, "
              "reregistrations: CMP}",
}

CLIENT_ACTIONS = ("discover", "reserve", "call", "pay", "stop")
SESSION_STATES = ("open", "released")
RUNNER_STATUSES = ("ready", "unavailable", "gone")

# A step is a few seconds of work, not an afternoon: a typo like `count: 10000000000` is an error, not a hang.
MAX_COUNT = 100_000  # payment cycles (or concurrent calls) in one step
MAX_WAIT_S = 366 * 86400  # a year of (virtual) time
MAX_BLOCKS = 1_000_000
MAX_ROUNDS = 10_000

INVARIANTS = ("money_conservation", "no_double_redemption", "winners_accounted", "nonce_unique",
              "signer_balance_nonnegative")

JOB_TYPES = ("", "live", "lv2v", "fixed")


def gateway_statuses() -> tuple[str, ...]:
    """What a payment cycle can end as (``PaymentOutcome.status``): the words ``outcome.status`` may use."""
    from sim.gateway.session import STATUSES

    return STATUSES


def winner_statuses() -> tuple[str, ...]:
    """A stored winning ticket's status in the orchestrator's SQLite (``winners.status``)."""
    from sim.orchestrator.winners import FAILED, QUEUED, REDEEMED, SENDING

    return (QUEUED, REDEEMED, FAILED, SENDING)


def account_roles() -> tuple[str, ...]:
    """The devnet roles a stack's chain knows (``account:``, ``fund``, ``unlock``, ``withdraw``)."""
    return tuple(_roles())

_CMP = re.compile(r"^\s*(==|!=|>=|<=|>|<)?\s*(-?\d+)\s*$")


@dataclass(frozen=True)
class Cmp:
    """An integer comparison from YAML: ``3`` or ``">= 3"``."""

    op: str
    value: int

    def __call__(self, x) -> bool:
        x = int(x)
        return {"==": x == self.value, "!=": x != self.value, ">=": x >= self.value, "<=": x <= self.value,
                ">": x > self.value, "<": x < self.value}[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.value}"

    @classmethod
    def parse(cls, v) -> "Cmp | None":
        """``3`` or ``"== 3"`` (how a trace records it) -> Cmp; None when ``v`` is not a count."""
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return cls("==", v)
        m = _CMP.match(v) if isinstance(v, str) else None
        return cls(m.group(1) or "==", int(m.group(2))) if m else None


@dataclass
class Expectation:
    kind: str
    args: dict
    name: str
    line: int


@dataclass
class Step:
    action: str
    arg: object
    line: int
    name: str = ""
    expect: list[Expectation] = field(default_factory=list)

    def describe(self) -> str:
        if self.name:
            return self.name
        a = self.arg
        if isinstance(a, dict):
            a = ", ".join(f"{k}={v}" for k, v in a.items())
        return f"{self.action} {a}" if a not in (None, "") else self.action


@dataclass
class Scenario:
    name: str
    description: str
    path: str
    stack: StackSpec  # what runs (stack.spec); the runner builds the stack from it
    steps: list[Step]
    expect: list[Expectation]
    invariants: dict[str, str]  # name -> "hold" | "violated" | "skip"
    settle: bool = True
    clients: list = field(default_factory=list)  # ClientSpec: Live Runner clients


class _P(SpecParser):
    """The spec's validation helpers plus the scenario's own (counts)."""

    def cmp(self, v, line: int, what: str) -> Cmp:
        if isinstance(v, bool):
            raise self.err(line, f"{what}: expected a count like 3 or \">= 1\", got a boolean")
        c = Cmp.parse(v)
        if c is None:
            raise self.err(line, f"{what}: expected a count like 3 or \">= 1\", got {v!r}")
        return c


def _parse_expectations(p: _P, obj, line: int, what: str, names: dict) -> list[Expectation]:
    items = p.seq(obj, line, what)
    out = []
    for i, e in enumerate(items):
        e = p.mapping(e, items.item_lines[i] if i < len(items.item_lines) else items.line, f"{what}[{i}]")
        name = e.get("name")
        kinds = [k for k in e if k != "name"]
        if len(kinds) != 1 or kinds[0] not in EXPECTATIONS:
            raise p.err(e.line, f"{what}[{i}]: expected exactly one of {', '.join(EXPECTATIONS)} (plus an optional "
                                f"name), got {', '.join(map(str, kinds)) or 'nothing'}")
        kind = kinds[0]
        args = p.mapping(e[kind], e.line_of(kind), f"{what}[{i}].{kind}")
        _check_expectation(p, kind, args, f"{what}[{i}].{kind}", names)
        out.append(Expectation(kind, args, str(name) if name else _auto_name(kind, args), e.line))
    return out


def _auto_name(kind: str, args: dict) -> str:
    parts = ", ".join(f"{k}: {v}" for k, v in args.items() if not str(k).startswith("_"))
    return f"{kind}({parts})"


CMP_KEYS = ("count", "tickets", "deposit", "reserve", "fees", "payments", "winning_tickets", "redeemed", "refreshes",
            "debits", "sessions", "heartbeats", "reregistrations")

_EXP_KEYS = {
    "outcome": {"gateway", "payment", "status", "signer_status", "orch_status", "message_contains", "tickets",
                "refreshes", "signer"},
    "outcomes": {"gateway", "status", "count"},
    "event": {"kind", "actor", "where", "contains", "count"},
    "chain": {"account", "deposit", "reserve", "orchestrator", "fees"},
    "summary": {"payments", "tickets", "winning_tickets", "redeemed"},
    "winners": {"orchestrator", "status", "count"},
    "reply": {"client", "action", "request", "status", "signer_status", "message_contains", "paid"},
    "session": {"client", "session", "state", "reason_contains", "debits"},
    "runner": {"runner", "registered", "listed", "status", "sessions", "heartbeats", "reregistrations"},
}


def _check_expectation(p: _P, kind: str, args: LDict, what: str, names: dict) -> None:
    p.keys(args, _EXP_KEYS[kind], what)
    for k in CMP_KEYS:
        if k in args:
            args[k] = p.cmp(args[k], args.line_of(k), f"{what}.{k}")
    if kind in ("outcome", "outcomes") and "gateway" not in args:
        raise p.err(args.line, f"{what}: missing required key 'gateway'")
    gws, orchs, signers = (sorted(names[k]) for k in ("gateways", "orchestrators", "signers"))
    if kind in ("outcome", "outcomes"):
        p.need(args["gateway"], gws, args.line_of("gateway"), f"{what}.gateway", "gateway")
        if "status" in args:
            allowed = gateway_statuses() + (("any",) if kind == "outcomes" else ())
            p.need(args["status"], allowed, args.line_of("status"), f"{what}.status", "payment status")
    if kind == "outcome":
        pay = args.get("payment", "last")
        if pay != "last":
            args["payment"] = p.integer(pay, args.line_of("payment"), f"{what}.payment", minimum=1)
        for k in ("signer_status", "orch_status"):
            if k in args and args[k] is not None:  # null: that side was never called
                args[k] = p.integer(args[k], args.line_of(k), f"{what}.{k} (an HTTP status or null)", minimum=100)
        if "signer" in args:
            p.need(args["signer"], signers, args.line_of("signer"), f"{what}.signer", "signer")
    if kind == "winners":
        if "orchestrator" in args:
            p.need(args["orchestrator"], orchs, args.line_of("orchestrator"), f"{what}.orchestrator", "orchestrator")
        if "status" in args:
            p.need(args["status"], winner_statuses(), args.line_of("status"), f"{what}.status", "winner status")
    if kind == "event":
        if "kind" not in args:
            raise p.err(args.line, f"{what}: missing required key 'kind'")
        from sim.events import KINDS

        _ensure_kinds_loaded()
        if args["kind"] not in KINDS:
            raise p.err(args.line_of("kind"), f"{what}.kind: unknown event kind {args['kind']!r}")
        for k in ("where", "contains"):
            if k in args:
                p.mapping(args[k], args.line_of(k), f"{what}.{k}")
        if "actor" in args:  # who emits events: the declared actors, a signer's scripted webhook, the stack
            actors = sorted(names["signers"] | names["orchestrators"] | names["gateways"] | names.get("clients", set())
                            | {f"{s}-webhook" for s in names["signers"]}) + ["stack", "scenario"]
            p.need(args["actor"], actors, args.line_of("actor"), f"{what}.actor", "actor")
    if kind in ("reply", "session"):
        if "client" not in args:
            raise p.err(args.line, f"{what}: missing required key 'client'")
        p.need(args["client"], sorted(names["clients"]), args.line_of("client"), f"{what}.client", "client")
        for k in ("paid",):
            if k in args:
                p.boolean(args[k], args.line_of(k), f"{what}.{k}")
        if "action" in args:
            p.need(args["action"], CLIENT_ACTIONS, args.line_of("action"), f"{what}.action", "client action")
        if args.get("request", "last") != "last":
            args["request"] = p.integer(args["request"], args.line_of("request"), f"{what}.request", minimum=1)
        for k in ("status", "signer_status"):
            if k in args:
                args[k] = p.integer(args[k], args.line_of(k), f"{what}.{k} (an HTTP status; 0: no answer)",
                                    minimum=0, maximum=999)
        if "state" in args:
            p.need(args["state"], SESSION_STATES, args.line_of("state"), f"{what}.state", "session state")
        if "session" in args and args["session"] != "last":
            p.text(args["session"], args.line_of("session"), f"{what}.session", max_len=64)
    if kind == "runner":
        if "runner" not in args:
            raise p.err(args.line, f"{what}: missing required key 'runner'")
        p.need(args["runner"], sorted(names["runners"]), args.line_of("runner"), f"{what}.runner", "runner")
        for k in ("registered", "listed"):
            if k in args:
                p.boolean(args[k], args.line_of(k), f"{what}.{k}")
        if "status" in args:
            p.need(args["status"], RUNNER_STATUSES, args.line_of("status"), f"{what}.status", "runner status")
    if kind == "chain":
        has_acct, has_orch = "account" in args, "orchestrator" in args
        if has_acct == has_orch or (has_acct and "fees" in args) or (
                has_orch and ("deposit" in args or "reserve" in args)):
            raise p.err(args.line, f"{what}: expected 'account' (with deposit/reserve) or 'orchestrator' (with fees)")
        if has_acct:
            p.need(args["account"], account_roles(), args.line_of("account"), f"{what}.account", "account role")
        else:
            p.need(args["orchestrator"], orchs, args.line_of("orchestrator"), f"{what}.orchestrator",
                  "orchestrator")


def _ensure_kinds_loaded() -> None:
    """Event kinds are registered by the modules that emit them; import them so a file can be checked alone."""
    import importlib

    for mod in ("sim.gateway.session", "sim.gateway.runner_client", "sim.orchestrator.kinds",
                "sim.orchestrator.live_runner", "sim.signer.core", "stack.stack", "stack.scenario.runner"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass


def _parse_step(p: _P, raw, line: int, i: int, names: dict) -> Step:
    what = f"steps[{i}]"
    d = p.mapping(raw, line, what)
    actions = [k for k in d if k not in ("name", "expect")]
    if not actions and "expect" in d:  # `- expect: [...]` alone is the expect action (check right here)
        actions = ["expect"]
    if len(actions) != 1 or actions[0] not in ACTIONS:
        got = ", ".join(map(str, actions)) or "nothing"
        raise p.err(d.line, f"{what}: expected exactly one action ({', '.join(ACTIONS)}), got {got}")
    a = actions[0]
    arg = d[a]
    aline = d.line_of(a)
    gw, orch = names["gateways"], names["orchestrators"]

    def need_gateway(v, key="gateway"):
        if v not in gw:
            raise p.err(aline, f"{what}.{a}: unknown gateway {v!r}; expected one of {', '.join(sorted(gw)) or '(none)'}")

    if a == "start":
        need_gateway(arg)
    elif a in ("pay", "pay_concurrently", "save_state", "restore_state", "tamper_state", "set"):
        arg = p.mapping(arg, aline, f"{what}.{a}")
        allowed = {"pay": {"gateway", "count", "interval_s", "headers", "adopt_payment_info"}, "pay_concurrently": {"gateway", "count"},
                   "save_state": {"gateway", "as"}, "restore_state": {"gateway", "from"},
                   "tamper_state": {"gateway", "balance"},
                   "set": {"gateway", "manifest_id", "max_price", "type", "in_pixels", "app", "interval_s"}}[a]
        p.keys(arg, allowed, f"{what}.{a}", required=("gateway",))
        need_gateway(arg["gateway"])
        if "count" in arg:
            p.integer(arg["count"], arg.line_of("count"), f"{what}.{a}.count", minimum=1, maximum=MAX_COUNT)
        if "interval_s" in arg:
            p.number(arg["interval_s"], arg.line_of("interval_s"), f"{what}.{a}.interval_s", maximum=MAX_WAIT_S)
        if a == "save_state" and "as" not in arg:
            raise p.err(arg.line, f"{what}.save_state: missing required key 'as'")
        if a == "restore_state" and "from" not in arg:
            raise p.err(arg.line, f"{what}.restore_state: missing required key 'from'")
        if a == "tamper_state" and "balance" not in arg:
            raise p.err(arg.line, f"{what}.tamper_state: missing required key 'balance'")
    elif a == "wait":
        p.number(arg, aline, f"{what}.wait", maximum=MAX_WAIT_S)
    elif a in ("mine", "advance_round"):
        p.integer(arg, aline, f"{what}.{a}", minimum=1, maximum=MAX_BLOCKS if a == "mine" else MAX_ROUNDS)
    elif a == "fault":
        arg = p.mapping(arg, aline, f"{what}.fault")
        p.keys(arg, {"orchestrator", "set"}, f"{what}.fault", required=("orchestrator", "set"))
        if arg["orchestrator"] not in orch:
            raise p.err(arg.line_of("orchestrator"), f"{what}.fault.orchestrator: unknown orchestrator "
                                                     f"{arg['orchestrator']!r}")
        p.mapping(arg["set"], arg.line_of("set"), f"{what}.fault.set")
    elif a in ("kill", "restart"):
        if arg not in orch:
            raise p.err(aline, f"{what}.{a}: unknown orchestrator {arg!r}; expected one of {', '.join(sorted(orch))}")
    elif a == "redeem":
        if arg != "all" and arg not in orch:
            raise p.err(aline, f"{what}.redeem: expected an orchestrator name or 'all', got {arg!r}")
    elif a == "fund":
        arg = p.mapping(arg, aline, f"{what}.fund")
        p.keys(arg, {"account", "deposit", "reserve"}, f"{what}.fund", required=("account",))
        p.need(arg["account"], account_roles(), arg.line_of("account"), f"{what}.fund.account", "account role")
        for k in ("deposit", "reserve"):
            if k in arg:
                arg[k] = p.integer(arg[k], arg.line_of(k), f"{what}.fund.{k}", minimum=0)
    elif a in ("unlock", "cancel_unlock", "withdraw"):
        if not isinstance(arg, str):
            raise p.err(aline, f"{what}.{a}: expected an account role like sender, got {_kind(arg)}")
        p.need(arg, account_roles(), aline, f"{what}.{a}", "account role")
    elif a == "note":
        if not isinstance(arg, str):
            raise p.err(aline, f"{what}.note: expected text, got {_kind(arg)}")
    elif a == "expect":
        arg = _parse_expectations(p, arg, aline, f"{what}.expect", names)
    elif a in RUNNER_ACTIONS:
        arg = _parse_runner_step(p, a, arg, aline, what, names)
    exps = []
    if "expect" in d and a != "expect":
        exps = _parse_expectations(p, d["expect"], d.line_of("expect"), f"{what}.expect", names)
    return Step(a, arg, d.line, str(d.get("name") or ""), exps)


RUNNER_ACTIONS = ("discover", "reserve", "call", "runner_pay", "runner_stop", "heartbeat", "silence", "health",
                  "static_runner")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass
class ClientSpec:
    """A Live Runner client of a scenario (sim.gateway.runner_client.RunnerClient): the signer that pays (None:
    free runners only) and the orchestrator whose /discovery it reads."""

    name: str
    signer: str | None
    orchestrator: str


def _parse_clients(p: _P, obj, line: int, stack: StackSpec) -> list[ClientSpec]:
    items = p.seq(obj, line, "clients")
    out: list[ClientSpec] = []
    signers, orchs = [s.name for s in stack.signers], [o.name for o in stack.orchestrators]
    taken = set().union(*stack.names().values())
    for i, item in enumerate(items):
        at = items.item_lines[i] if i < len(items.item_lines) else items.line
        d = p.mapping({"name": item} if isinstance(item, str) else item, at, f"clients[{i}]")
        p.keys(d, {"name", "signer", "orchestrator"}, f"clients[{i}]", required=("name",))
        name = p.name(d["name"], d.line_of("name"), f"clients[{i}].name")
        if name in taken:
            raise p.err(d.line_of("name"), f"clients[{i}].name: {name!r} already names an actor of the stack")
        taken.add(name)
        signer = d.get("signer", signers[0])
        if signer is not None:
            p.need(signer, signers, d.line_of("signer"), f"clients[{i}].signer", "signer")
        orch = p.need(d.get("orchestrator", orchs[0]), orchs, d.line_of("orchestrator"), f"clients[{i}].orchestrator",
                      "orchestrator")
        out.append(ClientSpec(name, signer, orch))
    return out


def _parse_runner_step(p: _P, a: str, arg, aline: int, what: str, names: dict):
    """A Live Runner step's argument, checked against the clients and runners declared so far."""
    clients, runners, static = names["clients"], names["runners"], names["static"]
    w = f"{what}.{a}"

    def client(v, line):
        return p.need(v, sorted(clients), line, f"{w}.client" if a != "discover" else w, "client")

    def runner(v, line, key="runner"):
        return p.need(v, sorted(runners), line, f"{w}.{key}" if isinstance(arg, dict) else w, "runner")

    if a == "discover":
        return client(arg, aline)
    if a in ("runner_pay", "runner_stop"):
        arg = p.mapping({"client": arg} if isinstance(arg, str) else arg, aline, w)
        p.keys(arg, {"client", "session"}, w, required=("client",))
        client(arg["client"], arg.line_of("client"))
        if "session" in arg:
            p.text(arg["session"], arg.line_of("session"), f"{w}.session", max_len=64)
        return arg
    if a == "reserve":
        arg = p.mapping(arg, aline, w)
        p.keys(arg, {"client", "runner", "as"}, w, required=("client", "runner"))
        client(arg["client"], arg.line_of("client"))
        runner(arg["runner"], arg.line_of("runner"))
        if "as" in arg:
            p.name(arg["as"], arg.line_of("as"), f"{w}.as")
        return arg
    if a == "call":
        arg = p.mapping(arg, aline, w)
        p.keys(arg, {"client", "session", "runner", "path", "method", "body"}, w, required=("client",))
        client(arg["client"], arg.line_of("client"))
        if "session" in arg and "runner" in arg:
            raise p.err(arg.line, f"{w}: give a session (a reserved one) or a runner (single-shot), not both")
        if "runner" in arg:
            runner(arg["runner"], arg.line_of("runner"))
        if "session" in arg:
            p.text(arg["session"], arg.line_of("session"), f"{w}.session", max_len=64)
        if "path" in arg:
            p.text(arg["path"], arg.line_of("path"), f"{w}.path", max_len=1024)
        if "method" in arg:
            p.need(arg["method"], HTTP_METHODS, arg.line_of("method"), f"{w}.method", "HTTP method")
        return arg
    if a in ("silence",) or (a == "heartbeat" and not isinstance(arg, dict)):
        runner(arg, aline)
        if arg in static:
            raise p.err(aline, f"{w}: {arg!r} is a static runner (runners.json): it does not heartbeat")
        return arg
    if a == "heartbeat":
        p.keys(arg, {"runner", "price", "unit", "capacity"}, w, required=("runner",))
        runner(arg["runner"], arg.line_of("runner"))
        if arg["runner"] in static:
            raise p.err(arg.line_of("runner"), f"{w}.runner: {arg['runner']!r} is a static runner (runners.json): "
                                               "it does not heartbeat")
        _check_price(p, arg, w)
        if "capacity" in arg:
            p.integer(arg["capacity"], arg.line_of("capacity"), f"{w}.capacity", minimum=1, maximum=1000)
        return arg
    if a == "health":
        arg = p.mapping(arg, aline, w)
        p.keys(arg, {"runner", "ok"}, w, required=("runner", "ok"))
        runner(arg["runner"], arg.line_of("runner"))
        if arg["runner"] not in static:
            raise p.err(arg.line_of("runner"), f"{w}.runner: {arg['runner']!r} registers over heartbeats; only a "
                                               "static_runner has a health check")
        p.boolean(arg["ok"], arg.line_of("ok"), f"{w}.ok")
        return arg
    # static_runner
    from sim.runners import KINDS

    arg = p.mapping(arg, aline, w)
    p.keys(arg, {"name", "kind", "orchestrator", "label", "routing", "price", "unit", "capacity"}, w,
           required=("name",))
    name = p.name(arg["name"], arg.line_of("name"), f"{w}.name")
    if name in runners or name in clients or name in names["gateways"]:
        raise p.err(arg.line_of("name"), f"{w}.name: {name!r} already names a runner, client or gateway")
    if "kind" in arg:
        p.need(arg["kind"], sorted(KINDS), arg.line_of("kind"), f"{w}.kind", "dev runner kind")
    if "orchestrator" in arg:
        p.need(arg["orchestrator"], sorted(names["orchestrators"]), arg.line_of("orchestrator"), f"{w}.orchestrator",
               "orchestrator")
    if "label" in arg:
        p.name(arg["label"], arg.line_of("label"), f"{w}.label")
    if "routing" in arg:
        p.need(arg["routing"], ("runner-id", "label"), arg.line_of("routing"), f"{w}.routing", "routing")
    if "capacity" in arg:
        p.integer(arg["capacity"], arg.line_of("capacity"), f"{w}.capacity", minimum=1, maximum=1000)
    _check_price(p, arg, w)
    runners.add(name)
    static.add(name)
    return arg


def _check_price(p: _P, arg: LDict, w: str) -> None:
    """``price`` (USD >= 0, as ``--runner KIND:PRICE/UNIT`` takes it) and ``unit`` (hour, 720p, fixed)."""
    if "price" in arg:
        v = arg["price"]
        from sim.wire.bounded import BoundedInputError, parse_fraction

        try:  # bounded: a price like 1e999999999 must not be expanded
            ok = not isinstance(v, bool) and parse_fraction(str(v).strip()[:100], what="price", min=0,
                                                            max=10**12) >= 0
        except BoundedInputError:
            ok = False
        if not ok:
            raise p.err(arg.line_of("price"), f"{w}.price: expected a USD amount such as 0.36, got {_kind(v)}")
        arg["price"] = str(v).strip()
    if "unit" in arg:
        p.need(arg["unit"], ("hour", "720p", "fixed"), arg.line_of("unit"), f"{w}.unit", "price unit")


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    p = _P(path)
    doc = load_yaml(text, path)
    doc = p.mapping(doc, 1, "scenario file")
    p.keys(doc, {"name", "description", "stack", "steps", "expect", "invariants", "settle", "clients"}, "scenario",
           required=("stack", "steps"))
    stack = parse_spec(doc["stack"], p, line=doc.line_of("stack"))
    clients = _parse_clients(p, doc["clients"], doc.line_of("clients"), stack) if "clients" in doc else []
    names = stack.names()
    names["runners"] = set(names["runners"])
    names["clients"] = {c.name for c in clients}
    names["static"] = set()
    steps_raw = p.seq(doc["steps"], doc.line_of("steps"), "steps")
    steps = [_parse_step(p, s, steps_raw.item_lines[i], i, names) for i, s in enumerate(steps_raw)]
    exps = _parse_expectations(p, doc.get("expect", LList()), doc.line_of("expect"), "expect", names)
    inv: dict[str, str] = {n: "hold" for n in INVARIANTS}
    if "invariants" in doc:
        d = p.mapping(doc["invariants"], doc.line_of("invariants"), "invariants")
        for k, v in d.items():
            if k not in INVARIANTS:
                raise p.err(d.line_of(k), f"invariants: unknown invariant {k!r}; expected one of {', '.join(INVARIANTS)}")
            if v not in ("hold", "violated", "skip"):
                raise p.err(d.line_of(k), f"invariants.{k}: expected hold, violated or skip, got {v!r}")
            inv[k] = v
    settle = doc.get("settle", True)
    if not isinstance(settle, bool):
        raise p.err(doc.line_of("settle"), "settle: expected true or false")
    name = doc.get("name") or Path(path).stem
    return Scenario(str(name), str(doc.get("description") or "").strip(), path, stack, steps, exps, inv, settle,
                    clients)


def load_scenario(path: str | Path) -> Scenario:
    from stack.yamlines import read_text_file

    return parse_scenario(read_text_file(str(path)), str(path))
