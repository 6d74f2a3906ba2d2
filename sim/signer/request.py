"""Decoding ``POST /generate-live-payment`` bodies the way go-livepeer does (docs/wire.md#json-the-go-way).

Go's ``json.NewDecoder(body).Decode(&RemotePaymentRequest{})``:

* only the first JSON value is read (trailing bytes ignored); an empty body is ``EOF``;
* object keys match struct fields case-insensitively and the last key addressing a field wins; unknown keys
  are ignored; ``null`` leaves a string, int or struct field as it is and resets ``[]byte`` and pointer fields;
* ``[]byte`` fields are standard, padded base64 strings;
* ``inPixels`` must be a JSON integer that fits int64 (``1.5``, ``1e3`` and strings are errors);
* keys are decoded in document order; a type mismatch or bad base64 is remembered and decoding goes on; the
  first such error met is returned (an invalid ``json.Number`` string stops decoding and wins);
* a JSON array decodes into a ``[]byte`` field element by element (each a uint8).

* strings are UTF-8 with invalid bytes and lone surrogate escapes (``"\\ud800"``) turned into U+FFFD, as Go's
  ``unquote`` does, so a state scoped to such an ``app`` matches the same request next time.

The Go-JSON building blocks are :mod:`sim.wire.gojson`. Before any of it runs, the body goes through
:func:`sim.wire.bounded.check_json` (size, encoding, nesting deeper than 64, numbers longer than 100 digits): a
refusal is a 400 saying why (:class:`LimitExceeded`, field ``body JSON``), whatever recursion limit the process has.
Like Go's decoder, only the first value is checked: a valid request followed by a NUL byte or 100 ``[`` is served
(``strict=True``, livepeer-node's ``json.Unmarshal``, checks and parses the whole body).
On top of Go, lpdev enforces :class:`~sim.signer.config.RequestLimits` (go-livepeer's ``TODO length limits``): an
oversized field is a 400 naming the field, an oversized body a 413 (:class:`LimitExceeded`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal

from sim.signer.config import RequestLimits
from sim.signer.fastpath import b64decode as _b64decode
from sim.wire import bounded, gojson

__all__ = ["RemotePaymentRequest", "MaxPriceInfo", "DecodeError", "LimitExceeded", "decode_request", "go_text"]

_T = "RemotePaymentRequest"


class DecodeError(ValueError):
    """A Go decoder error: ``str(e)`` is the text go-livepeer puts in its 400 body."""


class LimitExceeded(ValueError):
    """Input over an lpdev size limit. ``status`` is 413 for the whole body, 400 for a field."""

    def __init__(self, message: str, status: int = 400, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass
class MaxPriceInfo:
    """``runner.LiveRunnerPriceInfo``: ``price`` is a json.Number kept as its literal text."""

    price: str = ""
    currency: str = ""
    unit: str = ""

    def as_dict(self) -> dict:
        return {"price": self.price, "currency": self.currency, "unit": self.unit}


@dataclass
class RemotePaymentRequest:
    state_state: bytes = b""
    state_sig: bytes = b""
    orchestrator: bytes = b""
    manifest_id: str = ""
    app: str = ""
    in_pixels: int = 0
    type: str = ""
    max_price: MaxPriceInfo | None = None
    capabilities: bytes = b""

    @property
    def has_state(self) -> bool:
        return len(self.state_state) != 0 or len(self.state_sig) != 0


_SURROGATE = re.compile("[\ud800-\udfff]")


def go_text(s: str) -> str:
    """A decoded JSON string as Go holds it: lone surrogates (``"\\ud800"`` escapes) become U+FFFD."""
    if s.isascii() or not _SURROGATE.search(s):
        return s
    return _SURROGATE.sub("\ufffd", s)


class _Decoder:
    """Field-by-field decoding that keeps Go's "first type error wins, keep going" behaviour."""

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self.first_error: str | None = None

    def save(self, exc: Exception) -> None:
        if self.first_error is None:
            self.first_error = str(exc)

    def string(self, value, path: str, name: str) -> str | None:
        if value is not None and not isinstance(value, str):
            # Go's UnmarshalTypeError for a non-integer target names the kind only ("number", not "number 5")
            self.save(gojson.GoJSONError(f"json: cannot unmarshal {gojson.go_kind(value)} into Go struct "
                                         f"field {_T}.{path} of type string"))
            return None
        s = value
        if s is not None:
            s = go_text(s)
            n = len(s.encode("utf-8"))
            if n > self.limits.string:
                raise LimitExceeded(f"{name} too long: {n} bytes (limit {self.limits.string})", field=name)
        return s

    def blob(self, value, path: str, name: str, limit: int) -> bytes | None:
        """A ``[]byte`` field: ``None`` if null/invalid (invalid is remembered), else the decoded bytes."""
        if value is None:
            return b""
        if isinstance(value, list):  # Go decodes a JSON array into []byte element by element (uint8 each)
            if len(value) > limit:
                raise LimitExceeded(f"{name} too large: {len(value)} bytes (limit {limit})", field=name)
            out = bytearray(len(value))
            for i, x in enumerate(value):
                if isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255:
                    out[i] = x
                elif x is not None:  # null leaves the element at zero
                    self.save(gojson.unmarshal_error(x, f"{_T}.{path}", "uint8"))
            return bytes(out)
        if not isinstance(value, str):
            self.save(gojson.GoJSONError(f"json: cannot unmarshal {gojson.go_kind(value)} into Go struct "
                                         f"field {_T}.{path} of type []uint8"))
            return None
        if (len(value) // 4) * 3 > limit + 3:  # refuse before decoding something huge
            raise LimitExceeded(f"{name} too large: about {(len(value) // 4) * 3} bytes decoded (limit {limit})",
                                field=name)
        try:
            out = _b64decode(value.encode("utf-8", errors="surrogatepass"))
        except gojson.Base64Error as exc:
            self.save(exc)
            return None
        if len(out) > limit:
            raise LimitExceeded(f"{name} too large: {len(out)} bytes decoded (limit {limit})", field=name)
        return out


class _Object(gojson.GoObject):
    """A decoded JSON object that also keeps every ``(key, value)`` pair in document order, duplicates
    included: Go decodes an object into a struct key by key, so a type error in an early duplicate still
    counts, and errors are met in document order."""

    __slots__ = ("pairs",)


def _object(pairs: list) -> _Object:
    obj = _Object()
    for k, v in pairs:
        if k in obj:
            del obj[k]
        obj[k] = v
    obj.pairs = pairs
    return obj


class _Number(Decimal):
    """A non-integer JSON number that remembers its literal: Go's errors and ``json.Number`` use the text
    (``1e3``), where ``str(Decimal)`` would give ``1E+3``."""

    __slots__ = ("text",)

    def __new__(cls, text: str):
        n = Decimal.__new__(cls, text)
        n.text = text
        return n

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return self.text if not spec else Decimal.__format__(self, spec)


def _reject_constant(name: str):
    raise ValueError(name)


# integers: at most bounded.MAX_DIGITS digits (check_json ran first), so int() is cheap
_SCANNER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_Number, parse_constant=_reject_constant)
_WS = " \t\r\n"


