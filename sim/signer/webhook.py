"""The remote signer's auth webhook, sans-IO (docs/remote-signer.md#auth-webhook-and-caller-identity).

The core builds a :class:`WebhookCall` (URL, headers, exact body bytes); the adapter performs the POST and hands
back a :class:`WebhookOutcome`; :func:`parse_outcome` turns that into a decision with go-livepeer's statuses:

* transport error, HTTP status != 200, unreadable or invalid JSON, missing or non-positive ``status`` -> 500
  (go-livepeer masks these as "Internal Server Error"; lpdev keeps 500 but says what went wrong);
* ``status`` != 200 -> that status with ``reason`` (or ``signer auth rejected request with status N``);
  a status outside 100–999 would make Go's ``WriteHeader`` panic (connection dropped): lpdev answers 500;
* ``status`` == 200 -> accepted, with ``expiry``, ``auth_id`` and the optional ``maxPrice`` object.

:func:`parse_outcome_node` is the livepeer/node signer's reading (docs/remote-signer.md#dialects): transport error ->
502 ``signer auth webhook unavailable``; HTTP != 200 -> 502 ``signer auth webhook failed``; unreadable, too large, not
the reply struct, or a ``status`` neither 200 nor 400–599 -> 502 ``invalid signer auth response``; 400–599 -> that
status with ``signer auth rejected request with status N`` (the reason is dropped). :func:`auth_policy` is node's
``AuthPolicy``: which webhook configuration approved a cached state.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sim.signer.request import go_text
from sim.wire import bounded, gojson

__all__ = ["WebhookCall", "WebhookOutcome", "WebhookDecision", "canonical_header", "webhook_body",
           "parse_outcome", "parse_outcome_node", "auth_policy"]


@dataclass(frozen=True)
class WebhookCall:
    url: str
    headers: dict[str, str]
    body: bytes
    timeout_s: float = 5.0


@dataclass(frozen=True)
class WebhookOutcome:
    """What the adapter saw: ``error`` for a transport/read failure, else the HTTP status and body."""

    http_status: int = 0
    body: bytes = b""
    error: str | None = None


@dataclass
class WebhookDecision:
    status: int  # the status the signer answers with (200 = go on)
    message: str = ""
    expiry: int = 0
    auth_id: str = ""
    max_price: dict | None = None
    reply: dict = field(default_factory=dict)


def canonical_header(name: str) -> str:
    """Go ``textproto.CanonicalMIMEHeaderKey``: ``x-request-id`` -> ``X-Request-Id`` (unchanged if not a token)."""
    for ch in name:
        if not (ch.isascii() and (ch.isalnum() or ch in "!#$%&'*+-.^_`|~")):
            return name
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def webhook_body(headers: list[tuple[str, str]], state_obj: dict) -> bytes:
    """``{"headers": {Canonical-Name: [values…]}, "state": {…}}`` as Go's ``json.Marshal`` writes it.

    ``headers`` are the incoming request's headers in order (``Host`` excluded, as Go's ``r.Header`` has it);
    ``state_obj`` is the state in Go field order (``RemotePaymentState`` as a JSON object).
    """
    hmap: dict[str, list[str]] = {}
    for k, v in headers:
        ck = canonical_header(k)
        if ck == "Host":
            continue
        hmap.setdefault(ck, []).append(v)
    hdr = {k: hmap[k] for k in sorted(hmap)}
    return gojson.go_json_dumps({"headers": hdr, "state": state_obj})


def parse_outcome(outcome: WebhookOutcome, *, max_body: int = 64 * 1024) -> WebhookDecision:
    if outcome.error is not None:
        return WebhookDecision(500, f"failed to call remote signer webhook: {outcome.error}")
    if outcome.http_status != 200:
        return WebhookDecision(500, f"signer auth error status {outcome.http_status}")
    if len(outcome.body) > max_body:
        return WebhookDecision(500, f"signer auth invalid response: body larger than {max_body} bytes")
    try:
        doc = gojson.loads(_checked(outcome.body, max_body))
    except (gojson.GoJSONError, bounded.BoundedInputError) as exc:
        return WebhookDecision(500, f"signer auth invalid response: {exc}")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        kind = "array" if isinstance(doc, list) else "string" if isinstance(doc, str) else "number"
        return WebhookDecision(500, f"signer auth invalid response: json: cannot unmarshal {kind} into Go value "
                                    "of type server.authResponse")
    try:
        status = gojson.go_int(gojson.get_ci(doc, "status"), "int", "authResponse.status")
        reason = go_text(gojson.go_string(gojson.get_ci(doc, "reason"), "authResponse.reason") or "")
        expiry = gojson.go_int(gojson.get_ci(doc, "expiry"), "int64", "authResponse.expiry") or 0
        auth_id = go_text(gojson.go_string(gojson.get_ci(doc, "auth_id"), "authResponse.auth_id") or "")
    except gojson.GoJSONError as exc:
        return WebhookDecision(500, f"signer auth invalid response: {exc}")
    max_price = gojson.get_ci(doc, "maxPrice")
    if max_price is not None:
        problem = _max_price_type_error(max_price)
        if problem:
            return WebhookDecision(500, f"signer auth invalid response: {problem}")
    if status is None or status <= 0:
        return WebhookDecision(500, "signer auth invalid status")
    if status != 200:
        if not 100 <= status <= 999:
            return WebhookDecision(500, f"signer auth returned status {status}, which is not a valid HTTP status "
                                        "(go-livepeer would drop the connection)")
        return WebhookDecision(status, reason or f"signer auth rejected request with status {status}", reply=doc)
    return WebhookDecision(200, "", expiry=expiry, auth_id=auth_id, max_price=max_price, reply=doc)


def _checked(body: bytes, max_body: int) -> str:
    """The reply's text after :func:`sim.wire.bounded.check_json` (size, encoding, nesting, digits): the webhook is
    another service, and what it answers is untrusted input."""
    return bounded.check_json(body, what="reply", max_bytes=max_body, replace_invalid=True)


def _max_price_type_error(mp) -> str:
    """Errors Go's ``json.Unmarshal`` into ``*runner.LiveRunnerPriceInfo`` would give (-> 500, not 502)."""
    t = "authResponse.maxPrice"
    if not isinstance(mp, dict):
        return f"json: cannot unmarshal non-object into Go struct field {t} of type runner.LiveRunnerPriceInfo"
    price = gojson.get_ci(mp, "price")
    if isinstance(price, str) and not gojson.is_number_literal(price):
        return str(gojson.invalid_number_literal(price))
    if price is not None and (isinstance(price, (bool, dict, list))):
        return f"json: cannot unmarshal into Go struct field {t}.price of type json.Number"
    for k in ("currency", "unit"):
        v = gojson.get_ci(mp, k)
        if v is not None and not isinstance(v, str):
            return f"json: cannot unmarshal into Go struct field {t}.{k} of type string"
    return ""


