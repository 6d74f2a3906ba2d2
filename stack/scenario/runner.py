"""Run a scenario: build the stack, execute the steps (through a :class:`StepGate`), check the expectations and
the invariants, write the trace, return the summary (issue 6's JSON keys).

The summary is a pure function of the events (:func:`summarize`): every expectation and invariant verdict is
itself an event (``scenario.expectation``), so ``lpdev scenario replay TRACE`` rebuilds the same summary from the
trace alone. Traces are written at the end with per-run text (URLs, ports, temp dirs, certificate
fingerprints) normalised to actor names, so a seeded run on the mock or embedded chain gives the same bytes every
time (anvil stamps blocks with the wall clock).
"""
from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

from sim.events import Event, EventBus, register_kinds, write_events
from sim.wire import bounded
from stack.gate import StepGate
from stack.scenario.invariants import WinnerRecord, check_invariants
from stack.scenario.model import Expectation, Scenario, Step
from stack.policy import SCENARIO
from stack.spec import with_overrides
from stack.stack import Stack

__all__ = ["run_scenario", "summarize", "ScenarioRun", "check_on_events", "EVENT_CHECKS"]

register_kinds({"scenario.summary": "the scenario finished: counts and whether it passed"})


def _match(value, want) -> bool:
    if isinstance(want, bool) or isinstance(value, bool):
        return value == want
    if isinstance(want, int) and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value) == want
    if isinstance(want, str) and isinstance(value, (int, float)):
        return str(value) == want
    return value == want