def _loads(text: str, strict: bool):
    """Go ``json.NewDecoder(body).Decode``'s value (``strict``: ``json.Unmarshal``'s, nothing but whitespace may
    follow), with objects as :class:`_Object`, from text :func:`sim.wire.bounded.check_json` passed. Invalid input
    goes to :func:`sim.wire.gojson.loads` for Go's error text (it parses the same way, so valid input never
    differs)."""
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _SCANNER.raw_decode(text, start)
    except ValueError:
        pass
    else:
        if not strict or not text[end:].strip(_WS):
            return value
    return gojson.loads(text, first_value=not strict)


def _fold(key: str) -> str:
    """Go's case-insensitive struct field match (``foldName``)."""
    return key.upper() if key.isascii() else gojson.fold_name(key)


def _pairs(obj: dict):
    return obj.pairs if isinstance(obj, _Object) else obj.items()


def decode_request(body: bytes, limits: RequestLimits | None = None,
                   ignore: tuple[str, ...] = (), strict: bool = False) -> RemotePaymentRequest:
    """Decode a request body; raises :class:`DecodeError` (400, Go's text) or :class:`LimitExceeded`.

    Keys are taken in document order, like Go's decoder: every key addressing a field (case-insensitively)
    is decoded into it, so the last one sets the value, and the error reported is the first one met.
    ``ignore`` names (upper-cased) fields the target struct lacks, e.g. livepeer-node has no ``inPixels``.
    ``strict``: ``json.Unmarshal`` (livepeer-node) instead of ``json.NewDecoder(r).Decode`` — bytes after the
    value are an error.
    """
    limits = limits or RequestLimits()
    body = bytes(body)
    if len(body) > limits.body:
        raise LimitExceeded(f"request body too large: {len(body)} bytes (limit {limits.body})", status=413,
                            field="body")
    try:
        text = bounded.check_json(body, what="body", max_bytes=limits.body, replace_invalid=True,
                                  first_value=not strict)
    except bounded.BoundedInputError as exc:
        raise LimitExceeded(str(exc), field="body JSON") from None
    try:
        doc = _loads(text, strict)
    except gojson.GoJSONError as exc:
        raise DecodeError(str(exc)) from None
    req = RemotePaymentRequest()
    if doc is None:
        return req
    if not isinstance(doc, dict):
        kind = gojson.go_kind(doc)
        raise DecodeError(f"json: cannot unmarshal {kind} into Go value of type server.{_T}")
    d = _Decoder(limits)
    for key, v in _pairs(doc):
        folded = _fold(key)
        field = _TOP_FIELDS.get(folded)
        if field is not None and folded not in ignore:
            field(d, req, v)  # unknown keys are skipped, like Go
    if d.first_error is not None:
        raise DecodeError(d.first_error)
    return req


