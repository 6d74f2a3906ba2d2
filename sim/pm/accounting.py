"""Money flows on both sides, exact (docs/remote-signer.md#billing-fee-tickets-balance,
docs/orchestrator.md#credit-and-debit).

* the signer's billing: billable units per job type, fee at the initial price, ticket count and balance;
* request / webhook ``maxPrice`` parsing;
* the orchestrator's live debit over time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from sim.pm.money import RatParseError, float_string, parse_rat

__all__ = [
    "LV2V_PIXELS_PER_SECOND", "LV2V_PRELOAD_S", "LIVE_PRELOAD_S", "MAX_TICKETS_PER_CALL", "JOB_TYPES",
    "BillingError", "billable_units", "stage_update", "BalanceUpdate", "balance_update", "MaxPriceError",
    "parse_max_price", "UNIT_FOR_TYPE", "LivePaymentProcessor", "insufficient_balance_message",
]

LV2V_PIXELS_PER_SECOND = 1280 * 720 * 30  # 27 648 000
LV2V_PRELOAD_S = 60
LIVE_PRELOAD_S = 10
MAX_TICKETS_PER_CALL = 100
JOB_TYPES = ("", "live", "lv2v", "fixed")
UNIT_FOR_TYPE = {"live": "seconds", "lv2v": "720p-pixel-seconds", "fixed": "fixed"}


class BillingError(Exception):
    """A 400 from the signer's billing step; ``str(e)`` is Go's message."""


def billable_units(job_type: str, billable_secs: float, in_pixels: int) -> int:
    """Billable units (docs/remote-signer.md#billing-fee-tickets-balance). ``billable_secs`` is ``now − LastUpdate`` in
    seconds (0 for a new state).

    Go computes this with float64 (``Duration.Seconds()``); lpdev does the same so units match.
    """
    if job_type == "lv2v":
        secs = billable_secs if billable_secs > 0 else float(LV2V_PRELOAD_S)
        units = int(float(720) * float(1280) * float(30) * secs)
    elif job_type == "live":
        secs = billable_secs if billable_secs > 0 else float(LIVE_PRELOAD_S)
        units = math.ceil(secs)
    elif job_type == "fixed":
        units = 1
    elif job_type == "":
        units = int(in_pixels)
    else:
        raise BillingError("invalid job type")
    if units <= 0:
        raise BillingError("missing billable unit or job type")
    return units


def stage_update(existing: Fraction, min_credit: Fraction, ev: Fraction) -> tuple[int, Fraction]:
    """``Balance.StageUpdate``: tickets needed to cover ``min_credit`` over ``existing``."""
    if existing >= min_credit or ev <= 0:
        return 0, Fraction(0)
    n = math.ceil((Fraction(min_credit) - Fraction(existing)) / Fraction(ev))
    return n, n * Fraction(ev)


@dataclass(frozen=True)
class BalanceUpdate:
    fee: Fraction
    ev: Fraction
    existing: Fraction
    num_tickets: int
    new_credit: Fraction

    @property
    def balance_after(self) -> Fraction:
        return self.existing + self.new_credit - self.fee


def balance_update(fee: Fraction, ev: Fraction, existing: Fraction) -> BalanceUpdate:
    """docs/remote-signer.md#billing-fee-tickets-balance: ``minCredit = max(fee, ev)``; tickets = ceil((minCredit −
    existing) / ev)."""
    fee, ev, existing = Fraction(fee), Fraction(ev), Fraction(existing)
    min_credit = max(fee, ev)
    n, credit = stage_update(existing, min_credit, ev)
    return BalanceUpdate(fee=fee, ev=ev, existing=existing, num_tickets=n, new_credit=credit)


class MaxPriceError(Exception):
    pass


def parse_max_price(obj: dict, job_type: str) -> Fraction:
    """docs/remote-signer.md#price-ceilings: a ``{"price", "currency", "unit"}`` object to an exact rational ceiling."""
    if not isinstance(obj, dict):
        raise MaxPriceError("maxPrice.price must be a positive decimal")
    price = _get_ci(obj, "price")
    try:
        if isinstance(price, bool) or price is None:
            raise RatParseError("missing")
        value = parse_rat(str(price)) if not isinstance(price, (int, Fraction)) else Fraction(price)
    except RatParseError:
        raise MaxPriceError("maxPrice.price must be a positive decimal") from None
    if value <= 0:
        raise MaxPriceError("maxPrice.price must be a positive decimal")
    currency = _get_ci(obj, "currency")
    if not isinstance(currency, str) or currency.strip().lower() != "wei":
        raise MaxPriceError("maxPrice.currency must be wei")
    if job_type not in UNIT_FOR_TYPE:
        raise MaxPriceError("maxPrice requires payment type live, lv2v, or fixed")
    unit = _get_ci(obj, "unit")
    want = UNIT_FOR_TYPE[job_type]
    if not isinstance(unit, str) or unit.strip().lower() != want:
        raise MaxPriceError(f"maxPrice.unit must be {want} for payment type {job_type}")
    return value


def _get_ci(obj: dict, key: str):
    """Go's case-insensitive JSON field match: exact key preferred, else any case."""
    if key in obj:
        return obj[key]
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == key.lower():
            return v
    return None


def insufficient_balance_message(manifest_id: str, fee: Fraction, balance: Fraction | None) -> str:
    bal = "nil" if balance is None else float_string(balance, 0)
    return f"insufficient balance, mid={manifest_id}, fee={float_string(fee, 0)}, balance={bal}"


class LivePaymentProcessor:
    """docs/orchestrator.md#credit-and-debit: debit ``units_per_second`` × elapsed time every ``interval_s``, carrying
    fractions over.

    Times are seconds as ``Fraction`` or ``float`` from the caller's clock (sans-IO).
    """

    def __init__(self, *, interval_s: float, units_per_second: int, start: float) -> None:
        self.interval_s = interval_s
        self.units_per_second = units_per_second
        self.last_processed_at = start

    def process(self, now: float) -> int | None:
        """Units to debit now, or None if the interval has not elapsed. Advances the clock either way."""
        if now < self.last_processed_at + self.interval_s:
            return None
        elapsed = now - self.last_processed_at
        units = int(self.units_per_second * elapsed)
        self.last_processed_at += units / self.units_per_second
        return units
