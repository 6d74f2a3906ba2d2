"""The remote signer's state blob, ``RemotePaymentState`` (docs/remote-signer.md#the-state-blob), and its envelope.

The blob is Go JSON of a struct **without json tags**: keys are the Go field names in struct order, compact,
``LastUpdate`` as RFC 3339 with nanoseconds, ``OrchestratorAddress`` as lowercase ``0x`` hex, ``Balance`` a
``RatString``. :meth:`RemotePaymentState.to_json_bytes` reproduces Go's bytes exactly (the derived end-to-end vector in
``tests/test_wire_vectors.py``), so a Python signer and a Go signer with the same key accept each other's states.
Decoding is as tolerant as Go's ``json.Unmarshal``: keys match case-insensitively (last one wins), unknown keys are
ignored, missing keys leave zero values; a wrong JSON type is a :class:`StateError`.

The blob is signed with the signer's own key, personal_sign over the raw JSON bytes (flavour 1,
docs/wire.md#signatures). On the wire it travels as ``{"State": <base64>, "Sig": <base64>}`` (any key case, values may
be null).

Two layouts (``layout=``): ``"go"`` (go-livepeer, 13 fields, :data:`FIELD_ORDER`) and ``"node"`` (the
livepeer/node signer, 16 fields, :data:`NODE_FIELD_ORDER`: ``AuthPolicy`` and ``AuthMaxPrice`` after
``AuthExpiry``, ``ManifestID`` last). The same Go-tolerant decoder reads both: go-livepeer ignores node's three
extra keys (and re-emits the state without them), node reads go-livepeer's blob with those three empty.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from sim.pm.crypto import SignatureError, parse_address, recover_personal, sign_personal, verify_personal
from sim.pm.money import RatParseError, parse_rat, rat_string
from sim.wire.gojson import (
    Base64Error, GoJSONError, TimeParseError, b64decode, b64encode, format_rfc3339nano, get_ci, go_int,
    go_json_dumps, go_string, loads, parse_rfc3339nano,
)

__all__ = [
    "StateError", "RemotePaymentState", "GO_ZERO_TIME_NS", "FIELD_ORDER", "NODE_FIELD_ORDER", "LAYOUTS",
    "sign_state", "verify_state",
    "recover_state_signer", "envelope", "parse_envelope", "parse_envelope_json",
]

#: Go's zero ``time.Time`` (0001-01-01T00:00:00Z) in ns since the Unix epoch.
GO_ZERO_TIME_NS = -62_135_596_800 * 1_000_000_000

#: The Go struct's field order = the blob's key order.
FIELD_ORDER = (
    "StateID", "PMSessionID", "LastUpdate", "OrchestratorAddress", "App", "AuthExpiry", "SenderNonce",
    "Balance", "InitialPricePerUnit", "InitialPixelsPerUnit", "Type", "SequenceNumber", "AuthID",
)

#: livepeer/node's ``paymentState`` (docs/remote-signer.md#dialects).
NODE_FIELD_ORDER = (
    "StateID", "PMSessionID", "LastUpdate", "OrchestratorAddress", "App", "AuthExpiry", "AuthPolicy",
    "AuthMaxPrice", "SenderNonce", "Balance", "InitialPricePerUnit", "InitialPixelsPerUnit", "Type",
    "SequenceNumber", "AuthID", "ManifestID",
)
LAYOUTS = {"go": FIELD_ORDER, "node": NODE_FIELD_ORDER}

_GO_TYPE = "RemotePaymentState"


class StateError(ValueError):
    """A state blob or envelope Go would fail to decode; one line naming the problem."""


@dataclass(frozen=True)
class RemotePaymentState:
    """One signer session with one orchestrator (Go ``server.RemotePaymentState``)."""

    state_id: str = ""                    # StateID: random 8-hex id, keys the signer-side balance
    pm_session_id: str = ""               # PMSessionID: recipientRandHash hex of the params last used
    last_update: int = GO_ZERO_TIME_NS    # LastUpdate: ns since the Unix epoch
    last_update_tz: Any = None            # zone it is printed in: None/UTC, offset seconds, or a tzinfo
    orchestrator_address: bytes = b"\x00" * 20  # OrchestratorAddress (20 bytes)
    app: str = ""                         # App
    auth_expiry: int = 0                  # AuthExpiry: webhook cache expiry, unix s
    sender_nonce: int = 0                 # SenderNonce: last nonce used for PMSessionID
    balance: str = ""                     # Balance: RatString of the credit with the O ("" = none yet)
    initial_price_per_unit: int = 0       # InitialPricePerUnit
    initial_pixels_per_unit: int = 0      # InitialPixelsPerUnit
    type: str = ""                        # Type: "", live, lv2v, fixed
    sequence_number: int = 0              # SequenceNumber: +1 per request with state
    auth_id: str = ""                     # AuthID
    # livepeer/node only (layout "node"):
    auth_policy: str = ""                 # AuthPolicy: sha256 of the webhook URL + headers that approved
    auth_max_price: str = ""              # AuthMaxPrice: the webhook's maxPrice, re-applied while cached
    manifest_id: str = ""                 # ManifestID: the scope's manifest (the auth token's session id)

    # ---- convenience ---------------------------------------------------------------------------
    @property
    def balance_rat(self) -> Fraction | None:
        """``Balance`` parsed like Go's ``Rat.SetString`` (``None`` when empty or unparsable — Go then
        keeps a zero balance)."""
        if not self.balance:
            return None
        try:
            return parse_rat(self.balance)
        except RatParseError:
            return None

    def with_balance(self, balance: Fraction | int) -> "RemotePaymentState":
        return replace(self, balance=rat_string(Fraction(balance)))

    @property
    def initial_price(self) -> Fraction | None:
        if self.initial_pixels_per_unit == 0:
            return None
        return Fraction(self.initial_price_per_unit, self.initial_pixels_per_unit)

    @property
    def last_update_is_zero(self) -> bool:
        return self.last_update == GO_ZERO_TIME_NS

    # ---- encoding ------------------------------------------------------------------------------
    def to_go_dict(self) -> dict[str, Any]:
        """Field name -> JSON value, in Go struct order."""
        return {
            "StateID": self.state_id,
            "PMSessionID": self.pm_session_id,
            "LastUpdate": format_rfc3339nano(self.last_update, self.last_update_tz),
            "OrchestratorAddress": "0x" + bytes(self.orchestrator_address).hex(),
            "App": self.app,
            "AuthExpiry": int(self.auth_expiry),
            "SenderNonce": int(self.sender_nonce),
            "Balance": self.balance,
            "InitialPricePerUnit": int(self.initial_price_per_unit),
            "InitialPixelsPerUnit": int(self.initial_pixels_per_unit),
            "Type": self.type,
            "SequenceNumber": int(self.sequence_number),
            "AuthID": self.auth_id,
        }

    def to_node_dict(self) -> dict[str, Any]:
        """livepeer/node's 16 fields in its struct order (``LastUpdate`` always UTC there)."""
        d = self.to_go_dict()
        out = {}
        for k in NODE_FIELD_ORDER:
            if k == "AuthPolicy":
                out[k] = self.auth_policy
            elif k == "AuthMaxPrice":
                out[k] = self.auth_max_price
            elif k == "ManifestID":
                out[k] = self.manifest_id
            else:
                out[k] = d[k]
        return out

    def to_dict(self, layout: str = "go") -> dict[str, Any]:
        if layout == "go":
            return self.to_go_dict()
        if layout == "node":
            return self.to_node_dict()
        raise StateError(f"unknown state layout {layout!r}")

    def to_json_bytes(self, layout: str = "go") -> bytes:
        """Exactly Go's ``json.Marshal(state)`` for the layout's struct."""
        if len(bytes(self.orchestrator_address)) != 20:
            raise StateError("OrchestratorAddress must be 20 bytes")
        return go_json_dumps(self.to_dict(layout))

    # ---- decoding ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, raw: bytes | str, layout: str = "go") -> "RemotePaymentState":
        """Go ``json.Unmarshal(raw, &state)``: tolerant of key case and unknown keys, strict on types.
        ``layout`` names the struct decoded into (``"go"`` ignores node's three extra keys)."""
        try:
            obj = loads(raw)
        except GoJSONError as exc:
            raise StateError(f"state is not valid JSON: {exc}") from None
        if obj is None:
            raise StateError("state is JSON null")
        if not isinstance(obj, dict):
            kind = {list: "array", str: "string", bool: "bool"}.get(type(obj), "number")
            raise StateError(f"json: cannot unmarshal {kind} into Go value of type server.{_GO_TYPE}")
        return cls.from_obj(obj, layout)

    @classmethod
    def from_obj(cls, obj: dict, layout: str = "go") -> "RemotePaymentState":
        def f(name: str) -> str:
            return f"{_GO_TYPE}.{name}"

        kw: dict[str, Any] = {}
        try:
            strings = [("StateID", "state_id"), ("PMSessionID", "pm_session_id"), ("App", "app"),
                       ("Balance", "balance"), ("Type", "type"), ("AuthID", "auth_id")]
            if layout == "node":
                strings += [("AuthPolicy", "auth_policy"), ("AuthMaxPrice", "auth_max_price"),
                            ("ManifestID", "manifest_id")]
            for name, attr in strings:
                v = go_string(get_ci(obj, name), f(name))
                if v is not None:
                    kw[attr] = v
            for name, attr, go_type in (("AuthExpiry", "auth_expiry", "int64"),
                                        ("SenderNonce", "sender_nonce", "uint32"),
                                        ("InitialPricePerUnit", "initial_price_per_unit", "int64"),
                                        ("InitialPixelsPerUnit", "initial_pixels_per_unit", "int64"),
                                        ("SequenceNumber", "sequence_number", "uint64")):
                v = go_int(get_ci(obj, name), go_type, f(name))
                if v is not None:
                    kw[attr] = v
        except GoJSONError as exc:
            raise StateError(str(exc)) from None

        lu = get_ci(obj, "LastUpdate")
        if lu is not None:
            if not isinstance(lu, str):
                raise StateError("Time.UnmarshalJSON: input is not a JSON string")
            try:
                kw["last_update"], off = parse_rfc3339nano(lu)
                kw["last_update_tz"] = off or None  # UTC is None, as in the default
            except TimeParseError as exc:
                raise StateError(str(exc)) from None

        addr = get_ci(obj, "OrchestratorAddress")
        if not isinstance(addr, str):
            # hexutil's UnmarshalJSON is called even for null and rejects every non-string.
            if _present(obj, "OrchestratorAddress"):
                raise StateError(f"json: cannot unmarshal non-string into Go struct field "
                                 f"{f('OrchestratorAddress')} of type common.Address")
        else:
            if not addr.startswith(("0x", "0X")):
                raise StateError(f"json: cannot unmarshal hex string without 0x prefix into Go struct field "
                                 f"{f('OrchestratorAddress')} of type common.Address")
            try:
                kw["orchestrator_address"] = parse_address(addr)
            except ValueError:
                raise StateError(f"invalid OrchestratorAddress {addr!r}: want 0x followed by 40 hex digits") from None
        return cls(**kw)


