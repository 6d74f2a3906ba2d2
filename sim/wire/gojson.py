"""Go-compatible JSON pieces (docs/wire.md#json-the-go-way).

go-livepeer's remote signer speaks JSON through Go's ``encoding/json``; to be byte- and behaviour-compatible
we need its quirks:

* decoding matches object keys to struct fields **case-insensitively**, and every key that addresses the
  same field overwrites it, so the **last** one in the document wins (:func:`loads` + :func:`get_ci`);
* ``[]byte`` is **standard base64 with padding**; decode errors read ``illegal base64 data at input byte N``
  (:func:`b64encode`, :func:`b64decode`);
* ``time.Time`` is RFC 3339 with nanoseconds, trailing fractional zeros trimmed, ``Z`` for UTC
  (:func:`format_rfc3339nano`, :func:`parse_rfc3339nano`);
* encoding escapes ``< > &`` and U+2028/U+2029, keeps struct field order and adds no spaces
  (:func:`go_json_dumps`).

Money formatting (``RatString``/``FloatString``) lives in :mod:`sim.pm.money` and is re-exported here.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sim.pm.money import float_string, parse_rat, rat_string

__all__ = [
    "GoJSONError", "GoObject", "loads", "get_ci", "has_ci", "fold_name", "go_int", "go_string",
    "is_number_literal", "invalid_number_literal", "go_quote",
    "b64encode", "b64decode", "Base64Error", "format_rfc3339nano", "parse_rfc3339nano", "TimeParseError",
    "go_json_dumps", "rat_string", "float_string", "parse_rat",
]


# ==================================================================================================
# Decoding
# ==================================================================================================
class GoJSONError(ValueError):
    """A JSON document Go would reject; the message follows Go's wording."""


class GoObject(dict):
    """A decoded JSON object whose iteration order is the order of each key's **last** occurrence.

    Plain ``json.loads`` keeps a duplicate key at its first position, which would make
    ``{"a":1,"A":2,"a":3}`` look like ``A`` came last; Go assigns fields key by key, so ``a`` (3) wins.
    """


def _pairs_hook(pairs: list[tuple[str, Any]]) -> GoObject:
    obj = GoObject()
    for k, v in pairs:
        if k in obj:
            del obj[k]
        obj[k] = v
    return obj


def _reject_constant(name: str) -> Any:
    raise _ConstantError(name)


class _ConstantError(ValueError):
    pass


