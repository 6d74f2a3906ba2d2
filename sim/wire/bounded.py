"""The one door for untrusted bytes: bounded parsing of JSON, JSONL, YAML, TOML and numbers.

Every server route and every file loader parses what it did not write through this module, so a request body
or a file cannot make lpdev crash, hang or eat memory:

* **size**: ``max_bytes`` (1 MiB for a body, 8 MiB for a file) is checked before anything is decoded;
* **encoding**: UTF-8 only. UTF-16/UTF-32 (with or without a byte order mark), binary data (a NUL byte) and
  invalid UTF-8 are refused by name; a UTF-8 byte order mark is skipped. A ``\\u0000`` or a lone surrogate
  (``\\ud800``) escape in a JSON string is refused too (``replace_invalid=True`` turns invalid UTF-8 and lone
  surrogates into U+FFFD instead, as Go's ``encoding/json`` does);
* **depth**: nesting deeper than ``max_depth`` (64) is refused by a linear scan *before* any recursive parser
  runs, so the answer does not depend on the interpreter's recursion limit (web3 and py_ecc raise it to 100 000
  at import, after which CPython's JSON scanner can overflow the C stack and kill the process);
* **numbers**: at most ``max_digits`` (100) digits, a bounded exponent, and no NaN or infinity — a float that
  would overflow to ``inf`` is refused, not rounded;
* **YAML aliases** may not expand to more than ``max_nodes`` nodes (no "billion laughs").

Every failure is one :class:`BoundedInputError` (a ``ValueError``) whose message is one line naming what was
read and where: ``body: nested deeper than 64 levels``, ``lpdev.toml:3: NaN is not a number``.

Numbers that arrive as text (a CLI flag, a config value) go through :func:`parse_int`, :func:`parse_float` and
:func:`parse_fraction`; :func:`argtype` adapts them to ``argparse``. Files are read with :func:`read_bytes` (or
the ``load_*_file`` helpers), which name a missing file, a directory or an oversized file in one line; the body of
another service's HTTP reply with :func:`read_reply` (bounded, read whole).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = [
    "BoundedInputError", "MAX_BYTES", "MAX_FILE_BYTES", "MAX_DEPTH", "MAX_DIGITS", "MAX_NODES",
    "decode_text", "check_json", "loads_json", "iter_jsonl", "loads_yaml", "loads_toml",
    "read_bytes", "read_reply", "load_json_file", "load_yaml_file", "load_toml_file",
    "parse_int", "parse_float", "parse_fraction", "argtype",
]

MAX_BYTES = 1 << 20         # a request body
MAX_FILE_BYTES = 8 << 20    # a config / scenario / key file
MAX_DEPTH = 64
MAX_DIGITS = 100            # a uint256 has 78 decimal digits
MAX_NODES = 100_000         # YAML nodes after alias expansion


class BoundedInputError(ValueError):
    """Untrusted input refused. ``str(e)`` is one line: ``what[:line]: problem``."""

    def __init__(self, what: str, problem: str, line: int | None = None) -> None:
        self.what = _one_line(str(what))
        self.problem = _one_line(problem)
        self.line = line
        where = f"{self.what}:{line}" if line else self.what
        super().__init__(f"{where}: {self.problem}")


def _one_line(s: str) -> str:
    return re.sub(r"[\r\n]+\s*", " ", s).strip()


def _show(value: Any, n: int = 24) -> str:
    """A short printable form of a (possibly huge) bad value."""
    s = value if isinstance(value, str) else repr(value)
    if len(s) > n:
        return repr(s[:n]) + f"… ({len(s)} characters)"
    return repr(s)


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# ================================================================================================ text
_SURROGATES = re.compile("[\ud800-\udfff]")
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"),
         (b"\xfe\xff", "UTF-16"), (b"\xff\xfe", "UTF-16"))
_UTF8_BOM = b"\xef\xbb\xbf"
_COMPRESSED = ((b"\x1f\x8b", "gzip-compressed"), (b"PK\x03\x04", "zip"), (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
               (b"\xfd7zXZ\x00", "xz-compressed"))


def decode_text(data: bytes | bytearray | memoryview | str, *, what: str = "body", max_bytes: int = MAX_BYTES,
                replace_invalid: bool = False, line: int | None = None) -> str:
    """UTF-8 text from untrusted bytes, or :class:`BoundedInputError` naming the problem: too large, UTF-16/32,
    binary (NUL byte), invalid UTF-8. A UTF-8 byte order mark is dropped. ``replace_invalid``: invalid UTF-8
    becomes U+FFFD (Go's behaviour) instead of an error. ``line``: the line the data starts on in its file."""
    if isinstance(data, str):
        if len(data) > max_bytes // 4 and len(data.encode("utf-8", "surrogatepass")) > max_bytes:
            raise BoundedInputError(what, f"larger than {max_bytes} bytes", line)
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:  # surrogates: undecodable bytes smuggled in via surrogateescape
            if replace_invalid:
                return _SURROGATES.sub("\ufffd", data)
            raise BoundedInputError(what, f"not UTF-8 text (character {exc.object[exc.start]!r} at offset "
                                          f"{exc.start})", _add(line, _line_at(data, exc.start))) from None
        if "\x00" in data:
            pos = data.index("\x00")
            raise BoundedInputError(what, f"binary data (NUL byte at offset {pos})", _add(line, _line_at(data, pos)))
        return data[1:] if data.startswith("\ufeff") else data
    raw = bytes(data)
    if len(raw) > max_bytes:
        raise BoundedInputError(what, f"larger than {max_bytes} bytes ({len(raw)} bytes)", line)
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise BoundedInputError(what, f"{name} text (byte order mark {bom.hex(' ').upper()}): save it as UTF-8",
                                    line)
    if raw.startswith(_UTF8_BOM):
        raw = raw[3:]
    for magic, name in _COMPRESSED:
        if raw.startswith(magic):
            raise BoundedInputError(what, f"{name} data, not text (send or save it uncompressed)", line)
    nul = raw.find(b"\x00")
    if nul >= 0:
        head = raw[:256]
        odd, even = head[1::2], head[0::2]
        if len(head) >= 4 and any(a.count(0) >= 0.9 * len(a) and b.count(0) <= 0.1 * len(b)
                                  for a, b in ((odd, even), (even, odd))):
            raise BoundedInputError(what, "UTF-16 text (NUL bytes between the characters): save it as UTF-8", line)
        raise BoundedInputError(what, f"binary data (NUL byte at offset {nul})",
                                _add(line, raw.count(b"\n", 0, nul) + 1))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if replace_invalid:
            return raw.decode("utf-8", "replace")
        raise BoundedInputError(what, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                                _add(line, raw.count(b"\n", 0, exc.start) + 1)) from None


def _add(base: int | None, inner: int) -> int | None:
    """The file line of ``inner`` (1-based, inside a text that starts on line ``base``)."""
    if base is None:
        return None
    return base + inner - 1


# ================================================================================================ JSON
# a JSON string, a bracket, or (outside strings) a run of digits; used only when the quick counts say it may matter
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}
_ESCAPE_OF_INTEREST = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


