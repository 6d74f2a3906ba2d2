"""Exact money: Go ``big.Rat`` formatting and parsing over ``fractions.Fraction`` (docs/README.md: conventions).

Wei and prices are ``int`` or ``Fraction``; floats never touch money.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from sim.wire.bounded import BoundedInputError, parse_fraction

__all__ = ["rat_string", "float_string", "parse_rat", "RatParseError", "format_wei", "parse_amount", "parse_wei",
           "MAX_WEI", "WEI_PER_ETH", "WEI_PER_GWEI"]

WEI_PER_ETH = 10**18
WEI_PER_GWEI = 10**9


class RatParseError(ValueError):
    pass


def rat_string(x: Fraction | int) -> str:
    """Go ``Rat.RatString``: ``"a/b"``, or ``"a"`` when the reduced denominator is 1."""
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    return f"{x.numerator}/{x.denominator}"


def float_string(x: Fraction | int, prec: int) -> str:
    """Go ``Rat.FloatString(prec)``: ``prec`` decimals, the last one rounded half away from zero."""
    x = Fraction(x)
    neg = x < 0
    a = abs(x)
    scale = 10**prec
    q, r = divmod(a.numerator * scale, a.denominator)
    if 2 * r >= a.denominator:
        q += 1
    whole, frac = divmod(q, scale)
    s = str(whole)
    if prec > 0:
        s += "." + str(frac).rjust(prec, "0")
    if neg and q != 0:
        s = "-" + s
    elif neg and q == 0:
        # Go prints "-0.000" for small negatives: the sign comes from x, not from the rounded value.
        s = "-" + s
    return s


_RAT_FRACTION = re.compile(r"^([+-]?\d+)/(\d+)$")


def parse_rat(text: str) -> Fraction:
    """Go ``Rat.SetString``: ``"a/b"``, integers, decimals and exponents (``"101.2"`` -> 506/5)."""
    s = text.strip() if isinstance(text, str) else text
    if not isinstance(s, str) or not s:
        raise RatParseError(f"cannot parse {text!r} as a rational number")
    m = _RAT_FRACTION.match(s)
    if m:
        den = int(m.group(2))
        if den == 0:
            raise RatParseError(f"cannot parse {text!r} as a rational number: zero denominator")
        return Fraction(int(m.group(1)), den)
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise RatParseError(f"cannot parse {text!r} as a rational number")
    try:
        return Fraction(Decimal(s))
    except (InvalidOperation, ValueError) as exc:  # pragma: no cover - regex already filters
        raise RatParseError(f"cannot parse {text!r} as a rational number") from exc


_WEI_UNITS = {"wei": 1, "gwei": 10**9, "eth": 10**18, "ether": 10**18}
# a number (digits, a point, an exponent: 1e13, 2.5e11, 1e-3) then an optional unit; the number itself is read by
# the bounded parser (sim.wire.bounded.parse_fraction: at most 100 digits, a bounded exponent)
_AMOUNT = re.compile(r"\s*([0-9._]*(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*")
_AMOUNT_HINT = "use wei (100, 1e13, 2.5e11), or a unit: 1.5eth, 20gwei"

# The most wei an amount typed by a person may be: 10^30 wei = 10^12 ETH, some ten thousand times all the ether
# there is. Far above any deposit, price or ticket EV, and small enough for any arithmetic on it to stay quick.
MAX_WEI = 10**30


def _shown(text) -> str:
    return repr(text) if isinstance(text, str) and len(text) <= 40 else f"a value of {len(str(text))} characters"


def _limit_text(limit: int) -> str:
    s = str(limit)
    if limit >= 10**6 and s == "1" + "0" * (len(s) - 1):
        return f"10^{len(s) - 1} wei ({format_wei(limit)})"
    return f"{limit} wei"


def parse_amount(text: str, *, max_wei: int | None = MAX_WEI) -> Fraction:
    """An exact amount of wei from text: ``"100"``, ``"1e13"``, ``"2.5e11"``, ``"1.5eth"``, ``"20 gwei"``,
    ``"1e-3 eth"`` (no float). Digits and exponent are bounded (``sim.wire.bounded``), so a huge exponent is refused
    at once instead of being expanded; negative amounts are refused, and so is more than ``max_wei`` (default
    :data:`MAX_WEI`; None: no limit beyond the bounded digits). ValueError: one line naming the problem."""
    m = _AMOUNT.fullmatch(text) if isinstance(text, str) and len(text) <= 200 else None
    if not m or not any(c.isdigit() for c in m.group(1)):
        raise ValueError(f"bad amount {_shown(text)}: {_AMOUNT_HINT}")
    unit = (m.group(2) or "wei").lower()
    if unit not in _WEI_UNITS:
        raise ValueError(f"bad unit {m.group(2)!r} in {text!r}: use wei, gwei or eth")
    try:
        value = parse_fraction(m.group(1), what="amount") * _WEI_UNITS[unit]
    except BoundedInputError as exc:
        if "is not a number" in exc.problem:
            raise ValueError(f"bad amount {_shown(text)}: {_AMOUNT_HINT}") from None
        raise ValueError(f"bad amount: {exc.problem}") from None
    if max_wei is not None and value > max_wei:
        raise ValueError(f"amount {_shown(text)} is more than {_limit_text(max_wei)}, the most lpdev accepts")
    return value


def parse_wei(text: str, *, max_wei: int | None = None) -> int:
    """``"100"`` (wei), ``"1e13"``, ``"1.5eth"``, ``"20 gwei"`` -> whole wei, exactly (no float), through
    :func:`parse_amount`'s bounds; ValueError names the problem. ``max_wei``: refuse more (default: no limit
    beyond 100 digits; callers check their own range, e.g. a uint256)."""
    value = parse_amount(text, max_wei=max_wei)
    if value.denominator != 1:
        raise ValueError(f"{text!r} is not a whole number of wei")
    return int(value)


def _as_wei(wei) -> Fraction:
    if isinstance(wei, bool) or isinstance(wei, float):
        raise TypeError(f"money is an int, a Fraction or a rational string, not {type(wei).__name__}")
    if isinstance(wei, str):
        return parse_rat(wei)
    return Fraction(wei)


def _group(whole: str) -> str:
    return f"{int(whole):,}"


def format_wei(wei, *, digits: int = 4) -> str:
    """A wei amount for people to read: ``"0.001 ETH"``, ``"20 gwei"``, ``"17 wei"``, ``"≈0.02844 ETH"``.

    The unit follows the size: ETH from 0.0001 ETH (10^14 wei) up, gwei from 1 gwei, wei below. About
    ``digits`` significant digits (a whole part is never rounded away: ``"≈12,346 ETH"``, ``"≈17,142,857 wei"``),
    trailing zeros dropped, thousands grouped, and ``≈`` in front whenever the text is not the exact value —
    the exact value (``rat_string``) is what ``--json`` and the TUI's exact view show. Takes ints, Fractions and
    rational strings (``"125/7"``, go-livepeer's RatString); rounding is exact (no float)."""
    x = _as_wei(wei)
    if x == 0:
        return "0 ETH"
    a = abs(x)
    if a >= 10**14:
        unit, scale = "ETH", WEI_PER_ETH
    elif a >= WEI_PER_GWEI:
        unit, scale = "gwei", WEI_PER_GWEI
    else:
        unit, scale = "wei", 1
    v = a / scale
    if v >= 1:
        decimals = max(0, digits - len(str(int(v))))
    else:
        lead = 0  # zeros right after the decimal point
        while v * 10 ** (lead + 1) < 1:
            lead += 1
        decimals = lead + digits
    text = float_string(v, decimals)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    whole, dot, frac = text.partition(".")
    shown = _group(whole) + dot + frac
    exact = Fraction(text) == v
    return f"{'' if exact else '≈'}{'-' if x < 0 else ''}{shown} {unit}"
