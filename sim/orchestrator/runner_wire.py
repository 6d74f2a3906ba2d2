"""Live Runner request bodies decoded the way go-livepeer's ``encoding/json`` decodes them (``ai/runner/
live_runner.go`` and ``server/ai_http.go`` structs), so every malformed body gets go's 400 text.

Go's rules kept here: object keys match struct fields case-insensitively and the last one wins; unknown keys are
ignored; ``null`` leaves a field as it is; a value of the wrong JSON kind records the *first*
``json: cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>`` and decoding goes on; a bad
``json.Number`` string or a failing custom unmarshaler (``gpu``) aborts at once with its own text.

Every body goes through :func:`loads`, the one parse entry point: :func:`sim.wire.bounded.check_json` first (at most
1 MiB for a request body and 8 MiB for a ``runners.json``, nesting at most 64 levels, number literals at most 10 000
digits, invalid UTF-8 read as U+FFFD as go does), then go's decoder. Where the bound refuses what go would parse (a
body nested 65 levels deep, a 20 000-digit number) or the bytes are not JSON text at all (a NUL byte, UTF-16, gzip),
the 400 names the problem in lpdev's words (``body: nested deeper than 64 levels``) instead of go's syntax error.

A number literal's text is kept as its exact value (``Decimal``): go's ``json.Number`` keeps the literal as written,
so where go quotes it (``price_info.price``, ``cannot unmarshal number 1e2 into … of type int``) lpdev writes the
same value in Python's decimal notation (``1E+2``; ``100``, ``0.5`` and ``1.50`` are written as given).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sim.wire import bounded, gojson

__all__ = ["DecodeError", "loads", "Gpu", "PriceInfo", "HeartbeatRequest", "StaticEntry", "decode_heartbeat",
           "decode_static_config", "decode_channels", "decode_channel_names", "decode_proxy_request"]

_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?\Z")  # go isValidNumber
MAX_BODY = bounded.MAX_BYTES  # a request body (the routes answer 413 beyond it before parsing)
MAX_CONFIG = bounded.MAX_FILE_BYTES  # a runners.json
MAX_DEPTH = bounded.MAX_DEPTH  # go allows 10 000; no Live Runner body nests more than 4
MAX_DIGITS = 10_000  # a number literal; longer integers than 4 000 digits are decoded as Decimal, never as int


class DecodeError(ValueError):
    """The body Go's decoder would refuse; ``str()`` is go's message (answered as 400 text)."""


def loads(body: bytes, *, strict: bool = False, max_bytes: int = MAX_BODY) -> Any:
    """The one parse function for Live Runner bodies: the bounded checks, then ``json.NewDecoder(r.Body).Decode``
    (first value; ``strict=True`` is ``json.Unmarshal``: trailing data is an error). Raises :class:`DecodeError`
    (go's text, or the bound's one line naming the problem)."""
    try:
        bounded.check_json(body, what="body", max_bytes=max_bytes, max_depth=MAX_DEPTH, max_digits=MAX_DIGITS,
                           replace_invalid=True)
    except bounded.BoundedInputError as exc:
        raise DecodeError(str(exc)) from None
    try:
        return gojson.loads(body, first_value=not strict)  # the bytes as sent: go refuses a byte order mark
    except gojson.GoJSONError as exc:
        raise DecodeError(str(exc)) from None


@dataclass
class Gpu:
    id: str = ""
    name: str = ""
    vram_mb: int = 0

    def to_json(self) -> dict:
        out: dict = {}
        if self.id:
            out["id"] = self.id
        if self.name:
            out["name"] = self.name
        if self.vram_mb:
            out["vram_mb"] = self.vram_mb
        return out


@dataclass
class PriceInfo:
    price: str = ""  # json.Number text ("" when absent)
    currency: str = ""
    unit: str = ""

    def to_json(self) -> dict:
        out: dict = {"price": _number_value(self.price)}
        if self.currency:
            out["currency"] = self.currency
        if self.unit:
            out["unit"] = self.unit
        return out


@dataclass
class HeartbeatRequest:
    """``LiveRunnerHeartbeatRequest`` (and, with the static-only fields, a normalized static entry)."""

    runner_id: str = ""
    label: str = ""
    proxy: bool = False
    runner_url: str = ""
    version: str = ""
    metadata: str = ""
    status: str = ""
    mode: str = ""
    gpu: Gpu | None = None
    app: str = ""
    capacity: int = 0
    price_info: PriceInfo = field(default_factory=PriceInfo)
    session_ids: list[str] = field(default_factory=list)


@dataclass
class StaticEntry(HeartbeatRequest):
    """``StaticLiveRunnerConfigEntry``."""

    routing: str = ""
    health_url: str = ""
    healthy_status_code: int = 0


def _number_value(text: str):
    """A json.Number's JSON value (an int or exact decimal)."""
    if not text:
        return ""
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


# ------------------------------------------------------------------------------------------------ the decoder
class _Abort(Exception):
    pass