def _quote_char(c: str) -> str:
    """Go ``quoteChar``: ``'x'``, with ``'\\''`` and ``'"'`` special-cased, others via strconv.Quote."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    q = json.dumps(c)[1:-1] if (ord(c) < 0x20 or c == "\\") else c
    return f"'{q}'"


def _brackets(doc: str):
    """The ``{ [ ] }`` of a JSON text that are outside strings, in order."""
    in_str = esc = False
    for ch in doc:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[]}":
            yield ch


def _container_at(doc: str, pos: int) -> str:
    """'{' or '[' — the innermost container open at ``pos`` ('' at top level)."""
    stack: list[str] = []
    for ch in _brackets(doc[:pos]):
        if ch in "{[":
            stack.append(ch)
        elif stack:
            stack.pop()
    return stack[-1] if stack else ""


_LITERALS = {"t": "true", "f": "false", "n": "null"}


def _go_message(doc: str, exc: json.JSONDecodeError) -> str:
    """Translate a Python JSON error into Go's ``SyntaxError`` text (the common cases)."""
    pos, msg = exc.pos, exc.msg
    end = "unexpected end of JSON input"
    if pos >= len(doc) or msg.startswith("Unterminated string"):
        return end
    c = doc[pos]
    if msg.startswith("Expecting value"):
        if c in _LITERALS:
            lit = _LITERALS[c]
            for i, want in enumerate(lit):
                if pos + i >= len(doc):
                    return end
                if doc[pos + i] != want:
                    return f"invalid character {_quote_char(doc[pos + i])} in literal {lit} (expecting {_quote_char(want)})"
        if c == "-":
            if pos + 1 >= len(doc):
                return end
            return f"invalid character {_quote_char(doc[pos + 1])} in numeric literal"
        return f"invalid character {_quote_char(c)} looking for beginning of value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {_quote_char(c)} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {_quote_char(c)} after object key"
    if msg.startswith("Expecting ','"):
        where = "object key:value pair" if _container_at(doc, pos) == "{" else "array element"
        return f"invalid character {_quote_char(c)} after {where}"
    if msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(c)} in string literal"
    if msg.startswith("Invalid \\escape"):
        nxt = doc[pos + 1] if pos + 1 < len(doc) else ""
        return f"invalid character {_quote_char(nxt)} in string escape code" if nxt else end
    if msg.startswith("Invalid \\uXXXX"):
        for ch in doc[pos + 2:pos + 6]:
            if ch not in "0123456789abcdefABCDEF":
                return f"invalid character {_quote_char(ch)} in \\u hexadecimal character escape"
        return end
    if msg.startswith("Extra data"):
        prev = doc[pos - 1] if pos else ""
        if c == "." and prev.isdigit():
            nxt = doc[pos + 1] if pos + 1 < len(doc) else ""
            return f"invalid character {_quote_char(nxt)} after decimal point in numeric literal" if nxt else end
        if c in "eE" and prev.isdigit():
            nxt = doc[pos + 1] if pos + 1 < len(doc) else ""
            return f"invalid character {_quote_char(nxt)} in exponent of numeric literal" if nxt else end
        return f"invalid character {_quote_char(c)} after top-level value"
    return f"invalid JSON: {msg}"  # pragma: no cover - all Python messages are mapped above


_WS = " \t\r\n"


def _parse_int(text: str) -> int | Decimal:
    # Python refuses int() on very long digit strings; Go parses any length (then range-checks).
    return int(text) if len(text) <= 4000 else Decimal(text)


_MAX_DEPTH = 10_000  # Go's encoding/json nesting limit


def _check_depth(doc: str) -> None:
    """Refuse nesting deeper than Go's limit *before* the C scanner sees it: it recurses on the C stack and
    can crash the process when the interpreter's recursion limit has been raised above what the stack holds."""
    if doc.count("[") + doc.count("{") <= _MAX_DEPTH:
        return
    depth = 0
    for ch in _brackets(doc):
        depth += 1 if ch in "{[" else -1
        if depth > _MAX_DEPTH:
            raise GoJSONError("exceeded max depth")


def loads(data: bytes | str, *, first_value: bool = False) -> Any:
    """Parse JSON like Go.

    ``first_value=False`` is ``json.Unmarshal`` (trailing non-space bytes are an error);
    ``first_value=True`` is ``json.NewDecoder(r).Decode`` (reads one value, ignores what follows;
    empty input -> ``EOF``, truncated -> ``unexpected EOF``).

    Objects come back as :class:`GoObject` (use :func:`get_ci`), integers as ``int``, other numbers as
    ``Decimal`` (exact, and distinguishable from integer literals), ``NaN``/``Infinity`` are rejected.
    Invalid UTF-8 becomes U+FFFD, as Go does.
    """
    doc = data.decode("utf-8", errors="replace") if isinstance(data, (bytes, bytearray)) else str(data)
    dec = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_float=Decimal, parse_int=_parse_int,
                           parse_constant=_reject_constant)
    start = len(doc) - len(doc.lstrip(_WS))
    if first_value and start == len(doc):
        raise GoJSONError("EOF")
    _check_depth(doc)
    try:
        if first_value:
            value, _ = dec.raw_decode(doc, start)
            return value
        return dec.decode(doc)
    except json.JSONDecodeError as exc:
        text = _go_message(doc, exc)
        if first_value and text == "unexpected end of JSON input":
            text = "unexpected EOF"
        raise GoJSONError(text) from None
    except RecursionError:
        raise GoJSONError("exceeded max depth") from None
    except _ConstantError as exc:
        name = str(exc)
        c = name[1] if name.startswith("-") else name[0]
        where = "in numeric literal" if name.startswith("-") else "looking for beginning of value"
        raise GoJSONError(f"invalid character {_quote_char(c)} {where}") from None


