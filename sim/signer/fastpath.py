"""Fast paths for the signer's per-request JSON and base64 work, falling back to :mod:`sim.wire` for anything
unusual so behaviour (and every error text) stays exactly :mod:`sim.wire.gojson` / :mod:`sim.wire.state`'s.

* :func:`b64decode`: C ``binascii`` strict decoding when the input is plain padded base64 (what every client
  sends); otherwise ``gojson.b64decode`` (Go's lenient newline skipping and its error offsets).
* :func:`go_dumps`: ``json.dumps`` when the output cannot differ from Go's (no ``< > &``, U+2028/2029 or lone
  surrogates in it); otherwise ``gojson.go_json_dumps``.
* :func:`state_from_json`: a direct decode of a blob with exactly Go's keys in Go's order and Go's types — what
  this signer itself writes, and signature-checked before this runs; otherwise ``RemotePaymentState.from_json``.
  Either way the blob passes :func:`sim.wire.bounded.check_json` first (size, encoding, nesting, digits).
* :func:`state_to_json`: :func:`go_dumps` of the state's Go dict.

``tests/test_signer_units.py`` checks each against the slow path on generated input.
"""
from __future__ import annotations

import binascii
import json
import re

from sim.pm.crypto import parse_address
from sim.wire import bounded, gojson
from sim.wire.state import FIELD_ORDER, NODE_FIELD_ORDER, RemotePaymentState, StateError

__all__ = ["b64decode", "go_dumps", "state_from_json", "state_to_json", "fold_index"]

_B64_PLAIN = re.compile(rb"[A-Za-z0-9+/]*={0,2}\Z")
_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def b64decode(data: bytes) -> bytes:
    if len(data) % 4 == 0 and _B64_PLAIN.match(data):
        try:
            return binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError):
            pass
    return gojson.b64decode(data)


def go_dumps(obj, *, newline: bool = False, sort_keys: bool = False) -> bytes:
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False)
    except (TypeError, ValueError):
        return gojson.go_json_dumps(obj, newline=newline, sort_keys=sort_keys)
    if _UNSAFE.search(text) or "\x7f" in text:
        return gojson.go_json_dumps(obj, newline=newline, sort_keys=sort_keys)
    return (text + "\n" if newline else text).encode("utf-8")


def fold_index(obj: dict) -> dict:
    """Go's case-insensitive field lookup table for one object: fold(key) -> value, the last key winning.

    ASCII keys fold with ``str.upper`` (what ``gojson.fold_name`` does for ASCII); others use ``fold_name``."""
    out = {}
    for k, v in obj.items():
        out[k.upper() if k.isascii() else gojson.fold_name(k)] = v
    return out


_INT_FIELDS = {"AuthExpiry": (-(2**63), 2**63 - 1), "SenderNonce": (0, 2**32 - 1),
               "InitialPricePerUnit": (-(2**63), 2**63 - 1), "InitialPixelsPerUnit": (-(2**63), 2**63 - 1),
               "SequenceNumber": (0, 2**64 - 1)}
_STR_FIELDS = ("StateID", "PMSessionID", "App", "Balance", "Type", "AuthID")
_NODE_STR_FIELDS = _STR_FIELDS + ("AuthPolicy", "AuthMaxPrice", "ManifestID")
_ORDER = {"go": (FIELD_ORDER, _STR_FIELDS), "node": (NODE_FIELD_ORDER, _NODE_STR_FIELDS)}
MAX_STATE_BYTES = 64 * 1024  # RequestLimits.state is 16 KiB; this bounds a caller that did not apply it


def state_from_json(raw: bytes, layout: str = "go") -> RemotePaymentState:
    """``RemotePaymentState.from_json(raw, layout)``, fast for a blob in the layout's own key order."""
    order, strs = _ORDER[layout]
    try:
        raw = bounded.check_json(raw, what="state", max_bytes=MAX_STATE_BYTES, replace_invalid=True)
    except bounded.BoundedInputError as exc:
        raise StateError(str(exc)) from None
    try:
        obj = json.loads(raw)
    except ValueError:
        return RemotePaymentState.from_json(raw, layout)
    if not isinstance(obj, dict) or tuple(obj) != order:
        return RemotePaymentState.from_json(raw, layout)
    for k in strs:
        if not isinstance(obj[k], str):
            return RemotePaymentState.from_json(raw, layout)
    for k, (lo, hi) in _INT_FIELDS.items():
        v = obj[k]
        if type(v) is not int or not lo <= v <= hi:
            return RemotePaymentState.from_json(raw, layout)
    lu, addr = obj["LastUpdate"], obj["OrchestratorAddress"]
    if not isinstance(lu, str) or not isinstance(addr, str) or not addr.startswith(("0x", "0X")):
        return RemotePaymentState.from_json(raw, layout)
    try:
        ns, off = gojson.parse_rfc3339nano(lu)
        orch = parse_address(addr)
    except ValueError:
        return RemotePaymentState.from_json(raw, layout)
    extra = {} if layout == "go" else {"auth_policy": obj["AuthPolicy"], "auth_max_price": obj["AuthMaxPrice"],
                                       "manifest_id": obj["ManifestID"]}
    return RemotePaymentState(
        state_id=obj["StateID"], pm_session_id=obj["PMSessionID"], last_update=ns, last_update_tz=off or None,
        orchestrator_address=orch, app=obj["App"], auth_expiry=obj["AuthExpiry"], sender_nonce=obj["SenderNonce"],
        balance=obj["Balance"], initial_price_per_unit=obj["InitialPricePerUnit"],
        initial_pixels_per_unit=obj["InitialPixelsPerUnit"], type=obj["Type"],
        sequence_number=obj["SequenceNumber"], auth_id=obj["AuthID"], **extra)


def state_to_json(state: RemotePaymentState, layout: str = "go") -> bytes:
    if len(bytes(state.orchestrator_address)) != 20:
        return state.to_json_bytes(layout)  # raises StateError with wire's message
    return go_dumps(state.to_dict(layout))
