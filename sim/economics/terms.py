"""The ticket terms a setting produces, through the real code: the orchestrator's face value, win prob and EV
(``sim.pm.params.TicketParams.issue`` with its ``maxFloat`` from ``sim.orchestrator.chainwatch``), and what the
signer accepts (``sim.pm.sender.validate_ticket_params`` for 1..100 tickets).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sim.economics.settings import Settings
from sim.orchestrator.chainwatch import ChainWatch
from sim.pm.accounting import MAX_TICKETS_PER_CALL
from sim.pm.params import InsufficientSenderReserve, RecipientConfig, TicketParams
from sim.pm.sender import SenderInfo, TicketParamsError, validate_ticket_params
from sim.pm.ticket import MAX_WIN_PROB

__all__ = ["TicketTerms", "ticket_terms", "SENDER", "RECIPIENT"]

SENDER = bytes.fromhex("11" * 20)  # made-up addresses: only their roles matter here
RECIPIENT = bytes.fromhex("22" * 20)
_BLOCK = 1_000_000
_ROUND = 100
_ROUND_HASH = b"\x33" * 32


class _Chain:
    """The few chain reads ChainWatch makes, answered from the settings."""

    def __init__(self, s: Settings) -> None:
        self.s = s

    def last_block(self) -> int:
        return _BLOCK

    def gas_price(self) -> int:
        return self.s.gas_price

    def current_round(self) -> int:
        return _ROUND

    def last_initialized_round(self) -> int:
        return _ROUND

    def block_hash_for_round(self, r: int) -> bytes:
        return _ROUND_HASH

    def transcoder_pool_size(self) -> int:
        return self.s.orchestrators

    def is_active_transcoder(self, addr: bytes) -> bool:
        return True

    def sender_info(self, sender: bytes) -> SenderInfo:
        return SenderInfo(deposit=self.s.deposit, reserve=self.s.reserve)

    def claimed_reserve(self, holder: bytes, claimant: bytes) -> int:
        return 0


@dataclass(frozen=True)
class TicketTerms:
    face_value: int
    win_prob: int
    ev: Fraction  # exact: faceValue x winProb / (2^256 - 1)
    max_float: int  # the sender's reserve share for this orchestrator (caps the face value)
    face_value_reason: str
    params: TicketParams | None
    recipient_rand: int
    error: str | None  # the orchestrator refuses (GetOrchestrator fails) or the signer refuses every call (400)
    max_tickets: int  # largest ticket count one call may carry (0 when every call fails)
    batch_error: str | None  # why max_tickets + 1 tickets are refused

    @property
    def p_win(self) -> Fraction:
        return Fraction(self.win_prob, MAX_WIN_PROB)

    @property
    def ok(self) -> bool:
        return self.error is None


def ticket_terms(s: Settings, *, seed: int = 1) -> TicketTerms:
    chain = _Chain(s)
    watch = ChainWatch(chain, RECIPIENT)
    watch.refresh()
    max_float = watch.max_float(SENDER)
    cfg = RecipientConfig(ev=s.ticket_ev, redeem_gas=s.redeem_gas, tx_cost_multiplier=s.tx_cost_multiplier,
                          max_face_value=s.max_face_value)
    tx_cost = s.redeem_gas * s.gas_price
    reason = _face_value_reason(s, tx_cost, max_float)
    try:
        params, rand = TicketParams.issue(
            secret=seed.to_bytes(32, "big"), cfg=cfg, recipient=RECIPIENT, sender=SENDER, price=s.price,
            gas_price=s.gas_price, max_float=max_float, seed=seed, last_block=_BLOCK, creation_round=_ROUND,
            creation_round_block_hash=_ROUND_HASH)
    except InsufficientSenderReserve as exc:
        return TicketTerms(0, 0, Fraction(0), max_float, reason, None, 0,
                           f"the orchestrator refuses to quote ({exc}): its face value would be "
                           f"{min(max_float, max(tx_cost * s.tx_cost_multiplier, s.ticket_ev))} wei, below the "
                           f"ticket EV or the redemption cost", 0, None)
    info = SenderInfo(deposit=s.deposit, reserve=s.reserve)

    def check(n: int) -> str | None:
        try:
            validate_ticket_params(params, n, last_block=_BLOCK, limits=s.limits, sender_info=info,
                                   last_initialized_round=_ROUND)
        except TicketParamsError as exc:
            return str(exc)
        return None

    error = check(1)
    max_n, batch_error = 0, error
    if error is None:
        max_n = MAX_TICKETS_PER_CALL
        batch_error = f"numTickets {MAX_TICKETS_PER_CALL + 1} exceeds maximum of {MAX_TICKETS_PER_CALL}"
        for n in range(2, MAX_TICKETS_PER_CALL + 1):  # the EV limits are monotone in n: the first failure bounds
            e = check(n)
            if e is not None:
                max_n, batch_error = n - 1, e
                break
        error_text = None
    else:
        error_text = f"the signer refuses these ticket params: {error}"
    return TicketTerms(params.face_value, params.win_prob, params.ev, max_float, reason, params, rand, error_text,
                       max_n, batch_error)


def _face_value_reason(s: Settings, tx_cost: int, max_float: int) -> str:
    """Which rule (docs/tickets.md#expected-value-face-value-and-win-probability) set the face value (for the report;
    the value itself comes from the core)."""
    fv = tx_cost * s.tx_cost_multiplier
    why = f"{s.tx_cost_multiplier} x redemption estimate ({s.redeem_gas} gas x {s.gas_price} wei)"
    if fv < s.ticket_ev:
        fv, why = s.ticket_ev * 100, "100 x ticket EV (the redemption estimate is below the EV)"
    if max_float < fv:
        fv, why = max_float, (f"capped by the sender's reserve share: reserve {s.reserve} / {s.orchestrators} "
                              "orchestrators (maxFloat)")
    if s.max_face_value and s.max_face_value < fv:
        why = "capped by -maxFaceValue"
    return why
