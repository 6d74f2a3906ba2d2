"""Signer profiles: which remote-signer dialect lpdev's one signer core speaks.

A profile is a table of facts — each with its value, its source and whether it was read in source or inferred —
from which :class:`Profile` is built. The core (:mod:`sim.signer.core`) runs the check steps a profile lists, in
the profile's order, and reads every status, message, limit and rule from it; the HTTP adapter reads the envelope,
the busy limit, the body limit and the health endpoints; ``lpdev conformance`` builds its expectations from the
same tables. To change a fact (e.g. an inferred message), change its row here: the signer and the conformance
matrix follow.

Profiles:

* ``go-livepeer`` — the latest go-livepeer mainline, v0.9.3 (the default): v0.9.1 plus the nonce-500 refresh
  (#4028), fees and ceilings in USD through an ETH/USD feed that must exist at start (#4095).
* ``go-livepeer@0.9.1`` — go-livepeer v0.9.1 as lpdev modelled it before profiles existed (its answers kept byte
  for byte; discovery without #4089's kept runners, which v0.9.1 did not have).
* ``livepeer-node`` — the standalone ``livepeer-signer`` of livepeer/node (v1.0.x): its check order, flat error
  envelope, statuses and messages, 16-field state blob, live/fixed only, USD ceilings, 60 s auth margin,
  nonce 500/600 windows, health endpoints on a metrics port, 64-request busy limit.

``lpdev signer --list-profiles`` prints these tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping

__all__ = ["Fact", "Profile", "PROFILES", "DEFAULT_PROFILE", "PROFILE_NAMES", "get_profile", "profile_table",
           "GO_PAYMENT_STEPS", "NODE_PAYMENT_STEPS", "UnknownProfile"]

DEFAULT_PROFILE = "go-livepeer"


class UnknownProfile(ValueError):
    pass


@dataclass(frozen=True)
class Fact:
    """One row of a profile's table."""

    value: Any
    source: str  # where it was read (file, PR, doc) or what it was reasoned from
    inferred: bool = False  # True: reasoned, not read in source
    note: str = ""


# ------------------------------------------------------------------------------------------------
# Check steps (implemented in sim.signer.core; a profile lists them in its order)
# ------------------------------------------------------------------------------------------------
#: go-livepeer's GenerateLivePayment, step by step (docs/remote-signer.md#the-order-of-checks: one row per step).
GO_PAYMENT_STEPS = (
    "decode",             # JSON decode (Go's decoder text); lpdev size limits
    "orchestrator",       # missing orchestrator / protobuf
    "price_info",         # a price, both numbers non-zero
    "ticket_params",      # ticket params present (+ lpdev field-size limits)
    "state",              # sig, JSON, orchestrator/app/type mismatch, SequenceNumber+1
    "manifest_id",        # missing with state / random without
    "capabilities",       # a protobuf when given
    "params",             # ticket params, balance and nonce restore
    "refresh",            # shouldRefreshSession: auth token margin, params expiry (480), other 400
    "units",              # billable units
    "request_max_price",  # the request's maxPrice is well formed
    "initial_price",      # the state's initial price is positive
    "ceilings",           # configured / request / initial session price
    "fee",                # units x initial price
    "tickets",            # 482 / > 100
    "price_doubled",      # validatePrice
    "batch",              # batch validation, nonces, signing
    "segcreds",           # segment credentials
    "balance",            # new balance, LastUpdate, PMSessionID, SenderNonce
    "webhook",            # (may suspend for the auth webhook)
)
GO_FINISH_STEPS = ("webhook_reply", "auth_id", "sign_state")