class ScenarioRun:
    """One run of a scenario. By default it builds its own deterministic stack (virtual clock, free ports) and
    stops it at the end; ``stack=`` runs the steps on a stack someone else started (``lpdev up --scenario``: a
    live stack on wall time that keeps running for the SDK afterwards)."""

    def __init__(self, scenario: Scenario, *, chain: str | None = None, seed: int | None = None,
                 gate: StepGate | None = None, bus: EventBus | None = None, chain_obj=None,
                 stack: Stack | None = None) -> None:
        self.scenario = scenario
        self.gate = gate or StepGate(enabled=False)
        self.events: list[Event] = []
        self.saved_states: dict[tuple[str, str], dict | None] = {}
        self._own_stack = stack is None
        if stack is None:
            spec = with_overrides(scenario.stack, chain=chain, seed=seed)
            stack = Stack(spec, SCENARIO, bus=bus, chain=chain_obj)
        self.stack = stack
        self.spec = stack.spec
        self.clients: dict = {}  # name -> sim.gateway.runner_client.RunnerClient (made when the stack is up)
        self._unsub = self.stack.bus.subscribe(self.events.append)

    def _make_clients(self) -> None:
        from sim.gateway.runner_client import RunnerClient

        for c in self.scenario.clients:
            o = self.stack.orchestrators[c.orchestrator]
            s = self.stack.signers[c.signer] if c.signer else None
            self.clients[c.name] = RunnerClient(c.name, orchestrator_url=o.http_url or o.url,
                                                orchestrator_name=o.name, signer_url=s.http_url if s else None,
                                                signer_name=c.signer or "", bus=self.stack.bus)

    async def _close_clients(self) -> None:
        for c in self.clients.values():
            try:
                await c.close()
            except Exception:  # noqa: BLE001 - closing; nothing to report
                pass

    def close(self) -> None:
        """Stop recording the stack's events (a live stack outlives the run)."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    # ------------------------------------------------------------------ expectations
    def _outcomes(self, gw: str) -> list:
        g = self.stack.gateways.get(gw)
        return g.outcomes if g is not None else []

    def check(self, e: Expectation) -> tuple[bool, str]:
        a = e.args
        if e.kind == "outcome":
            outs = self._outcomes(a["gateway"])
            if not outs:
                return False, f"{a['gateway']} made no payment"
            idx = a.get("payment", "last")
            if idx != "last" and idx > len(outs):
                return False, f"{a['gateway']} made only {len(outs)} payment(s)"
            o = outs[-1] if idx == "last" else outs[idx - 1]
            problems = []
            for k in ("status", "signer_status", "orch_status", "signer"):
                if k in a and not _match(getattr(o, k), a[k]):
                    problems.append(f"{k} {getattr(o, k)!r} != {a[k]!r}")
            if "message_contains" in a and str(a["message_contains"]) not in o.message:
                problems.append(f"message {o.message!r} lacks {a['message_contains']!r}")
            for k in ("tickets", "refreshes"):
                if k in a and not a[k](getattr(o, k)):
                    problems.append(f"{k} {getattr(o, k)} not {a[k]}")
            desc = (f"payment {idx}: {o.status} (signer {o.signer_status}, orch {o.orch_status}, {o.tickets} tickets, "
                    f"{o.refreshes} refreshes)")
            if o.message:
                desc += f": {o.message}"
            return (not problems), desc + ("" if not problems else " — " + "; ".join(problems))
        if e.kind == "outcomes":
            outs = self._outcomes(a["gateway"])
            st = a.get("status", "any")
            n = sum(1 for o in outs if st == "any" or o.status == st)
            hist: dict[str, int] = {}
            for o in outs:
                hist[o.status] = hist.get(o.status, 0) + 1
            cmp = a.get("count")
            ok = cmp(n) if cmp is not None else n > 0
            return ok, f"{n} {st} of {len(outs)} ({', '.join(f'{k} {v}' for k, v in hist.items()) or 'none'})"
        if e.kind in EVENT_CHECKS:
            return check_on_events(e.kind, a, self.events)
        if e.kind == "runner":
            info = self.stack.runner_info(a["runner"])
            probs = [f"{k} {info[k]!r} not {a[k]!r}" for k in ("registered", "listed", "status")
                     if k in a and info[k] != a[k]]
            probs += [f"{k} {info[k]} not {a[k]}" for k in ("sessions", "heartbeats", "reregistrations")
                      if k in a and not a[k](info[k])]
            desc = (f"{a['runner']} ({info['runner_id']}): {info['status']}, "
                    f"{'listed' if info['listed'] else 'not listed'}, {info['sessions']} session(s), "
                    f"{info['heartbeats']} heartbeat(s), {info['reregistrations']} re-registration(s)")
            return (not probs), desc + (" — " + "; ".join(probs) if probs else "")
        if e.kind == "chain":
            money = self.stack.money()
            if "account" in a:
                info = money["senders"].get(a["account"])
                if info is None:
                    ch = self.stack.chain
                    si = ch.sender_info(bytes.fromhex(ch.address(a["account"])[2:]))
                    info = {"deposit": si.deposit, "reserve": si.reserve}
                probs = [f"{k} {info[k]} not {a[k]}" for k in ("deposit", "reserve") if k in a and not a[k](info[k])]
                return (not probs), f"{a['account']}: deposit {info['deposit']}, reserve {info['reserve']}" + (
                    " — " + "; ".join(probs) if probs else "")
            fees = money["orchestrators"].get(a["orchestrator"], 0)
            ok = a["fees"](fees) if "fees" in a else True
            return ok, f"{a['orchestrator']}: pending fees {fees}"
        if e.kind == "winners":
            stores = self._stores()
            ws = stores.get(a.get("orchestrator"), []) if "orchestrator" in a else [w for v in stores.values() for w in v]
            st = a.get("status")
            n = sum(1 for w in ws if st is None or w.status == st)
            cmp = a.get("count")
            ok = cmp(n) if cmp is not None else n >= 1
            reasons = sorted({w.reason for w in ws if w.reason and (st is None or w.status == st)})
            return ok, f"{n} winner(s){' ' + st if st else ''}" + (f" ({'; '.join(reasons)})" if reasons else "")
        raise AssertionError(e.kind)

    def _record(self, e: Expectation, group: str = "expectation", step: int | None = None) -> None:
        try:
            ok, detail = self.check(e)
        except Exception as exc:  # an expectation that cannot be evaluated fails, it never crashes the run
            ok, detail = False, f"could not evaluate: {type(exc).__name__}: {exc}"
        # check + args let `lpdev scenario replay` recheck the event-only kinds (stack/scenario/replay.py)
        self.stack.bus.emit("scenario", "scenario.expectation", group=group, name=e.name, passed=ok, detail=detail,
                            line=e.line, step=step, check=e.kind, args=e.args)

    def _stores(self) -> dict:
        from sim.orchestrator.winners import WinnerStore

        out = {}
        for name, h in self.stack.orchestrators.items():
            if h.alive:
                out[name] = h.node.store.all()
            else:
                p = Path(h.data_dir) / "winners.sqlite"
                if p.exists():
                    s = WinnerStore(p)
                    try:
                        out[name] = s.all()
                    finally:
                        s.close()
                else:
                    out[name] = []
        return out

    # ------------------------------------------------------------------ steps
    async def do(self, step: Step) -> None:
        st, a = self.stack, step.arg
        if step.action == "start":
            await st.gateways[a].start()
        elif step.action == "pay":
            g = st.gateways[a["gateway"]]
            n = int(a.get("count", 1))
            headers = a.get("headers") or None
            interval = a.get("interval_s")
            for _ in range(n):
                if g.stopped:  # recorded as a "stopped" outcome: nothing is sent
                    await g.pay_once()
                    continue
                if g.outcomes or g.state is not None:
                    await st.advance(g.config.interval_s if interval is None else float(interval))
                await g.pay_once(extra_headers=headers)
        elif step.action == "pay_concurrently":
            await st.gateways[a["gateway"]].sign_concurrently(int(a.get("count", 2)))
        elif step.action == "wait":
            await st.advance(float(a))
        elif step.action == "mine":
            await st.mine(int(a))
        elif step.action == "advance_round":
            await st.advance_round(int(a))
        elif step.action == "fault":
            st.set_faults(a["orchestrator"], dict(a["set"]))
        elif step.action == "kill":
            await st.kill(a)
        elif step.action == "restart":
            await st.restart(a)
        elif step.action == "redeem":
            await st.sync()
        elif step.action == "fund":
            await st.fund(a["account"], int(a.get("deposit", 0)), int(a.get("reserve", 0)))
        elif step.action == "unlock":
            await st.unlock(a)
        elif step.action == "cancel_unlock":
            await st.cancel_unlock(a)
        elif step.action == "withdraw":
            await st.withdraw(a)
        elif step.action == "save_state":
            g = st.gateways[a["gateway"]]
            self.saved_states[(a["gateway"], str(a["as"]))] = json.loads(json.dumps(g.state))
        elif step.action == "restore_state":
            key = (a["gateway"], str(a["from"]))
            if key not in self.saved_states:
                raise RuntimeError(f"restore_state: no state saved as {a['from']!r} (line {step.line})")
            st.gateways[a["gateway"]].state = json.loads(json.dumps(self.saved_states[key]))
        elif step.action == "tamper_state":
            g = st.gateways[a["gateway"]]
            if not g.state:
                raise RuntimeError(f"tamper_state: {a['gateway']} has no state yet (line {step.line})")
            doc = bounded.loads_json(base64.b64decode(g.state["State"]), what="the gateway's state blob")
            doc["Balance"] = str(a["balance"])
            raw = json.dumps(doc, separators=(",", ":")).encode()
            g.state = {"State": base64.b64encode(raw).decode(), "Sig": g.state["Sig"]}
        elif step.action == "set":
            g = st.gateways[a["gateway"]]
            for k, v in a.items():
                if k == "gateway":
                    continue
                if k == "manifest_id":
                    g.manifest_id = None if v == "auto" else ("" if v is None else str(v))
                elif k == "type":
                    g.config.job_type = v
                else:
                    setattr(g.config, k, v)
        elif step.action == "note":
            st.bus.emit("scenario", "scenario.note", text=str(a))
        elif step.action == "expect":
            for e in a:
                self._record(e, step=None)
        elif step.action in ("discover", "reserve", "call", "runner_pay", "runner_stop"):
            await self._client_step(step.action, a)
        elif step.action == "heartbeat":
            if isinstance(a, dict):
                await st.runner_heartbeat(a["runner"], price=a.get("price"), unit=a.get("unit"),
                                          capacity=a.get("capacity"))
            else:
                await st.runner_heartbeat(a)
        elif step.action == "silence":
            st.runner_silence(a)
        elif step.action == "health":
            await st.runner_health(a["runner"], a["ok"])
        elif step.action == "static_runner":
            await st.add_static_runner(a["name"], a.get("kind", "noop"), a.get("orchestrator"),
                                       label=a.get("label"), routing=a.get("routing", "runner-id"),
                                       price=a.get("price", "0"), unit=a.get("unit", "hour"),
                                       capacity=a.get("capacity"))
        else:  # pragma: no cover - the parser refuses unknown actions
            raise AssertionError(step.action)

    async def _client_step(self, action: str, a) -> None:
        """A Live Runner client's step: the client's requests never raise for an answer (a refusal is a reply the
        expectations read); a step naming a session the client does not have is an error."""
        if action == "discover":
            await self.clients[a].discover()
            return
        c = self.clients[a["client"]]
        if action == "reserve":
            await c.reserve(self.stack.runner_route(a["runner"]), label=a.get("as"))
        elif action == "call":
            body = a.get("body")
            kw = {"method": a.get("method", "POST"), "body": dict(body) if isinstance(body, dict) else body}
            if "runner" in a:
                await c.call(a.get("path", ""), runner=self.stack.runner_route(a["runner"]), **kw)
            else:
                await c.call(a.get("path", ""), session=a.get("session"), **kw)
        elif action == "runner_pay":
            await c.pay(a.get("session"))
        else:
            await c.stop(a.get("session"))

    # ------------------------------------------------------------------ run
    async def run(self) -> dict:
        sc = self.scenario
        t0 = time.perf_counter()
        st = self.stack
        if self._own_stack:
            await st.start()
        try:
            self._make_clients()
            for i, step in enumerate(sc.steps):
                await self.gate.wait(i, step.describe())
                st.bus.emit("scenario", "scenario.step", index=i, action=step.action, line=step.line,
                            description=step.describe())
                try:
                    await self.do(step)
                    await st.sync()
                except Exception as exc:
                    st.bus.emit("scenario", "scenario.expectation", group="step", name=f"step {i + 1} "
                                f"({step.describe()}) runs", passed=False, detail=f"{type(exc).__name__}: {exc}",
                                line=step.line, step=i)
                    break
                for e in step.expect:
                    self._record(e, step=i)
            if sc.settle:
                st.bus.emit("scenario", "scenario.step", index=len(sc.steps), action="settle", line=0,
                            description="settle: mine past params expiry, redeem what is queued")
                await st.settle()
            for e in sc.expect:
                self._record(e)
            after = st.money()
            stores = self._stores()
            results = check_invariants(self.events, before=st.initial_money, after=after, funded=st.funded,
                                       withdrawn=st.withdrawn, stores=stores, is_used=st.chain.is_used_ticket)
            # What the invariants read besides the events goes into the trace, so a replay rechecks them too.
            inputs = {"money_conservation": {"books": {"before": st.initial_money, "after": after,
                                                       "funded": st.funded, "withdrawn": st.withdrawn}},
                      "winners_accounted": {"stores": {n: [WinnerRecord.of(w).to_json() for w in ws]
                                                       for n, ws in stores.items()}}}
            for r in results:
                expected = sc.invariants.get(r.name, "hold")
                passed, detail = r.verdict(expected)
                st.bus.emit("scenario", "scenario.expectation", group="invariant", name=r.name, passed=passed,
                            detail=detail, line=0, step=None, held=r.ok, expected=expected,
                            **inputs.get(r.name, {}))
            summary = summarize(self.events)
            st.bus.emit("scenario", "scenario.summary", **{k: v for k, v in summary.items()
                                                           if k not in ("expectations", "invariants")})
        finally:
            await self._close_clients()
            if self._own_stack:
                await st.stop()
        summary = summarize(self.events)
        summary["scenario"] = sc.name
        summary["chain"] = self.spec.chain
        summary["seed"] = self.spec.seed
        summary["elapsed_s"] = round(time.perf_counter() - t0, 3)
        return summary

    def write_trace(self, path: str | Path) -> None:
        write_events(path, (self.stack.normalise(e) for e in self.events), scenario=self.scenario.name,
                     chain=self.spec.chain, seed=self.spec.seed)


EVENT_CHECKS = ("event", "summary", "reply", "session")  # decided by the events alone (a replay rechecks them)

_REPLY_KINDS = {"discover": "gateway.runner_discovery", "reserve": "gateway.runner_reserve",
                "call": "gateway.runner_call", "pay": "gateway.runner_payment", "stop": "gateway.runner_stop"}


def _reply(a: dict, events) -> tuple[bool, str]:
    """A runner client's request, from its ``gateway.runner_*`` events."""
    kinds = {_REPLY_KINDS[a["action"]]} if "action" in a else set(_REPLY_KINDS.values())
    evs = [ev for ev in events if ev.actor == a["client"] and ev.kind in kinds]
    what = a.get("action", "request")
    if not evs:
        return False, f"{a['client']} made no {what}"
    idx = a.get("request", "last")
    if idx != "last" and idx > len(evs):
        return False, f"{a['client']} made only {len(evs)} {what}(s)"
    d = evs[-1].data if idx == "last" else evs[idx - 1].data
    probs = [f"{k} {d.get(k)!r} != {a[k]!r}" for k in ("status", "signer_status", "paid")
             if k in a and not _match(d.get(k, False if k == "paid" else None), a[k])]
    if "message_contains" in a and str(a["message_contains"]) not in str(d.get("message", "")):
        probs.append(f"message {d.get('message', '')!r} lacks {a['message_contains']!r}")
    act = evs[-1 if idx == "last" else idx - 1].kind.rsplit("_", 1)[-1]
    desc = (f"{what} {idx}: {act} {d.get('status')}" + (f" (signer {d['signer_status']})" if d.get("signer_status")
                                                          else "")
            + (f" session {d['session_id']}" if d.get("session_id") else "") + (" paid" if d.get("paid") else "")
            + (f": {d['message']}" if d.get("message") else ""))
    return (not probs), desc + ("" if not probs else " — " + "; ".join(probs))


