"""``lpdev economics check``: will these PM settings work? Every number says how it was obtained.

* **exact** — the ticket terms (face value, win prob, EV) from the orchestrator's and signer's code, and the
  undisturbed session (payments exactly every interval) replayed call by call through the core: tickets per
  payment and their distribution, the 482 rate, the orchestrator's lowest headroom, refreshes, and the closed
  forms that follow from them (revenue variance, time to the first winner, gas share, deposit time);
* **Monte Carlo** — sessions under the disturbances (jitter, failed calls, lost payments) on the per-ticket
  path, with the core's win test over seeded bytes: the probability a session is stopped within T minutes.

Each finding is ``ok``, ``warn`` or ``fail`` and a failing one says what to change, checked by re-running the
exact part with the change.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from sim.economics.batched import draw_disturbances
from sim.economics.reference import REDEMPTION_GAS, REDEMPTION_GAS_FIRST_IN_ROUND
from sim.economics.session import NS, Model, SessionResult, schedule, simulate_session
from sim.economics.settings import Settings
from sim.economics.stats import erlang_quantile, mean_ci, wilson
from sim.pm.accounting import MAX_TICKETS_PER_CALL, billable_units
from sim.pm.money import format_wei

__all__ = ["Finding", "Report", "check", "exact_summary", "findings_lines", "fmt_s"]

STOP_FAIL = 0.01  # a stop probability above this within T fails the check
STOP_WARN = 0.05  # ... and an interval reaching this asks for more runs
RATE_482_FAIL = 0.5


def fmt_s(s: float | None) -> str:
    if s is None or (isinstance(s, float) and (math.isnan(s) or math.isinf(s))):
        return "never" if s is None or math.isinf(s or 0) else "n/a"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warn | fail
    topic: str
    message: str
    fix: str = ""

    def to_dict(self) -> dict:
        return {"level": self.level, "topic": self.topic, "message": self.message, "fix": self.fix}


@dataclass
class Report:
    settings: Settings
    exact: dict
    monte_carlo: dict
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not any(f.level == "fail" for f in self.findings)

    def to_dict(self) -> dict:
        return {"healthy": self.healthy, "settings": self.settings.to_dict(), "exact": self.exact,
                "monte_carlo": self.monte_carlo, "findings": [f.to_dict() for f in self.findings]}

    def text(self) -> str:
        e, mc, s = self.exact, self.monte_carlo, self.settings
        t = e["terms"]
        lines = [f"PM economics: {s.job_type} at {format_wei(s.price)} per "
                 f"{'second' if s.job_type == 'live' else 'pixel' if s.job_type == 'lv2v' else 'job'}, "
                 f"ticket EV {format_wei(s.ticket_ev)}, a payment every {s.interval_s:g} s; horizon {s.minutes:g} min",
                 "", "ticket terms (exact, from the orchestrator's and signer's code)"]
        if t.get("error"):
            lines.append(f"  {t['error']}")
        else:
            lines += [f"  face value {format_wei(t['face_value'])} ({t['face_value_reason']})",
                      f"  win prob {t['p_win']:.3g} (1 in {t['one_in']:,g}), EV {format_wei(Fraction(t['ev']))}",
                      f"  one call may carry up to {t['max_tickets']} tickets ({t['batch_limit']})"]
        p = e.get("payments")
        if p:
            lines += ["", "payments (exact: the undisturbed session, call by call through the core)",
                      f"  first payment: {p['first_tickets']} tickets for a {p['buffer_s']:g} s buffer",
                      f"  a {s.interval_s:g} s call owes {format_wei(Fraction(p['fee_per_interval']))}: "
                      f"{p['tickets_per_call_mean']:.3g} tickets per call on average "
                      f"({p['tickets_per_paid_call_mean']:.3g} per paid call); distribution "
                      + ", ".join(f"{k}: {v:.1%}" for k, v in p["distribution"].items()),
                      f"  482 rate {p['rate_482']:.1%}; one ticket pays {fmt_s(p['seconds_per_ticket'])} of service",
                      f"  orchestrator's lowest headroom {fmt_s(p['min_headroom_s'])}; one paid call carries up to "
                      f"{fmt_s(p['max_credit_per_call_s'])}; lost payments tolerated: {p['losses_tolerated']}"]
            r = e["refresh"]
            lines += ["", "refresh and nonces (exact)",
                      f"  {r['refreshes_per_hour']:.3g} refreshes per hour ({r['why']}); highest nonce "
                      f"{r['max_nonce']}; time to nonce 500: {fmt_s(r['time_to_nonce_500_s'])}"]
            v = e["revenue"]
            lines += ["", "orchestrator revenue per session (exact, binomial winners)",
                      f"  {format_wei(Fraction(v['per_hour']))} per hour, std {format_wei(round(v['std_per_hour']))} "
                      f"(CV {v['cv_per_hour']:.2g}); P(no winner in an hour) {v['p_no_winner_hour']:.3g}",
                      f"  first winner after {fmt_s(v['time_to_first_winner_s'])} on average",
                      f"  redemption gas at {format_wei(s.gas_price)}/gas: {v['gas_share']:.3%} of a winner's face value "
                      f"({REDEMPTION_GAS:,} gas; {v['gas_share_first_in_round']:.3%} for the first in a round)"]
            f = e["funds"]
            lines += ["", f"sender funds for {s.sessions} session(s) (exact rates, Erlang time)",
                      f"  spends {format_wei(Fraction(f['spend_per_hour']))} per hour; the signer refuses once the "
                      f"deposit is below {format_wei(f['deposit_floor'])}: after ~{fmt_s(f['deposit_time_s'])} "
                      f"(5 % chance before {fmt_s(f['deposit_time_p05_s'])})",
                      f"  reserve share per orchestrator {format_wei(f['reserve_per_orchestrator'])} "
                      f"({f['reserve_note']})"]
        if mc:
            lines += ["", f"Monte Carlo ({mc['runs']} sessions, seed {mc['seed']}, per-ticket path; jitter "
                      f"{s.jitter_s:g} s, {s.fail:.1%} calls fail, {s.loss:.2%} payments lost)",
                      f"  P(stopped for insufficient balance within {s.minutes:g} min) = {mc['p_stop']:.3f} "
                      f"[{mc['p_stop_low']:.3f}, {mc['p_stop_high']:.3f}]"
                      + (f", median stop at {fmt_s(mc['median_stop_s'])}" if mc.get("median_stop_s") else ""),
                      f"  482 rate {mc['rate_482']:.1%}, {mc['tickets_per_paid_call']:.3g} tickets per paid call, "
                      f"winners per session {mc['winners_mean']:.3g} [{mc['winners_low']:.3g}, {mc['winners_high']:.3g}]"]
        return "\n".join(lines + findings_lines(self.findings))


def findings_lines(fs: list[Finding]) -> list[str]:
    """The report's closing lines: each finding (and its fix), then the verdict."""
    lines = ["", "findings"]
    for fd in fs:
        lines.append(f"  {fd.level.upper():4} {fd.topic}: {fd.message}")
        if fd.fix:
            lines.append(f"       fix: {fd.fix}")
    healthy = not any(f.level == "fail" for f in fs)
    return lines + ["", "verdict: " + ("healthy" if healthy else "NOT healthy: see the failed findings")]