def _json_depth_error(text: str, max_depth: int) -> int | None:
    """Position where ``text`` (JSON) nests deeper than ``max_depth``, or None. Linear, no recursion."""
    if text.count("[") + text.count("{") <= max_depth:
        return None
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    if max(itertools.accumulate(map(_DELTA.__getitem__, brackets)), default=0) <= max_depth:
        return None
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > max_depth:
                return m.start()
        elif c in "]}":
            depth -= 1
    return len(text)  # pragma: no cover - the accumulate pass and this one agree


class _NumberRefused(Exception):
    def __init__(self, text: str, problem: str) -> None:
        super().__init__(problem)
        self.text, self.problem = text, problem


_FLOAT_PARTS = re.compile(r"-?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?\Z")


def _float_hook(max_digits: int, exact: bool) -> Callable[[str], Any]:
    def parse(text: str):
        m = _FLOAT_PARTS.match(text)
        digits = (len(m.group(1)) + len(m.group(2) or "")) if m else len(text)
        if digits > max_digits:
            raise _NumberRefused(text, f"number with {digits} digits (at most {max_digits})")
        exp = m.group(3) if m else None
        if exp is not None and len(exp.lstrip("+-").lstrip("0")) > 4:
            raise _NumberRefused(text, f"number {_show(text)} is out of range")
        if exact:
            d = Decimal(text)
            if d and abs(d.adjusted()) > max_digits:
                raise _NumberRefused(text, f"number {_show(text)} is out of range (more than {max_digits} "
                                           "digits before or after the point)")
            return d
        f = float(text)
        if not math.isfinite(f):
            raise _NumberRefused(text, f"number {_show(text)} is out of range")
        return f
    return parse