def fold_name(name: str) -> str:
    """Go ``foldName``: ASCII upper-cased; other runes ``ToUpper(ToLower(r))`` (simple mappings only)."""
    out = []
    for ch in name:
        if ch < "\x80":
            out.append(ch.upper())
            continue
        lo = ch.lower()
        if len(lo) != 1:
            lo = ch
        up = lo.upper()
        out.append(up if len(up) == 1 else lo)
    return "".join(out)


_MISSING = object()


def get_ci(obj: Any, key: str, default: Any = None) -> Any:
    """Value of struct field ``key`` as Go would decode it from ``obj``.

    Every key equal to ``key`` or to a case variant of it (Go ``foldName``) addresses the same field and
    Go assigns them in document order, so the one occurring **last** wins (with :func:`loads` output the
    dict order is last-occurrence order). An exact spelling gets no extra priority in Go either way.
    Returns ``default`` when absent or when ``obj`` is not a dict.
    """
    if not isinstance(obj, dict):
        return default
    want = fold_name(key)
    found = _MISSING
    for k, v in obj.items():
        if k == key or fold_name(k) == want:
            found = v
    return default if found is _MISSING else found


def has_ci(obj: Any, key: str) -> bool:
    return get_ci(obj, key, _MISSING) is not _MISSING


_INT_RANGES = {
    "int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1), "int": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1), "uint32": (0, 2**32 - 1), "uint": (0, 2**64 - 1),
}


def go_kind(value: Any) -> str:
    """The JSON kind Go's UnmarshalTypeError names: bool, number, string, object, array or null."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def unmarshal_error(value: Any, field: str, go_type: str) -> GoJSONError:
    kind = go_kind(value)
    if kind == "number" and go_type != "string":  # Go quotes the literal only for numeric targets
        kind = f"number {value}"
    where = f"Go struct field {field}" if field else "Go value"
    return GoJSONError(f"json: cannot unmarshal {kind} into {where} of type {go_type}")


def go_int(value: Any, go_type: str = "int64", field: str = "") -> int | None:
    """An integer field as ``encoding/json`` decodes it: an integer literal in range, or ``None`` for
    JSON null (Go leaves the field unchanged). Anything else raises Go's UnmarshalTypeError text."""
    if value is None:
        return None
    lo, hi = _INT_RANGES[go_type]
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        return value
    raise unmarshal_error(value, field, go_type)


_NUMBER_LITERAL = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?\Z")


def is_number_literal(text: str) -> bool:
    """Go ``isValidNumber``: may a quoted string be decoded into a ``json.Number``?"""
    return bool(_NUMBER_LITERAL.match(text))


def go_quote(s: str) -> str:
    """Go ``strconv.Quote`` (``%q`` of a string): printable characters kept, the rest escaped Go's way."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif o < 0x80 or 0xDC80 <= o <= 0xDCFF:  # a control byte, or an invalid byte smuggled as a surrogate
            out.append(f"\\x{o & 0xFF:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out) + '"'


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def invalid_number_literal(text: str) -> GoJSONError:
    """The error Go's decoder gives for a quoted string that is not a number, decoded into a ``json.Number``
    (it quotes the whole token, quotes included)."""
    return GoJSONError(f"json: invalid number literal, trying to unmarshal {go_quote(chr(34) + text + chr(34))} "
                       "into Number")


def go_string(value: Any, field: str = "") -> str | None:
    """A string field: str, or ``None`` for JSON null; anything else is Go's UnmarshalTypeError."""
    if value is None or isinstance(value, str):
        return value
    raise unmarshal_error(value, field, "string")


