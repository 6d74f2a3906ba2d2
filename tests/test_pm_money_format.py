"""`sim.pm.money.format_wei`: wei for people (ETH / gwei / wei, ~4 significant digits, ≈ when not exact)."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from sim.pm.money import format_wei


@pytest.mark.parametrize("wei, text", [
    (10**15, "0.001 ETH"),
    (20 * 10**9, "20 gwei"),
    (17, "17 wei"),
    (0, "0 ETH"),
    (10**18, "1 ETH"),
    (-(10**15), "-0.001 ETH"),
    (8 * 10**9, "8 gwei"),
    (28_224 * 10**9, "28,224 gwei"),
    (10**14, "0.0001 ETH"),
    (12_345_678 * 10**18, "12,345,678 ETH"),   # a whole part is never rounded away
    (Fraction(199065600000000000, 7), "≈0.02844 ETH"),  # the walkthrough's first fee
    (Fraction(120000000, 7), "≈17,142,857 wei"),
    (Fraction(1200, 7), "≈171.4 wei"),
    (Fraction(1, 2), "0.5 wei"),
    ("125/7", "≈17.86 wei"),                  # go-livepeer's RatString
    ("1000000000000000", "0.001 ETH"),
    (99983333333333327872, "≈99.98 ETH"),      # the plot axis value from issue 16
    (999_999_200_000_000_000, "≈1 ETH"),
])
def test_examples(wei, text):
    assert format_wei(wei) == text


def test_more_digits():
    assert format_wei(999_999_200_000_000_000, digits=8) == "0.9999992 ETH"
    assert format_wei(Fraction(199065600000000000, 7), digits=6) == "≈0.0284379 ETH"


@pytest.mark.parametrize("bad", [1.5, True, "abc", "1/0"])
def test_not_money(bad):
    with pytest.raises((TypeError, ValueError)):
        format_wei(bad)


_SCALE = {"ETH": 10**18, "gwei": 10**9, "wei": 1}


@given(st.one_of(st.integers(min_value=-(10**30), max_value=10**30),
                 st.fractions(max_denominator=10**9).filter(lambda f: abs(f) < 10**30)))
def test_close_to_the_value_and_says_when_not_exact(x):
    text = format_wei(x)
    approx = text.startswith("≈")
    number, unit = text.lstrip("≈").split(" ")
    shown = Fraction(number.replace(",", "")) * _SCALE[unit]
    assert approx == (shown != x)
    if x != 0:
        assert abs(shown - x) / abs(x) <= Fraction(1, 1000)  # 4 significant digits: within 0.05 % (+ rounding)
    # the unit follows the size
    a = abs(Fraction(x))
    assert unit == ("ETH" if a >= 10**14 or a == 0 else "gwei" if a >= 10**9 else "wei")