def _int_hook(max_digits: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        n = len(text) - (text[0] == "-")
        if n > max_digits:
            raise _NumberRefused(text, f"number with {n} digits (at most {max_digits})")
        return int(text)
    return parse


def _refuse_constant(name: str):
    raise _NumberRefused(name, f"{name} is not a number JSON allows")


def check_json(data, *, what: str = "body", max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
               max_digits: int = MAX_DIGITS, replace_invalid: bool = False, line: int | None = None,
               first_value: bool = False) -> str:
    """The checks of :func:`loads_json` that come before parsing (size, encoding, depth, number length); returns
    the text. For Go-dialect decoders that parse the text themselves for Go's exact error messages.

    ``first_value``: Go's ``json.NewDecoder(r).Decode`` reads the first JSON value and not a byte after it, so
    what follows it (a NUL, 100 ``[``) is neither checked nor returned when the whole data fails the checks."""
    if first_value:
        try:
            return check_json(data, what=what, max_bytes=max_bytes, max_depth=max_depth, max_digits=max_digits,
                              replace_invalid=replace_invalid, line=line)
        except BoundedInputError:
            if len(data) > max_bytes:
                raise
            end = _first_value_end(data)
            if end >= len(data):
                raise
            data = data[:end]  # the whole data failed: maybe only the bytes after the first value do
    text = decode_text(data, what=what, max_bytes=max_bytes, replace_invalid=replace_invalid, line=line)
    pos = _json_depth_error(text, max_depth)
    if pos is not None:
        raise BoundedInputError(what, f"nested deeper than {max_depth} levels",
                                _json_line(text, pos, line))
    if re.search(r"\d{%d}" % (max_digits + 1), text):  # a long digit run somewhere: is it a number?
        for m in re.finditer(r'"(?:[^"\\]|\\.)*"|\d{%d,}' % (max_digits + 1), text, re.S):
            if m.group()[0] != '"':
                raise BoundedInputError(what, f"number with {len(m.group())} digits (at most {max_digits})",
                                        _json_line(text, m.start(), line))
    return text


_VALUE_TOKENS = {bytes: re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S),
                 str: re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)}
_SCALAR = {bytes: re.compile(rb'"(?:[^"\\]|\\.)*"|[-+.0-9eE]+|[a-zA-Z]+', re.S),
           str: re.compile(r'"(?:[^"\\]|\\.)*"|[-+.0-9eE]+|[a-zA-Z]+', re.S)}


def _first_value_end(data) -> int:
    """Where the first JSON value in ``data`` ends (a bracket scan, strings skipped; no parsing), or ``len(data)``
    when it does not end. Bytes and text alike (JSON's structural characters are ASCII, never inside a UTF-8
    sequence)."""
    kind = str if isinstance(data, str) else bytes
    data = data if kind is str else bytes(data)
    bom = "\ufeff" if kind is str else _UTF8_BOM
    i = len(bom) if data.startswith(bom) else 0
    ws = " \t\r\n" if kind is str else b" \t\r\n"
    while i < len(data) and data[i:i + 1] in ws:
        i += 1
    if data[i:i + 1] not in (("[", "{") if kind is str else (b"[", b"{")):
        m = _SCALAR[kind].match(data, i)  # a string, number or literal
        return m.end() if m and m.end() > i else len(data)
    depth = 0
    for m in _VALUE_TOKENS[kind].finditer(data, i):
        c = m.group()
        if c in ("[", "{", b"[", b"{"):
            depth += 1
        elif c in ("]", "}", b"]", b"}"):
            depth -= 1
            if depth == 0:
                return m.end()
    return len(data)