class _Decoder:
    def __init__(self) -> None:
        self.first_error: str | None = None

    def save(self, message: str) -> None:
        if self.first_error is None:
            self.first_error = message

    def type_error(self, value, struct: str, path: str, go_type: str) -> None:
        kind = gojson.go_kind(value)
        if kind == "number" and go_type == "int":  # Go quotes the literal only for numeric targets
            kind = f"number {value}"
        self.save(f"json: cannot unmarshal {kind} into Go struct field {struct}.{path} of type {go_type}")

    # field kinds: each returns the new value or raises _Skip (keep the old value)
    def string(self, v, struct, path):
        if isinstance(v, str):
            return v
        self.type_error(v, struct, path, "string")
        raise _Skip

    def int_(self, v, struct, path):
        if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63:
            return v
        self.type_error(v, struct, path, "int")
        raise _Skip

    def bool_(self, v, struct, path):
        if isinstance(v, bool):
            return v
        self.type_error(v, struct, path, "bool")
        raise _Skip

    def number(self, v, struct, path):
        """``json.Number``: a number literal as written, or a string holding a valid number."""
        if isinstance(v, bool) or not isinstance(v, (int, Decimal, str)):
            self.type_error(v, struct, path, "json.Number")
            raise _Skip
        if isinstance(v, str):
            if not _NUMBER.match(v):
                quoted = gojson.go_json_dumps(v).decode()
                raise _Abort(f"json: invalid number literal, trying to unmarshal {gojson.go_json_dumps(quoted).decode()}"
                             f" into Number")
            return v
        return str(v)

    def strings(self, v, struct, path):
        if not isinstance(v, list):
            self.type_error(v, struct, path, "[]string")
            raise _Skip
        out = []
        for x in v:
            if x is None:
                out.append("")
            elif isinstance(x, str):
                out.append(x)
            else:
                self.type_error(x, struct, path, "string")
                out.append("")
        return out

    def gpu(self, v, struct, path):
        """``*LiveRunnerGPU`` with its ``UnmarshalJSON``: an int is a device index, else a ``gpuAlias`` object."""
        if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63:
            return Gpu(id=str(v))  # lpdev has no hardware lookup (go: ghw); a negative index records only the id
        if not isinstance(v, dict):  # json.Unmarshal(data, &gpuAlias) names the kind only ("number")
            raise _Abort(f"json: cannot unmarshal {gojson.go_kind(v)} into Go value of type runner.gpuAlias")
        inner = _Decoder()
        g = Gpu()
        inner.fields(v, g, "gpuAlias", "", _GPU_FIELDS)
        if inner.first_error is not None:
            raise _Abort(inner.first_error)
        return g

    def price_info(self, v, struct, path, current: PriceInfo):
        if not isinstance(v, dict):
            self.type_error(v, struct, path, "runner.LiveRunnerPriceInfo")
            raise _Skip
        self.fields(v, current, "LiveRunnerPriceInfo", path + ".", _PRICE_FIELDS)
        return current

    def fields(self, doc: dict, target, struct: str, prefix: str, spec: dict) -> None:
        for key, value in doc.items():
            name = spec.get(gojson.fold_name(key))
            if name is None or value is None:
                continue  # unknown key / null: Go leaves the field alone
            attr, kind = name
            path = prefix + _JSON_NAME[attr]
            try:
                if kind == "price":
                    setattr(target, attr, self.price_info(value, struct, path, getattr(target, attr)))
                else:
                    setattr(target, attr, getattr(self, kind)(value, struct, path))
            except _Skip:
                pass


class _Skip(Exception):
    pass


_JSON_NAME = {
    "runner_id": "runner_id", "label": "label", "proxy": "proxy", "runner_url": "runner_url", "version": "version",
    "metadata": "metadata", "status": "status", "mode": "mode", "gpu": "gpu", "app": "app", "capacity": "capacity",
    "price_info": "price_info", "session_ids": "session_ids", "routing": "routing", "health_url": "health_url",
    "healthy_status_code": "healthy_status_code", "price": "price", "currency": "currency", "unit": "unit",
    "id": "id", "name": "name", "vram_mb": "vram_mb", "mime_type": "mime_type", "channels": "channels",
    "target_url": "target_url",
}


def _spec(**kinds) -> dict:
    return {gojson.fold_name(_JSON_NAME[a]): (a, k) for a, k in kinds.items()}


_GPU_FIELDS = _spec(id="string", name="string", vram_mb="int_")
_PRICE_FIELDS = _spec(price="number", currency="string", unit="string")
_COMMON = dict(label="string", proxy="bool_", runner_url="string", version="string", metadata="string",
               mode="string", gpu="gpu", app="string", capacity="int_", price_info="price")
_HEARTBEAT_FIELDS = _spec(runner_id="string", status="string", session_ids="strings", **_COMMON)
_STATIC_FIELDS = _spec(routing="string", health_url="string", healthy_status_code="int_", **_COMMON)