# ==================================================================================================
# Base64 ([]byte in JSON, payment/segCreds headers)
# ==================================================================================================
class Base64Error(ValueError):
    """Go ``base64.CorruptInputError``: ``illegal base64 data at input byte N``."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_DECODE = {c: i for i, c in enumerate(_B64_ALPHABET)}


def b64encode(data: bytes) -> str:
    """Standard alphabet, padded (Go ``base64.StdEncoding.EncodeToString``)."""
    import base64

    return base64.b64encode(bytes(data)).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Go ``base64.StdEncoding.DecodeString``, quantum by quantum, with Go's error offsets.

    Padding is required, only the standard alphabet is accepted, ``\\r``/``\\n`` are skipped (as Go
    does) and non-zero trailing bits are tolerated (StdEncoding is not ``.Strict()``).
    """
    src = text.decode("latin-1") if isinstance(text, (bytes, bytearray)) else str(text)
    out = bytearray()
    si = 0
    n = len(src)
    while si < n:
        dbuf = [0, 0, 0, 0]
        dlen = 4
        err: int | None = None
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                raise Base64Error(si - j)
            ch = src[si]
            si += 1
            v = _B64_DECODE.get(ch)
            if v is not None:
                dbuf[j] = v
                j += 1
                continue
            if ch in "\r\n":
                continue
            if ch != "=":
                raise Base64Error(si - 1)
            if j in (0, 1):
                raise Base64Error(si - 1)
            if j == 2:  # "==" expected; the first "=" is consumed
                while si < n and src[si] in "\r\n":
                    si += 1
                if si == n:
                    raise Base64Error(n)
                if src[si] != "=":
                    raise Base64Error(si - 1)
                si += 1
            while si < n and src[si] in "\r\n":
                si += 1
            if si < n:
                err = si  # trailing garbage
            dlen = j
            break
        val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3]
        chunk = val.to_bytes(3, "big")
        out += chunk[: dlen - 1]
        if err is not None:
            raise Base64Error(err)
    return bytes(out)


# ==================================================================================================
# time.Time as JSON (RFC 3339 with nanoseconds)
# ==================================================================================================
class TimeParseError(ValueError):
    pass


_NS = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _offset_seconds(ns_since_epoch: int, tz: Any) -> int:
    if tz is None:
        return 0
    if isinstance(tz, int):
        return tz
    if isinstance(tz, _dt.timedelta):
        return int(tz.total_seconds())
    secs = ns_since_epoch // _NS
    local = (_EPOCH + _dt.timedelta(seconds=secs)).astimezone(tz)
    off = local.utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def format_rfc3339nano(ns_since_epoch: int, tz: Any = None) -> str:
    """Go ``time.Time.MarshalJSON`` (without the quotes) for an instant in ns since the Unix epoch.

    ``tz``: ``None``/UTC, an offset in seconds, a ``timedelta`` or a ``tzinfo`` (e.g. ``ZoneInfo``).
    Fractional seconds keep up to 9 digits with trailing zeros trimmed; offset 0 prints ``Z``.
    """
    ns_since_epoch = int(ns_since_epoch)
    off = _offset_seconds(ns_since_epoch, tz)
    secs, frac = divmod(ns_since_epoch + off * _NS, _NS)
    try:
        local = _EPOCH.replace(tzinfo=None) + _dt.timedelta(seconds=secs)
    except OverflowError:  # Python's datetime spans years 1..9999 (Go allows 0..9999)
        raise TimeParseError("Time.MarshalJSON: year outside of range [1,9999]") from None
    out = f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    if frac:
        out += "." + f"{frac:09d}".rstrip("0")
    if off == 0:
        return out + "Z"
    zone = abs(off) // 60 * (1 if off > 0 else -1)  # Go: offset / 60 truncates toward zero
    sign = "-" if zone < 0 else "+"
    zone = abs(zone)
    if zone // 60 >= 24:
        raise TimeParseError("Time.MarshalJSON: timezone hour outside of range [0,24)")
    return f"{out}{sign}{zone // 60:02d}:{zone % 60:02d}"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))\Z"
)