def _present(obj: dict, key: str) -> bool:
    sentinel = object()
    return get_ci(obj, key, sentinel) is not sentinel


# --------------------------------------------------------------------------------------------------
# Signature over the raw blob (flavour 1, docs/wire.md#signatures)
# --------------------------------------------------------------------------------------------------
def sign_state(priv: bytes, raw: bytes) -> bytes:
    """``Eth.Sign(stateBytes)``: personal_sign over the raw JSON bytes; 65 bytes, v in {27, 28}."""
    return sign_personal(priv, bytes(raw))


def verify_state(addr: bytes, raw: bytes, sig: bytes) -> bool:
    """Go ``VerifySig(signerAddr, stateBytes, sig)``."""
    return verify_personal(addr, bytes(raw), bytes(sig))


def recover_state_signer(raw: bytes, sig: bytes) -> bytes:
    """Address that signed the blob; raises :class:`~sim.pm.crypto.SignatureError` (Go's messages)."""
    return recover_personal(bytes(raw), bytes(sig))


# --------------------------------------------------------------------------------------------------
# Envelope {"State": b64, "Sig": b64}
# --------------------------------------------------------------------------------------------------
def envelope(state: bytes | None, sig: bytes | None) -> dict[str, str | None]:
    """The envelope as Go emits it (``[]byte`` nil -> null)."""
    return {"State": None if state is None else b64encode(state),
            "Sig": None if sig is None else b64encode(sig)}