#: livepeer/node signer (docs/remote-signer.md#livepeer-nodes-order-of-checks; service.go remotePayer revision + newest
#: payment.go/auth.go).
NODE_PAYMENT_STEPS = (
    "node_decode",             # 1-2 size (adapter) and strict JSON -> "invalid payment request"
    "job_type",                # 3 live | fixed only
    "capabilities_refused",    # 4 non-empty capabilities -> 400
    "node_orchestrator",       # 5 protobuf -> "invalid orchestrator Protobuf"
    "completeness",            # 6 "incomplete or expired orchestrator payment params"
    "auth_refresh",            # 7 auth token within 60 s of expiry -> 480
    "manifest_from_auth",      # 8 ManifestID defaults to the auth token's session id, must equal it
    "node_max_price",          # 9 request maxPrice (node's rules and texts)
    "usd_ceiling",             # 10 MaxHourlyPrice / MaxFixedPrice; stale rate -> 503
    "node_state",              # 11 signature, payment state, scope
    "price_rise",              # 12 any rise over the initial price -> 481
    "node_units",              # 13 live 10 s / ceil(elapsed) >= 1, > 3600 s -> 400; fixed 1
    "fee",                     # 13 fee at the current price
    "node_params",             # 13 balance ("invalid balance in payment state"), nonce reset on a new RRH
    "nonce_refresh",           # 13 carried nonce >= 500 -> 480
    "precheck",                # 13 one-ticket check: expiration 0, funds, expiry (480), payer policy
    "node_tickets",            # 13 482 "no tickets needed" / any batch-size error -> "invalid ticket batch"
    "node_batch",              # 13 full-batch recheck, nonce + count >= 600 -> 480, signing
    "segcreds",
    "balance",
    "node_webhook",            # 14 Signer-Auth-Id (403), webhook when policy/expiry says so
)
NODE_FINISH_STEPS = ("node_webhook_reply", "node_auth_id", "auth_max_price", "sign_state")

_GO = "go-livepeer server/remote_signer.go"
_NODE = "livepeer/node signer/*.go"

