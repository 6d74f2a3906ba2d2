"""sim.wire.bounded: the one door for untrusted bytes. Run with the recursion limit web3/py_ecc leave behind
(100 000, as in `lpdev up --chain embedded`): a parser that reached CPython's recursive JSON scanner or PyYAML's
composer at 10^5 levels would kill this test process, not fail it politely."""
from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.wire import bounded
from sim.wire.bounded import BoundedInputError

DEEP = 100_000


@pytest.fixture(autouse=True)
def raised_recursion_limit():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(DEEP)  # what `import web3` / `import py_ecc` do
    yield
    sys.setrecursionlimit(old)


def err(fn, *a, **kw) -> str:
    with pytest.raises(BoundedInputError) as ei:
        fn(*a, **kw)
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------------ JSON
@pytest.mark.parametrize("doc", ["[" * DEEP, "[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP,
                                 "[{" * (DEEP // 2)])
def test_deep_json_is_refused_before_any_recursive_parser(doc):
    assert err(bounded.loads_json, doc.encode()) == "body: nested deeper than 64 levels"


def test_depth_limit_is_exact_and_brackets_inside_strings_do_not_count():
    assert bounded.loads_json("[" * 64 + "]" * 64) == json.loads("[" * 64 + "]" * 64)
    assert "nested deeper than 64" in err(bounded.loads_json, "[" * 65 + "]" * 65)
    s = json.dumps({"a": "[" * 1000 + "{" * 1000})
    assert bounded.loads_json(s) == json.loads(s)
    assert bounded.loads_json("[" * 200 + "]" * 200, max_depth=200)


def test_json_numbers_are_bounded_and_finite():
    assert bounded.loads_json(b'{"a": 115792089237316195423570985008687907853269984665640564039457584007913129639935}'
                              ) == {"a": 2**256 - 1}
    assert err(bounded.loads_json, b'{"a": ' + b"9" * 5000 + b"}") == "body: number with 5000 digits (at most 100)"
    assert "out of range" in err(bounded.loads_json, b"[1e400]")
    assert "out of range" in err(bounded.loads_json, b"[-1.5e99999999]")
    assert "out of range" in err(bounded.loads_json, b"[1e-999]", exact=True)
    for c in ("NaN", "Infinity", "-Infinity"):
        assert err(bounded.loads_json, f"[{c}]") == f"body: {c} is not a number JSON allows"
    assert bounded.loads_json(b"[0.1]", exact=True) == [Decimal("0.1")]
    assert bounded.loads_json(b"[1e-300]") == [1e-300]


def test_json_encodings():
    assert "UTF-16 text (byte order mark FF FE)" in err(bounded.loads_json, '{"a":1}'.encode("utf-16"))
    assert "UTF-16 text (NUL bytes" in err(bounded.loads_json, '{"a":1}'.encode("utf-16-le"))
    assert "UTF-32 text" in err(bounded.loads_json, '{"a":1}'.encode("utf-32"))
    assert err(bounded.loads_json, b'{"a":"\xff"}') == "body: not UTF-8 text (byte 0xff at offset 6)"
    assert err(bounded.loads_json, b'{"a":\x00}') == "body: binary data (NUL byte at offset 5)"
    assert "gzip-compressed data" in err(bounded.loads_json, b"\x1f\x8b\x08\x00\x00\x00\x00\x00")
    assert bounded.loads_json(b'\xef\xbb\xbf{"a":1}') == {"a": 1}  # a UTF-8 BOM is dropped
    assert bounded.loads_json(b'{"a":"\xff"}', replace_invalid=True) == {"a": "\ufffd"}  # Go's behaviour


def test_json_lone_surrogates_and_nul_escapes():
    assert err(bounded.loads_json, b'{"ManifestID":"\\ud800"}') == (
        "body: lone surrogate \\ud800 in a string at $.ManifestID (not valid Unicode)")
    assert "at $.a[1]" in err(bounded.loads_json, b'{"a":["x","\\udfff"]}')
    assert "(a key)" in err(bounded.loads_json, b'{"\\ud800":1}')
    assert bounded.loads_json(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001F600"}  # a pair is fine
    assert bounded.loads_json(b'{"app":"\\ud800x"}', replace_invalid=True) == {"app": "\ufffdx"}
    assert err(bounded.loads_json, b'{"a":"\\u0000"}') == "body: NUL character (\\u0000) in a string at $.a"
    assert bounded.loads_json(b'{"a":"\\\\u0000"}') == {"a": "\\u0000"}  # an escaped backslash, not a NUL


def test_check_json_first_value_leaves_what_follows_it_unchecked():
    for value in (b'{"a":"}[","b":[1,{}]}', b'[1,2]', b'"x\\"y"', b"123 ", b"null", b'\xef\xbb\xbf {"a":1}'):
        for tail in (b"\x00", b"[" * 100, b"9" * 200, b"\xff"):  # each refused: the value is returned
            text = bounded.check_json(value + tail, first_value=True)
            assert text.strip() == bounded.decode_text(value).strip(), (value, tail)
    data = b'{"a":1}'
    assert bounded.check_json(data + b"[[ ]]", first_value=True) == '{"a":1}[[ ]]'  # nothing to refuse: all of it
    assert "NUL byte" in err(bounded.check_json, data + b"\x00")  # without first_value: the whole data
    assert "nested deeper than 64" in err(bounded.check_json, b"[" * 65 + b"]" * 65 + b"\x00", first_value=True)
    assert "NUL byte" in err(bounded.check_json, b'{"a":1\x00', first_value=True)  # the value does not end
    assert "larger than 10 bytes" in err(bounded.check_json, data + b"\x00" * 10, first_value=True, max_bytes=10)
    assert bounded.check_json('{"a":1}\x00', first_value=True) == '{"a":1}'


def test_json_size_empty_syntax_and_where():
    assert "larger than 1048576 bytes (1048577 bytes)" in err(bounded.loads_json, b" " * ((1 << 20) + 1))
    assert "empty" in err(bounded.loads_json, b" " * (1 << 20))  # exactly the limit: read, then found empty
    assert err(bounded.loads_json, b"  ", what="--faults") == "--faults: empty (want a JSON value)"
    assert err(bounded.loads_json, b'{"a": 1,\n "b": }', what="f.json", line=1) == (
        "f.json:2: invalid JSON: Expecting value (column 7)")
    assert err(bounded.loads_json, b"{", what="body") == (
        "body: invalid JSON: Expecting property name enclosed in double quotes (column 2)")


def test_jsonl_lines_are_numbered_and_bounded():
    src = [b'{"a":1}\n', b"\n", b'{"b":\n', b'{"c":3}\n']
    it = bounded.iter_jsonl(src, what="t.jsonl")
    assert next(it) == (1, {"a": 1})
    assert str(pytest.raises(BoundedInputError, next, it).value).startswith("t.jsonl:3: invalid JSON")
    assert "t.jsonl:1: line longer than 10 bytes" == err(list, bounded.iter_jsonl([b'{"a":"0123456789"}\n'],
                                                                               what="t.jsonl", max_line_bytes=10))


class _Trickle:
    """A reply body that arrives in pieces: each ``read(n)`` returns at most what one write sent."""

    def __init__(self, *writes: bytes) -> None:
        self.writes = list(writes)
        self.asked: list[int] = []
        self.content = self

    async def read(self, n: int) -> bytes:
        self.asked.append(n)
        if not self.writes:
            return b""
        w = self.writes.pop(0)
        if len(w) > n:
            self.writes.insert(0, w[n:])
        return w[:n]


async def test_read_reply_reads_every_write_and_stops_past_the_limit():
    assert await bounded.read_reply(_Trickle(b'[{"a"', b':1}', b"]")) == b'[{"a":1}]'
    assert await bounded.read_reply(_Trickle()) == b""
    big = _Trickle(b"x" * 60, b"y" * 60, b"z" * 60)
    got = await bounded.read_reply(big, 100)
    assert got == b"x" * 60 + b"y" * 41 and big.writes == [b"y" * 19, b"z" * 60]  # limit + 1, no further
    exact = _Trickle(b"x" * 100)
    assert await bounded.read_reply(exact, 100) == b"x" * 100 and exact.asked[-1] == 1  # then sees the end


def test_jsonl_from_files_in_binary_and_text_mode():
    import io

    data = '{"a":1}\n\n{"b":2}'
    want = [(1, {"a": 1}), (3, {"b": 2})]
    assert list(bounded.iter_jsonl(io.BytesIO(data.encode()), what="t.jsonl")) == want
    assert list(bounded.iter_jsonl(io.StringIO(data), what="t.jsonl")) == want  # ends at "", not only at b""
    assert "t.jsonl:1: line longer than 10 bytes" == err(list, bounded.iter_jsonl(
        io.StringIO('{"a":"0123456789"}\n'), what="t.jsonl", max_line_bytes=10))


# everything but what is refused by design (NUL, lone surrogates, NaN/inf)
texts = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**50, max_value=10**50)
    | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_within_bounds_bounded_agrees_with_json_loads(value):
    doc = json.dumps(value, ensure_ascii=False)
    assert bounded.loads_json(doc.encode()) == json.loads(doc)
    assert bounded.loads_json(json.dumps(value).encode()) == json.loads(doc)


# ------------------------------------------------------------------------------------------------ YAML
def test_yaml_depth_numbers_aliases():
    assert err(bounded.loads_yaml, "a: " + "[" * DEEP, what="s.yaml") == "s.yaml:1: nested deeper than 64 levels"
    nested = "".join("  " * i + f"k{i}:\n" for i in range(100))
    assert err(bounded.loads_yaml, nested, what="s.yaml") == "s.yaml:65: nested deeper than 64 levels"
    assert err(bounded.loads_yaml, "a: 1\nb: .nan\n", what="s.yaml") == (
        "s.yaml:2: .nan is not a number lpdev accepts (NaN or infinity)")
    assert "s.yaml:1: " in err(bounded.loads_yaml, "x: -.inf", what="s.yaml")
    assert "s.yaml:1: number with 5000 digits" in err(bounded.loads_yaml, "x: " + "9" * 5000, what="s.yaml")
    assert "out of range" in err(bounded.loads_yaml, "x: 1.0e+400", what="s.yaml")
    assert bounded.loads_yaml("x: '1.0e+400'\ny: '.nan'", what="s.yaml") == {"x": "1.0e+400", "y": ".nan"}
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    assert "more than 100000 YAML nodes" in err(bounded.loads_yaml, laughs, what="s.yaml")
    deep_alias = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40
    assert "alias *a nests deeper than 64 levels" in err(bounded.loads_yaml, deep_alias, what="s.yaml")
    assert "invalid YAML" in err(bounded.loads_yaml, "a: !!python/object:os.system x", what="s.yaml")
    assert bounded.loads_yaml(b"a: &x [1, 2]\nb: *x\n", what="s.yaml") == {"a": [1, 2], "b": [1, 2]}


def test_yaml_custom_loader_gets_the_name():
    import yaml

    seen = {}

    class Loader(yaml.SafeLoader):
        def get_single_data(self):
            seen["name"] = self.name
            return super().get_single_data()

    assert bounded.loads_yaml("a: 1", what="scenarios/x.yaml", Loader=Loader) == {"a": 1}
    assert seen["name"] == "scenarios/x.yaml"


# ------------------------------------------------------------------------------------------------ TOML
def test_toml():
    assert err(bounded.loads_toml, "a = " + "[" * DEEP, what="l.toml") == "l.toml:1: nested deeper than 64 levels"
    assert err(bounded.loads_toml, "x = 1\na = nan", what="l.toml") == (
        "l.toml:2: nan is not a number lpdev accepts (NaN or infinity)")
    assert "l.toml:1: number with 5000 digits" in err(bounded.loads_toml, "a = " + "1" * 5000, what="l.toml")
    assert "integer with more than 100 digits" in err(bounded.loads_toml, "a = 0x" + "f" * 5000, what="l.toml")
    assert "out of range" in err(bounded.loads_toml, "a = 1e400", what="l.toml")
    assert "nested deeper than 64 levels" in err(bounded.loads_toml, "a." * 100 + "b = 1", what="l.toml")
    assert err(bounded.loads_toml, "a = 1\nb = ", what="l.toml").startswith("l.toml:2: invalid TOML")
    assert bounded.loads_toml('a = "' + "1" * 500 + '"\n# ' + "[" * 100 + "\nb = 0.5", what="l.toml") == {
        "a": "1" * 500, "b": 0.5}


# ------------------------------------------------------------------------------------------------ files
def test_files(tmp_path):
    assert err(bounded.read_bytes, tmp_path) == f"{tmp_path}: is a directory, not a file"
    assert err(bounded.load_json_file, tmp_path / "nope.json") == f"{tmp_path / 'nope.json'}: no such file"
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 100)
    assert "larger than 10 bytes" in err(bounded.read_bytes, big, max_bytes=10)
    f = tmp_path / "c.toml"
    f.write_text("[gateway]\ninterval_s = inf\n")
    assert err(bounded.load_toml_file, f) == f"{f}:2: inf is not a number lpdev accepts (NaN or infinity)"


# ------------------------------------------------------------------------------------------------ numbers
def test_numbers_from_text():
    assert bounded.parse_int("1e18", what="x") == 10**18
    assert bounded.parse_int(" 0x1f ", what="x") == 31
    assert bounded.parse_int("1_000", what="x") == 1000
    assert "not an integer" in err(bounded.parse_int, "1.5", what="x")
    assert "not an integer" in err(bounded.parse_int, True, what="x")
    assert err(bounded.parse_int, "9" * 5000, what="--price") == "--price: integer with more than 100 digits"
    assert err(bounded.parse_int, "-1", what="--n", min=0) == "--n: '-1' is below the minimum 0"
    for bad in ("nan", "NaN", "inf", "-Infinity", float("nan"), float("inf"), Decimal("NaN")):
        assert "NaN or infinity" in err(bounded.parse_float, bad, what="--block-time")
    assert "out of range" in err(bounded.parse_fraction, "1e1000000", what="x")  # never builds 10**1000000
    assert "out of range" in err(bounded.parse_float, "1e400", what="x")
    assert bounded.parse_fraction("0.001", what="x") == Fraction(1, 1000)
    assert bounded.parse_fraction("3/7", what="x") == Fraction(3, 7)
    assert "divides by zero" in err(bounded.parse_fraction, "3/0", what="x")
    assert bounded.parse_float("2.5", what="x", min=0, max=10) == 2.5
    assert "above the maximum 10" in err(bounded.parse_float, "11", what="x", max=10)
    assert math.isclose(bounded.parse_float(Fraction(1, 3), what="x"), 1 / 3)


def test_argtype_gives_argparse_usage_errors(capsys):
    import argparse

    p = argparse.ArgumentParser(prog="t")
    p.add_argument("--block-time", type=bounded.argtype(bounded.parse_float, min=0))
    assert p.parse_args(["--block-time", "0.5"]).block_time == 0.5
    with pytest.raises(SystemExit) as ei:
        p.parse_args(["--block-time", "nan"])
    assert ei.value.code == 2
    assert "argument --block-time: nan is not a number lpdev accepts (NaN or infinity)" in capsys.readouterr().err