def _top(doc, go_type: str) -> dict | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise DecodeError(f"json: cannot unmarshal {gojson.go_kind(doc)} into Go value of type {go_type}")
    return doc


def _run(d: _Decoder, fn) -> None:
    try:
        fn()
    except _Abort as exc:
        raise DecodeError(str(exc)) from None
    if d.first_error is not None:
        raise DecodeError(d.first_error)


# ------------------------------------------------------------------------------------------------ the bodies
def decode_heartbeat(body: bytes) -> HeartbeatRequest:
    """``POST /runners/heartbeat``: ``json.NewDecoder(r.Body).Decode(&LiveRunnerHeartbeatRequest)``."""
    req = HeartbeatRequest()
    doc = _top(loads(body), "runner.LiveRunnerHeartbeatRequest")
    if doc is not None:
        d = _Decoder()
        _run(d, lambda: d.fields(doc, req, "LiveRunnerHeartbeatRequest", "", _HEARTBEAT_FIELDS))
    return req


def decode_static_config(data: bytes) -> list[StaticEntry]:
    """``-liveRunnerConfig`` / ``/registerLiveRunners``: ``json.Unmarshal(&StaticLiveRunnerConfig)``."""
    doc = _top(loads(data, strict=True, max_bytes=MAX_CONFIG), "runner.StaticLiveRunnerConfig")
    out: list[StaticEntry] = []
    if doc is None:
        return out
    d = _Decoder()

    def run():
        runners = None
        for key, value in doc.items():
            if gojson.fold_name(key) == "RUNNERS":
                runners = value if value is not None else runners
        if runners is None:
            return
        if not isinstance(runners, list):
            d.type_error(runners, "StaticLiveRunnerConfig", "runners", "[]runner.StaticLiveRunnerConfigEntry")
            return
        for item in runners:
            entry = StaticEntry()
            if item is not None:
                if not isinstance(item, dict):
                    d.type_error(item, "StaticLiveRunnerConfig", "runners", "runner.StaticLiveRunnerConfigEntry")
                else:
                    d.fields(item, entry, "StaticLiveRunnerConfigEntry", "runners.", _STATIC_FIELDS)
            out.append(entry)

    _run(d, run)
    return out


@dataclass
class ChannelRequest:
    name: str = ""
    mime_type: str = ""


_CHANNEL_FIELDS = _spec(name="string", mime_type="string")


def decode_channels(body: bytes) -> list[ChannelRequest]:
    """``POST …/channels``: ``liveRunnerTrickleChannelsRequest{Channels []liveRunnerTrickleChannelRequest}``."""
    doc = _top(loads(body), "server.liveRunnerTrickleChannelsRequest")
    out: list[ChannelRequest] = []
    if doc is None:
        return out
    d = _Decoder()

    def run():
        chans = _last(doc, "CHANNELS")
        if chans is None:
            return
        if not isinstance(chans, list):
            d.type_error(chans, "liveRunnerTrickleChannelsRequest", "channels",
                         "[]server.liveRunnerTrickleChannelRequest")
            return
        for item in chans:
            c = ChannelRequest()
            if item is not None:
                if not isinstance(item, dict):
                    d.type_error(item, "liveRunnerTrickleChannelsRequest", "channels",
                                 "server.liveRunnerTrickleChannelRequest")
                else:
                    d.fields(item, c, "liveRunnerTrickleChannelRequest", "channels.", _CHANNEL_FIELDS)
            out.append(c)

    _run(d, run)
    return out


def decode_channel_names(body: bytes) -> list[str]:
    """``DELETE …/channels``: ``deleteLiveRunnerTrickleChannelsRequest{Channels []string}``."""
    doc = _top(loads(body), "server.deleteLiveRunnerTrickleChannelsRequest")
    if doc is None:
        return []
    d = _Decoder()
    out: list[str] = []

    def run():
        names = _last(doc, "CHANNELS")
        if names is None:
            return
        try:
            out.extend(d.strings(names, "deleteLiveRunnerTrickleChannelsRequest", "channels"))
        except _Skip:
            pass

    _run(d, run)
    return out


def decode_proxy_request(body: bytes) -> str:
    """``POST …/proxy``: ``liveRunnerProxyRequest{TargetURL}``; an empty body (io.EOF) is fine."""
    if not body.strip(b" \t\r\n"):
        return ""
    doc = _top(loads(body), "server.liveRunnerProxyRequest")
    if doc is None:
        return ""
    d = _Decoder()
    out = [""]

    def run():
        v = _last(doc, "TARGET_URL")
        if v is None:
            return
        try:
            out[0] = d.string(v, "liveRunnerProxyRequest", "target_url")
        except _Skip:
            pass

    _run(d, run)
    return out[0]


def _last(doc: dict, folded: str):
    found = None
    for key, value in doc.items():
        if gojson.fold_name(key) == folded and value is not None:
            found = value
    return found
