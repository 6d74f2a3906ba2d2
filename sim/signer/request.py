"""Decoding ``POST /generate-live-payment`` bodies the way go-livepeer does (protocol.md §3.4, §3.7 step 2).

Go's ``json.NewDecoder(body).Decode(&RemotePaymentRequest{})``:

* only the first JSON value is read (trailing bytes ignored); an empty body is ``EOF``;
* object keys match struct fields case-insensitively and the last key addressing a field wins; unknown keys
  are ignored; ``null`` leaves a field at its zero value;
* ``[]byte`` fields are standard, padded base64 strings;
* ``inPixels`` must be a JSON integer that fits int64 (``1.5``, ``1e3`` and strings are errors);
* a type mismatch is remembered and decoding goes on; the first such error is returned.

The Go-JSON building blocks are :mod:`sim.wire.gojson`. On top of Go, lpdev enforces
:class:`~sim.signer.config.RequestLimits` (go-livepeer's ``TODO length limits``): an oversized field is a 400
naming the field, an oversized body a 413 (:class:`LimitExceeded`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sim.signer.config import RequestLimits
from sim.signer.fastpath import b64decode as _b64decode, fold_index
from sim.wire import gojson

__all__ = ["RemotePaymentRequest", "MaxPriceInfo", "DecodeError", "LimitExceeded", "decode_request"]

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


_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?\Z")


class _Decoder:
    """Field-by-field decoding that keeps Go's "first type error wins, keep going" behaviour."""

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self.first_error: str | None = None

    def save(self, exc: Exception) -> None:
        if self.first_error is None:
            self.first_error = str(exc)

    def string(self, value, path: str, name: str) -> str | None:
        try:
            s = gojson.go_string(value, f"{_T}.{path}")
        except gojson.GoJSONError as exc:
            self.save(exc)
            return None
        if s is not None:
            n = len(s.encode("utf-8", errors="surrogatepass"))
            if n > self.limits.string:
                raise LimitExceeded(f"{name} too long: {n} bytes (limit {self.limits.string})", field=name)
        return s

    def blob(self, value, path: str, name: str, limit: int) -> bytes | None:
        """A ``[]byte`` field: ``None`` if null/invalid (invalid is remembered), else the decoded bytes."""
        if value is None:
            return b""
        if not isinstance(value, str):
            self.save(gojson.GoJSONError(
                f"json: cannot unmarshal {_kind(value)} into Go struct field {_T}.{path} of type []uint8"))
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


def _kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, Decimal)):
        return f"number {v}"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    return "null"


def decode_request(body: bytes, limits: RequestLimits | None = None) -> RemotePaymentRequest:
    """Decode a request body; raises :class:`DecodeError` (400, Go's text) or :class:`LimitExceeded`."""
    limits = limits or RequestLimits()
    if len(body) > limits.body:
        raise LimitExceeded(f"request body too large: {len(body)} bytes (limit {limits.body})", status=413,
                            field="body")
    try:
        doc = gojson.loads(body, first_value=True)
    except gojson.GoJSONError as exc:
        raise DecodeError(str(exc)) from None
    except RecursionError:
        raise DecodeError("exceeded max depth") from None
    req = RemotePaymentRequest()
    if doc is None:
        return req
    if not isinstance(doc, dict):
        kind = _kind(doc).split(" ")[0]
        raise DecodeError(f"json: cannot unmarshal {kind} into Go value of type server.{_T}")
    d = _Decoder(limits)
    _missing = object()

    def g(obj: dict, key: str, default):
        return fold_index(obj).get(key.upper(), default) if obj is not doc else top.get(key.upper(), default)

    top = fold_index(doc)

    st = g(doc, "state", _missing)
    if st is not _missing and st is not None:
        if not isinstance(st, dict):
            d.save(gojson.GoJSONError(f"json: cannot unmarshal {_kind(st).split(' ')[0]} into Go struct field "
                                      f"{_T}.state of type server.RemotePaymentStateSig"))
        else:
            v = g(st, "State", _missing)
            if v is not _missing:
                b = d.blob(v, "state.State", "state.State", limits.state)
                if b is not None:
                    req.state_state = b
            v = g(st, "Sig", _missing)
            if v is not _missing:
                b = d.blob(v, "state.Sig", "state.Sig", limits.sig)
                if b is not None:
                    req.state_sig = b

    for key, attr, limit in (("orchestrator", "orchestrator", limits.orchestrator),
                             ("capabilities", "capabilities", limits.capabilities)):
        v = g(doc, key, _missing)
        if v is not _missing:
            b = d.blob(v, key, key, limit)
            if b is not None:
                setattr(req, attr, b)

    for key, attr in (("ManifestID", "manifest_id"), ("app", "app"), ("type", "type")):
        v = g(doc, key, _missing)
        if v is not _missing:
            s = d.string(v, key, key)
            if s is not None:
                setattr(req, attr, s)

    v = g(doc, "inPixels", _missing)
    if v is not _missing:
        try:
            n = gojson.go_int(v, "int64", f"{_T}.inPixels")
        except gojson.GoJSONError as exc:
            d.save(exc)
        else:
            if n is not None:
                req.in_pixels = n

    v = g(doc, "maxPrice", _missing)
    if v is not _missing and v is not None:
        if not isinstance(v, dict):
            d.save(gojson.GoJSONError(f"json: cannot unmarshal {_kind(v).split(' ')[0]} into Go struct field "
                                      f"{_T}.maxPrice of type runner.LiveRunnerPriceInfo"))
        else:
            req.max_price = _decode_price(d, v)

    if d.first_error is not None:
        raise DecodeError(d.first_error)
    return req


def _decode_price(d: _Decoder, obj: dict) -> MaxPriceInfo:
    info = MaxPriceInfo()
    _missing = object()
    idx = fold_index(obj)
    p = idx.get("PRICE", _missing)
    if p is not _missing and p is not None:
        if isinstance(p, bool) or isinstance(p, (dict, list)):
            d.save(gojson.GoJSONError(f"json: cannot unmarshal {_kind(p)} into Go struct field "
                                      f"{_T}.maxPrice.price of type json.Number"))
        elif isinstance(p, (int, Decimal)):
            info.price = str(p)
        else:  # json.Number from a quoted string must itself be a JSON number literal
            if len(p) > d.limits.string:
                raise LimitExceeded(f"maxPrice.price too long: {len(p)} bytes (limit {d.limits.string})",
                                    field="maxPrice.price")
            if not _NUMBER.match(p):
                raise DecodeError(f"json: invalid number literal, trying to unmarshal {_go_quote(p)} into Number")
            info.price = p
    for key in ("currency", "unit"):
        v = idx.get(key.upper(), _missing)
        if v is not _missing:
            s = d.string(v, f"maxPrice.{key}", f"maxPrice.{key}")
            if s is not None:
                setattr(info, key, s)
    return info


def _go_quote(s: str) -> str:
    """``%q`` of the raw JSON token ``"s"`` (Go prints the quoted literal, quoted again)."""
    import json

    return json.dumps('"' + s + '"')
