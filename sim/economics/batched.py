"""Many sessions at once with numpy: the same session as ``session.simulate_session``, vectorised.

Exact, not floating: money is int64 in units of 1/b wei (b = the price's denominator), using the integer ticket EV
``ev`` the orchestrator configured in place of the exact ``EV = ev + δ``. That is exact for every decision the protocol
makes, because δ = ev·(faceValue − m)/(2^256 − 1) is positive and far below 1/b per ticket (the orchestrator's win prob
rounds up, docs/tickets.md#expected-value-face-value-and-win-probability): every balance is a multiple of 1/b plus N·δ,
so a comparison with a fee or with k·EV falls the same way with or without the N·δ (the cases are worked through in
:func:`_exact_ev`). :class:`NotBatchable` is raised when that argument does not hold (a negative δ from Go's 64-bit
remainder quirk, or values that could overflow int64); callers then use the per-ticket path.

Times are int64 nanoseconds and the orchestrator's debit clock is float64 seconds, with the very operations of
``LivePaymentProcessor`` and Go's ``Duration.Seconds()``, so a float compares identically here and there. Win
tests are one binomial draw per payment (p = winProb / (2^256 − 1)), not a keccak per ticket: the differential
test (tests/test_economics.py) holds this path to the per-ticket one — identical ticket counts, 482s,
refreshes and stop times for the same disturbances, and winner counts within their confidence interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from sim.economics.session import NS, Model
from sim.orchestrator.recipient import MAX_SENDER_NONCES
from sim.pm.accounting import MAX_TICKETS_PER_CALL, balance_update, billable_units
from sim.pm.ticket import MAX_WIN_PROB

__all__ = ["NotBatchable", "Disturbances", "BatchResult", "simulate_batch", "draw_disturbances"]

_I64 = np.int64
_LIMIT = 2**62


class NotBatchable(ValueError):
    """These settings cannot be simulated exactly with int64 (use the per-ticket path)."""


@dataclass
class Disturbances:
    """Per session (columns) and call (rows, index 0 = the preload, never disturbed)."""

    gaps: np.ndarray  # float64 in [0, 1): share of the jitter added to the interval before call k
    failed: np.ndarray  # bool
    lost: np.ndarray  # bool

    @property
    def sessions(self) -> int:
        return self.gaps.shape[1]

    def column(self, j: int) -> tuple[list[float], list[bool], list[bool]]:
        return (self.gaps[:, j].tolist(), self.failed[:, j].tolist(), self.lost[:, j].tolist())


def draw_disturbances(m: Model, sessions: int, rng: np.random.Generator) -> Disturbances:
    k = m.max_payments
    s = m.settings
    return Disturbances(gaps=rng.random((k, sessions)),
                        failed=rng.random((k, sessions)) < s.fail if s.fail else np.zeros((k, sessions), bool),
                        lost=rng.random((k, sessions)) < s.loss if s.loss else np.zeros((k, sessions), bool))


@dataclass
class BatchResult:
    """Per-session arrays (length R) and the pooled histogram of tickets per call."""

    calls: np.ndarray
    paid: np.ndarray
    no_tickets: np.ndarray
    errors: np.ndarray
    failed: np.ndarray
    refreshes: np.ndarray
    lost: np.ndarray
    first_tickets: int
    tickets: np.ndarray
    credited: np.ndarray
    nonce_rejected: np.ndarray
    winners: np.ndarray
    first_winner_ns: np.ndarray  # -1: none
    stop_ns: np.ndarray  # -1: not stopped
    min_headroom: np.ndarray  # in 1/b wei; int64 max when no debit happened
    max_nonce: np.ndarray
    hist: np.ndarray = field(default_factory=lambda: np.zeros(MAX_TICKETS_PER_CALL + 2, _I64))
    scale: int = 1  # b: money arrays are in 1/b wei
    start_error: str | None = None

    @property
    def sessions(self) -> int:
        return len(self.calls)


def _exact_ev(m: Model) -> int:
    """The integer EV the batched path may use in place of the exact one (see the module docstring).

    With S = (integer part, a multiple of 1/b) + N·δ and 0 <= N·δ < 1/b: ``S >= fee`` and ``S >= EV`` agree with
    their integer forms, ``ceil((fee − S)/EV) = ceil((fee − S_int)/ev)``, and the orchestrator's ``balance < fee``
    agrees too. N is bounded by the tickets one run can sign: (horizon / interval + 1) x 100.
    """
    ev = m.terms.ev
    ev_int = int(ev)  # floor
    delta = ev - ev_int
    b = m.settings.price.denominator
    n_max = m.max_payments * MAX_TICKETS_PER_CALL + 1
    if ev_int <= 0 or delta < 0 or delta * b * n_max >= 1:
        raise NotBatchable(f"ticket EV {ev} is not an integer plus a tiny positive remainder")
    return ev_int


def simulate_batch(m: Model, d: Disturbances, rng: np.random.Generator, *, horizons: np.ndarray | None = None,
                   on_pay: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None = None
                   ) -> BatchResult:
    """All ``d.sessions`` sessions of model ``m`` under disturbances ``d``; ``rng`` draws the winners.

    ``horizons`` (int64 ns, one per session, each <= ``m.horizon_ns``) ends each session at its own time instead
    of ``m.horizon_ns`` (a fleet's sessions differ in length). ``on_pay(sessions, t_ns, credited, winners)`` is
    told of every payment the orchestrator credits (the preload at t = 0 included): which sessions, when, how
    many tickets it credited and how many of them won."""
    s, t = m.settings, m.terms
    R = d.sessions
    z = np.zeros(R, _I64)

    def empty(first: int = 0, error: str | None = None) -> BatchResult:
        return BatchResult(z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), first, z.copy(),
                           z.copy(), z.copy(), z.copy(), z - 1, z - 1, np.full(R, np.iinfo(_I64).max, _I64),
                           z.copy(), scale=s.price.denominator, start_error=error)

    if not t.ok:
        return empty(error=t.error)
    ev = _exact_ev(m)
    price = s.price
    b = price.denominator
    a = price.numerator  # b·fee = units·a
    bev = b * ev
    fixed = s.job_type == "fixed"
    p_win = float(Fraction(t.win_prob, MAX_WIN_PROB))
    bu0 = balance_update(m.preload_units * price, t.ev, Fraction(0))  # the preload, exact, from the core
    n0 = bu0.num_tickets
    if n0 > t.max_tickets:
        r = empty(error=(t.batch_error if n0 <= 100 else f"numTickets {n0} exceeds maximum of 100")
                  + " (the first payment)")
        return r
    # int64 headroom: after a paid call the signer's balance is below max(fee, EV) + EV, and the fee of one call
    # is at most the whole horizon's; the orchestrator's balance exceeds it by at most the preload.
    horizon_units = billable_units(s.job_type, m.horizon_ns / NS + s.interval_s + s.jitter_s, 0) if not fixed else 1
    worst = 4 * (bev * (MAX_TICKETS_PER_CALL + 2) + horizon_units * a + m.preload_units * a)
    if worst >= _LIMIT:
        raise NotBatchable("amounts could overflow int64")

    r = empty(first=n0)
    S = np.full(R, n0 * bev - m.preload_units * a, _I64)  # the signer's balance x b
    B = np.full(R, n0 * bev, _I64)  # the orchestrator's x b
    r.credited += n0
    w0 = rng.binomial(n0, p_win, R) if n0 else z.copy()
    r.winners += w0
    r.first_winner_ns[w0 > 0] = 0
    if on_pay is not None and n0:
        on_pay(np.arange(R), z.copy(), np.full(R, n0, _I64), w0)
    last_update = z.copy()
    reuse = s.reuse_params
    nonce = np.full(R, n0 if reuse else 0, _I64)
    o_nonces = nonce.copy()
    r.max_nonce[:] = n0
    params_block = z.copy()
    auth_at = z.copy()
    proc_last = np.zeros(R)
    ups = float(m.units_per_second)
    debit_s = s.debit_interval_s
    next_pay = z.copy()  # time of the last call; the next is drawn from the gaps
    k = np.zeros(R, _I64)  # calls made
    next_debit = np.full(R, m.debit_ns if not fixed else np.iinfo(_I64).max, _I64)
    alive = np.ones(R, bool)
    horizon = m.horizon_ns if horizons is None else np.asarray(horizons, _I64)
    K = d.gaps.shape[0]
    act = np.arange(R)  # sessions with events left; a session leaves for good once it has none
    maxn = t.max_tickets
    hist = r.hist
    jit = m.jitter_ns
    never = np.iinfo(_I64).max
    # Each round: every session with events left takes its next event if it is a debit, then its next event if
    # that is a payment (a session's own events stay in time order; sessions do not interact).
    while len(act):
        ka = k[act]
        cand = next_pay[act] + m.interval_ns + np.floor(d.gaps[np.minimum(ka + 1, K - 1), act] * jit).astype(_I64)
        cand = np.where((ka + 1) < K, cand, never)
        hz = horizon if horizons is None else horizon[act]
        al = alive[act]
        nd = next_debit[act]
        pay_due = al & (cand <= hz)  # once false, false for good: only a payment moves the next one
        deb_due = al & (nd <= hz)  # likewise: the debit clock only moves forward
        busy = pay_due | deb_due
        if not busy.all():
            act, cand, nd, pay_due, deb_due = act[busy], cand[busy], nd[busy], pay_due[busy], deb_due[busy]
            if horizons is not None:
                hz = hz[busy]
            if not len(act):
                break
        do_deb = deb_due & (~pay_due | (nd < cand))
        if do_deb.any():
            i = act[do_deb]
            now = next_debit[i] / 1e9
            last = proc_last[i]
            due = ~(now < last + debit_s)
            elapsed = now - last
            units = np.where(due, np.trunc(ups * elapsed), 0).astype(_I64)
            proc_last[i] = np.where(due, last + units / ups, last)
            fee = units * a
            short = due & (B[i] < fee)
            stop_i = i[short]
            r.stop_ns[stop_i] = next_debit[stop_i]
            alive[stop_i] = False
            ok = due & ~short
            oi = i[ok]
            B[oi] -= fee[ok]
            r.min_headroom[oi] = np.minimum(r.min_headroom[oi], B[oi])
            next_debit[i] += m.debit_ns
            nd = next_debit[act]
            pay_due &= alive[act]
            deb_due = nd <= hz  # (alive is in pay_due)
        do_pay = pay_due & ~(deb_due & (nd < cand))
        if do_pay.any():
            i = act[do_pay]
            t_pay = cand[do_pay]
            k[i] += 1
            ki = k[i]
            next_pay[i] = t_pay
            r.calls[i] += 1
            fl = d.failed[ki, i]
            r.failed[i[fl]] += 1
            i, t_pay, ki = i[~fl], t_pay[~fl], ki[~fl]
            # refresh, before billing (docs/refreshes.md#480-refresh-the-session)
            block = t_pay // m.block_ns
            refresh = ((t_pay - auth_at[i] > m.auth_refresh_ns) | (block - params_block[i] >= m.params_life_blocks))
            if m.nonce_refresh_at is not None:
                refresh |= nonce[i] >= m.nonce_refresh_at
            ri = i[refresh]
            r.refreshes[ri] += 1
            auth_at[ri] = t_pay[refresh]
            params_block[ri] = block[refresh]
            nonce[ri] = 0
            o_nonces[ri] = 0
            # billing (docs/remote-signer.md#billing-fee-tickets-balance)
            if fixed:
                bfee = np.full(len(i), a, _I64)
                existing = np.zeros(len(i), _I64)
            else:
                el = t_pay - last_update[i]
                secs = (el // NS).astype(np.float64) + (el % NS).astype(np.float64) / 1e9
                if s.job_type == "lv2v":
                    units = np.trunc(float(720) * float(1280) * float(30) * secs).astype(_I64)
                else:
                    units = np.ceil(secs).astype(_I64)
                bfee = units * a
                existing = S[i]
            mcred = np.maximum(bfee, bev)
            need = mcred - existing
            n = np.where(existing >= mcred, 0, (need + bev - 1) // bev)
            hist += np.bincount(np.minimum(n, MAX_TICKETS_PER_CALL + 1), minlength=MAX_TICKETS_PER_CALL + 2)
            zero = n == 0
            r.no_tickets[i[zero]] += 1
            over = n > maxn
            r.errors[i[over]] += 1
            ok = ~zero & ~over
            i, n, t_pay, ki, bfee, block = i[ok], n[ok], t_pay[ok], ki[ok], bfee[ok], block[ok]
            r.paid[i] += 1
            r.tickets[i] += n
            if not fixed:
                S[i] = S[i] + n * bev - bfee
                last_update[i] = t_pay
            nonce[i] += n
            r.max_nonce[i] = np.maximum(r.max_nonce[i], nonce[i])
            ls = d.lost[ki, i]
            r.lost[i[ls]] += 1
            dl = ~ls
            i, n, t_pay, block = i[dl], n[dl], t_pay[dl], block[dl]
            credited = np.minimum(n, np.maximum(0, MAX_SENDER_NONCES - o_nonces[i]))
            o_nonces[i] = np.minimum(MAX_SENDER_NONCES, o_nonces[i] + n)
            r.nonce_rejected[i] += n - credited
            r.credited[i] += credited
            if not fixed:
                B[i] += credited * bev
            w = rng.binomial(n, p_win)
            r.winners[i] += w
            first = (w > 0) & (r.first_winner_ns[i] < 0)
            r.first_winner_ns[i[first]] = t_pay[first]
            if on_pay is not None and len(i):
                on_pay(i, t_pay, credited, w)
            if not reuse:
                params_block[i] = block
                nonce[i] = 0
                o_nonces[i] = 0
    return r
