"""``lpdev economics sweep``: the check's numbers over a grid of settings, one row per cell.

A cell is a pure function of (settings, cell index, seed): the exact part through the core, the Monte Carlo on
the batched path with a generator seeded by ``SeedSequence([seed, index])``. So the table does not depend on
where a cell runs: local processes (default) or Ray tasks (``--ray``) give the same rows, byte for byte.

Cells are submitted in a bounded window and their rows streamed back as they finish (memory stays flat for
10^4 cells); Ctrl-C stops the submission, cancels what is pending and keeps every finished row.
"""
from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterator

import numpy as np

from sim.economics.batched import NotBatchable, draw_disturbances, simulate_batch
from sim.economics.check import exact_summary, findings
from sim.economics.session import Model
from sim.economics.settings import FIELDS, MONEY_FIELDS, Settings, SettingsError, flag_of
from sim.economics.stats import wilson
from sim.pm.money import MAX_WEI, parse_amount
from sim.wire import bounded

__all__ = ["Axis", "parse_axis", "cell", "run_sweep", "run_jobs", "SweepResult", "COLUMNS", "METRICS",
           "RayUnavailable", "connect_ray", "parse_number", "cells"]

METRICS = ("healthy", "p_stop", "p_stop_low", "p_stop_high", "rate_482", "tickets_per_paid_call",
           "max_tickets_per_call", "losses_tolerated", "min_headroom_s", "first_winner_s", "revenue_cv_hour",
           "gas_share", "deposit_time_h", "refreshes_per_hour", "face_value", "p_win", "payments", "error")
COLUMNS = ("index",)  # + the axes + METRICS


MAX_COUNT = 10**30  # a count typed as a flag (sessions, gas, blocks): the same ceiling as amounts


class RayUnavailable(RuntimeError):
    """``--ray`` names no cluster that answers; the message says which and why."""


def parse_number(name: str, text: str, fields: dict | None = None):
    """A value for settings field ``name`` (of ``fields``, default the Settings') from text: exact amounts
    (``1e13``, ``2.5e11``, ``20gwei``, ``1eth``; at most 10^30 wei) through ``sim.pm.money.parse_amount``, counts
    (``1e3``) through ``sim.wire.bounded.parse_int``, floats for times and probabilities through
    ``sim.wire.bounded.parse_float``, choices for strings. All bound the digits and the exponent, so
    ``1e100000000`` is refused at once. Raises SettingsError naming the flag."""
    fields = FIELDS if fields is None else fields
    f = fields.get(name)
    if f is None:
        raise SettingsError(name, f"no such setting (known: {', '.join(sorted(fields))})")
    t = str(f.type)
    text = str(text).strip()
    if "bool" in t:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"want true or false, got {text[:40]!r}")
    if t == "str":
        return text
    if "float" in t:
        try:
            return bounded.parse_float(text, what=flag_of(name))
        except bounded.BoundedInputError as exc:
            raise SettingsError(name, exc.problem) from None
    try:
        if name not in MONEY_FIELDS:  # a count (gas, a multiplier, sessions, blocks, gateways)
            return bounded.parse_int(text, what=flag_of(name), max=MAX_COUNT)
        v = parse_amount(text, max_wei=MAX_WEI)
    except ValueError as exc:  # BoundedInputError too
        raise SettingsError(name, getattr(exc, "problem", str(exc))) from None
    if "Fraction" in t:
        return v
    if v.denominator != 1:
        raise SettingsError(name, f"{text!r} is not a whole number of wei")
    return int(v)


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float, Fraction)) and not isinstance(v, bool) for v in self.values)


