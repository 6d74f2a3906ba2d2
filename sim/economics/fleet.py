"""``lpdev economics fleet``: thousands of gateways and hundreds of orchestrators over simulated days, paid from
one sender (a clearinghouse's remote signer), on the same core as ``check`` and ``sweep``.

The world: every gateway starts a Poisson number of sessions a day (``--sessions-per-day``), each at a uniform
time of its day, lasting a drawn length (``--session-dist`` with mean ``--session-minutes``, capped at
``--max-session-minutes``), with an orchestrator picked at random (uniformly, or Zipf-skewed by
``--selection-skew``). Orchestrator ``o`` is of class ``o mod C`` where the classes are the combinations of the
``--mix`` axes (e.g. half at one ticket EV, half at another). Each session is the check's session: payments every
interval with jitter, failed calls, lost payments, the orchestrator's debits and refreshes, tickets and their
win draws — on the batched numpy path (exact int64 money; binomial win draws) or, with ``per_ticket``, on the
per-ticket path (every ticket through the core's win test). The two agree exactly on everything but the win
draws (the differential test in tests/test_economics_fleet.py).

Work is split into shards of ``--shard-gateways`` gateways; a shard is a pure function of (fleet, shard index,
seed) and returns only aggregates — per orchestrator-day tickets and winners, per class-hour winners, per
orchestrator-round winners, per-minute session starts and ends, per-class counters and the sums of winners^k per
session — so the driver holds O(orchestrators x days) numbers, never a session or a ticket, whatever the fleet's
size. Shards run on local processes or Ray tasks through the sweep's engine; the merge is integer addition (and
a minimum), so the result does not depend on where or in which order shards finished.

From those aggregates (:func:`fleet_report`):

* **the clearinghouse's float**: the deposit that covers the winners drawn between two top-ups at the chosen
  confidence, plus the signer's floor (it refuses tickets once ``faceValue > deposit / depositMultiplier``),
  estimated from every simulated session (compound Poisson: sessions start as a Poisson process, each draws an
  independent amount; Cornish–Fisher quantile with the sessions' own skew) and checked against the simulated
  top-up windows; and the reserve that keeps every orchestrator's face value uncapped (``reserve / active
  orchestrators >= faceValue``, checked through the orchestrator's code);
* **the orchestrators' payouts**: winners and revenue per orchestrator-day with 95 % intervals, the expected
  revenue (tickets x EV, exact), the share lost to redemption gas (201k gas, 315k for the first redemption of an
  orchestrator in a round), the time to the first winner, and their distribution over the orchestrators.

Money is exact (``int`` wei, ``Fraction``): face values and EVs come from the core; amounts are winners x face
value. Quantiles and intervals are statistics (floats).
"""
from __future__ import annotations

import csv
import itertools
import math
import random
import time
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from sim.economics.batched import NotBatchable, draw_disturbances, simulate_batch
from sim.economics.check import Finding, exact_summary, findings_lines, fmt_s
from sim.economics.check import findings as check_findings
from sim.economics.reference import REDEMPTION_GAS, REDEMPTION_GAS_FIRST_IN_ROUND
from sim.economics.session import NS, Model, simulate_session
from sim.economics.settings import ETHER, Settings, SettingsError, check_number
from sim.economics.stats import mean_ci, norm_ppf, norm_sf, quantile_upper_rank, wilson
from sim.economics.sweep import Axis, run_jobs
from sim.economics.terms import ticket_terms
from sim.pm.money import float_string, format_wei

__all__ = ["Fleet", "FLEET_FIELDS", "SESSION_DISTS", "FleetTotals", "FleetRun", "FleetReport", "run_shard",
           "run_fleet", "fleet_report", "eth_up"]

MINUTE_NS = 60 * NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
SESSION_DISTS = ("fixed", "exponential", "lognormal")
_I64 = np.int64
_NEVER = np.iinfo(_I64).max
_TAG = 0xF1EE7  # keeps a fleet's random streams apart from a sweep's with the same seed
CELL_BUDGET = 1 << 22  # payments x sessions per batched chunk (~40 MB of disturbances)
MAX_CHUNK = 8192
ROUND_BUCKETS = 1 << 22  # orchestrators x rounds tracked exactly for the first-redemption-in-round gas
# settings one signer and one sender share across the fleet: not per orchestrator class
NOT_IN_MIX = ("deposit", "reserve", "orchestrators", "sessions", "minutes", "block_time_s", "round_blocks",
              "deposit_multiplier")
STOP_FAIL = 0.01
ZERO_DAY_WARN = 0.10  # P(an orchestrator-day has no winner) above this: a finding
TARGET_WINNERS_PER_DAY = 3  # P(none in a day) = e^-3 ~ 5 %
CLASS_COUNTERS = ("sessions", "started", "stopped", "calls", "paid", "no_tickets", "errors", "failed", "lost",
                  "refreshes", "tickets", "credited", "nonce_rejected", "winners", "w2", "w3", "length_ns",
                  "payments")