# ------------------------------------------------------------------------------------------------
# go-livepeer v0.9.1
# ------------------------------------------------------------------------------------------------
_GO_091: dict[str, Fact] = {
    "steps": Fact(GO_PAYMENT_STEPS, _GO + " GenerateLivePayment (docs/remote-signer.md#the-order-of-checks)"),
    "finish_steps": Fact(GO_FINISH_STEPS, _GO + " GenerateLivePayment: auth webhook, auth id, state signature"),
    "job_types": Fact(("", "live", "lv2v", "fixed"), _GO + " GenerateLivePayment billable units"),
    "envelope": Fact("go", "server/handlers.go respondJsonError: {\"error\":{\"message\":…}}\\n",
                     note="lpdev keeps 500 bodies unmasked (says the cause)"),
    "response_newline": Fact(True, "json.NewEncoder(w).Encode"),
    "auth_refresh_margin_s": Fact(180, "server/broadcast.go shouldRefreshSession: last 10 % of 30 min"),
    "nonce_refresh_at": Fact(None, "no nonce trigger before #4028"),
    "nonce_window": Fact(None, "no signer-side 600 check"),
    "fee_basis": Fact("initial", _GO + " fee at InitialPricePerUnit/InitialPixelsPerUnit"),
    "live_interval_cap_s": Fact(None, "no cap on billable seconds"),
    "state_layout": Fact("go", "RemotePaymentState, 13 fields"),
    "state_id_bytes": Fact(4, "random 8-hex StateID"),
    "state_keys": Fact(("State", "Sig"), "RemotePaymentStateSig has no json tags"),
    "webhook": Fact("go", "authLivePayment: failures 500, any status > 0 relayed with its reason"),
    "webhook_response_limit": Fact(64 * 1024, "lpdev limit (go-livepeer reads it all)"),
    "auth_id_changed_status": Fact(500, "remote_signer.go: remote signer auth ID changed -> 500"),
    "body_limit": Fact(1 << 20, "lpdev limit (go-livepeer has none: a TODO)", note="413"),
    "body_limit_status": Fact(413, "lpdev extension"),
    "busy_limit": Fact(None, "no concurrency limit"),
    "health_endpoints": Fact(False, "no /healthz or /readyz (routes remote_signer.go:82-90)"),
    "info_sig": Fact("keccak", "GetOrchestrator sig: personal_sign(keccak(EIP-55 address)) "
                                "(flavour 2, docs/wire.md#signatures)"),
    "discovery_always": Fact(False, "GET /discover-orchestrators only with -remoteDiscovery"),
    "discovery": Fact({"source": "GetOrchestrator of -orchAddr, cached", "filters": ("caps",), "caps": "OR",
                       "cache_s": 25 * 60, "empty": 503,
                       "entry": ("address", "score", "capabilities", "runners"), "last_seen": False},
                      "server/remote_discovery.go",
                      note="sim/signer/discovery.py implements these"),
    "wei_ceiling": Fact(True, "-maxPricePerUnit/-pixelsPerUnit, -maxPricePerCapability"),
    "usd_max_price": Fact(True, "-maxPricePerUnit accepts a USD amount converted through the price feed",
                          inferred=True, note="lpdev: --max-price-per-unit 0.5e-12USD"),
    "usd_ceilings": Fact(False, "no per-type USD ceilings"),
    "usd_fees": Fact(False, "fees in wei only before #4095"),
    "requires_price_feed": Fact(False, "starts without an ETH/USD feed"),
    "usd_stale": Fact("keep-last", "go-livepeer's price feed watcher keeps the last price", inferred=True),
    "eth_usd_max_age_s": Fact(None, "no staleness limit", inferred=True),
    "http_default": Fact("127.0.0.1:7936", "lpdev default (go-livepeer: 127.0.0.1:8935, the orchestrator's port)"),
    "metrics_default": Fact(None, "no metrics listener"),
    "port_only_addr": Fact("loopback", "#3959 starter.go: \":port\" -> 127.0.0.1:port (v0.9.0+)",
                           note="lpdev before profiles bound 0.0.0.0 and refused it"),
    "refuse_public_without_auth": Fact(True, "#3959 -remoteSignerAllowNoAuth"),
    # messages (docs/remote-signer.md#the-order-of-checks)
    "msg.missing_orchestrator": Fact("missing orchestrator", _GO + ", step orchestrator"),
    "msg.proto": Fact("proto: cannot parse invalid wire-format data", _GO + ", step orchestrator"),
    "msg.missing_price": Fact("missing or zero priceInfo", _GO + ", step price_info"),
    "msg.missing_ticket_params": Fact("missing ticketParams in OrchestratorInfo", _GO + ", step ticket_params"),
    "msg.invalid_sig": Fact("invalid sig", _GO + ", step state"),
    "msg.invalid_state": Fact("invalid state", _GO + ", step state"),
    "msg.orch_mismatch": Fact("orchestratorAddress mismatch", _GO + ", step state"),
    "msg.app_mismatch": Fact("app mismatch", _GO + ", step state"),
    "msg.type_mismatch": Fact("job type mismatch", _GO + ", step state"),
    "msg.missing_manifest": Fact("missing manifestID", _GO + ", step manifest_id"),
    "msg.refresh": Fact("refresh session for remote signer", _GO + ", step refresh"),
    "msg.refresh_auth": Fact("refresh session for remote signer", _GO + ", step refresh"),
    "msg.refresh_check": Fact("remote signer could not check whether to refresh session: ", _GO + ", step refresh"),
    "msg.invalid_initial_price": Fact("invalid initial price in state", _GO + ", step initial_price"),
    "msg.no_tickets": Fact("no tickets", _GO + ", step tickets"),
    "msg.too_many_tickets": Fact("numTickets {n} exceeds maximum of 100", _GO + ", step tickets"),
    "msg.chain": Fact("cannot read the chain: {cause}", "lpdev 500 with the cause (go: Internal Server Error)"),
    "chain_error_status": Fact(500, "a failed chain read inside a request is a 500 (masked by go-livepeer)"),
    "msg.not_found": Fact("404 page not found: {path}", "lpdev (go: plain text 404 page not found)"),
}