def _bytes_field(obj: dict, name: str) -> bytes:
    v = get_ci(obj, name)
    if v is None:
        return b""
    if not isinstance(v, str):
        kind = "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__
        kind = {"dict": "object", "GoObject": "object", "list": "array", "bool": "bool"}.get(kind, kind)
        raise StateError(f"json: cannot unmarshal {kind} into Go struct field RemotePaymentStateSig.{name} "
                         f"of type []uint8")
    try:
        return b64decode(v)
    except Base64Error as exc:
        raise StateError(f"state.{name}: {exc}") from None


def parse_envelope(obj: Any) -> tuple[bytes, bytes]:
    """``(state_bytes, sig)`` from a decoded envelope; ``None``/missing values give ``b""``.
    A non-object envelope is Go's UnmarshalTypeError."""
    if obj is None:
        return b"", b""
    if not isinstance(obj, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(obj), "number")
        raise StateError(f"json: cannot unmarshal {kind} into Go struct field RemotePaymentRequest.state "
                         f"of type server.RemotePaymentStateSig")
    return _bytes_field(obj, "State"), _bytes_field(obj, "Sig")


def parse_envelope_json(raw: bytes | str) -> tuple[bytes, bytes]:
    try:
        obj = loads(raw)
    except GoJSONError as exc:
        raise StateError(f"state envelope is not valid JSON: {exc}") from None
    return parse_envelope(obj)


__all__ += ["SignatureError"]