def _session(a: dict, events) -> tuple[bool, str]:
    """A runner client's session (by its label, else the latest reserved): open, or released and why."""
    label = a.get("session", "last")
    sid = None
    for ev in events:
        if ev.actor == a["client"] and ev.kind == "gateway.runner_reserve" and ev.data.get("session_id") \
                and (label == "last" or ev.data.get("label") == label):
            sid = ev.data["session_id"]
    if sid is None:
        return False, f"{a['client']} has no session {label if label != 'last' else ''}".rstrip()
    rel = next((ev.data for ev in events if ev.kind == "runner.session_released"
                and ev.data.get("session_id") == sid), None)
    state = "open" if rel is None else "released"
    probs = []
    if "state" in a and a["state"] != state:
        probs.append(f"state {state} != {a['state']}")
    if "reason_contains" in a and (rel is None or str(a["reason_contains"]) not in str(rel.get("reason", ""))):
        probs.append(f"reason {None if rel is None else rel.get('reason')!r} lacks {a['reason_contains']!r}")
    debits = sum(1 for ev in events if ev.kind == "orch.debit" and ev.data.get("manifest_id") == sid
                 and ev.data.get("ok"))
    if "debits" in a and not a["debits"](debits):
        probs.append(f"debits {debits} not {a['debits']}")
    desc = f"session {sid}: {state}" + (f" ({rel.get('reason')})" if rel else "") + f", {debits} debit(s)"
    return (not probs), desc + ("" if not probs else " — " + "; ".join(probs))