def parse_rfc3339nano(text: str) -> tuple[int, int]:
    """Go's strict RFC 3339 parse used by ``time.Time.UnmarshalJSON``.

    Returns ``(ns_since_epoch, utc_offset_seconds)``. Digits past nanoseconds are truncated, as Go does.
    """
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if not m:
        raise TimeParseError(f'parsing time {json.dumps(text)} as "2006-01-02T15:04:05Z07:00": cannot parse')
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    try:
        base = _dt.datetime(y, mo, d, h, mi, s, tzinfo=_dt.timezone.utc)
    except ValueError as exc:
        raise TimeParseError(f"parsing time {json.dumps(text)}: {exc}") from None
    off = 0
    if not m.group(8):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise TimeParseError(f"parsing time {json.dumps(text)}: time zone offset out of range")
        off = (oh * 60 + om) * 60 * (-1 if m.group(9) == "-" else 1)
    delta = base - _EPOCH
    secs = delta.days * 86400 + delta.seconds - off
    return secs * _NS + int(frac), off


# ==================================================================================================
# Encoding
# ==================================================================================================
_HEX = "0123456789abcdef"
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _go_string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif o < 0x20 or ch in "<>&":
            out.append("\\u00" + _HEX[o >> 4] + _HEX[o & 0xF])
        elif o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:  # lone surrogate = invalid UTF-8 in Go terms
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_float(f: float) -> str:
    """Go ``encoding/json`` float64: shortest repr, 'e' format below 1e-6 or from 1e21."""
    if f != f or f in (float("inf"), float("-inf")):
        raise GoJSONError(f"json: unsupported value: {f!r}")
    a = abs(f)
    d = Decimal(repr(f))
    if a != 0 and (a < 1e-6 or a >= 1e21):
        digits = d.normalize()
        sign, dig, exp = digits.as_tuple()
        mant = "".join(map(str, dig))
        e = exp + len(mant) - 1
        body = mant[0] + ("." + mant[1:] if len(mant) > 1 else "")
        es = f"{'-' if e < 0 else '+'}{abs(e):02d}"
        if es.startswith("-0"):
            es = "-" + es[2:]
        return ("-" if sign else "") + body + "e" + es
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "-0" if s == "-0" else s


def _encode(obj: Any, out: list[str], sort_keys: bool) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(str(obj))
    elif isinstance(obj, float):
        out.append(_go_float(obj))
    elif isinstance(obj, Decimal):
        out.append(str(obj))
    elif isinstance(obj, Fraction):  # big.Rat implements MarshalText: a JSON string
        out.append(_go_string(rat_string(obj)))
    elif isinstance(obj, str):
        out.append(_go_string(obj))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        out.append('"' + b64encode(bytes(obj)) + '"')
    elif isinstance(obj, dict):
        items = sorted(obj.items()) if sort_keys else obj.items()
        out.append("{")
        first = True
        for k, v in items:
            if not isinstance(k, str):
                raise GoJSONError(f"json: unsupported key type {type(k).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_go_string(k))
            out.append(":")
            _encode(v, out, sort_keys)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _encode(v, out, sort_keys)
        out.append("]")
    else:
        raise GoJSONError(f"json: unsupported type: {type(obj).__name__}")


def go_json_dumps(obj: Any, *, newline: bool = False, sort_keys: bool = False) -> bytes:
    """Go ``json.Marshal`` bytes: compact, HTML-safe escaping, dict keys in the given order (struct
    order; pass ``sort_keys=True`` for a Go map). ``newline=True`` mimics ``json.Encoder.Encode``.
    ``bytes`` -> padded base64 string, ``Fraction`` -> RatString string, ``Decimal`` -> its literal."""
    out: list[str] = []
    _encode(obj, out, sort_keys)
    if newline:
        out.append("\n")
    return "".join(out).encode("utf-8")
