"""The settings one economics question is asked about: orchestrator, payment cadence, signer limits, sender funds,
chain, and the Monte Carlo's disturbances. Amounts are exact (``int`` wei, ``Fraction``); times are seconds.

:func:`Settings.validate` refuses bad input with :class:`SettingsError`, whose message is one line naming the
parameter (as the CLI spells it: ``--ticket-ev``), so ``lpdev economics`` can exit 2 with it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction

from sim.economics.reference import ARBITRUM_MIN_GAS_PRICE, L1_BLOCK_TIME_S, ROUND_LENGTH_BLOCKS
from sim.pm.money import MAX_WEI
from sim.pm.params import ARBITRUM_REDEEM_GAS, DEFAULT_TX_COST_MULTIPLIER
from sim.pm.sender import SenderLimits

__all__ = ["Settings", "SettingsError", "PRESETS", "flag_of", "FIELDS", "JOB_TYPES", "DIALECTS", "check_number",
           "MONEY_FIELDS"]

JOB_TYPES = ("live", "lv2v", "fixed")
DIALECTS = ("0.9.1", "0.9.3")
ETHER = 10**18
_DEFAULT_LIMITS = SenderLimits()


class SettingsError(ValueError):
    """Bad or contradictory settings; ``str(e)`` is one line that names the parameter."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(f"{flag_of(name)}: {problem}")


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Settings:
    # -- the orchestrator (docs/tickets.md#expected-value-face-value-and-win-probability,
    # docs/orchestrator.md#credit-and-debit)
    price_per_unit: int = 55_000_000_000  # wei per unit (a second for live, a pixel for lv2v, a job for fixed)
    pixels_per_unit: int = 1
    ticket_ev: int = 150_000_000_000  # -ticketEV, wei
    max_face_value: int = 0  # -maxFaceValue, 0 = no cap
    gas_price: int = ARBITRUM_MIN_GAS_PRICE  # wei; the orchestrator's face value and the redemption cost use it
    redeem_gas: int = ARBITRUM_REDEEM_GAS  # the orchestrator's redemption estimate (face value = 100 x its cost)
    tx_cost_multiplier: int = DEFAULT_TX_COST_MULTIPLIER
    debit_interval_s: float = 5.0  # -livePaymentInterval on the orchestrator: how often it debits
    # -- the gateway and its signer (docs/remote-signer.md#billing-fee-tickets-balance)
    job_type: str = "live"
    interval_s: float = 5.0  # seconds between payments (the SDK's cadence)
    buffer_s: float = 0.0  # what the first payment prepays; 0 = the signer's own (10 s live, 60 s lv2v)
    max_ticket_ev: Fraction = _DEFAULT_LIMITS.max_ticket_ev
    max_total_ev: Fraction = _DEFAULT_LIMITS.max_total_ev
    deposit_multiplier: int = _DEFAULT_LIMITS.deposit_multiplier
    dialect: str = "0.9.3"  # 0.9.3 refreshes at nonce 500 (#4028); 0.9.1 does not
    reuse_params: bool = False  # True: the client keeps the first ticket params (SDK style) instead of each reply's
    # -- the sender's funds and the network
    deposit: int = 1 * ETHER
    reserve: int = 1 * ETHER
    sessions: int = 1  # concurrent sessions paid from this deposit
    orchestrators: int = 100  # active set size: the reserve is split between them (docs/chain.md#deposit-and-reserve)
    block_time_s: float = L1_BLOCK_TIME_S  # the block clock ticket params expire in (40 blocks)
    round_blocks: int = ROUND_LENGTH_BLOCKS
    # -- the Monte Carlo's world
    minutes: float = 30.0  # horizon T
    jitter_s: float = 1.0  # each payment comes up to this much later than interval_s after the previous one
    fail: float = 0.01  # probability a payment call fails before it is signed (retried at the next interval)
    loss: float = 0.0  # probability a signed payment never reaches the orchestrator

    # ------------------------------------------------------------------ derived
    @property
    def price(self) -> Fraction:
        return Fraction(self.price_per_unit, self.pixels_per_unit)

    @property
    def limits(self) -> SenderLimits:
        return SenderLimits(max_ticket_ev=Fraction(self.max_ticket_ev), max_total_ev=Fraction(self.max_total_ev),
                            deposit_multiplier=self.deposit_multiplier)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, Fraction):
                d[k] = str(v)
        return d

    def with_(self, **kw) -> "Settings":
        return replace(self, **kw)

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Settings":
        def num(name: str, **kw):
            check_number(name, getattr(self, name), **kw)

        for name in ("price_per_unit", "pixels_per_unit", "ticket_ev", "redeem_gas", "tx_cost_multiplier",
                     "deposit_multiplier", "sessions", "orchestrators", "round_blocks", "deposit"):
            num(name, integer=True, maximum=MAX_WEI)
        for name in ("max_face_value", "gas_price", "reserve"):
            num(name, integer=True, allow_zero=True, maximum=MAX_WEI)
        for name in ("max_ticket_ev", "max_total_ev"):
            num(name, maximum=MAX_WEI)
        for name in ("interval_s", "debit_interval_s", "block_time_s", "minutes"):
            num(name, maximum=10**7)
            if getattr(self, name) < 0.01:
                raise SettingsError(name, f"must be >= 0.01, got {getattr(self, name)}")
        num("buffer_s", allow_zero=True, maximum=3600)
        num("jitter_s", allow_zero=True, maximum=3600)
        for name in ("fail", "loss"):
            num(name, allow_zero=True, maximum=1)
            if getattr(self, name) == 1:
                raise SettingsError(name, "must be < 1 (with every payment failing nothing is paid)")
        if self.job_type not in JOB_TYPES:
            raise SettingsError("job_type", f"choose {', '.join(JOB_TYPES)}, got {self.job_type!r}")
        if self.dialect not in DIALECTS:
            raise SettingsError("dialect", f"choose {', '.join(DIALECTS)}, got {self.dialect!r}")
        if self.max_face_value and self.max_face_value <= self.ticket_ev:
            raise SettingsError("max_face_value", f"{self.max_face_value} must be > --ticket-ev {self.ticket_ev} "
                                "(the sender refuses EV >= face value), or 0 for no cap")
        if self.minutes * 60 / self.interval_s > 1_000_000:
            raise SettingsError("minutes", f"{self.minutes} min at one payment per {self.interval_s} s is more than "
                                "10^6 payments per session; shorten --minutes")
        if self.job_type != "fixed" and self.interval_s + self.jitter_s > self.minutes * 60:
            raise SettingsError("interval_s", f"{self.interval_s} s (+ jitter) is longer than --minutes {self.minutes}")
        return self