def check_on_events(kind: str, a: dict, events) -> tuple[bool, str]:
    """An ``event`` or ``summary`` expectation against the events so far: a run and a replay share it."""
    if kind == "event":
        n = 0
        for ev in events:
            if ev.kind != a["kind"] or ("actor" in a and ev.actor != a["actor"]):
                continue
            if any(not _match(ev.data.get(k), v) for k, v in (a.get("where") or {}).items()):
                continue
            if any(str(v) not in str(ev.data.get(k, "")) for k, v in (a.get("contains") or {}).items()):
                continue
            n += 1
        cmp = a.get("count")
        ok = cmp(n) if cmp is not None else n >= 1
        return ok, f"{n} matching {a['kind']} event(s)" + (f", want {cmp}" if cmp is not None else ", want >= 1")
    if kind == "reply":
        return _reply(a, events)
    if kind == "session":
        return _session(a, events)
    if kind == "summary":
        s = summarize(events, final=False)
        probs = [f"{k} {s[k]} not {c}" for k, c in a.items() if not c(s[k])]
        return (not probs), ", ".join(f"{k} {s[k]}" for k in a) + (" — " + "; ".join(probs) if probs else "")
    raise ValueError(f"{kind!r} expectations are not decided by events alone")


def summarize(events, *, final: bool = True) -> dict:
    """The summary (without ``elapsed_s``/``scenario``) from events alone: runs and replays share it."""
    payments = tickets = winners = redeemed = 0
    exps, invs = [], []
    for e in events:
        d = e.data
        if e.kind == "gateway.payment" and d.get("status") == 200:
            payments += 1
            tickets += int(d.get("tickets", 0))
        elif e.kind == "orch.winner_stored" and not d.get("duplicate"):
            winners += 1
        elif e.kind == "orch.redemption_mined":
            redeemed += 1
        elif e.kind == "scenario.expectation":
            item = {"name": d.get("name"), "passed": bool(d.get("passed")), "detail": d.get("detail", "")}
            (invs if d.get("group") == "invariant" else exps).append(item)
    out = {"passed": bool(all(x["passed"] for x in exps + invs) and (invs or not final)),
           "expectations": exps, "invariants": invs, "payments": payments, "tickets": tickets,
           "winning_tickets": winners, "redeemed": redeemed}
    return out


async def run_scenario(scenario: Scenario, *, chain: str | None = None, seed: int | None = None,
                       trace: str | Path | None = None, gate: StepGate | None = None, chain_obj=None) -> dict:
    """``chain_obj``: an open chain to borrow (set up with :func:`stack.spec.devnet_config`), e.g. a test's reverted
    py-evm snapshot; ``chain`` still names its backend."""
    run = ScenarioRun(scenario, chain=chain, seed=seed, gate=gate, chain_obj=chain_obj)
    try:
        summary = await run.run()
    finally:
        if trace:
            run.write_trace(trace)
    return summary


def run_scenario_sync(scenario: Scenario, **kw) -> dict:
    return asyncio.run(run_scenario(scenario, **kw))