def _json_line(text: str, pos: int, line: int | None) -> int | None:
    if line is not None:
        return _add(line, _line_at(text, pos))
    return _line_at(text, pos) if "\n" in text else None


def loads_json(data, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, max_digits: int = MAX_DIGITS,
               what: str = "body", exact: bool = False, replace_invalid: bool = False,
               object_pairs_hook: Callable | None = None, line: int | None = None) -> Any:
    """Parse one JSON document from untrusted bytes (or text) within the bounds; floats come back as ``float``
    (finite), or as ``Decimal`` with ``exact=True``. ``line``: the file line the data starts on (JSONL)."""
    text = check_json(data, what=what, max_bytes=max_bytes, max_depth=max_depth, max_digits=max_digits,
                      replace_invalid=replace_invalid, line=line)
    if not text.strip():
        raise BoundedInputError(what, "empty (want a JSON value)", line)
    decoder = json.JSONDecoder(parse_int=_int_hook(max_digits), parse_float=_float_hook(max_digits, exact),
                               parse_constant=_refuse_constant, object_pairs_hook=object_pairs_hook)
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise BoundedInputError(what, f"invalid JSON: {exc.msg} (column {exc.colno})",
                                _json_line(text, exc.pos, line)) from None
    except _NumberRefused as exc:
        pos = max(text.find(exc.text), 0)
        raise BoundedInputError(what, exc.problem, _json_line(text, pos, line)) from None
    except RecursionError:  # pragma: no cover - the depth scan runs first; kept for a tiny recursion limit
        raise BoundedInputError(what, "nested too deeply for this process", line) from None
    if _ESCAPE_OF_INTEREST.search(text):
        value = _scrub(value, what, replace_invalid, line)
    return value


