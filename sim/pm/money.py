"""Exact money: Go ``big.Rat`` formatting and parsing over ``fractions.Fraction`` (protocol.md §0).

Wei and prices are ``int`` or ``Fraction``; floats never touch money.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["rat_string", "float_string", "parse_rat", "RatParseError"]


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
