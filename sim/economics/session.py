"""One paid session, payment by payment and ticket by ticket, on the real PM rules (the per-ticket path).

Every money step is a call into the sans-IO core, exact: billable units (``accounting.billable_units``), fee at the
initial price, tickets and the signer's balance (``accounting.balance_update``), the orchestrator's live debit
(``accounting.LivePaymentProcessor``) and each ticket's win test (``ticket.is_winning_ticket``, over seeded
signature bytes and recipientRand). Time is integer nanoseconds; the signer's billable seconds are Go's
``Duration.Seconds()`` of the elapsed nanoseconds.

The world around the protocol is a small model (what the Monte Carlo varies):

* the gateway pays every ``interval_s`` plus up to ``jitter_s`` more (segment-driven cadence), from the first
  payment (the preload, at t = 0);
* a payment call fails before it is signed with probability ``fail`` (signer or network error: the state does
  not move, so the next call bills the time again — go-livepeer's "absorbed by the next retry");
* a signed payment is lost on its way to the orchestrator with probability ``loss`` (the signer's state has
  moved on, the orchestrator never credits it);
* the orchestrator debits every ``debit_interval_s`` from t = 0 and stops the session (``insufficient
  balance``) when its balance is below the fee due;
* the signer refreshes (480) when the auth token is in its last 180 s, when the params expire (40 blocks less
  the 1-block buffer) and, in the 0.9.3 dialect, when the carried nonce reaches 500; each /payment reply brings
  new params unless ``reuse_params`` (SDK style), and the orchestrator keeps at most 600 nonces per params.

:func:`schedule` is the same session without disturbances: the exact, deterministic payment sequence.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from sim.economics.reference import NONCE_REFRESH_AT
from sim.economics.settings import Settings
from sim.economics.terms import TicketTerms, ticket_terms
from sim.orchestrator.recipient import MAX_SENDER_NONCES
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, LivePaymentProcessor, balance_update, billable_units
from sim.pm.params import AUTH_TOKEN_VALIDITY_S, PARAMS_EXPIRATION_BLOCK
from sim.pm.sender import PARAMS_EXPIRY_BUFFER
from sim.pm.ticket import is_winning_ticket
from sim.signer.core import AUTH_TOKEN_REFRESH_MARGIN_S

__all__ = ["Model", "SessionResult", "simulate_session", "schedule", "go_seconds", "NS"]

NS = 1_000_000_000


def go_seconds(ns: int) -> float:
    """Go ``Duration.Seconds()``: whole seconds plus the nanosecond remainder / 1e9."""
    return float(ns // NS) + float(ns % NS) / 1e9


@dataclass(frozen=True)
class Model:
    """A session's settings compiled once: the terms from the core and every constant the paths share."""

    settings: Settings
    terms: TicketTerms
    units_per_second: int
    preload_units: int
    interval_ns: int
    jitter_ns: int
    debit_ns: int
    horizon_ns: int
    block_ns: int
    auth_refresh_ns: int  # the signer refreshes once the token is this old
    nonce_refresh_at: int | None

    @classmethod
    def of(cls, s: Settings, terms: TicketTerms | None = None) -> "Model":
        s.validate()
        terms = terms or ticket_terms(s)
        ups = LV2V_PIXELS_PER_SECOND if s.job_type == "lv2v" else 1
        preload = billable_units(s.job_type, float(s.buffer_s), 0)
        return cls(settings=s, terms=terms, units_per_second=ups, preload_units=preload,
                   interval_ns=round(s.interval_s * NS), jitter_ns=round(s.jitter_s * NS),
                   debit_ns=round(s.debit_interval_s * NS), horizon_ns=round(s.minutes * 60 * NS),
                   block_ns=round(s.block_time_s * NS),
                   auth_refresh_ns=round((AUTH_TOKEN_VALIDITY_S - AUTH_TOKEN_REFRESH_MARGIN_S) * NS),
                   nonce_refresh_at=NONCE_REFRESH_AT if s.dialect == "0.9.3" else None)

    @property
    def max_payments(self) -> int:
        """Payment calls that fit in the horizon (the preload included)."""
        return self.horizon_ns // self.interval_ns + 1

    @property
    def params_life_blocks(self) -> int:
        """Blocks after issue at which the signer refreshes expiring params (expiry − block ≤ buffer,
        docs/tickets.md#ticket-params)."""
        return PARAMS_EXPIRATION_BLOCK - PARAMS_EXPIRY_BUFFER


