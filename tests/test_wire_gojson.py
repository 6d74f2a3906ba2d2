"""Go-compatible JSON helpers (docs/wire.md#json-the-go-way): base64 with Go's errors, RFC3339Nano,
case-insensitive last-wins keys, Go's syntax error texts and Go's encoder escaping."""
from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from sim.wire import gojson
from sim.wire.gojson import (
    Base64Error, GoJSONError, TimeParseError, b64decode, b64encode, format_rfc3339nano, get_ci, go_int,
    go_json_dumps, has_ci, loads, parse_rfc3339nano,
)


# ---- base64 ----------------------------------------------------------------------------------------
@given(st.binary(max_size=200))
def test_b64_round_trip(data):
    text = b64encode(data)
    assert text == base64.b64encode(data).decode()
    assert b64decode(text) == data


# Offsets worked out by hand from Go's decodeQuantum (encoding/base64).
@pytest.mark.parametrize("text,offset", [
    ("abc", 0),          # unpadded tail of 3: si - j = 3 - 3
    ("QQ", 0),           # unpadded tail of 2
    ("Q", 0),
    ("QQ=", 3),          # "==" expected, input ends
    ("QQ=x", 2),         # second pad char wrong
    ("Q===", 1),         # padding after one char
    ("====", 0),
    ("QU!D", 2),         # bad character
    ("QUJD-A==", 4),     # URL-safe alphabet is not standard
    ("QQ==QQ==", 4),     # data after padding
    ("QUJD QUJD", 4),    # spaces are not skipped
])
def test_b64_errors_match_go(text, offset):
    with pytest.raises(Base64Error) as ei:
        b64decode(text)
    assert str(ei.value) == f"illegal base64 data at input byte {offset}"
    assert ei.value.offset == offset


def test_b64_go_leniencies():
    assert b64decode("QUJD\r\nREVG") == b"ABCDEF"  # Go skips CR/LF
    assert b64decode("QR==") == b"A"  # StdEncoding is not Strict(): non-zero trailing bits accepted
    assert b64decode("") == b""


# ---- RFC 3339 --------------------------------------------------------------------------------------
def test_rfc3339nano_examples():
    ns = 1_787_086_040_123_456_789
    assert format_rfc3339nano(ns) == "2026-08-18T20:47:20.123456789Z"
    assert format_rfc3339nano(1_787_086_040_100_000_000) == "2026-08-18T20:47:20.1Z"
    assert format_rfc3339nano(1_787_086_040_000_000_000) == "2026-08-18T20:47:20Z"
    assert format_rfc3339nano(ns, 7200) == "2026-08-18T22:47:20.123456789+02:00"
    assert format_rfc3339nano(ns, dt.timezone(dt.timedelta(hours=-5, minutes=-30))) == \
        "2026-08-18T15:17:20.123456789-05:30"
    assert format_rfc3339nano(-62_135_596_800 * 10**9) == "0001-01-01T00:00:00Z"  # Go's zero time
    assert format_rfc3339nano(-1) == "1969-12-31T23:59:59.999999999Z"
    with pytest.raises(TimeParseError):
        format_rfc3339nano(-62_135_596_801 * 10**9)
    with pytest.raises(TimeParseError):
        format_rfc3339nano(0, 24 * 3600)


def test_rfc3339_parse():
    assert parse_rfc3339nano("2026-08-18T22:47:20.5+02:00") == (1_787_086_040_500_000_000, 7200)
    assert parse_rfc3339nano("2026-08-18T20:47:20.1234567891Z")[0] == 1_787_086_040_123_456_789  # truncated
    for bad in ["2026-08-18 20:47:20Z", "2026-08-18T20:47:20", "2026-02-30T00:00:00Z", "2026-08-18T24:00:00Z",
                "2026-08-18T20:47:20+2:00", "", "2026-08-18T20:47:20.Z", "2026-08-18T20:47:60Z"]:
        with pytest.raises(TimeParseError):
            parse_rfc3339nano(bad)


@given(st.integers(min_value=(-62_135_596_800 + 86400) * 10**9, max_value=253_402_300_799 * 10**9 + 999_999_999 - 86400 * 10**9),
       st.integers(min_value=-23 * 60, max_value=23 * 60))
def test_rfc3339nano_round_trip(ns, offset_minutes):
    off = offset_minutes * 60
    text = format_rfc3339nano(ns, off)
    assert parse_rfc3339nano(text) == (ns, off)
    frac = re.search(r"\.(\d+)", text)
    assert (frac is not None) == bool(ns % 10**9)
    if frac:
        assert not frac.group(1).endswith("0") and len(frac.group(1)) <= 9


# ---- decoding --------------------------------------------------------------------------------------
def test_case_insensitive_last_wins():
    obj = loads(b'{"a":1,"A":2,"a":3}')
    assert get_ci(obj, "A") == 3 and get_ci(obj, "a") == 3
    obj = loads(b'{"ManifestID":"x","manifestid":"y"}')
    assert get_ci(obj, "ManifestID") == "y"
    obj = loads(b'{"manifestId":"x"}')
    assert get_ci(obj, "ManifestID") == "x"
    assert get_ci(obj, "nope", 5) == 5 and not has_ci(obj, "nope")
    assert has_ci(loads(b'{"state":null}'), "State") and get_ci(loads(b'{"state":null}'), "State") is None
    assert get_ci(loads('{"\u212a":1}'), "k") == 1  # Kelvin sign folds to K, as in Go
    assert get_ci([1], "a") is None