def parse_axis(text: str, flag: str = "grid") -> Axis:
    """``NAME=V1,V2,...`` or ``NAME=START:STOP:N[:log]`` (N points, linear or log-spaced; amounts rounded to
    whole wei). Errors name ``--<flag>``."""
    if "=" not in text:
        raise SettingsError(flag, f"{text!r}: want NAME=V1,V2,... or NAME=START:STOP:N[:log]")
    name, spec = text.split("=", 1)
    name = name.strip().replace("-", "_")
    if name not in FIELDS:
        raise SettingsError(flag, f"{name!r} is not a setting (known: {', '.join(sorted(FIELDS))})")
    parts = spec.split(":")

    def number(v: str):
        try:
            return parse_number(name, v)
        except SettingsError as exc:  # name the flag the value came in: --grid ticket_ev=1e400: ...
            raise SettingsError(flag, f"{name}={v.strip()[:40]}: {str(exc).split(': ', 1)[1]}") from None

    if len(parts) in (3, 4) and "," not in spec:
        lo, hi = number(parts[0]), number(parts[1])
        try:
            n = int(parts[2])
        except ValueError:
            raise SettingsError(flag, f"{text!r}: the number of points must be an integer") from None
        if not 1 <= n <= 10_000:
            raise SettingsError(flag, f"{text!r}: between 1 and 10000 points")
        log = len(parts) == 4
        if len(parts) == 4 and parts[3] != "log":
            raise SettingsError(flag, f"{text!r}: the 4th part can only be 'log'")
        if log and (lo <= 0 or hi <= 0):
            raise SettingsError(flag, f"{text!r}: a log range needs positive ends")
        xs = np.geomspace(float(lo), float(hi), n) if log else np.linspace(float(lo), float(hi), n)
        kind = type(lo)
        values = tuple(int(round(x)) if kind is int else (Fraction(round(x)) if kind is Fraction else float(x))
                       for x in xs)
    else:
        values = tuple(number(v) for v in spec.split(",") if v.strip())
    if not values:
        raise SettingsError(flag, f"{text!r}: no values")
    return Axis(name, values)


def cells(base: Settings, axes: list[Axis]) -> Iterator[tuple[int, Settings]]:
    """(index, settings) for every grid point, lazily, the last axis fastest."""
    for i, combo in enumerate(itertools.product(*(a.values for a in axes))):
        yield i, base.with_(**{a.name: v for a, v in zip(axes, combo)})


def _num(x) -> float:
    return float(x) if x is not None else float("nan")


def cell(s: Settings, index: int, seed: int, runs: int) -> dict:
    """One grid point -> one row (the check's headline numbers). Pure: same inputs, same row, anywhere."""
    row: dict = {"index": index}
    try:
        m = Model.of(s)
    except SettingsError as exc:
        return {**row, "healthy": False, "error": str(exc)}
    exact = exact_summary(m)
    exact.pop("schedule", None)
    t = exact["terms"]
    row.update(face_value=t["face_value"], p_win=t["p_win"])
    if not m.terms.ok:
        return {**row, "healthy": False, "error": t["error"]}
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    d = draw_disturbances(m, runs, rng)
    try:
        b = simulate_batch(m, d, rng)
    except NotBatchable as exc:
        return {**row, "healthy": False, "error": f"not batchable: {exc}"}
    stopped = runs if b.start_error is not None else int((b.stop_ns >= 0).sum())
    p, lo, hi = wilson(stopped, runs)
    calls = int((b.calls - b.failed).sum()) or 1
    paid = int(b.paid.sum())
    mc = {"runs": runs, "seed": seed, "p_stop": p, "p_stop_low": lo, "p_stop_high": hi, "median_stop_s": None,
          "rate_482": int(b.no_tickets.sum()) / calls,
          "tickets_per_paid_call": int(b.tickets.sum()) / paid if paid else 0.0}
    fs = findings(m, exact, mc, verify=False)
    pay, rev, fund, ref = exact["payments"], exact["revenue"], exact["funds"], exact["refresh"]
    row.update(
        healthy=not any(f.level == "fail" for f in fs), p_stop=p, p_stop_low=lo, p_stop_high=hi,
        rate_482=mc["rate_482"], tickets_per_paid_call=mc["tickets_per_paid_call"],
        max_tickets_per_call=pay["max_tickets_per_call"], losses_tolerated=pay["losses_tolerated"],
        min_headroom_s=_num(pay["min_headroom_s"]), first_winner_s=_num(rev["time_to_first_winner_s"]),
        revenue_cv_hour=_num(rev["cv_per_hour"]), gas_share=_num(rev["gas_share"]),
        deposit_time_h=_num(fund["deposit_time_s"]) / 3600, refreshes_per_hour=ref["refreshes_per_hour"],
        payments=int(b.calls.sum()) + runs, error=pay["start_error"] or "")
    return row


def _cell_job(args) -> dict:
    s, index, seed, runs, names = args
    row = cell(s, index, seed, runs)
    for n in names:
        row[n] = getattr(s, n)
    return row


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle


@dataclass
class SweepResult:
    axes: list[Axis]
    rows: list[dict]
    total: int
    interrupted: bool = False
    engine: str = "processes"
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return ["index", *(a.name for a in self.axes), *METRICS]

    def table(self) -> list[dict]:
        """Rows in cell order, every column present, values as written to the CSV."""
        out = []
        for r in sorted(self.rows, key=lambda r: r["index"]):
            out.append({c: _cell_text(r.get(c, "")) for c in self.columns})
        return out


def _cell_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Fraction):
        return str(v)
    return "" if v is None else str(v)


# ---------------------------------------------------------------------- engines
def connect_ray(address: str, *, num_cpus: int | None = None):
    """Ray for ``--ray``: ``local`` starts one on this machine, ``auto`` joins the running cluster (RAY_ADDRESS
    or the one ``ray start`` left), ``HOST:PORT`` / ``ray://HOST:PORT`` join that one. Already initialised:
    reused. A cluster that does not answer is :class:`RayUnavailable`, quickly (no Ray retry loop)."""
    import ray

    if ray.is_initialized():
        return ray
    if address == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        return ray
    target = address
    if address == "auto":
        target = os.environ.get("RAY_ADDRESS", "")
        if not target:
            try:
                with open("/tmp/ray/ray_current_cluster", encoding="utf-8") as f:
                    target = f.read().strip()
            except OSError:
                target = ""
        if not target:
            raise RayUnavailable("--ray auto: no running Ray cluster found (set RAY_ADDRESS, run `ray start "
                                 "--head`, or use --ray local)")
    hostport = target.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray {address}: want local, auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except OSError as exc:
        raise RayUnavailable(f"--ray {address}: no Ray cluster answers at {hostport} "
                             f"({exc.strerror or type(exc).__name__})") from None
    try:
        ray.init(address=target, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs the one line
        raise RayUnavailable(f"--ray {address}: could not join the Ray cluster at {hostport}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return ray


def run_sweep(base: Settings, axes: list[Axis], *, runs: int = 200, seed: int = 1, engine: str = "processes",
              workers: int | None = None, ray_address: str = "local",
              on_row: Callable[[dict, int, int], None] | None = None, window: int | None = None) -> SweepResult:
    """Every cell of the grid; ``on_row(row, done, total)`` as each finishes. KeyboardInterrupt: the finished
    rows are kept and ``interrupted`` is set."""
    total = math.prod(len(a.values) for a in axes)
    t0 = time.perf_counter()
    rows: list[dict] = []
    res = SweepResult(list(axes), rows, total, engine=engine)

    def got(row: dict) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row, len(rows), total)

    names = tuple(a.name for a in axes)
    jobs = ((s, i, seed, runs, names) for i, s in cells(base, axes))
    res.interrupted = run_jobs(_cell_job, jobs, got, engine=engine, workers=workers, ray_address=ray_address,
                               window=window)
    res.elapsed_s = time.perf_counter() - t0
    return res


def run_jobs(fn, jobs, got, *, engine: str = "processes", workers: int | None = None, ray_address: str = "local",
             window: int | None = None) -> bool:
    """The engine of sweeps and fleets: ``got(fn(job))`` for every job, on ``engine`` "processes" (a bounded
    window of futures on local processes), "ray" (one Ray task per job) or "inline" (here, in order). ``fn`` must
    be a module-level function (it is pickled). Returns True when Ctrl-C stopped it: what ``got`` received so far
    is all there is (pending jobs are cancelled)."""
    try:
        if engine == "ray":
            _run_ray(fn, jobs, got, ray_address, window)
        elif engine == "inline":
            for j in jobs:
                got(fn(j))
        elif engine == "processes":
            _run_processes(fn, jobs, got, workers or os.cpu_count() or 1, window)
        else:
            raise ValueError(f"unknown engine {engine!r}")
    except KeyboardInterrupt:
        return True
    return False


def _run_processes(fn, jobs, got, workers: int, window: int | None) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    window = window or workers * 4
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
    pending: set = set()
    try:
        for j in jobs:
            pending.add(pool.submit(fn, j))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    got(f.result())
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                got(f.result())
    except KeyboardInterrupt:
        for f in pending:
            f.cancel()
        for p in list(getattr(pool, "_processes", {}).values()):  # our own workers, by their process
            p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_ray(fn, jobs, got, address: str, window: int | None) -> None:
    ray = connect_ray(address)
    remote = ray.remote(fn)
    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    window = window or cpus * 4
    pending: list = []
    try:
        for j in jobs:
            pending.append(remote.remote(j))
            if len(pending) >= window:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    got(ray.get(ref))
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                got(ray.get(ref))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