@dataclass
class SessionResult:
    calls: int = 0  # payment calls after the preload
    paid: int = 0  # calls that carried tickets (200)
    no_tickets: int = 0  # 482
    errors: int = 0  # 400/500 (too many tickets for one call, batch over the EV limits)
    failed: int = 0  # calls that failed before signing
    refreshes: int = 0  # 480s answered by a refresh
    lost: int = 0
    first_tickets: int = 0  # the preload's tickets (0: the session never started)
    tickets: int = 0  # signed after the preload
    credited: int = 0  # credited by the orchestrator (delivered, within its nonce set)
    nonce_rejected: int = 0
    winners: int = 0  # winning tickets the orchestrator received (preload included)
    first_winner_ns: int | None = None
    stop_ns: int | None = None  # insufficient balance at the orchestrator
    min_headroom: Fraction | None = None  # the orchestrator's lowest balance left after a debit (wei)
    start_error: str | None = None
    hist: Counter = field(default_factory=Counter)  # tickets per call after the preload -> calls (482 = 0)
    max_nonce: int = 0

    @property
    def stopped(self) -> bool:
        return self.stop_ns is not None or self.start_error is not None


def simulate_session(m: Model, *, gaps: list[float], failed: list[bool], lost: list[bool],
                     rng: random.Random | None, on_pay: Callable[[int, int, int], None] | None = None
                     ) -> SessionResult:
    """One session. ``gaps[k]`` in [0, 1) scales the jitter before call k (k >= 1), ``failed[k]`` fails call k,
    ``lost[k]`` loses its payment (index 0, the preload riding on the job request, is never disturbed); ``rng``
    draws signature bytes and
    recipientRands for the win test (None: no win tests, winners stay 0). ``on_pay(t_ns, credited, winners)`` is
    told of every payment the orchestrator credits (the preload at t = 0 included)."""
    s, t = m.settings, m.terms
    r = SessionResult()
    if not t.ok:
        r.start_error = t.error
        return r
    ev, price, wp = t.ev, s.price, t.win_prob
    fixed = s.job_type == "fixed"

    def win_count(n: int, rand: int) -> int:
        if rng is None:
            return 0
        return sum(1 for _ in range(n) if is_winning_ticket(rng.randbytes(65), rand, wp))

    def new_rand() -> int:
        return rng.getrandbits(256) if rng is not None else 0

    # the preload (t = 0)
    bu = balance_update(m.preload_units * price, ev, Fraction(0))
    if bu.num_tickets > t.max_tickets:
        r.start_error = (t.batch_error if bu.num_tickets <= 100 else
                         f"numTickets {bu.num_tickets} exceeds maximum of 100") + " (the first payment)"
        return r
    rand = new_rand()
    r.first_tickets = n0 = bu.num_tickets
    balance = bu.balance_after  # the signer's, carried in the state
    o_balance = n0 * ev  # the orchestrator's
    r.credited = n0
    w = win_count(n0, rand)
    r.winners = w
    if w:
        r.first_winner_ns = 0
    if on_pay is not None and n0:
        on_pay(0, n0, w)
    last_update = 0
    nonce = n0  # carried for the current params
    o_nonces = n0  # nonces the orchestrator holds for them
    params_block = 0
    auth_at = 0
    if not s.reuse_params:
        nonce = o_nonces = 0  # the job reply brought fresh params
        rand = new_rand()
    r.max_nonce = n0
    proc = LivePaymentProcessor(interval_s=s.debit_interval_s, units_per_second=m.units_per_second, start=0.0)

    def debit(at_ns: int) -> bool:
        """The orchestrator's debit tick (docs/orchestrator.md#credit-and-debit); False when it stops the session."""
        nonlocal o_balance
        units = proc.process(at_ns / 1e9)
        if units is None:
            return True
        fee = units * price
        if o_balance < fee:
            r.stop_ns = at_ns
            return False
        o_balance -= fee
        if r.min_headroom is None or o_balance < r.min_headroom:
            r.min_headroom = o_balance
        return True
    next_pay = 0
    next_debit = m.debit_ns
    k = 0
    while True:
        next_pay_candidate = next_pay + m.interval_ns + math.floor(gaps[k + 1] * m.jitter_ns) \
            if k + 1 < len(gaps) else None
        if next_pay_candidate is None:
            break
        pay_t = next_pay_candidate
        if not fixed:
            # debits due before (or with no payment at) this payment
            while next_debit < pay_t and next_debit <= m.horizon_ns:
                if not debit(next_debit):
                    return r
                next_debit += m.debit_ns
        if pay_t > m.horizon_ns:
            break
        k += 1
        next_pay = pay_t
        r.calls += 1
        if failed[k]:
            r.failed += 1
            continue
        # refresh before billing (docs/refreshes.md#480-refresh-the-session)
        block = pay_t // m.block_ns
        if (pay_t - auth_at > m.auth_refresh_ns or block - params_block >= m.params_life_blocks
                or (m.nonce_refresh_at is not None and nonce >= m.nonce_refresh_at)):
            r.refreshes += 1
            auth_at, params_block, nonce, o_nonces = pay_t, block, 0, 0
            rand = new_rand()
        if fixed:
            units, existing = 1, Fraction(0)
        else:
            units = billable_units(s.job_type, go_seconds(pay_t - last_update), 0)
            existing = balance
        bu = balance_update(units * price, ev, existing)
        n = bu.num_tickets
        r.hist[n] += 1
        if n == 0:
            r.no_tickets += 1
            continue
        if n > t.max_tickets:
            r.errors += 1
            continue
        r.paid += 1
        r.tickets += n
        if not fixed:
            balance, last_update = bu.balance_after, pay_t
        nonce += n
        r.max_nonce = max(r.max_nonce, nonce)
        if lost[k]:
            r.lost += 1
            continue
        credited = min(n, max(0, MAX_SENDER_NONCES - o_nonces))
        o_nonces = min(MAX_SENDER_NONCES, o_nonces + n)
        r.nonce_rejected += n - credited
        r.credited += credited
        if not fixed:
            o_balance += credited * ev
        w = win_count(n, rand)
        r.winners += w
        if w and r.first_winner_ns is None:
            r.first_winner_ns = pay_t
        if on_pay is not None:
            on_pay(pay_t, credited, w)
        if not s.reuse_params:  # the /payment reply's new params: new recipientRandHash, nonce from 0
            params_block, nonce, o_nonces = block, 0, 0
            rand = new_rand()
    if not fixed:  # debits up to the horizon
        while next_debit <= m.horizon_ns:
            if not debit(next_debit):
                return r
            next_debit += m.debit_ns
    return r


def schedule(m: Model, *, calls: int | None = None, lose: int | None = None,
             on_pay: Callable[[int, int, int], None] | None = None) -> SessionResult:
    """The undisturbed session: payments exactly every ``interval_s``, none lost (but call ``lose``, when given),
    no win draws (winners 0). Exact and deterministic: the ticket count of every call comes straight from the
    core."""
    k = m.max_payments if calls is None else calls + 1
    lost = [False] * k
    if lose is not None and 0 < lose < k:
        lost[lose] = True
    return simulate_session(m, gaps=[0.0] * k, failed=[False] * k, lost=lost, rng=None, on_pay=on_pay)
