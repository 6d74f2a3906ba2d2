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


# ---- parse_amount / parse_wei: the one bounded parser for amounts people type ---------------------------------
@pytest.mark.parametrize("text, wei", [
    ("100", 100), ("1e13", 10**13), ("2.5e11", 25 * 10**10), ("1.5eth", 15 * 10**17), ("20 gwei", 20 * 10**9),
    ("1e-3 eth", 10**15), ("1E+13", 10**13), ("1_000", 1000), (" 7 wei ", 7), ("1e30", 10**30),
])
def test_parse_amount_reads_exponents_and_units(text, wei):
    from sim.pm.money import parse_amount, parse_wei

    assert parse_amount(text) == wei and parse_wei(text) == wei


@pytest.mark.parametrize("text, message", [
    ("1e100000000", "bad amount: '1e100000000' is out of range"),   # refused at once, never expanded
    ("1e400", "bad amount: '1e400' is out of range (more than 100 digits)"),
    ("9" * 150, "bad amount: number with 150 digits (at most 100)"),
    ("1e31", "amount '1e31' is more than 10^30 wei (1,000,000,000,000 ETH), the most lpdev accepts"),
    ("1e13eth", "is more than 10^30 wei"),
    ("abc", "bad amount 'abc': use wei (100, 1e13, 2.5e11)"),
    ("-5", "bad amount '-5'"),
    ("nan", "bad amount 'nan'"),
    ("1.5 btc", "bad unit 'btc' in '1.5 btc'"),
    ("1" * 300, "bad amount a value of 300 characters"),
])
def test_parse_amount_refuses_with_one_line(text, message):
    import time

    from sim.pm.money import parse_amount

    t0 = time.perf_counter()
    with pytest.raises(ValueError) as ei:
        parse_amount(text)
    assert time.perf_counter() - t0 < 1.0  # bounded: no huge power of ten is ever built
    assert message in str(ei.value) and "\n" not in str(ei.value)


def test_parse_wei_is_whole_and_unlimited_unless_asked():
    from sim.pm.money import parse_wei

    with pytest.raises(ValueError, match="not a whole number of wei"):
        parse_wei("0.5")
    assert parse_wei("1e40") == 10**40  # the caller (a uint256 check) owns the range
    with pytest.raises(ValueError, match=r"more than 10\^30 wei"):
        parse_wei("1e40", max_wei=10**30)