def check_number(name: str, v, *, positive: bool = True, allow_zero: bool = False, integer: bool = False,
                 maximum: float | None = None) -> None:
    """Refuse a setting ``name`` that is not a finite number in range, with one line naming its flag."""
    if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)):
        raise SettingsError(name, f"want a number, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise SettingsError(name, f"must be a finite number, got {v!r}")
    if integer and not isinstance(v, int):
        raise SettingsError(name, f"must be a whole number, got {v!r}")
    if v < 0 or (v == 0 and positive and not allow_zero):
        raise SettingsError(name, f"must be {'> 0' if positive and not allow_zero else '>= 0'}, got {_short(v)}")
    if maximum is not None and v > maximum:
        most = (("10^30 wei (10^12 ETH, the most lpdev accepts)" if name in MONEY_FIELDS else "10^30")
                if maximum == MAX_WEI else str(maximum))
        raise SettingsError(name, f"must be <= {most}, got {_short(v)}")


def _short(v) -> str:
    """A number for a one-line message; a huge one as a power of ten (``str`` of a 5000-digit int raises)."""
    if isinstance(v, (int, Fraction)) and not isinstance(v, bool) and abs(v) >= 10**15:
        f = Fraction(v)
        return f"~10^{math.log10(abs(f.numerator)) - math.log10(f.denominator):.4g}"
    return str(v)


FIELDS = {f.name: f for f in fields(Settings)}
# the settings that are amounts of wei (the others of their types are counts: gas, multipliers, sessions, blocks)
MONEY_FIELDS = frozenset(("price_per_unit", "ticket_ev", "max_face_value", "gas_price", "deposit", "reserve",
                          "max_ticket_ev", "max_total_ev"))

# Named starting points (flags override them). lpdev up's defaults are added by the CLI (the stack spec sits
# above this layer).
PRESETS: dict[str, Settings] = {
    # go-livepeer #4077: a live runner paid through the remote signer with ticket EV 1e13 wei (~2.5 cents; the
    # maintainer: "one every 3 minutes ... a 10-second live buffer"), i.e. ~5.5e10 wei per second of video. The
    # reporter's signer let that EV through (go-livepeer's default -maxTicketEV is 3e12).
    "go-livepeer-4077": Settings(job_type="live", price_per_unit=55_000_000_000, ticket_ev=10_000_000_000_000,
                                 max_ticket_ev=Fraction(10**14), max_total_ev=Fraction(10**15)),
}