def auth_policy(url: str, headers: dict[str, str] | None) -> str:
    """livepeer/node ``AuthPolicy``: hex sha256 of Go ``json.Marshal(struct{URL; Headers map}{url, headers})``
    (map keys sorted; no headers configured = ``null``)."""
    doc = {"URL": url, "Headers": ({k: headers[k] for k in sorted(headers)} if headers else None)}
    return hashlib.sha256(gojson.go_json_dumps(doc)).hexdigest()


def parse_outcome_node(outcome: WebhookOutcome, messages: dict[str, str], *,
                       max_body: int = 1 << 20) -> WebhookDecision:
    """livepeer/node ``authorizePayment``'s reading of the webhook's answer (texts from the profile)."""
    if outcome.error is not None:
        return WebhookDecision(502, messages["webhook_unavailable"], reply={"cause": outcome.error})
    if outcome.http_status != 200:
        return WebhookDecision(502, messages["webhook_failed"], reply={"http_status": outcome.http_status})
    invalid = WebhookDecision(502, messages["webhook_invalid"])
    if len(outcome.body) > max_body:
        return invalid
    try:
        doc = gojson.loads(_checked(outcome.body, max_body))
    except (gojson.GoJSONError, bounded.BoundedInputError):
        return invalid
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return invalid
    try:
        status = gojson.go_int(gojson.get_ci(doc, "status"), "int", "status") or 0
        gojson.go_string(gojson.get_ci(doc, "reason"), "reason")
        expiry = gojson.go_int(gojson.get_ci(doc, "expiry"), "int64", "expiry") or 0
        auth_id = go_text(gojson.go_string(gojson.get_ci(doc, "auth_id"), "auth_id") or "")
    except gojson.GoJSONError:
        return invalid
    max_price = gojson.get_ci(doc, "maxPrice")
    if max_price is not None and _max_price_type_error(max_price):
        return invalid
    if status != 200 and not 400 <= status <= 599:
        return invalid
    if status != 200:
        return WebhookDecision(status, messages["webhook_rejected"].format(n=status), reply=doc)
    return WebhookDecision(200, "", expiry=expiry, auth_id=auth_id, max_price=max_price, reply=doc)