# ---------------------------------------------------------------------- exact part
def _service_seconds(m: Model, amount: Fraction) -> float:
    """How many seconds of service an amount pays for (live/lv2v), in float for display."""
    per_s = m.settings.price * m.units_per_second
    return float(Fraction(amount) / per_s) if per_s else math.inf


def _one_loss(m: Model, paid_at: list[int]) -> dict | None:
    """The undisturbed session again with its first paid call after the preload lost on the way (go-livepeer
    #4077's trace: the signer has moved its balance on, the orchestrator never credits it): when and whether the
    orchestrator stops it, and how many calls the signer answers 482 until then."""
    later = [t for t in paid_at if t > 0]
    if not later:
        return None
    k = later[0] // m.interval_ns
    r = schedule(m, lose=k)
    return {"lost_at_s": later[0] / NS, "stopped_at_s": r.stop_ns / NS if r.stop_ns is not None else None,
            "calls_482": r.no_tickets, "paid_after": r.paid - 1}


def exact_summary(m: Model) -> dict:
    s, t = m.settings, m.terms
    terms = {"face_value": t.face_value, "win_prob": t.win_prob, "p_win": float(t.p_win),
             "one_in": float(f"{1 / float(t.p_win):.3g}") if t.p_win else 0, "ev": str(t.ev), "face_value_reason": t.face_value_reason,
             "max_float": t.max_float, "max_tickets": t.max_tickets, "batch_limit": t.batch_error, "error": t.error}
    out: dict = {"terms": terms}
    if not t.ok:
        return out
    paid_at: list[int] = []
    sched = schedule(m, on_pay=lambda at, credited, won: paid_at.append(at))
    out["schedule"] = sched
    fixed = s.job_type == "fixed"
    fee_interval = (Fraction(s.price) if fixed else
                    billable_units(s.job_type, float(s.interval_s), 0) * s.price)
    calls = max(1, sched.calls - sched.failed)
    dist = {n: c / calls for n, c in sorted(sched.hist.items())}
    paid_mean = sched.tickets / sched.paid if sched.paid else 0.0
    per_s = s.price * m.units_per_second
    rate = (fee_interval / Fraction(s.interval_s).limit_denominator(10**9)) if fixed else per_s  # wei per second
    tickets_per_s = float(rate / t.ev) if t.ev else 0.0
    max_call = max(sched.hist) if sched.hist else sched.first_tickets
    headroom_s = (_service_seconds(m, sched.min_headroom) if sched.min_headroom is not None and not fixed
                  else math.inf)
    credit_s = _service_seconds(m, max(k for k in sched.hist if k) * t.ev) if any(sched.hist) and not fixed \
        else 0.0
    start_error = sched.start_error
    out["payments"] = {
        "buffer_s": (m.preload_units / m.units_per_second) if not fixed else 0.0,
        "first_tickets": sched.first_tickets, "start_error": start_error,
        "fee_per_interval": str(fee_interval), "tickets_per_call_mean": sched.tickets / calls,
        "tickets_per_call_limit": float(fee_interval / t.ev), "tickets_per_paid_call_mean": paid_mean,
        "max_tickets_per_call": max_call, "distribution": dist,
        "rate_482": sched.no_tickets / calls, "rate_error": sched.errors / calls,
        "seconds_per_ticket": _service_seconds(m, t.ev) if not fixed else 0.0,
        "min_headroom_s": headroom_s, "max_credit_per_call_s": credit_s,
        "losses_tolerated": (int(headroom_s // credit_s) if credit_s and math.isfinite(headroom_s) else
                             (0 if not fixed else -1)),
        "stopped_undisturbed_s": sched.stop_ns / NS if sched.stop_ns is not None else None,
        "one_loss": _one_loss(m, paid_at) if not fixed and sched.stop_ns is None else None,
    }
    hours = s.minutes / 60
    why = []
    if s.reuse_params:
        why.append(f"params reused until they expire ({m.params_life_blocks} blocks of {s.block_time_s:g} s)")
        if m.nonce_refresh_at is not None:
            why.append("or the nonce reaches 500")
    else:
        why.append("each /payment reply brings new params; the auth token is refreshed every 27 min")
    out["refresh"] = {"refreshes_per_hour": sched.refreshes / hours if hours else 0.0, "why": "; ".join(why),
                      "max_nonce": sched.max_nonce,
                      "time_to_nonce_500_s": (500 / tickets_per_s) if tickets_per_s else math.inf,
                      "nonce_rejected": sched.nonce_rejected}
    p = float(t.p_win)
    tickets_hour = tickets_per_s * 3600
    cost = REDEMPTION_GAS * s.gas_price
    cost_first = REDEMPTION_GAS_FIRST_IN_ROUND * s.gas_price
    per_hour = rate * 3600  # expected credit = fees, exactly (tickets x EV track the fee)
    out["revenue"] = {
        "per_hour": str(per_hour),
        "std_per_hour": t.face_value * math.sqrt(tickets_hour * p * (1 - p)),
        "cv_per_hour": math.sqrt((1 - p) / (tickets_hour * p)) if tickets_hour * p else math.inf,
        "p_no_winner_hour": math.exp(tickets_hour * math.log1p(-p)) if p < 1 else 0.0,
        "time_to_first_winner_s": 1 / (tickets_per_s * p) if tickets_per_s * p else math.inf,
        "gas_cost": cost, "gas_share": float(Fraction(cost, t.face_value)) if t.face_value else math.inf,
        "gas_share_first_in_round": float(Fraction(cost_first, t.face_value)) if t.face_value else math.inf,
    }
    mult = s.deposit_multiplier
    k = (s.deposit - mult * t.face_value) // t.face_value + 1 if s.deposit >= mult * t.face_value else 0
    win_rate = s.sessions * tickets_per_s * p  # winners per second over all sessions
    out["funds"] = {
        "spend_per_hour": str(per_hour * s.sessions), "winners_until_refused": k,
        "deposit_floor": mult * t.face_value,
        "deposit_time_s": k / win_rate if win_rate else math.inf,
        "deposit_time_p05_s": erlang_quantile(k, win_rate, 0.05),
        "reserve_per_orchestrator": t.max_float,
        "reserve_note": ("caps the face value" if t.max_float < max(s.redeem_gas * s.gas_price * s.tx_cost_multiplier,
                                                                    s.ticket_ev * 100)
                         else "does not cap the face value"),
    }
    return out


# ---------------------------------------------------------------------- Monte Carlo part
def monte_carlo(m: Model, *, runs: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, 1])
    d = draw_disturbances(m, runs, rng)
    results: list[SessionResult] = []
    for j in range(runs):
        g, f, lost = d.column(j)
        results.append(simulate_session(m, gaps=g, failed=f, lost=lost, rng=random.Random(seed * 1_000_003 + j)))
    stopped = [r for r in results if r.stopped]
    p, lo, hi = wilson(len(stopped), runs)
    stops = sorted(r.stop_ns / NS for r in stopped if r.stop_ns is not None)
    calls = sum(r.calls - r.failed for r in results) or 1
    paid = sum(r.paid for r in results)
    wm, wl, wh = mean_ci([r.winners for r in results])
    return {"runs": runs, "seed": seed, "p_stop": p, "p_stop_low": lo, "p_stop_high": hi,
            "median_stop_s": stops[len(stops) // 2] if stops else None,
            "rate_482": sum(r.no_tickets for r in results) / calls,
            "tickets_per_paid_call": (sum(r.tickets for r in results) / paid) if paid else 0.0,
            "winners_mean": wm, "winners_low": wl, "winners_high": wh,
            "start_errors": sorted({r.start_error for r in results if r.start_error})}


# ---------------------------------------------------------------------- findings
def _suggest_ev(m: Model) -> int | None:
    """The largest ticket EV with at most one payment's fee per ticket: 1–2 tickets per call (go-livepeer's
    advice: EV at the polling cadence), rounded down to 2 significant digits."""
    s = m.settings
    fee = (billable_units(s.job_type, float(s.interval_s), 0) * s.price) if s.job_type != "fixed" else s.price
    ev = int(fee)
    if ev < 1:
        return None
    digits = len(str(ev)) - 2
    return max(1, (ev // 10**digits) * 10**digits) if digits > 0 else ev


def _min_ev_for_first_payment(m: Model) -> int:
    s = m.settings
    return -(-int(m.preload_units * s.price) // MAX_TICKETS_PER_CALL)


def findings(m: Model, exact: dict, mc: dict, *, verify: bool = True) -> list[Finding]:
    s, t = m.settings, m.terms
    out: list[Finding] = []
    if not t.ok:
        fix = ""
        if "max ticket EV" in (t.error or ""):
            fix = f"raise the signer's --max-ticket-ev above {t.ev} or lower the orchestrator's ticket EV"
        elif "faceValue" in (t.error or "") and "max faceValue" in (t.error or ""):
            fix = f"fund the deposit to at least {s.deposit_multiplier * t.face_value} wei or cap --max-face-value"
        elif "insufficient sender reserve" in (t.error or ""):
            fix = (f"fund the reserve to at least {s.ticket_ev * s.orchestrators} wei (ticket EV x "
                   f"{s.orchestrators} orchestrators)")
        out.append(Finding("fail", "ticket params", t.error, fix))
        return out
    p = exact["payments"]
    fee = Fraction(p["fee_per_interval"])
    ev_fix = _suggest_ev(m)
    fix_text = ""
    if ev_fix is not None and ev_fix < s.ticket_ev:
        fix_text = (f"ticketEV <= {ev_fix:.3g} keeps 1-2 tickets per {s.interval_s:g} s payment "
                    f"(the fee of one payment is {format_wei(fee)})")
        if verify:
            fm = Model.of(s.with_(ticket_ev=ev_fix, max_face_value=0 if s.max_face_value <= ev_fix
                                  else s.max_face_value))
            if fm.terms.ok:
                fe = exact_summary(fm)["payments"]
                fix_text += (f"; checked: {fe['rate_482']:.0%} 482s, {fe['tickets_per_paid_call_mean']:.2g} tickets "
                             f"per paid call, {fe['losses_tolerated']} lost payment(s) tolerated")
    if p["start_error"]:
        lo = _min_ev_for_first_payment(m)
        out.append(Finding("fail", "first payment", p["start_error"] + " (go-livepeer #4006)",
                           f"ticketEV >= {lo:.3g} keeps the {p['buffer_s']:g} s preload within 100 tickets"))
        return out
    if p["rate_482"] > RATE_482_FAIL:
        out.append(Finding("fail", "482 no tickets",
                           f"{p['rate_482']:.0%} of calls are 482: one ticket pays {fmt_s(p['seconds_per_ticket'])} of "
                           f"service while a call owes {s.interval_s:g} s, so tickets come in bursts far apart "
                           "(go-livepeer #4077)", fix_text))
    elif p["rate_482"] > 0.1:
        out.append(Finding("warn", "482 no tickets", f"{p['rate_482']:.0%} of calls are 482", fix_text))
    else:
        out.append(Finding("ok", "tickets per payment",
                           f"{p['tickets_per_paid_call_mean']:.2g} tickets per paid call, {p['rate_482']:.0%} 482s"))
    if s.job_type != "fixed":
        if p["losses_tolerated"] == 0:
            one = p.get("one_loss") or {}
            trace = ""
            if one.get("stopped_at_s") is not None:
                trace = (f"; e.g. the payment at {fmt_s(one['lost_at_s'])} lost: the signer answers 482 to "
                         f"{one['calls_482']} calls (it counts the lost credit as paid) and the orchestrator stops "
                         f"the session at {fmt_s(one['stopped_at_s'])}: insufficient balance (go-livepeer #4077's "
                         "'pays once, then released')")
            out.append(Finding("fail", "buffer",
                               f"a single lost payment stops the session: one paid call carries "
                               f"{fmt_s(p['max_credit_per_call_s'])} of credit and the orchestrator never holds more "
                               f"than {fmt_s(p['min_headroom_s'])} beyond what it has debited" + trace, fix_text))
        else:
            out.append(Finding("ok", "buffer", f"the orchestrator keeps at least {fmt_s(p['min_headroom_s'])} of headroom; "
                               f"{p['losses_tolerated']} lost payment(s) in a row are absorbed"))
        if p["stopped_undisturbed_s"] is not None:
            out.append(Finding("fail", "insufficient balance",
                               f"even undisturbed, the orchestrator stops the session after "
                               f"{fmt_s(p['stopped_undisturbed_s'])}", fix_text))
    if mc:
        if mc["p_stop"] > STOP_FAIL:
            out.append(Finding("fail", "insufficient balance",
                               f"{mc['p_stop']:.1%} of sessions [{mc['p_stop_low']:.1%}, {mc['p_stop_high']:.1%}] are "
                               f"stopped within {s.minutes:g} min under jitter {s.jitter_s:g} s, {s.fail:.1%} failed "
                               f"calls and {s.loss:.2%} lost payments", fix_text))
        elif mc["p_stop_high"] > STOP_WARN:
            out.append(Finding("warn", "insufficient balance",
                               f"stop probability within {s.minutes:g} min is {mc['p_stop']:.1%}, but its interval "
                               f"reaches {mc['p_stop_high']:.1%}: run more sessions (--runs)"))
        else:
            out.append(Finding("ok", "insufficient balance",
                               f"no more than {mc['p_stop_high']:.1%} of sessions stop within {s.minutes:g} min"))
    if p["max_tickets_per_call"] > 0.5 * MAX_TICKETS_PER_CALL:
        lo = -(-int(fee) // 10)
        out.append(Finding("warn", "tickets per call",
                           f"calls carry up to {p['max_tickets_per_call']} tickets (the cap is 100, go-livepeer #4006)",
                           f"ticketEV >= {lo:.3g} keeps a payment near 10 tickets"))
    if p["max_tickets_per_call"] > t.max_tickets:
        out.append(Finding("fail", "signer limits",
                           f"a call needs {p['max_tickets_per_call']} tickets but the signer refuses more than "
                           f"{t.max_tickets}: {t.batch_error}", "raise --max-total-ev or lower the ticket count"))
    r = exact["refresh"]
    if r["nonce_rejected"]:
        out.append(Finding("fail", "nonces",
                           f"the orchestrator refuses {r['nonce_rejected']} tickets: more than 600 nonces on one set "
                           "of params (go-livepeer #4028)",
                           "use the params of each /payment reply, or a 0.9.3 signer (refreshes at nonce 500)"))
    v = exact["revenue"]
    if v["gas_share"] >= 1:
        out.append(Finding("fail", "redemption gas",
                           f"a winning ticket ({format_wei(t.face_value)}) does not cover its redemption "
                           f"({format_wei(v['gas_cost'])}): the orchestrator will not redeem it",
                           "raise the face value (ticket EV or the orchestrator's gas estimate)"))
    elif v["gas_share"] > 0.1:
        out.append(Finding("warn", "redemption gas", f"redemption takes {v['gas_share']:.0%} of each winner"))
    else:
        out.append(Finding("ok", "redemption gas", f"redemption takes {v['gas_share']:.2%} of each winner"))
    if v["p_no_winner_hour"] > 0.5:
        out.append(Finding("warn", "revenue variance",
                           f"the orchestrator waits {fmt_s(v['time_to_first_winner_s'])} for a winner on average "
                           f"(P(none in an hour) = {v['p_no_winner_hour']:.2f})"))
    f = exact["funds"]
    horizon = s.minutes * 60
    if f["winners_until_refused"] == 0 or f["deposit_time_s"] < horizon:
        out.append(Finding("fail", "deposit",
                           f"the deposit is spent in {fmt_s(f['deposit_time_s'])} by {s.sessions} session(s)",
                           f"deposit >= {int(Fraction(f['spend_per_hour']) * Fraction(horizon) / 3600):.3g} wei "
                           f"covers {s.minutes:g} min"))
    elif f["deposit_time_s"] < 86400:
        out.append(Finding("warn", "deposit", f"the deposit lasts ~{fmt_s(f['deposit_time_s'])} for {s.sessions} "
                           "session(s)"))
    return out


def check(s: Settings, *, runs: int = 200, seed: int = 1, verify_fix: bool = True) -> Report:
    """The whole report; raises :class:`~sim.economics.settings.SettingsError` on bad input."""
    m = Model.of(s)
    exact = exact_summary(m)
    exact.pop("schedule", None)
    mc = monte_carlo(m, runs=runs, seed=seed) if m.terms.ok and runs > 0 else {}
    return Report(s, exact, mc, findings(m, exact, mc, verify=verify_fix))