@dataclass(frozen=True)
class Fleet:
    """The fleet's shape around one set of :class:`Settings` (the orchestrators' terms, the gateways' payment
    cadence, the sender's deposit and reserve; ``settings.orchestrators`` is the fleet's orchestrator count)."""

    settings: Settings = field(default_factory=Settings)
    gateways: int = 1000
    sessions_per_day: float = 8.0  # per gateway (Poisson mean)
    session_minutes: float = 20.0  # mean session length
    session_dist: str = "exponential"
    session_sigma: float = 1.0  # lognormal shape
    max_session_minutes: float = 240.0  # lengths are capped here
    days: int = 7
    confidence: float = 0.99
    top_up_hours: int = 24  # the clearinghouse refills its deposit this often
    selection_skew: float = 0.0  # Zipf exponent of the orchestrator choice (0: uniform)
    shard_gateways: int = 100  # gateways per shard (part of what the seed reproduces)
    mix: tuple[Axis, ...] = ()  # orchestrator classes: combinations of these settings' values

    # ------------------------------------------------------------------ derived
    @property
    def orchestrators(self) -> int:
        return self.settings.orchestrators

    @property
    def shards(self) -> int:
        return -(-self.gateways // self.shard_gateways)

    @property
    def classes(self) -> list[tuple[str, Settings]]:
        """(label, settings) per orchestrator class; orchestrator o is of class o mod len(classes)."""
        if not self.mix:
            return [("all", self.settings)]
        out = []
        for combo in itertools.product(*(a.values for a in self.mix)):
            kw = {a.name: v for a, v in zip(self.mix, combo)}
            label = " ".join(f"{k}={_fmt_value(v)}" for k, v in kw.items())
            out.append((label, self.settings.with_(**kw)))
        return out

    def class_settings(self) -> list[Settings]:
        """Each class's settings with the horizon of the longest session (what its Model is built on)."""
        return [s.with_(minutes=self.max_session_minutes) for _, s in self.classes]

    @property
    def round_ns(self) -> int:
        return round(self.settings.round_blocks * self.settings.block_time_s * NS)

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def rounds(self) -> int:
        return -(-self.days * DAY_NS // self.round_ns)

    @property
    def track_rounds(self) -> bool:
        return self.orchestrators * (self.rounds + 1) <= ROUND_BUCKETS

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("settings", "mix")}
        d["mix"] = [f"{a.name}={','.join(_fmt_value(v) for v in a.values)}" for a in self.mix]
        d["settings"] = self.settings.to_dict()
        return d

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Fleet":
        """Raises :class:`SettingsError` (one line naming the flag) on bad or contradictory input."""
        s = self.settings
        check_number("gateways", self.gateways, integer=True, maximum=10**7)
        check_number("orchestrators", s.orchestrators, integer=True, maximum=100_000)
        check_number("sessions_per_day", self.sessions_per_day, maximum=100_000)
        check_number("max_session_minutes", self.max_session_minutes, maximum=7 * 24 * 60)
        check_number("session_minutes", self.session_minutes, maximum=7 * 24 * 60)
        if self.session_minutes > self.max_session_minutes:
            raise SettingsError("session_minutes", f"{self.session_minutes} is above --max-session-minutes "
                                f"{self.max_session_minutes}")
        if self.session_dist not in SESSION_DISTS:
            raise SettingsError("session_dist", f"choose {', '.join(SESSION_DISTS)}, got {self.session_dist!r}")
        check_number("session_sigma", self.session_sigma, maximum=5)
        check_number("days", self.days, integer=True, maximum=366)
        check_number("confidence", self.confidence, maximum=0.999999)
        if not 0.5 <= self.confidence < 1:
            raise SettingsError("confidence", f"must be in [0.5, 1), e.g. 0.99, got {self.confidence}")
        check_number("top_up_hours", self.top_up_hours, integer=True, maximum=self.hours)
        check_number("selection_skew", self.selection_skew, allow_zero=True, maximum=10)
        check_number("shard_gateways", self.shard_gateways, integer=True, maximum=10**6)
        expected = self.gateways * self.sessions_per_day * self.days
        if expected > 10**9:
            raise SettingsError("sessions_per_day", f"{self.gateways} gateways x {self.sessions_per_day} sessions a "
                                f"day x {self.days} days is {expected:.3g} sessions, more than 10^9")
        if self.orchestrators * (self.days + 1) > 10**7:
            raise SettingsError("orchestrators", f"{self.orchestrators} orchestrators x {self.days} days is more "
                                "than 10^7 orchestrator-days")
        names = [a.name for a in self.mix]
        if len(set(names)) != len(names):
            raise SettingsError("mix", "a setting is mixed twice")
        for n in names:
            if n in NOT_IN_MIX:
                raise SettingsError("mix", f"{n} is the sender's or the chain's, one for the whole fleet: set "
                                    f"--{n.replace('_', '-')} instead")
        n_classes = math.prod(len(a.values) for a in self.mix) if self.mix else 1
        if n_classes > self.orchestrators:
            raise SettingsError("mix", f"{n_classes} orchestrator classes but only --orchestrators "
                                f"{self.orchestrators}")
        for cs in self.class_settings():
            if cs.interval_s + cs.jitter_s > self.max_session_minutes * 60:
                raise SettingsError("max_session_minutes", f"{self.max_session_minutes} min is shorter than one "
                                    f"payment interval ({cs.interval_s:g} s + jitter)")
            if self.max_session_minutes * 60 / cs.interval_s > 1_000_000:
                raise SettingsError("max_session_minutes", f"{self.max_session_minutes} min at one payment per "
                                    f"{cs.interval_s} s is more than 10^6 payments per session")
            try:
                cs.validate()
            except SettingsError as exc:
                if exc.name in names:  # a value of a --mix axis: say so
                    problem = str(exc).split(": ", 1)[1]
                    raise SettingsError("mix", f"{exc.name}={_fmt_value(getattr(cs, exc.name))}: {problem}") from None
                raise
        if self.round_ns <= 0:
            raise SettingsError("round_blocks", "a round must last some time")
        return self


FLEET_FIELDS = {f.name: f for f in fields(Fleet) if f.name not in ("settings", "mix")}


def _fmt_value(v) -> str:
    """A setting's value as its flag takes it (``1e+13``, ``5.5``, ``live``): class labels and --mix echoes, not a
    money display (amounts are bounded by the parser, so the float here cannot overflow)."""
    if isinstance(v, (int, Fraction)) and not isinstance(v, bool) and abs(v) >= 10**6:
        return f"{float(v):.3g}"
    return str(v)


def eth_up(wei: int, digits: int = 3) -> str:
    """An amount rounded UP to ``digits`` significant digits, in ETH (for "hold at least" advice: format_wei rounds
    to the nearest, which could advise a hair too little). Exact: no float."""
    if wei <= 0:
        return "0 ETH"
    x = Fraction(wei, ETHER)
    e = len(str(x.numerator // x.denominator)) - digits if x >= 1 else -digits - _leading_zeros(x)
    step = Fraction(10) ** e
    v = math.ceil(x / step) * step
    return f"{float_string(v, max(0, -e))} ETH"


def _leading_zeros(x: Fraction) -> int:
    """Zeros right after the point of 0 < x < 1 (0.0012 -> 2)."""
    n = 0
    while x * 10 ** (n + 1) < 1:
        n += 1
    return n


# ---------------------------------------------------------------------- aggregates
@dataclass
class FleetTotals:
    """What shards return and the driver merges: integers only (plus a minimum), sized by the fleet's shape."""

    shards: int
    gateways: int
    cls: dict  # counter name -> list of Python ints, one per class
    o_sessions: np.ndarray  # (O,)
    od_tickets: np.ndarray  # (O, D + 1): tickets credited per orchestrator-day; column D: after the horizon
    od_winners: np.ndarray  # (O, D + 1)
    ch_winners: np.ndarray  # (C, H + 1): winners per class-hour
    or_winners: np.ndarray | None  # (O, rounds + 1), or None when too many rounds to track
    o_first: np.ndarray  # (O,) first winner, ns since the fleet's start (_NEVER: none)
    conc: np.ndarray  # (minutes + 1,) sessions starting minus ending in each minute
    start_errors: dict = field(default_factory=dict)  # class -> why its sessions cannot start
    per_ticket_sessions: int = 0

    @classmethod
    def empty(cls, f: Fleet) -> "FleetTotals":
        O, D, C = f.orchestrators, f.days, len(f.classes)
        return cls(shards=0, gateways=0, cls={k: [0] * C for k in CLASS_COUNTERS}, o_sessions=np.zeros(O, _I64),
                   od_tickets=np.zeros((O, D + 1), _I64), od_winners=np.zeros((O, D + 1), _I64),
                   ch_winners=np.zeros((C, f.hours + 1), _I64),
                   or_winners=np.zeros((O, f.rounds + 1), _I64) if f.track_rounds else None,
                   o_first=np.full(O, _NEVER, _I64), conc=np.zeros(D * 1440 + 1, _I64))

    def merge(self, o: "FleetTotals") -> None:
        self.shards += o.shards
        self.gateways += o.gateways
        for k, v in o.cls.items():
            self.cls[k] = [a + b for a, b in zip(self.cls[k], v)]
        for name in ("o_sessions", "od_tickets", "od_winners", "ch_winners", "conc"):
            getattr(self, name).__iadd__(getattr(o, name))
        if self.or_winners is not None:
            self.or_winners += o.or_winners
        np.minimum(self.o_first, o.o_first, out=self.o_first)
        for c, e in o.start_errors.items():
            self.start_errors.setdefault(c, e)
        self.per_ticket_sessions += o.per_ticket_sessions


@lru_cache(maxsize=64)
def _model(s: Settings) -> Model:
    return Model.of(s)


def _lengths(f: Fleet, n: int, rng: np.random.Generator) -> np.ndarray:
    mean_ns = f.session_minutes * MINUTE_NS
    if f.session_dist == "fixed":
        x = np.full(n, mean_ns)
    elif f.session_dist == "exponential":
        x = rng.exponential(mean_ns, n)
    else:
        sig = f.session_sigma
        x = rng.lognormal(math.log(mean_ns) - sig * sig / 2, sig, n)
    return np.clip(np.round(x), NS, round(f.max_session_minutes * MINUTE_NS)).astype(_I64)


def _weights(f: Fleet) -> np.ndarray:
    w = 1.0 / np.arange(1, f.orchestrators + 1) ** f.selection_skew
    return w / w.sum()


def run_shard(f: Fleet, shard: int, seed: int, *, per_ticket: bool = False) -> FleetTotals:
    """The gateways of one shard over the fleet's days: their sessions, payments and winners, aggregated."""
    O, D, C = f.orchestrators, f.days, len(f.classes)
    H, M = f.hours, D * 1440
    round_ns = f.round_ns
    acc = FleetTotals.empty(f)
    lo = shard * f.shard_gateways
    n_g = max(0, min(f.gateways, lo + f.shard_gateways) - lo)
    acc.shards, acc.gateways = 1, n_g
    world = np.random.default_rng(np.random.SeedSequence([seed, _TAG, shard, 0]))  # arrivals, lengths, disturbances
    wins = np.random.default_rng(np.random.SeedSequence([seed, _TAG, shard, 1]))  # the batched path's win draws
    counts = world.poisson(f.sessions_per_day, size=(n_g, D))
    day = np.repeat(np.tile(np.arange(D, dtype=_I64), n_g), counts.ravel())
    n = len(day)
    start = day * DAY_NS + world.integers(0, DAY_NS, n, dtype=_I64)
    length = _lengths(f, n, world)
    orch = (world.choice(O, size=n, p=_weights(f)) if f.selection_skew else world.integers(0, O, n)).astype(_I64)
    klass = orch % C
    acc.o_sessions += np.bincount(orch, minlength=O)
    models = [_model(s) for s in f.class_settings()]
    for c in range(C):
        idx = np.nonzero(klass == c)[0]
        if not len(idx):
            continue
        idx = idx[np.argsort(length[idx], kind="stable")]  # chunks of similar length: little wasted work
        m = models[c]
        slow = per_ticket
        pos = 0
        while pos < len(idx):
            r = min(MAX_CHUNK, len(idx) - pos)
            while r > 1 and (int(length[idx[pos + r - 1]]) // m.interval_ns + 1) * r > CELL_BUDGET:
                r = max(1, CELL_BUDGET // (int(length[idx[pos + r - 1]]) // m.interval_ns + 1))
            gidx = idx[pos:pos + r]
            pos += r
            mc = replace(m, horizon_ns=int(length[gidx].max()))
            d = draw_disturbances(mc, r, world)

            def on_pay(i, t, credited, w, gidx=gidx, c=c):
                g = gidx[i]
                o = orch[g]
                at = start[g] + t
                np.add.at(acc.od_tickets, (o, np.minimum(at // DAY_NS, D)), credited)
                won = w > 0
                if won.any():
                    o, at, w = o[won], at[won], w[won]
                    np.add.at(acc.od_winners, (o, np.minimum(at // DAY_NS, D)), w)
                    np.add.at(acc.ch_winners, (c, np.minimum(at // HOUR_NS, H)), w)
                    if acc.or_winners is not None:
                        np.add.at(acc.or_winners, (o, np.minimum(at // round_ns, f.rounds)), w)
                    np.minimum.at(acc.o_first, o, at)

            b = None
            if not slow:
                try:
                    b = simulate_batch(mc, d, wins, horizons=length[gidx], on_pay=on_pay)
                except NotBatchable:
                    slow = True  # this class's EV needs exact rationals: the per-ticket path from here on
            if b is not None:
                cols = _Cols.of_batch(b)
            else:
                results = []
                for j in range(r):
                    g = int(gidx[j])
                    gaps, failed, lost = d.column(j)
                    results.append(simulate_session(
                        replace(mc, horizon_ns=int(length[g])), gaps=gaps, failed=failed, lost=lost,
                        rng=random.Random(f"{seed}/{shard}/{g}"),
                        on_pay=lambda t, cr, w, j=j: on_pay(np.array([j]), np.array([t], _I64),
                                                            np.array([cr], _I64), np.array([w], _I64))))
                cols = _Cols.of_sessions(results)
                acc.per_ticket_sessions += r
            _account(acc, c, cols, start[gidx], length[gidx], M)
    return acc


@dataclass
class _Cols:
    """Per-session outcome columns, whichever path produced them."""

    calls: np.ndarray
    paid: np.ndarray
    no_tickets: np.ndarray
    errors: np.ndarray
    failed: np.ndarray
    lost: np.ndarray
    refreshes: np.ndarray
    tickets: np.ndarray  # signed after the preload
    credited: np.ndarray
    nonce_rejected: np.ndarray
    winners: np.ndarray
    stop_ns: np.ndarray  # -1: not stopped
    start_error: str | None

    @classmethod
    def of_batch(cls, b) -> "_Cols":
        return cls(b.calls, b.paid, b.no_tickets, b.errors, b.failed, b.lost, b.refreshes,
                   b.tickets, b.credited, b.nonce_rejected,
                   b.winners, b.stop_ns, b.start_error)

    @classmethod
    def of_sessions(cls, rs) -> "_Cols":
        def col(fn):
            return np.array([fn(r) for r in rs], _I64)
        err = next((r.start_error for r in rs if r.start_error), None)
        return cls(col(lambda r: r.calls), col(lambda r: r.paid), col(lambda r: r.no_tickets),
                   col(lambda r: r.errors), col(lambda r: r.failed), col(lambda r: r.lost),
                   col(lambda r: r.refreshes), col(lambda r: r.tickets), col(lambda r: r.credited),
                   col(lambda r: r.nonce_rejected), col(lambda r: r.winners),
                   col(lambda r: -1 if r.stop_ns is None else r.stop_ns), err)


def _account(acc: FleetTotals, c: int, x: _Cols, start: np.ndarray, length: np.ndarray, minutes: int) -> None:
    r = len(start)
    started = x.start_error is None
    k = acc.cls
    w = x.winners.astype(object)
    add = {"sessions": r, "started": r if started else 0, "stopped": int((x.stop_ns >= 0).sum()),
           "calls": int(x.calls.sum()), "paid": int(x.paid.sum()), "no_tickets": int(x.no_tickets.sum()),
           "errors": int(x.errors.sum()), "failed": int(x.failed.sum()), "lost": int(x.lost.sum()),
           "refreshes": int(x.refreshes.sum()), "tickets": int(x.tickets.sum()), "credited": int(x.credited.sum()),
           "nonce_rejected": int(x.nonce_rejected.sum()), "winners": int(w.sum()), "w2": int((w * w).sum()),
           "w3": int((w * w * w).sum()), "length_ns": int(length.sum()),
           "payments": int(x.calls.sum()) + (r if started else 0)}
    for name, v in add.items():
        k[name][c] += v
    if not started:
        acc.start_errors.setdefault(c, x.start_error)
        return
    end = start + np.where(x.stop_ns >= 0, x.stop_ns, length)
    acc.conc += np.bincount(np.minimum(start // MINUTE_NS, minutes), minlength=minutes + 1)
    acc.conc -= np.bincount(np.minimum(end // MINUTE_NS, minutes), minlength=minutes + 1)


def _shard_job(args) -> FleetTotals:
    f, shard, seed, per_ticket = args
    return run_shard(f, shard, seed, per_ticket=per_ticket)


@dataclass
class FleetRun:
    fleet: Fleet
    seed: int
    totals: FleetTotals
    interrupted: bool = False
    engine: str = "processes"
    elapsed_s: float = 0.0
    per_ticket: bool = False


def run_fleet(f: Fleet, *, seed: int = 1, engine: str = "processes", workers: int | None = None,
              ray_address: str = "local", per_ticket: bool = False,
              on_shard: Callable[[FleetTotals, int, int], None] | None = None, window: int | None = None) -> FleetRun:
    """Every shard of the fleet, merged as they finish (``on_shard(shard_totals, done, total)``); Ctrl-C keeps
    the shards finished so far and sets ``interrupted``."""
    f.validate()
    t0 = time.perf_counter()
    totals = FleetTotals.empty(f)
    run = FleetRun(f, seed, totals, engine=engine, per_ticket=per_ticket)
    total = f.shards

    def got(part: FleetTotals) -> None:
        totals.merge(part)
        if on_shard is not None:
            on_shard(part, totals.shards, total)

    jobs = ((f, k, seed, per_ticket) for k in range(total))
    run.interrupted = run_jobs(_shard_job, jobs, got, engine=engine, workers=workers, ray_address=ray_address,
                               window=window)
    run.elapsed_s = time.perf_counter() - t0
    return run


# ---------------------------------------------------------------------- the report
@dataclass
class FleetReport:
    run: FleetRun
    data: dict
    findings: list[Finding]
    orchestrators: list[dict]  # one row per orchestrator (for orchestrators.csv)
    windows: list[int]  # wei the fleet's winners drew in each top-up window (for windows.csv)

    @property
    def healthy(self) -> bool:
        return not any(f.level == "fail" for f in self.findings)

    def to_dict(self) -> dict:
        return {"healthy": self.healthy, "fleet": self.run.fleet.to_dict(), "seed": self.run.seed, **self.data,
                "findings": [f.to_dict() for f in self.findings]}

    def text(self) -> str:
        return _text(self)

    def write(self, out: Path) -> list[Path]:
        """fleet.json, orchestrators.csv, windows.csv and the plots (PNG, SVG) into ``out``."""
        import json

        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "fleet.json", out / "orchestrators.csv", out / "windows.csv"]
        paths[0].write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n", encoding="utf-8")
        with open(paths[1], "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(self.orchestrators[0]) if self.orchestrators else ["orchestrator"])
            w.writeheader()
            w.writerows(self.orchestrators)
        hours = self.run.fleet.top_up_hours
        with open(paths[2], "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["window", "start_hour", "hours", "winners_face_value_wei"])
            for i, v in enumerate(self.windows):
                w.writerow([i, i * hours, hours, v])
        from sim.economics.plots import plot_fleet

        return paths + plot_fleet(self, out / "fleet")


def _json_default(o):
    if isinstance(o, Fraction):
        return str(o)
    if isinstance(o, float):
        return None  # inf / nan
    if isinstance(o, (np.integer,)):
        return int(o)
    return str(o)


def _q(values, qs) -> list[float]:
    a = np.asarray(values, dtype=np.float64)
    return [float(v) for v in np.quantile(a, qs)] if len(a) else [math.nan] * len(qs)


def _p(x: float) -> str:
    return "< 1e-6" if x < 1e-6 else f"~{x:.2g}"


def _cornish_fisher(mu: float, sigma: float, gamma: float, z: float) -> float:
    return mu + sigma * (z + (z * z - 1) * gamma / 6)


def _tail(mu: float, sigma: float, gamma: float, x: float) -> float:
    """P(S > x) under the same Cornish–Fisher expansion (inverted for z)."""
    if sigma <= 0:
        return 0.0 if x >= mu else 1.0
    y = (x - mu) / sigma
    a = gamma / 6
    if abs(a) < 1e-12:
        z = y
    else:
        disc = 1 + 4 * a * (a + y)
        z = (-1 + math.sqrt(disc)) / (2 * a) if disc >= 0 else -math.inf
    return norm_sf(z)


def fleet_report(run: FleetRun) -> FleetReport:
    f, tot = run.fleet, run.totals
    s0 = f.settings
    O, D, C = f.orchestrators, f.days, len(f.classes)
    labels = [lbl for lbl, _ in f.classes]
    models = [_model(s) for s in f.class_settings()]
    k = tot.cls
    data: dict = {"simulated": {"shards": tot.shards, "of_shards": f.shards, "gateways": tot.gateways,
                                "interrupted": run.interrupted, "engine": run.engine,
                                "path": "per-ticket" if run.per_ticket else "batched",
                                "per_ticket_sessions": tot.per_ticket_sessions, "elapsed_s": run.elapsed_s,
                                "sessions": sum(k["sessions"]), "payments": sum(k["payments"])}}
    out_findings: list[Finding] = []
    # ---- classes: terms from the core, session health from the Monte Carlo
    classes = []
    fv, ev, gas_cost, gas_first_extra, uncapped = [], [], [], [], []
    for c, (lbl, m) in enumerate(zip(labels, models)):
        t, s = m.terms, m.settings
        fv.append(t.face_value)
        ev.append(t.ev)
        gas_cost.append(REDEMPTION_GAS * s.gas_price)
        gas_first_extra.append((REDEMPTION_GAS_FIRST_IN_ROUND - REDEMPTION_GAS) * s.gas_price)
        big = ticket_terms(s.with_(reserve=10**40)) if t.ok else t
        uncapped.append(big.face_value if big.ok else t.face_value)
        n = k["sessions"][c]
        stop_p, stop_lo, stop_hi = wilson(k["stopped"][c], k["started"][c]) if k["started"][c] else (0.0, 0.0, 0.0)
        answered = k["calls"][c] - k["failed"][c]
        classes.append({
            "class": lbl, "orchestrators": len(range(c, O, C)), "face_value": t.face_value, "win_prob": t.win_prob,
            "p_win": float(t.p_win), "ev": str(t.ev), "error": t.error or tot.start_errors.get(c),
            "sessions": n, "mean_session_s": k["length_ns"][c] / n / NS if n else 0.0,
            "stopped": k["stopped"][c], "p_stop": stop_p, "p_stop_low": stop_lo, "p_stop_high": stop_hi,
            "rate_482": k["no_tickets"][c] / answered if answered else 0.0,
            "tickets_per_paid_call": k["tickets"][c] / k["paid"][c] if k["paid"][c] else 0.0,
            "tickets": k["tickets"][c], "credited": k["credited"][c], "winners": k["winners"][c],
            "lost": k["lost"][c], "nonce_rejected": k["nonce_rejected"][c]})
        # the single-session check's verdicts on this class's terms carry over (its fixes included)
        mine: list[Finding] = []
        if t.ok:
            exact = exact_summary(m)
            exact.pop("schedule", None)
            for fd in check_findings(m, exact, {}, verify=True):
                if fd.level != "ok" and fd.topic not in ("deposit", "revenue variance"):
                    mine.append(replace(fd, topic=fd.topic if C == 1 else f"{fd.topic} ({lbl})"))
        else:
            mine.append(Finding("fail", "ticket params" if C == 1 else f"ticket params ({lbl})",
                                f"no session can start: {t.error}"))
        out_findings += mine
        if k["started"][c] and stop_p > STOP_FAIL:
            fix = next((fd.fix for fd in mine if fd.fix and fd.level == "fail"), "")
            out_findings.append(Finding("fail", "insufficient balance" if C == 1 else f"insufficient balance ({lbl})",
                                        f"{stop_p:.1%} of sessions [{stop_lo:.1%}, {stop_hi:.1%}] are stopped by "
                                        f"their orchestrator (jitter {s.jitter_s:g} s, {s.fail:.1%} failed calls, "
                                        f"{s.loss:.2%} lost payments)", fix))
    data["classes"] = classes
    # ---- concurrency
    conc = np.cumsum(tot.conc)[: D * 1440]
    data["concurrency"] = {"mean": float(conc.mean()) if len(conc) else 0.0,
                           "peak": int(conc.max()) if len(conc) else 0, "p99": _q(conc, [0.99])[0]}
    # ---- the clearinghouse's float
    data["float"] = fl = _float(f, tot, fv, uncapped, run.interrupted)
    windows = fl.pop("_windows")
    fl["deposit_per_peak_session"] = fl["deposit_needed"] // max(1, data["concurrency"]["peak"])
    H = f.top_up_hours
    per = "day" if H == 24 else f"{H} h window"
    pers = "days" if H == 24 else f"{H} h windows"
    conf_pc = f"{f.confidence * 100:.4g}%"
    if not fl["model_from_sessions"]:
        out_findings.append(Finding("warn", "deposit", "no session was simulated: nothing to size the deposit on"))
    elif s0.deposit < fl["deposit_needed"]:
        out_findings.append(Finding(
            "fail", "deposit",
            f"the deposit {format_wei(s0.deposit)} runs below the signer's floor ({format_wei(fl['floor'])}) in "
            f"~{fl['p_dry_model']:.1%} of {pers} (model; {fl['dry_windows']} of {len(windows)} simulated {pers}); "
            f"then every gateway's payment is refused",
            f"hold >= {eth_up(fl['deposit_needed'])} of deposit, topped up every {H} h, for {conf_pc} of {pers}"))
    else:
        out_findings.append(Finding(
            "ok", "deposit", f"the deposit {format_wei(s0.deposit)} covers {conf_pc} of {pers}: hold >= "
            f"{eth_up(fl['deposit_needed'])} (P(running dry in a {per}) {_p(fl['p_dry_model'])})"))
    if fl["reserve_capped"]:
        out_findings.append(Finding(
            "warn", "reserve", f"the reserve caps the face value ({format_wei(min(fv))} instead of "
            f"{format_wei(max(uncapped))}): reserve / {O} orchestrators is below it, so winners are smaller and rarer "
            "to keep the EV", f"hold >= {eth_up(fl['reserve_needed'])} of reserve (face value x {O} orchestrators)"))
    else:
        out_findings.append(Finding("ok", "reserve", f"the reserve {format_wei(s0.reserve)} keeps every face value "
                                    f"uncapped (needs >= {eth_up(fl['reserve_needed'])})"))
    # ---- the orchestrators' payouts
    pay, rows = _payouts(f, tot, fv, ev, gas_cost, gas_first_extra)
    data["orchestrators"] = pay
    if pay["orchestrator_days"]:
        pz = pay["p_zero_winner_day"]
        if pz > ZERO_DAY_WARN:
            out_findings.append(Finding("warn", "orchestrator payouts",
                                        f"{pz:.0%} of orchestrator-days have no winner (mean "
                                        f"{pay['winners_per_day']:.3g} winners per orchestrator-day)",
                                        _variance_fix(f, pay, models)))
        else:
            out_findings.append(Finding("ok", "orchestrator payouts",
                                        f"{pay['winners_per_day']:.3g} winners per orchestrator-day; "
                                        f"{pz:.1%} of orchestrator-days have none"))
    return FleetReport(run, data, out_findings, rows, windows)


def _float(f: Fleet, tot: FleetTotals, fv: list[int], uncapped: list[int], interrupted: bool) -> dict:
    s0 = f.settings
    k = tot.cls
    C = len(fv)
    H = f.top_up_hours
    floor = s0.deposit_multiplier * max(fv)  # the signer refuses once faceValue > deposit // multiplier
    hourly = [sum(int(tot.ch_winners[c, h]) * fv[c] for c in range(C)) for h in range(f.hours)]
    windows = [sum(hourly[i:i + H]) for i in range(0, f.hours - H + 1, H)]
    n = sum(k["sessions"])
    # compound Poisson over sessions: the fleet starts lam sessions per window, each drawing X = winners x fv
    lam = f.gateways * f.sessions_per_day * H / 24
    e1 = sum(Fraction(fv[c]) * k["winners"][c] for c in range(C)) / n if n else Fraction(0)
    e2 = sum(Fraction(fv[c]) ** 2 * k["w2"][c] for c in range(C)) / n if n else Fraction(0)
    e3 = sum(Fraction(fv[c]) ** 3 * k["w3"][c] for c in range(C)) / n if n else Fraction(0)
    mu = float(lam * e1)
    sigma = math.sqrt(float(lam * e2))
    gamma = float(lam * e3) / sigma ** 3 if sigma else 0.0
    z = norm_ppf(f.confidence)
    q = max(0.0, _cornish_fisher(mu, sigma, gamma, z))
    needed = floor + math.ceil(q)
    srt = sorted(windows)
    nw = len(srt)
    rank = quantile_upper_rank(nw, f.confidence)
    pool = s0.orchestrators
    reserve_needed = max(uncapped) * pool
    checked = all(ticket_terms(cs.with_(reserve=reserve_needed)).face_value == u
                  for cs, u in zip(f.class_settings(), uncapped))
    return {
        "_windows": windows,
        "top_up_hours": H, "confidence": f.confidence, "floor": floor,
        "sessions_per_window": lam, "mean_per_window": mu, "std_per_window": sigma, "skew": gamma,
        "quantile_model": q, "model_from_sessions": n, "model_scaled_to_gateways": f.gateways,
        "deposit_needed": needed, "deposit_needed_eth": eth_up(needed),
        "windows": nw, "window_mean": (sum(windows) / nw) if nw else 0.0, "window_max": srt[-1] if nw else 0,
        "window_quantile": srt[max(0, math.ceil(f.confidence * nw) - 1)] if nw else 0,
        "window_quantile_upper": srt[rank - 1] if rank else None,
        "windows_needed_for_bound": math.ceil(math.log(0.05) / math.log(f.confidence)),
        "windows_above_model": sum(1 for w in windows if w > q),
        "dry_windows": sum(1 for w in windows if w > s0.deposit - floor),
        "p_dry_model": 1.0 if s0.deposit <= floor else _tail(mu, sigma, gamma, float(s0.deposit - floor)),
        "windows_partial": interrupted,
        "reserve_needed": reserve_needed, "reserve_needed_eth": eth_up(reserve_needed),
        "reserve_checked_through_core": checked, "reserve_capped": any(a < b for a, b in zip(fv, uncapped)),
        "float_needed": needed + reserve_needed, "float_needed_eth": eth_up(needed + reserve_needed),
    }


def _payouts(f: Fleet, tot: FleetTotals, fv, ev, gas_cost, gas_first_extra) -> tuple[dict, list[dict]]:
    O, D, C = f.orchestrators, f.days, len(fv)
    klass = np.arange(O) % C
    wod = tot.od_winners[:, :D]
    tod = tot.od_tickets[:, :D]
    wins = wod.sum(axis=1)
    tix = tod.sum(axis=1)
    if tot.or_winners is not None:
        firsts = (tot.or_winners[:, : f.rounds] > 0).sum(axis=1)
        firsts_exact = True
    else:
        firsts = np.minimum(wins, f.rounds)  # an upper bound: at most one first redemption per round
        firsts_exact = False
    rows = []
    revenue = gas = 0
    expected = Fraction(0)
    net_day = np.zeros(O)
    for o in range(O):
        c = int(klass[o])
        rev = int(wins[o]) * fv[c]
        g = int(wins[o]) * gas_cost[c] + int(firsts[o]) * gas_first_extra[c]
        exp = int(tix[o]) * ev[c]
        revenue += rev
        gas += g
        expected += exp
        net_day[o] = (rev - g) / D / ETHER
        first = int(tot.o_first[o])
        rows.append({"orchestrator": o, "class": f.classes[c][0], "sessions": int(tot.o_sessions[o]),
                     "tickets": int(tix[o]), "winners": int(wins[o]), "revenue_wei": rev, "gas_wei": g,
                     "net_wei": rev - g, "expected_revenue_wei": int(exp),
                     "first_winner_s": "" if first == _NEVER else first / NS})
    n_od = O * D
    zero = int((wod == 0).sum())
    pz, pz_lo, pz_hi = wilson(zero, n_od)
    wm, wl, wh = mean_ci(wod)
    per_day_eth = (wod * np.array([fv[int(c)] for c in klass], dtype=np.float64)[:, None]) / ETHER
    rm, rl, rh = mean_ci(per_day_eth)
    firsts_s = np.where(tot.o_first == _NEVER, np.inf, tot.o_first / NS)
    never = int(np.isinf(firsts_s).sum())
    p10, p50, p90 = _q(net_day, [0.1, 0.5, 0.9])
    w10, w50, w90 = _q(wins / D, [0.1, 0.5, 0.9])
    t50, t90 = (float(v) for v in np.quantile(firsts_s, [0.5, 0.9], method="inverted_cdf"))
    face_paid = revenue
    return {
        "orchestrator_days": n_od, "winners": int(wins.sum()), "tickets": int(tix.sum()),
        "winners_per_day": wm, "winners_per_day_low": wl, "winners_per_day_high": wh,
        "p_zero_winner_day": pz, "p_zero_winner_day_low": pz_lo, "p_zero_winner_day_high": pz_hi,
        "winners_per_day_p10": w10, "winners_per_day_median": w50, "winners_per_day_p90": w90,
        "revenue_wei": revenue, "gas_wei": gas, "net_wei": revenue - gas,
        "expected_revenue_wei": str(expected),
        "expected_revenue_per_day_eth": float(expected / n_od / ETHER) if n_od else 0.0,
        "revenue_per_day_eth": rm, "revenue_per_day_eth_low": rl, "revenue_per_day_eth_high": rh,
        "net_per_day_eth_p10": p10, "net_per_day_eth_median": p50, "net_per_day_eth_p90": p90,
        "gas_share": float(Fraction(gas, face_paid)) if face_paid else 0.0,
        "first_redemptions_in_round": int(firsts.sum()), "first_in_round_exact": firsts_exact,
        "first_winner_median_s": t50, "first_winner_p90_s": t90, "never_won": never,
    }, rows


def _variance_fix(f: Fleet, pay: dict, models: list[Model]) -> str:
    """Fewer orchestrators, or smaller face values (the orchestrator's -txCostMultiplier), each checked."""
    w = pay["winners_per_day"]
    per_day = pay["winners"] / f.days if f.days else 0
    parts = []
    n_orch = int(per_day // TARGET_WINNERS_PER_DAY)
    if 1 <= n_orch < f.orchestrators:
        parts.append(f"<= {n_orch} orchestrators give each >= {TARGET_WINNERS_PER_DAY} winners a day "
                     f"(P(none) ~5%)")
    m = models[0]  # (the first class's, with --mix)
    s = m.settings
    mult = math.floor(s.tx_cost_multiplier * w / TARGET_WINNERS_PER_DAY)
    if 1 <= mult < s.tx_cost_multiplier and m.terms.ok and m.terms.face_value_reason.startswith(
            f"{s.tx_cost_multiplier} x redemption"):
        t = ticket_terms(s.with_(tx_cost_multiplier=mult))
        if t.ok and t.face_value:
            share = Fraction(REDEMPTION_GAS * s.gas_price, t.face_value)
            if share < Fraction(1, 2):
                parts.append(f"or the orchestrators' --tx-cost-multiplier {mult} (face value {format_wei(t.face_value)}, "
                             f"{float(share):.1%} of a winner to gas)")
    return "; ".join(parts)


# ---------------------------------------------------------------------- text
def _text(r: FleetReport) -> str:
    f, d = r.run.fleet, r.data
    s0 = f.settings
    sim = d["simulated"]
    lines = [f"PM fleet: {f.gateways:,} gateways x {f.sessions_per_day:g} sessions a day ({f.session_dist}, mean "
             f"{f.session_minutes:g} min, at most {f.max_session_minutes:g} min) over {f.days} days, "
             f"{f.orchestrators:,} orchestrators in {len(f.classes)} class(es), one sender; seed {r.run.seed}",
             f"  simulated {sim['shards']} of {sim['of_shards']} shards ({sim['gateways']:,} gateways): "
             f"{sim['sessions']:,} sessions, {sim['payments']:,} payments, {sim['path']} path, "
             f"{sim['engine']}, {sim['elapsed_s']:.1f} s"
             + (" — INTERRUPTED: partial results" if sim["interrupted"] else "")]
    lines += ["", "sessions (Monte Carlo on the core's rules)"]
    for c in d["classes"]:
        if c["error"]:
            lines.append(f"  {c['class']}: no session starts: {c['error']}")
            continue
        lines.append(f"  {c['class']}: face value {format_wei(c['face_value'])}, win prob {c['p_win']:.3g}, EV "
                     f"{format_wei(Fraction(c['ev']))}; {c['sessions']:,} sessions of {fmt_s(c['mean_session_s'])} on "
                     f"average; {c['rate_482']:.1%} 482s, {c['tickets_per_paid_call']:.3g} tickets per paid call; "
                     f"stopped {c['p_stop']:.2%} [{c['p_stop_low']:.2%}, {c['p_stop_high']:.2%}]")
    cc = d["concurrency"]
    lines.append(f"  concurrent sessions: mean {cc['mean']:,.0f}, 99th percentile {cc['p99']:,.0f}, "
                 f"peak {cc['peak']:,}")
    fl = d["float"]
    H = fl["top_up_hours"]
    pers = "days" if H == 24 else f"{H} h windows"
    lines += ["", f"the clearinghouse's float (one sender; the deposit topped up every {H} h)",
              f"  winners draw {format_wei(round(fl['mean_per_window']))} per {H} h on average (std "
              f"{format_wei(round(fl['std_per_window']))}, skew {fl['skew']:.2g}); the {f.confidence:.4g} quantile is "
              f"{format_wei(round(fl['quantile_model']))} (compound Poisson over {fl['model_from_sessions']:,} simulated "
              f"sessions, {fl['sessions_per_window']:,.0f} sessions per window for {fl['model_scaled_to_gateways']:,} "
              "gateways)",
              f"  simulated {pers}: {fl['windows']}, mean {format_wei(round(fl['window_mean']))}, max "
              f"{format_wei(fl['window_max'])}; {fl['windows_above_model']} above the model's quantile"
              + ("" if fl["window_quantile_upper"] is not None else
                 f" (a distribution-free bound needs >= {fl['windows_needed_for_bound']} {pers})"),
              f"  deposit >= {fl['deposit_needed_eth']} ({format_wei(fl['floor'])} floor: depositMultiplier "
              f"{s0.deposit_multiplier} x face value, + the quantile); reserve >= {fl['reserve_needed_eth']} (face "
              f"value x {f.orchestrators} orchestrators); float {fl['float_needed_eth']}"]
    p = d["orchestrators"]
    if p["orchestrator_days"]:
        lines += ["", f"orchestrator payouts ({f.orchestrators:,} orchestrators x {f.days} days; 95% intervals)",
                  f"  winners per orchestrator-day {p['winners_per_day']:.3g} [{p['winners_per_day_low']:.3g}, "
                  f"{p['winners_per_day_high']:.3g}]; none in {p['p_zero_winner_day']:.1%} "
                  f"[{p['p_zero_winner_day_low']:.1%}, {p['p_zero_winner_day_high']:.1%}] of orchestrator-days; "
                  f"over orchestrators p10 {p['winners_per_day_p10']:.3g}, median {p['winners_per_day_median']:.3g}, "
                  f"p90 {p['winners_per_day_p90']:.3g} a day",
                  f"  revenue per orchestrator-day {p['revenue_per_day_eth']:.4g} ETH "
                  f"[{p['revenue_per_day_eth_low']:.4g}, {p['revenue_per_day_eth_high']:.4g}] (expected: tickets x EV "
                  f"= {p['expected_revenue_per_day_eth']:.4g} ETH); net of gas over orchestrators p10 "
                  f"{p['net_per_day_eth_p10']:.4g}, median {p['net_per_day_eth_median']:.4g}, p90 "
                  f"{p['net_per_day_eth_p90']:.4g} ETH a day",
                  f"  redemption gas takes {p['gas_share']:.2%} of the face value won ({REDEMPTION_GAS:,} gas a "
                  f"winner, {REDEMPTION_GAS_FIRST_IN_ROUND:,} for an orchestrator's first in a round"
                  + ("" if p["first_in_round_exact"] else ", bounded") + ")",
                  f"  first winner after {fmt_s(p['first_winner_median_s'])} (median over orchestrators), "
                  f"{fmt_s(p['first_winner_p90_s'])} (p90); {p['never_won']} never won in {f.days} days"]
    return "\n".join(lines + findings_lines(r.findings))