def _state(d: _Decoder, req: RemotePaymentRequest, st) -> None:
    """``State RemotePaymentStateSig`` (a struct value: null leaves it, a second object merges into it)."""
    if st is None:
        return
    if not isinstance(st, dict):
        d.save(gojson.GoJSONError(f"json: cannot unmarshal {gojson.go_kind(st)} into Go struct field "
                                  f"{_T}.state of type server.RemotePaymentStateSig"))
        return
    for key, v in _pairs(st):
        f = _fold(key)
        if f == "STATE":
            b = d.blob(v, "state.State", "state.State", d.limits.state)
            if b is not None:
                req.state_state = b
        elif f == "SIG":
            b = d.blob(v, "state.Sig", "state.Sig", d.limits.sig)
            if b is not None:
                req.state_sig = b


def _blob_field(key: str, attr: str, limit_name: str):
    def decode(d: _Decoder, req: RemotePaymentRequest, v) -> None:
        b = d.blob(v, key, key, getattr(d.limits, limit_name))
        if b is not None:
            setattr(req, attr, b)
    return decode


def _string_field(key: str, attr: str):
    def decode(d: _Decoder, req: RemotePaymentRequest, v) -> None:
        s = d.string(v, key, key)
        if s is not None:
            setattr(req, attr, s)
    return decode


def _in_pixels(d: _Decoder, req: RemotePaymentRequest, v) -> None:
    try:
        n = gojson.go_int(v, "int64", f"{_T}.inPixels")
    except gojson.GoJSONError as exc:
        d.save(exc)
    else:
        if n is not None:
            req.in_pixels = n


def _max_price(d: _Decoder, req: RemotePaymentRequest, v) -> None:
    """``MaxPrice *runner.LiveRunnerPriceInfo``: null resets the pointer, objects merge into it."""
    if v is None:
        req.max_price = None
    elif not isinstance(v, dict):
        d.save(gojson.GoJSONError(f"json: cannot unmarshal {gojson.go_kind(v)} into Go struct field "
                                  f"{_T}.maxPrice of type runner.LiveRunnerPriceInfo"))
    else:
        if req.max_price is None:
            req.max_price = MaxPriceInfo()
        _decode_price(d, v, req.max_price)


_TOP_FIELDS = {
    "STATE": _state,
    "ORCHESTRATOR": _blob_field("orchestrator", "orchestrator", "orchestrator"),
    "MANIFESTID": _string_field("ManifestID", "manifest_id"),
    "APP": _string_field("app", "app"),
    "INPIXELS": _in_pixels,
    "TYPE": _string_field("type", "type"),
    "MAXPRICE": _max_price,
    "CAPABILITIES": _blob_field("capabilities", "capabilities", "capabilities"),
}


def _decode_price(d: _Decoder, obj: dict, info: MaxPriceInfo) -> MaxPriceInfo:
    for key, p in _pairs(obj):
        f = _fold(key)
        if f == "PRICE":
            if p is None:
                continue
            if isinstance(p, bool) or isinstance(p, (dict, list)):
                d.save(gojson.GoJSONError(f"json: cannot unmarshal {gojson.go_kind(p)} into Go struct "
                                          f"field {_T}.maxPrice.price of type json.Number"))
            elif isinstance(p, (int, Decimal)):
                info.price = str(p)
            else:  # json.Number from a quoted string must itself be a JSON number literal; Go stops here
                p = go_text(p)
                if len(p) > d.limits.string:
                    raise LimitExceeded(f"maxPrice.price too long: {len(p)} bytes (limit {d.limits.string})",
                                        field="maxPrice.price")
                if not gojson.is_number_literal(p):
                    raise DecodeError(str(gojson.invalid_number_literal(p)))
                info.price = p
        elif f in ("CURRENCY", "UNIT"):
            name = f.lower()
            s = d.string(p, f"maxPrice.{name}", f"maxPrice.{name}")
            if s is not None:
                setattr(info, name, s)
    return info
