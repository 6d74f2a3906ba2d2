"""Fault knobs of the fake orchestrator: set by CLI flag at start or at runtime via ``POST /admin/faults``.

Every knob has a neutral default (no fault). ``Faults.update(obj)`` validates a JSON object and raises
:class:`FaultError` (→ 400) naming the bad key. Actions that are not states (``rotate_certificate``) are
handled by the server, not stored here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["Faults", "FaultError", "KNOBS"]

KNOBS = {
    "price_per_unit": "int|null — quote this price per unit instead of the configured one (price change)",
    "pixels_per_unit": "int|null — quote this pixels per unit instead of the configured one",
    "params_expiry_blocks": "int|null — expiration block = last block + N instead of + 40 "
                            "(1 = stale: the sender sees them as expired; 0 = already expired here too)",
    "face_value": "int|null — issue this face value (win prob still from the ticket EV): 'face value too high'",
    "win_prob_max": "bool — issue winProb = 2^256-1 (every ticket wins; the sender's EV check refuses it)",
    "reject_payments": "{status:int, message:str}|null — answer /payment with this plain-text error",
    "delay_s": "float — sleep this long before answering any non-admin request",
    "drop_connection": "bool — abort non-admin requests without a response",
    "capacity_full": "bool — GetOrchestrator and segCreds checks answer OrchestratorCapped",
    "stop_redeeming": "bool — keep winning tickets queued, send no redemption",
    "crash_at": "null|'before_send'|'after_send' — kill -9 this process at that point of the next redemption "
                "(the ticket is marked 'sending'; after_send: the transaction was mined) — chaos testing",
}


class FaultError(ValueError):
    pass


@dataclass
class Faults:
    price_per_unit: int | None = None
    pixels_per_unit: int | None = None
    params_expiry_blocks: int | None = None
    face_value: int | None = None
    win_prob_max: bool = False
    reject_payments: dict | None = None
    delay_s: float = 0.0
    drop_connection: bool = False
    capacity_full: bool = False
    stop_redeeming: bool = False
    crash_at: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def update(self, obj: dict) -> list[str]:
        """Apply a JSON object; all-or-nothing. Returns the keys changed."""
        if not isinstance(obj, dict):
            raise FaultError("faults must be a JSON object")
        names = {f.name for f in fields(self)}
        new = {}
        for k, v in obj.items():
            if k not in names:
                raise FaultError(f"unknown fault {k!r}; known: {', '.join(sorted(names))}")
            new[k] = _check(k, v)
        for k, v in new.items():
            setattr(self, k, v)
        return sorted(new)


def _check(k: str, v):
    if k in ("price_per_unit", "pixels_per_unit", "params_expiry_blocks", "face_value"):
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise FaultError(f"{k} must be a non-negative integer or null")
        if k == "pixels_per_unit" and v == 0:
            raise FaultError("pixels_per_unit must be > 0")
        return v
    if k in ("win_prob_max", "drop_connection", "capacity_full", "stop_redeeming"):
        if not isinstance(v, bool):
            raise FaultError(f"{k} must be true or false")
        return v
    if k == "delay_s":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 600:
            raise FaultError("delay_s must be a number of seconds in [0, 600]")
        return float(v)
    if k == "crash_at":
        if v not in (None, "before_send", "after_send"):
            raise FaultError("crash_at must be null, \"before_send\" or \"after_send\"")
        return v
    if k == "reject_payments":
        if v is None:
            return None
        if not isinstance(v, dict):
            raise FaultError("reject_payments must be {\"status\": 4xx/5xx, \"message\": \"...\"} or null")
        status, msg = v.get("status", 400), v.get("message", "payment rejected by fault knob")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultError("reject_payments.status must be an integer in [400, 599]")
        if not isinstance(msg, str):
            raise FaultError("reject_payments.message must be a string")
        return {"status": status, "message": msg}
    raise FaultError(f"unknown fault {k!r}")  # pragma: no cover