_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def _scrub(value: Any, what: str, replace: bool, line: int | None) -> Any:
    """Refuse (or, with ``replace``, turn into U+FFFD) lone surrogates; refuse NUL characters. Iterative."""
    def fix(s: str, path: str) -> str:
        m = _BAD_CHARS.search(s)
        if m is None:
            return s
        if "\x00" in s:
            raise BoundedInputError(what, f"NUL character (\\u0000) in a string at {path}", line)
        if replace:
            return _SURROGATES.sub("\ufffd", s)
        raise BoundedInputError(what, f"lone surrogate \\u{ord(m.group()):04x} in a string at {path} "
                                      "(not valid Unicode)", line)

    if isinstance(value, str):
        return fix(value, "$")
    stack = [(value, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    node[i] = fix(v, f"{path}[{i}]")
                elif isinstance(v, (list, dict)):
                    stack.append((v, f"{path}[{i}]"))
        elif isinstance(node, dict):
            items = list(node.items())
            changed = False
            fixed = []
            for k, v in items:
                k2 = fix(k, f"{path} (a key)") if isinstance(k, str) else k
                sub = f"{path}.{k2}" if isinstance(k2, str) else path
                v2 = fix(v, sub) if isinstance(v, str) else v
                if isinstance(v2, (list, dict)):
                    stack.append((v2, sub))
                changed |= k2 is not k or v2 is not v
                fixed.append((k2, v2))
            if changed:
                node.clear()
                node.update(fixed)
        elif isinstance(node, tuple):  # object_pairs_hook may return pairs
            for k, v in node:
                if isinstance(v, (list, dict, tuple)):
                    stack.append((v, path))
    return value


def iter_jsonl(lines, *, what: str, max_line_bytes: int = MAX_BYTES, first_line: int = 1,
               **kw) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSONL source: an iterable of byte/str lines, or a file
    (binary or text mode). Errors say ``what:line``. Lines longer than ``max_line_bytes`` are refused without
    being held whole in memory when the source is a file (in text mode the bound counts characters)."""
    n = first_line - 1
    readline = getattr(lines, "readline", None)
    source = _read_lines(readline, max_line_bytes + 1) if readline is not None else iter(lines)
    for raw in source:
        n += 1
        if len(raw) > max_line_bytes + 1 or (len(raw) == max_line_bytes + 1 and raw[-1:] not in (b"\n", "\n")):
            raise BoundedInputError(what, f"line longer than {max_line_bytes} bytes", n)
        if not raw.strip():
            continue
        yield n, loads_json(raw.rstrip(b"\r\n" if isinstance(raw, bytes) else "\r\n"), what=what,
                            max_bytes=max_line_bytes + 1, line=n, **kw)


def _read_lines(readline, limit: int) -> Iterator:
    """A file's lines of at most ``limit`` bytes (characters) each; ends at ``b""`` or ``""`` alike."""
    while raw := readline(limit):
        yield raw


# ================================================================================================ YAML
def _yaml_resolver():
    import yaml
    return yaml.resolver.Resolver()


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NAN_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)\Z")


def _check_yaml(text: str, what: str, max_depth: int, max_digits: int, max_nodes: int, line: int | None) -> None:
    """Walk the YAML event stream (PyYAML's parser is a state machine, not recursive): depth, expanded node count
    (aliases), and every number, before anything is constructed."""
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    resolver = _yaml_resolver()
    depth = 0
    expanded = 0
    open_: list[list] = []  # [anchor, expanded before, max depth inside]
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, depth below it)

    def where(ev) -> int | None:
        return _add(line if line is not None else 1, ev.start_mark.line + 1) if ev.start_mark else line

    try:
        for ev in yaml.parse(text, Loader=loader_cls):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                expanded += 1
                if depth > max_depth:
                    raise BoundedInputError(what, f"nested deeper than {max_depth} levels", where(ev))
                open_.append([ev.anchor, expanded - 1, depth])
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                anchor, before, inside = open_.pop()
                if anchor:
                    sizes[anchor] = (expanded - before, inside - depth)
                if open_:
                    open_[-1][2] = max(open_[-1][2], inside)
                depth -= 1
            elif isinstance(ev, yaml.ScalarEvent):
                expanded += 1
                if ev.anchor:
                    sizes[ev.anchor] = (1, 0)
                _check_yaml_scalar(ev, resolver, what, max_digits, where)
            elif isinstance(ev, yaml.AliasEvent):
                nodes, below = sizes.get(ev.anchor, (1, 0))
                expanded += nodes
                if depth + below > max_depth:
                    raise BoundedInputError(what, f"alias *{ev.anchor} nests deeper than {max_depth} levels",
                                            where(ev))
                if open_:
                    open_[-1][2] = max(open_[-1][2], depth + below)
            if expanded > max_nodes:
                raise BoundedInputError(what, f"more than {max_nodes} YAML nodes (aliases included)", where(ev))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, what, line) from None


def _check_yaml_scalar(ev, resolver, what: str, max_digits: int, where) -> None:
    import yaml

    value = ev.value
    if ev.tag in (None, "!"):
        if not ev.implicit[0]:
            return  # quoted: a string
        tag = resolver.resolve(yaml.ScalarNode, value, (True, False))
    else:
        tag = ev.tag
    if tag not in (_INT_TAG, _FLOAT_TAG):
        return
    if _NAN_INF.match(value.strip()):
        raise BoundedInputError(what, f"{value.strip()} is not a number lpdev accepts (NaN or infinity)", where(ev))
    digits = sum(c.isalnum() for c in value)
    if digits > max_digits + 3:
        raise BoundedInputError(what, f"number with {digits} digits (at most {max_digits})", where(ev))
    if tag == _FLOAT_TAG:
        try:
            f = float(value.replace("_", ""))
        except ValueError:
            return  # sexagesimal and friends: the constructor decides
        if not math.isfinite(f):
            raise BoundedInputError(what, f"number {_show(value)} is out of range", where(ev))