@pytest.mark.parametrize("doc,msg", [
    ("{not-json", "invalid character 'n' looking for beginning of object key string"),
    ("[1 2]", "invalid character '2' after array element"),
    ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    ('{"a" 1}', "invalid character '1' after object key"),
    ("1 2", "invalid character '2' after top-level value"),
    ("", "unexpected end of JSON input"),
    ('{"a":', "unexpected end of JSON input"),
    ("tru", "unexpected end of JSON input"),
    ("trux", "invalid character 'x' in literal true (expecting 'e')"),
    ("NaN", "invalid character 'N' looking for beginning of value"),
    ("x", "invalid character 'x' looking for beginning of value"),
    ('"a\nb"', "invalid character '\\n' in string literal"),
    ('"\\q"', "invalid character 'q' in string escape code"),
])
def test_go_syntax_errors(doc, msg):
    with pytest.raises(GoJSONError) as ei:
        loads(doc)
    assert str(ei.value) == msg


def test_hostile_documents_fail_cleanly():
    huge = loads("[" + "9" * 5000 + "]")[0]
    assert huge == Decimal("9" * 5000)
    with pytest.raises(GoJSONError, match="cannot unmarshal number"):
        go_int(huge)
    with pytest.raises(GoJSONError, match="exceeded max depth"):
        loads("[" * 100_000 + "]" * 100_000)


def test_deep_nesting_is_refused_even_with_a_raised_recursion_limit():
    """Some libraries raise the interpreter's recursion limit; the C JSON scanner then overflows the C stack
    (a segfault seen in the full suite) unless the depth is checked first, as Go's 10 000 limit is."""
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    try:
        with pytest.raises(GoJSONError, match="exceeded max depth"):
            loads('{"a":' * 200_000 + "1" + "}" * 200_000)
        assert loads('["[[[[{{{", 1]') == ["[[[[{{{", 1]  # brackets inside strings don't count
    finally:
        sys.setrecursionlimit(old)


def test_decoder_semantics_first_value():
    assert loads('{"a":1} garbage', first_value=True) == {"a": 1}
    with pytest.raises(GoJSONError, match="^EOF$"):
        loads("  ", first_value=True)
    with pytest.raises(GoJSONError, match="^unexpected EOF$"):
        loads('{"a":', first_value=True)
    with pytest.raises(GoJSONError):
        loads('{"a":1} garbage')


def test_numbers_are_exact():
    obj = loads('{"i":12345678901234567890123,"f":1.5,"e":1e3}')
    assert obj["i"] == 12345678901234567890123
    assert obj["f"] == Decimal("1.5") and isinstance(obj["e"], Decimal)
    assert go_int(7) == 7 and go_int(None) is None
    for v, t in [(Decimal("1.5"), "int64"), (Decimal("1E+3"), "int64"), ("1", "int64"), (-1, "uint32"),
                 (2**63, "int64"), (True, "int64")]:
        with pytest.raises(GoJSONError, match="cannot unmarshal"):
            go_int(v, t, "X.Y")


# ---- encoding --------------------------------------------------------------------------------------
def test_go_escaping_and_order():
    out = go_json_dumps({"z": "<a&b>", "a": "\u2028\u2029", "c": "\x01\b\f\n\r\t\"\\", "ok": "é"})
    assert out == ('{"z":"\\u003ca\\u0026b\\u003e","a":"\\u2028\\u2029","c":"\\u0001\\b\\f\\n\\r\\t\\"\\\\",'
                   '"ok":"é"}').encode()
    assert go_json_dumps({"b": 1, "a": 2}, sort_keys=True) == b'{"a":2,"b":1}'
    assert go_json_dumps([None, True, False, b"\x00\x01", Fraction(125, 7), Fraction(4)]) == \
        b'[null,true,false,"AAE=","125/7","4"]'
    assert go_json_dumps({"a": 1}, newline=True) == b'{"a":1}\n'


@pytest.mark.parametrize("f,text", [(1.5, "1.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
                                    (1e-7, "1e-7"), (0.000001, "0.000001"), (123456789.0, "123456789"),
                                    (0.0, "0"), (-2.5e-10, "-2.5e-10"), (1.0e-100, "1e-100")])
def test_go_float_format(f, text):
    assert go_json_dumps(f) == text.encode()


@settings(max_examples=50)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                    max_leaves=15))
def test_dumps_then_loads_round_trip(value):
    assert loads(go_json_dumps(value)) == value


def test_money_reexports():
    from sim.pm import money

    assert gojson.rat_string is money.rat_string and gojson.float_string is money.float_string


def test_number_literals_and_go_quote():
    from sim.wire.gojson import go_quote, invalid_number_literal, is_number_literal

    assert all(map(is_number_literal, ("0", "-1", "1.5", "1e3", "1E+3", "-0.5e-7")))
    assert not any(map(is_number_literal, ("", "01", "1.", ".5", "+1", "1e", "0x10", " 1", "NaN")))
    assert str(invalid_number_literal("wat")) == 'json: invalid number literal, trying to unmarshal "\\"wat\\"" into Number'
    # %q keeps printable characters (JSON escaping would not), escapes the rest Go's way
    assert go_quote('a\nb\x01é<\u2028\U0001F600\x7f') == '"a\\nb\\x01é<\\u2028\U0001F600\\x7f"'