# ------------------------------------------------------------------------------------------------
# go-livepeer v0.9.3 = v0.9.1 + #4028 + #4095 (v0.9.2 assumed = v0.9.1 for the signer)
# ------------------------------------------------------------------------------------------------
_GO_093: dict[str, Fact] = {
    **_GO_091,
    "steps": Fact(GO_PAYMENT_STEPS[:9] + ("nonce_refresh",) + GO_PAYMENT_STEPS[9:],
                  "#4028 signer: Refresh on nonces >= 500 (v0.9.3)", inferred=True,
                  note="placement with the other refresh triggers, before units and prices: diff not stored"),
    "nonce_refresh_at": Fact(500, "#4028 PR text: refresh once the carried nonce reaches 500 (O keeps <= 600)",
                             note="480 'refresh session for remote signer' + Livepeer-Orchestrator-URL, all types"),
    "usd_fees": Fact(True, "#4095 signer: fees in USD (v0.9.3 release notes; flags/messages unread)", inferred=True,
                     note="lpdev: each payment's fee is also reported in USD (event fee_usd) at the feed's rate"),
    "requires_price_feed": Fact(True, "#4095 release notes: the signer refuses to start without an ETH/USD feed",
                                note="lpdev signer exits 2 naming the missing feed"),
    "discovery": Fact({**_GO_091["discovery"].value, "runners_on_failure": "keep the last cached runners"},
                      "#4089 discovery: optimistically populate (v0.9.3, PR text)",
                      note="sim/signer/discovery.py keeps them for this profile only"),
}

# ------------------------------------------------------------------------------------------------
# livepeer/node standalone signer
# ------------------------------------------------------------------------------------------------
_NODE_TABLE: dict[str, Fact] = {
    "steps": Fact(NODE_PAYMENT_STEPS, _NODE + " check order (docs/remote-signer.md#livepeer-nodes-order-of-checks)"),
    "finish_steps": Fact(NODE_FINISH_STEPS, "signer/auth.go authorizePayment, then the state signature and the outbox"),
    "job_types": Fact(("live", "fixed"), "service.go: type must be live or fixed"),
    "envelope": Fact("flat", "service.go signerError: {\"error\":\"<reason>\"}\\n, nothing masked"),
    "response_newline": Fact(False, "service.go: json.Marshal + w.Write (no trailing newline)"),
    "auth_refresh_margin_s": Fact(60, "service.go: expiration <= now + 1 min -> 480",
                                  note="newest docs say 3 min (doc)"),
    "nonce_refresh_at": Fact(500, "payment.go: state.SenderNonce >= 500 -> pm.ErrRefreshRequired"),
    "nonce_window": Fact(600, "pm/remotepayment.go: firstNonce + count >= 600 -> ErrRefreshRequired"),
    "fee_basis": Fact("current", "payment.go: fee = PricePerUnit × units / UnitsPerPrice (current price)"),
    "live_interval_cap_s": Fact(3600, "payment.go: seconds > 3600 -> payment interval exceeds one hour"),
    "state_layout": Fact("node", "paymentState, 16 fields"),
    "state_id_bytes": Fact(16, "randomStateID: 16 random bytes, 32 hex"),
    "state_keys": Fact(("state", "sig"), "signedState json tags state/sig"),
    "webhook": Fact("node", "signer/auth.go: failures 502, statuses 400-599 only, reason dropped",
                    note="an older auth.go revision relayed the reason"),
    "webhook_response_limit": Fact(1 << 20, "auth.go: reply <= 1 MiB"),
    "auth_id_changed_status": Fact(403, "auth.go: signer auth ID changed -> 403"),
    "body_limit": Fact(1 << 20, "service.go: http.MaxBytesReader 1 MiB"),
    "body_limit_status": Fact(400, "service.go: 400 payment request too large"),
    "busy_limit": Fact(64, "service.go: 64 slots -> 503 signer busy"),
    "health_endpoints": Fact(True, "livepeer/node's docs/http-api.md: /healthz, /readyz, /metrics on the metrics "
                                   "listener",
                             inferred=True, note="the paths are read; bodies are lpdev's (health_bodies), metric "
                             "names lpdev's"),
    "health_bodies": Fact({"healthz": {"status": "ok"}, "readyz": {"status": "ready"}},
                          "livepeer/node docs/http-api.md: /healthz reports liveness, /readyz readiness "
                          "(bodies not documented)",
                          inferred=True, note="lpdev's bodies; a 503 from /readyz is the flat envelope with the cause"),
    "info_sig": Fact("raw", "service.go signInfo: SignMessage([]byte(address.Hex())) (flavour 1)"),
    "discovery_always": Fact(True, "service.go: GET /discover-orchestrators always registered"),
    "discovery": Fact({"source": "GET <orchestrator>/discovery, 5 s, 1 MiB, per request",
                       "filters": ("app", "gpu"), "filter_rule": "exact; OR within a filter, AND across",
                       "caps": "ignored", "cache_s": 0, "empty": 200, "dedup": False,
                       "runner_needs": ("url", "app"),
                       "entry": ("address", "score", "runners", "last_seen"), "last_seen": True,
                       "no_source": (503, "no orchestrator discovery source configured"),
                       "all_failed": (503, "orchestrator discovery unavailable")},
                      "service.go discover",
                      note="sim/signer/discovery.py answers in this shape (--remote-discovery --orch-addr); lpdev "
                           "adds why to the all_failed 503"),
    "wei_ceiling": Fact(False, "no wei max price setting (USD ceilings only)"),
    "usd_max_price": Fact(False, "configured ceilings are the USD ones"),
    "usd_ceilings": Fact(True, "signer/price.go + docs: MaxHourlyPrice / MaxFixedPrice (USD, exact rationals)"),
    "max_hourly_price_usd": Fact(Fraction(36), "configs/signer/config.example.toml MaxHourlyPrice = \"36\"",
                                 inferred=True, note="the example's value taken as the default; live ceiling "
                                 "wei/s = MaxHourlyPrice / 3600 × weiPerUSD"),
    "max_fixed_price_usd": Fact(Fraction(1), "configs/signer/config.example.toml MaxFixedPrice = \"1\"",
                                inferred=True, note="the example's value taken as the default; fixed ceiling "
                                "wei/job = MaxFixedPrice × weiPerUSD"),
    "usd_fees": Fact(False, "ceilings only"),
    "requires_price_feed": Fact(False, "starts without a rate; payments 503 and /readyz fails until one is read"),
    "usd_stale": Fact("503", "price.go: no rate or past validUntil -> 503"),
    "eth_usd_max_age_s": Fact(7200, "docs: ETHUSDMaxAge 2 h"),
    "usd_poll_s": Fact(30, "docs: feed polled every 30 s (one doc revision says hourly)"),
    "http_default": Fact("127.0.0.1:8937", "docs: Listen default"),
    "metrics_default": Fact("127.0.0.1:8938", "docs: metrics listener default"),
    "port_only_addr": Fact("all", "net.Listen(\":port\") listens on every interface"),
    "refuse_public_without_auth": Fact(False, "no startup refusal in the code read (docs advise a proxy)",
                                       note="lpdev prints a warning"),
    # messages
    "msg.too_large": Fact("payment request too large", "service.go"),
    "msg.invalid_request": Fact("invalid payment request", "service.go (json.Unmarshal: strict, whole body)"),
    "msg.bad_type": Fact("payment type must be live or fixed", "service.go"),
    "msg.caps_refused": Fact("payment capabilities are unsupported", "service.go"),
    "msg.proto": Fact("invalid orchestrator Protobuf", "service.go"),
    "msg.incomplete": Fact("incomplete or expired orchestrator payment params", "service.go"),
    "empty_orchestrator": Fact("incomplete", "node's own codec decodes empty bytes to an empty info",
                               inferred=True, note="so a missing orchestrator is 400 incomplete…, not a decode error"),
    "msg.refresh_auth": Fact("refresh expired orchestrator authentication", "service.go (newest)"),
    "msg.refresh": Fact("refresh session for remote signer", "pm/senderpolicy.go ErrRefreshRequired (an earlier pm "
                        "revision; the newest payment.go returns pm.ErrRefreshRequired)"),
    "msg.manifest_mismatch": Fact("manifest ID does not match payment params", "service.go"),
    "msg.max_price_invalid": Fact("maxPrice requires a positive wei price", "service.go checkMaxPrice"),
    "msg.max_price_unit": Fact("maxPrice unit does not match payment type", "service.go checkMaxPrice"),
    "msg.max_price_exceeded": Fact("orchestrator price exceeds maxPrice", "service.go checkMaxPrice"),
    "msg.usd_unavailable": Fact("signer USD conversion rate unavailable", "signer/price.go"),
    "msg.usd_exceeded": Fact("orchestrator price exceeds signer USD maximum", "signer/price.go"),
    "msg.invalid_sig": Fact("invalid state signature", "service.go"),
    "msg.invalid_state": Fact("invalid payment state", "service.go (bad JSON, empty StateID, seq > int64)"),
    "msg.scope": Fact("payment state scope mismatch", "service.go (orchestrator, app, type, ManifestID)"),
    "msg.price_rise": Fact("orchestrator price exceeds initial session price", "service.go"),
    "msg.interval": Fact("payment interval exceeds one hour", "payment.go"),
    "msg.bad_balance": Fact("invalid balance in payment state", "payment.go"),
    "msg.expiration_zero": Fact("ticketParams expiration block is 0", "payment.go one-ticket precheck"),
    "msg.funds": Fact("payer funds unavailable", "payment.go precheck (chain read failed)"),
    "msg.policy": Fact("ticket parameters violate payer policy", "payment.go validateTicketParams (EV, batch EV, "
                       "deposit, reserve)"),
    "msg.no_tickets": Fact("no tickets needed", "pm/senderpolicy.go ErrNoTickets (482)",
                           note="an older service.go answered 'no tickets'"),
    "msg.too_many_tickets": Fact("invalid ticket batch", "payment.go preparePayment: any RemoteBatchSize error "
                                 "(> 100 tickets, zero EV, invalid values)"),
    "msg.generation_failed": Fact("payment generation failed", "service.go (500)"),
    "msg.webhook_unavailable": Fact("signer auth webhook unavailable", "auth.go (transport error, 502)"),
    "msg.webhook_failed": Fact("signer auth webhook failed", "auth.go (HTTP != 200, 502)"),
    "msg.webhook_invalid": Fact("invalid signer auth response", "auth.go (bad reply or status, 502)"),
    "msg.webhook_rejected": Fact("signer auth rejected request with status {n}", "auth.go (reason dropped)"),
    "msg.webhook_max_price": Fact("signer auth invalid maxPrice", "auth.go (502)"),
    "msg.auth_id_changed": Fact("signer auth ID changed", "auth.go (403)"),
    "msg.busy": Fact("signer busy", "service.go (503)"),
    "msg.state_sign": Fact("payment state signing failed", "service.go (500)"),
    "msg.chain": Fact("payer funds unavailable", "payment.go validateTicketParams precheck (chain read failed)"),
    "chain_error_status": Fact(400, "payment.go: observation failures in the precheck are client errors (400); "
                                    "in the full-batch recheck a 500 payment generation failed"),
    "msg.not_found": Fact("404 page not found: {path}", "lpdev JSON (Go mux: plain text 404 page not found)"),
    "msg.no_discovery": Fact("no orchestrator discovery source configured", "service.go discover (503)"),
}

_PROFILE_FIELDS = (
    "steps", "finish_steps", "job_types", "envelope", "response_newline", "auth_refresh_margin_s",
    "nonce_refresh_at", "nonce_window", "fee_basis", "live_interval_cap_s", "state_layout", "state_id_bytes",
    "state_keys", "webhook", "webhook_response_limit", "auth_id_changed_status", "body_limit",
    "body_limit_status", "busy_limit", "health_endpoints", "info_sig", "discovery_always", "discovery",
    "wei_ceiling", "usd_max_price", "usd_ceilings", "usd_fees", "requires_price_feed", "usd_stale",
    "eth_usd_max_age_s", "http_default", "metrics_default", "port_only_addr", "refuse_public_without_auth",
    "chain_error_status",
)
_OPTIONAL = {"max_hourly_price_usd": None, "max_fixed_price_usd": None, "usd_poll_s": 30, "health_bodies": None}


@dataclass(frozen=True)
class Profile:
    """A dialect, built from its fact table (``facts``); attributes are the facts' values."""

    name: str
    title: str
    facts: Mapping[str, Fact] = field(repr=False)
    messages: Mapping[str, str] = field(repr=False)
    steps: tuple = ()
    finish_steps: tuple = ()
    job_types: tuple = ()
    envelope: str = "go"
    response_newline: bool = True
    auth_refresh_margin_s: int = 180
    nonce_refresh_at: int | None = None
    nonce_window: int | None = None
    fee_basis: str = "initial"
    live_interval_cap_s: int | None = None
    state_layout: str = "go"
    state_id_bytes: int = 4
    state_keys: tuple = ("State", "Sig")
    webhook: str = "go"
    webhook_response_limit: int = 64 * 1024
    auth_id_changed_status: int = 500
    body_limit: int = 1 << 20
    body_limit_status: int = 413
    busy_limit: int | None = None
    health_endpoints: bool = False
    info_sig: str = "keccak"
    discovery_always: bool = False
    discovery: Mapping = field(default_factory=dict)
    wei_ceiling: bool = True
    usd_max_price: bool = False
    usd_ceilings: bool = False
    usd_fees: bool = False
    requires_price_feed: bool = False
    usd_stale: str = "keep-last"
    eth_usd_max_age_s: int | None = None
    http_default: str = "127.0.0.1:7936"
    metrics_default: str | None = None
    port_only_addr: str = "loopback"
    refuse_public_without_auth: bool = True
    chain_error_status: int = 500
    max_hourly_price_usd: Fraction | None = None
    max_fixed_price_usd: Fraction | None = None
    usd_poll_s: float = 30
    health_bodies: Mapping | None = None  # the 200 bodies of /healthz and /readyz (health_endpoints)

    @classmethod
    def build(cls, name: str, title: str, table: Mapping[str, Fact]) -> "Profile":
        missing = [f for f in _PROFILE_FIELDS if f not in table]
        if missing:
            raise ValueError(f"profile {name}: facts missing for {', '.join(missing)}")
        values = {f: table[f].value for f in _PROFILE_FIELDS}
        values.update({f: table[f].value if f in table else d for f, d in _OPTIONAL.items()})
        messages = {k[4:]: f.value for k, f in table.items() if k.startswith("msg.")}
        return cls(name=name, title=title, facts=dict(table), messages=messages, **values)

    def msg(self, key: str, **fmt) -> str:
        text = self.messages[key]
        return text.format(**fmt) if fmt else text

    @property
    def inferred(self) -> list[str]:
        return [k for k, f in self.facts.items() if f.inferred]

    def error_body(self, message: str) -> dict:
        """The JSON error body of this dialect."""
        return {"error": {"message": message}} if self.envelope == "go" else {"error": message}

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title,
                "facts": {k: {"value": _plain(f.value), "source": f.source, "inferred": f.inferred,
                              "note": f.note} for k, f in self.facts.items()}}


def _plain(v):
    if isinstance(v, Fraction):
        return str(v)
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


PROFILES: dict[str, Profile] = {
    "go-livepeer": Profile.build("go-livepeer", "go-livepeer mainline (v0.9.3)", _GO_093),
    "go-livepeer@0.9.1": Profile.build("go-livepeer@0.9.1", "go-livepeer v0.9.1", _GO_091),
    "livepeer-node": Profile.build("livepeer-node", "livepeer/node livepeer-signer (v1.0.x)", _NODE_TABLE),
}
PROFILE_NAMES = tuple(PROFILES)
_ALIASES = {"go-livepeer@0.9.3": "go-livepeer", "go-livepeer@latest": "go-livepeer", "node": "livepeer-node"}


def get_profile(name: str | Profile | None) -> Profile:
    """A profile by name (``None``: the default). Raises :class:`UnknownProfile` naming the choices."""
    if isinstance(name, Profile):
        return name
    key = DEFAULT_PROFILE if name in (None, "") else _ALIASES.get(str(name), str(name))
    try:
        return PROFILES[key]
    except KeyError:
        raise UnknownProfile(f"unknown signer profile {name!r}: choose one of {', '.join(PROFILE_NAMES)}") from None


def profile_table(profile: Profile) -> str:
    """The profile's facts as text: value, source, inferred mark."""
    lines = [f"{profile.name} — {profile.title}"]
    width = max(len(k) for k in profile.facts)
    for key, f in profile.facts.items():
        value = _plain(f.value)
        if isinstance(value, list) and len(value) > 4:
            value = " -> ".join(map(str, value))
        mark = "inferred" if f.inferred else "read    "
        lines.append(f"  {key:<{width}}  {mark}  {value!s}")
        lines.append(f"  {'':<{width}}            source: {f.source}" + (f"; {f.note}" if f.note else ""))
    return "\n".join(lines)