def _yaml_error(exc, what: str, line: int | None) -> BoundedInputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"invalid YAML: {context + ', ' if context else ''}{problem}"
    return BoundedInputError(what, text, _add(line if line is not None else 1, mark.line + 1) if mark else line)


def loads_yaml(data, *, what: str, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH,
               max_digits: int = MAX_DIGITS, max_nodes: int = MAX_NODES, Loader=None,
               line: int | None = None) -> Any:
    """One YAML document from untrusted bytes, checked (depth, aliases, numbers, NaN/inf) before it is constructed
    with ``Loader`` (default ``yaml.SafeLoader``; pass e.g. a line-remembering subclass). The loader's ``name``
    is set to ``what`` so its own errors name the file too."""
    import yaml

    text = decode_text(data, what=what, max_bytes=max_bytes, line=line)
    _check_yaml(text, what, max_depth, max_digits, max_nodes, line)
    loader = (Loader or yaml.SafeLoader)(text)
    loader.name = what
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, what, line) from None
    finally:
        loader.dispose()


# ================================================================================================ TOML
# strings, comments, brackets and (outside strings) digit runs longer than allowed; %d = max_digits + 1
_TOML_TOKENS = (r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]'
                r"|[0-9_]{%d,}")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_EOF = re.compile(r"\s*\(at end of document\)\s*$")


def loads_toml(data, *, what: str, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH,
               max_digits: int = MAX_DIGITS, exact: bool = False) -> dict:
    """A TOML document from untrusted bytes: size, encoding, nesting (arrays, inline tables and dotted keys) and
    numbers (digits, NaN/inf) are checked; floats come back as ``float`` or, with ``exact=True``, ``Decimal``."""
    import tomllib

    text = decode_text(data, what=what, max_bytes=max_bytes)
    digit_run = re.compile(r"\d{%d,}" % (max_digits + 1))
    if text.count("[") + text.count("{") > max_depth or digit_run.search(text):
        tokens = re.compile(_TOML_TOKENS % (max_digits + 1))
        depth = 0
        for m in tokens.finditer(text):
            c = m.group()
            if c in ("[", "{"):
                depth += 1
                if depth > max_depth:
                    raise BoundedInputError(what, f"nested deeper than {max_depth} levels", _line_at(text, m.start()))
            elif c in ("]", "}"):
                depth -= 1
            elif c[0] in "0123456789_" and sum(ch.isdigit() for ch in c) > max_digits:
                raise BoundedInputError(what, f"number with {sum(ch.isdigit() for ch in c)} digits "
                                              f"(at most {max_digits})", _line_at(text, m.start()))
    hook = _float_hook(max_digits, exact)

    def parse_float(s: str):
        if s.lstrip("+-") in ("nan", "inf"):
            raise _NumberRefused(s, f"{s} is not a number lpdev accepts (NaN or infinity)")
        return hook(s.replace("_", ""))

    try:
        doc = tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_AT.search(msg)
        line = int(m.group(1)) if m else (text.count("\n") + 1 if _TOML_AT_EOF.search(msg) else None)
        msg = _TOML_AT_EOF.sub(" (at the end)", _TOML_AT.sub("", msg))
        raise BoundedInputError(what, f"invalid TOML: {msg}", line) from None
    except _NumberRefused as exc:
        pos = text.find(exc.text)
        raise BoundedInputError(what, exc.problem, _line_at(text, pos) if pos >= 0 else None) from None
    except ValueError as exc:  # e.g. an integer Python will not convert; the digit scan catches the usual ones
        raise BoundedInputError(what, f"invalid TOML: {exc}") from None
    # dotted keys (a.b.c = 1) nest without brackets, hex integers have no digit runs: check what was built
    stack = [(doc, 1)]
    while stack:
        node, d = stack.pop()
        if d > max_depth:
            raise BoundedInputError(what, f"nested deeper than {max_depth} levels")
        for c in (node.values() if isinstance(node, dict) else node):
            if isinstance(c, (dict, list)):
                stack.append((c, d + 1))
            elif isinstance(c, int) and c.bit_length() > max_digits * 3.33:
                raise BoundedInputError(what, f"integer with more than {max_digits} digits")
    return doc


# ================================================================================================ files
def read_bytes(path: str | Path, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes, at most ``max_bytes``; a missing file, a directory, a permission problem or an oversized
    file is a :class:`BoundedInputError` naming the file."""
    what = str(path) if what is None else what
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise BoundedInputError(what, "no such file") from None
    except IsADirectoryError:
        raise BoundedInputError(what, "is a directory, not a file") from None
    except PermissionError:
        raise BoundedInputError(what, "permission denied") from None
    except OSError as exc:
        raise BoundedInputError(what, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise BoundedInputError(what, f"larger than {max_bytes} bytes")
    return data


async def read_reply(response, max_bytes: int = MAX_BYTES, *, what: str | None = None, chunk: int = 64 * 1024) -> bytes:
    """The body of an HTTP reply from another service (an ``aiohttp.ClientResponse``, or anything with an async
    ``.content.read(n)``), read until it ends or passes ``max_bytes``: at most ``max_bytes + 1`` bytes come back, so
    the caller (or the parser it hands them to) can name an oversized reply without the rest being read; with
    ``what``, an oversized reply is a :class:`BoundedInputError` naming it instead. One ``read(n)`` returns what has
    arrived so far, not ``n`` bytes: a reply sent in several writes is read whole."""
    buf = bytearray()
    content = response.content
    while len(buf) <= max_bytes:
        part = await content.read(min(chunk, max_bytes + 1 - len(buf)))
        if not part:
            break
        buf += part
    if what is not None and len(buf) > max_bytes:
        raise BoundedInputError(what, f"larger than {max_bytes} bytes")
    return bytes(buf)


def load_json_file(path: str | Path, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES, **kw) -> Any:
    what = str(path) if what is None else what
    return loads_json(read_bytes(path, what=what, max_bytes=max_bytes), what=what, max_bytes=max_bytes,
                      line=1, **kw)


def load_yaml_file(path: str | Path, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES, **kw) -> Any:
    what = str(path) if what is None else what
    return loads_yaml(read_bytes(path, what=what, max_bytes=max_bytes), what=what, max_bytes=max_bytes, **kw)


def load_toml_file(path: str | Path, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES, **kw) -> dict:
    what = str(path) if what is None else what
    return loads_toml(read_bytes(path, what=what, max_bytes=max_bytes), what=what, max_bytes=max_bytes, **kw)


# ================================================================================================ numbers
_INT_TEXT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)\Z")
_DEC_TEXT = re.compile(r"([-+]?)(\d[\d_]*)?(?:\.(\d[\d_]*)?)?(?:[eE]([-+]?\d+))?\Z")
_RATIO_TEXT = re.compile(r"([-+]?\d+)/(\d+)\Z")


def _range(v, what: str, lo, hi, shown: str):
    if lo is not None and v < lo:
        raise BoundedInputError(what, f"{shown} is below the minimum {lo}")
    if hi is not None and v > hi:
        raise BoundedInputError(what, f"{shown} is above the maximum {hi}")
    return v


def parse_fraction(value: Any, *, what: str, min: Any = None, max: Any = None,
                   max_digits: int = MAX_DIGITS) -> Fraction:
    """An exact number from text (``12``, ``0.5``, ``1e18``, ``3/7``) or a parsed value (int, Decimal, Fraction,
    finite float): bounded digits and exponent, never NaN or infinity."""
    if isinstance(value, bool) or value is None:
        raise BoundedInputError(what, f"{_show(value)} is not a number")
    if isinstance(value, Fraction):
        v = value
        if len(str(abs(v.numerator))) > max_digits or len(str(v.denominator)) > max_digits:
            raise BoundedInputError(what, f"number with more than {max_digits} digits")
    elif isinstance(value, int):
        if value.bit_length() > max_digits * 3.33:
            raise BoundedInputError(what, f"number with more than {max_digits} digits")
        v = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BoundedInputError(what, f"{value} is not a number lpdev accepts (NaN or infinity)")
        v = Fraction(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise BoundedInputError(what, f"{value} is not a number lpdev accepts (NaN or infinity)")
        return parse_fraction(str(value), what=what, min=min, max=max, max_digits=max_digits)
    elif isinstance(value, str):
        s = value.strip()
        if s.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise BoundedInputError(what, f"{s} is not a number lpdev accepts (NaN or infinity)")
        m = _RATIO_TEXT.match(s)
        if m:
            if len(m.group(1)) + len(m.group(2)) > 2 * max_digits:
                raise BoundedInputError(what, f"number with more than {max_digits} digits")
            if int(m.group(2)) == 0:
                raise BoundedInputError(what, f"{_show(s)} divides by zero")
            v = Fraction(int(m.group(1)), int(m.group(2)))
        else:
            m = _DEC_TEXT.match(s)
            if not m or not (m.group(2) or m.group(3)):
                raise BoundedInputError(what, f"{_show(s)} is not a number")
            ip, fp = (m.group(2) or "").replace("_", ""), (m.group(3) or "").replace("_", "")
            if len(ip) + len(fp) > max_digits:
                raise BoundedInputError(what, f"number with {len(ip) + len(fp)} digits (at most {max_digits})")
            exp_text = m.group(4) or "0"
            if len(exp_text.lstrip("+-").lstrip("0")) > 4:
                raise BoundedInputError(what, f"{_show(s)} is out of range")
            exp = int(exp_text) - len(fp)
            mant = int(ip + fp or "0")
            if mant and (abs(exp) > max_digits or len(str(mant)) + exp > max_digits):
                raise BoundedInputError(what, f"{_show(s)} is out of range (more than {max_digits} digits)")
            v = Fraction(mant) * (Fraction(10) ** exp)
            if m.group(1) == "-":
                v = -v
    else:
        raise BoundedInputError(what, f"{_show(value)} is not a number")
    return _range(v, what, min, max, _show(value if isinstance(value, str) else str(value)))


def parse_int(value: Any, *, what: str, min: int | None = None, max: int | None = None,
              max_digits: int = MAX_DIGITS) -> int:
    """An integer from text (``12``, ``0x1f``, ``1_000``, ``1e18``) or a parsed value; bounded digits."""
    if isinstance(value, bool) or value is None:
        raise BoundedInputError(what, f"{_show(value)} is not an integer")
    if isinstance(value, int):
        v = value
        if v.bit_length() > max_digits * 3.33:
            raise BoundedInputError(what, f"integer with more than {max_digits} digits")
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        s = value.strip()
        if sum(c.isalnum() for c in s) > max_digits:
            raise BoundedInputError(what, f"integer with more than {max_digits} digits")
        v = int(s, 0) if s.lstrip("+-")[:2].lower() == "0x" else int(s.replace("_", ""))
    else:
        f = parse_fraction(value, what=what, max_digits=max_digits)
        if f.denominator != 1:
            raise BoundedInputError(what, f"{_show(value if isinstance(value, str) else str(value))} "
                                          "is not an integer")
        v = f.numerator
    return _range(v, what, min, max, _show(value if isinstance(value, str) else str(value)))


def parse_float(value: Any, *, what: str, min: float | None = None, max: float | None = None) -> float:
    """A finite float (durations, intervals) from text or a parsed value; NaN and infinity are refused."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BoundedInputError(what, f"{value} is not a number lpdev accepts (NaN or infinity)")
        v = value
    else:
        v = float(parse_fraction(value, what=what))
    return _range(v, what, min, max, _show(value if isinstance(value, str) else str(value)))


def argtype(parse: Callable[..., Any], **limits) -> Callable[[str], Any]:
    """An ``argparse`` ``type=`` from one of the parsers: ``type=argtype(parse_float, min=0)``; a bad value is
    argparse's usage error (exit 2) with the parser's one-line problem."""
    def convert(text: str):
        try:
            return parse(text, what="value", **limits)
        except BoundedInputError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None
    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert
