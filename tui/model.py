"""What the TUI knows, built from events alone (sans-IO: no Textual here).

The model is data-driven and tolerant: every event becomes a timeline row whatever its kind; fields are
looked up under the names the actors use (several spellings accepted); a missing field shows as "—".
Memory is bounded: rows, payments and tickets are capped (oldest dropped) and plot series are decimated.

Block ticks (``orch.chain``: an orchestrator saw a new block; one-block ``stack.chain`` mine) would
crowd the payments out of the timeline: consecutive ticks share one row per (kind, actor) that shows the latest
block and how many ticks it stands for; any other row ends the run. Every event is still applied (facts, plots).

Lanes follow the protocol's actors: gateway, signer, orchestrator ("orch"), chain (docs/overview.md#the-actors),
and a **runner** lane (Live Runners, docs/live-runners.md) that a stack with runners adds between the orchestrator
and the chain: registrations, heartbeats (collapsed like block ticks, one row per runner), expiries, health, session
reservations and releases, proxied requests. A runner session is followed across its events (:class:`RunnerSession`:
its reservation, payments, debits, proxied traffic and release) and every row that names it points at it.

Money is shown for people (``format_wei``: ``≈0.02844 ETH``) or exactly (``199065600000000000/7 wei``, the TUI's
``x`` key); it is never rounded in the model itself.
"""
from __future__ import annotations

import base64
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable

from sim.events import Event
from sim.pm.money import float_string, format_wei, rat_string
from sim.wire import bounded

__all__ = [
    "LANES", "RUNNER_LANES", "DASH", "lane_of", "status_of", "summarize", "fit", "pick", "as_fraction", "as_int",
    "as_float", "as_key", "fmt_wei",
    "fmt_num", "nonce_range", "peer_of", "is_block_tick", "Row", "Payment", "TicketRow", "Series", "FlowModel",
    "RunnerSession", "decode_state", "state_diff",
]

LANES = ("gateway", "signer", "orch", "chain")
RUNNER_LANES = ("gateway", "signer", "orch", "runner", "chain")  # a stack with Live Runners
DASH = "—"

# runner.* events that happen on the runner's side of the orchestrator (the runner lane); the others (the 402
# challenge, a refusal) are the orchestrator answering someone and stay in its lane
_RUNNER_LANE_KINDS = frozenset({
    "runner.registered", "runner.heartbeat", "runner.expired", "runner.unregistered", "runner.health",
    "runner.session_reserved", "runner.session_released", "runner.channels", "runner.proxy_created",
    "runner.proxied", "stack.runner"})

_LANE_PREFIXES = (
    ("gateway", "gateway"), ("gw", "gateway"), ("broadcaster", "gateway"),
    ("signer", "signer"), ("remote_signer", "signer"),
    ("orch", "orch"), ("orchestrator", "orch"), ("o1", "orch"), ("trickle", "orch"), ("transcoder", "orch"),
    ("chain", "chain"), ("devnet", "chain"), ("stack.chain", "chain"), ("anvil", "chain"), ("broker", "chain"),
)

# Field spellings accepted for each concept (first found wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "status": ("status", "status_code", "code", "http_status"),
    "call": ("call", "payment_id", "request_id", "req_id", "call_id"),
    "billable_secs": ("billable_secs", "billable_seconds", "billableSecs", "seconds"),
    "units": ("units", "billable_units", "pixels"),
    "fee": ("fee", "fee_wei"),
    "initial_price": ("initial_price", "initial_price_per_unit", "initialPrice"),
    "price": ("price", "price_per_unit", "orch_price", "current_price"),
    "ev": ("ev", "ticket_ev", "expected_value"),
    "face_value": ("face_value", "faceValue", "fv"),
    "win_prob": ("win_prob", "winProb", "wp"),
    "num_tickets": ("num_tickets", "tickets", "numTickets", "count", "ticket_count"),
    "nonce_start": ("nonce_start", "nonce_first", "first_nonce", "nonce_from", "min_nonce"),
    "nonce_end": ("nonce_end", "nonce_last", "last_nonce", "nonce_to", "max_nonce"),
    "nonce": ("nonce", "sender_nonce", "senderNonce"),
    "nonces": ("nonces", "nonce_list"),
    "balance_before": ("balance_before", "existing", "balance_prev"),
    "balance_after": ("balance_after", "balance", "new_balance"),
    # The signer's vocabulary: ``ceiling`` names which ceiling governed, ``ceiling_price`` is its value.
    "ceiling": ("ceiling_price", "max_price", "price_ceiling"),
    "ceiling_source": ("ceiling", "ceiling_source", "ceiling_label"),
    "state": ("state", "state_json", "state_decoded"),
    "state_blob": ("state_blob", "state_b64"),
    "manifest_id": ("manifest_id", "manifestID", "ManifestID", "mid"),
    "ticket_hash": ("ticket_hash", "hash", "ticketHash"),
    "winning": ("winning", "win", "is_winning", "won"),
    "tx_hash": ("tx_hash", "tx", "txHash", "transaction"),
    "gas_used": ("gas_used", "gas", "gasUsed"),
    "reason": ("reason", "error", "revert_reason", "message", "err", "detail"),
    "recipient_rand_hash": ("recipient_rand_hash", "recipientRandHash", "rrh", "session"),
    "deposit": ("deposit",),
    "reserve": ("reserve", "reserve_funds", "funds_remaining"),
    "fees": ("orchestrator_fees", "fees", "fee_pool", "fees_earned"),
    "block": ("block", "last_block", "to_block", "block_number"),
    "round": ("round", "current_round"),
    "to": ("to", "peer", "target", "dest"),
    "expiration_block": ("expiration_block", "expirationBlock"),
}


_FACT_KEYS = tuple((c, ALIASES[c]) for c in ("block", "round", "expiration_block"))


def pick(data: dict, concept: str, default: Any = None) -> Any:
    for key in ALIASES.get(concept, (concept,)):
        if key in data and data[key] is not None:
            return data[key]
    return default


_LANE_CACHE: dict[tuple[str, str], str] = {}


def lane_of(ev: Event) -> str:
    if ev.kind in _RUNNER_LANE_KINDS:
        return "runner"
    key = (ev.actor, ev.kind)
    lane = _LANE_CACHE.get(key)
    if lane is not None:
        return lane
    lane = "scenario"
    for name in (ev.actor.lower(), ev.kind.lower()):
        if any(name.startswith(p) for p, _ in _LANE_PREFIXES):
            lane = next(ln for p, ln in _LANE_PREFIXES if name.startswith(p))
            break
    if len(_LANE_CACHE) < 10_000:
        _LANE_CACHE[key] = lane
    return lane


# Who talks to whom, for kinds that do not name their peer (docs/overview.md#one-paid-session-start-to-finish).
# kind -> (peer lane, incoming?)
KNOWN_PEERS: dict[str, tuple[str, bool]] = {
    "gateway.identity": ("signer", True),
    "gateway.orchestrator_info": ("orch", True),
    "gateway.orchestrator_error": ("orch", True),
    "gateway.signer_reply": ("signer", True),
    "gateway.payment": ("orch", True),
    "gateway.refresh": ("orch", False),
    "signer.payment": ("gateway", False),
    "signer.payment.rejected": ("gateway", False),
    "signer.orch_info": ("gateway", False),
    "orch.payment_received": ("gateway", True),
    "orch.params_issued": ("gateway", False),
    "orch.payment_rejected": ("gateway", False),
    "orch.refresh": ("gateway", False),
    "orch.redemption_sent": ("chain", False),
    "orch.redemption_mined": ("chain", True),
    "orch.redemption_failed": ("chain", True),
    # Live Runners: the runner lane's rows face the orchestrator; a runner client's rows are answers from it
    "runner.registered": ("orch", False),
    "runner.heartbeat": ("orch", False),
    "runner.unregistered": ("orch", False),
    "runner.channels": ("orch", False),
    "runner.proxy_created": ("orch", False),
    "runner.expired": ("orch", True),
    "runner.health": ("orch", True),
    "runner.session_reserved": ("orch", True),
    "runner.session_released": ("orch", True),
    "runner.proxied": ("orch", True),
    "runner.challenge": ("gateway", False),
    "gateway.runner_discovery": ("orch", True),
    "gateway.runner_reserve": ("orch", True),
    "gateway.runner_call": ("orch", True),
    "gateway.runner_payment": ("orch", True),
    "gateway.runner_stop": ("orch", True),
}


def _as_lane(v: Any) -> str | None:
    if not v:
        return None
    name = str(v).lower()
    for prefix, lane in _LANE_PREFIXES:
        if name.startswith(prefix):
            return lane
    return None


def peer_of(ev: Event, d: dict) -> tuple[str | None, bool]:
    """The other lane of a message and whether it came from there (``to``/``from`` fields, else known kinds)."""
    if ev.kind == "runner.rejected":  # a refusal goes back to whoever asked: a runner's route, or a client's
        path = str(d.get("path") or "")
        return ("runner" if path.startswith(("/runners/", "/runner/")) else "gateway"), False
    to = _as_lane(pick(d, "to"))
    if to:
        return to, False
    frm = _as_lane(d.get("from"))
    if frm:
        return frm, True
    return KNOWN_PEERS.get(ev.kind, (None, False))


def is_block_tick(ev: Event) -> bool:
    """A routine periodic event that would crowd the timeline: an orchestrator's block poll (``orch.chain``), a
    block ticker's one-block ``stack.chain`` mine (``lpdev up``, the demo), a Live Runner's heartbeat. Mining 40
    blocks by time travel is not a tick: it stays a row of its own."""
    if ev.kind in ("orch.chain", "runner.heartbeat"):
        return True
    if ev.kind == "stack.chain":
        d = ev.data if isinstance(ev.data, dict) else {}
        return d.get("op") == "mine" and d.get("blocks") == 1
    return False


def status_of(ev: Event) -> int | str | None:
    code = as_int(pick(ev.data, "status"))
    if code is not None and code >= 0:
        return code
    ok = ev.data.get("ok", ev.data.get("passed"))
    if ok is False:
        return "fail"
    if ok is True:
        return "ok"
    return None


def as_fraction(v: Any) -> Fraction | None:
    """The one reader of numbers in event fields: wei amounts, counts, codes and durations arrive as ints,
    RatStrings ("125/7"), decimal strings or floats; never rounded here. Anything else — text, a nested value, a
    huge number or exponent (``"1e99999999"``), NaN — is None (shown as —), read by the bounded parser so a
    malformed trace can neither crash nor hang the TUI."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int) and v.bit_length() <= 64:
        return Fraction(v)  # the common case, quickly
    try:
        return bounded.parse_fraction(v.strip() if isinstance(v, str) else v, what="event field")
    except bounded.BoundedInputError:
        return None


def as_int(v: Any) -> int | None:
    """A count or a code from an event field (bytes, tickets, units, gas, a status), or None when it is missing or
    not a whole number (see :func:`as_fraction`)."""
    f = as_fraction(v)
    return f.numerator if f is not None and f.denominator == 1 else None


def as_float(v: Any) -> float | None:
    """A duration or a ratio from an event field, for display only, or None (see :func:`as_fraction`)."""
    f = as_fraction(v)
    return float(f) if f is not None else None


def as_key(v: Any) -> Any:
    """An event field used to look a row up (a call id, a nonce, a hash): itself, or its text when it is a nested
    value that cannot be a key."""
    try:
        hash(v)
    except TypeError:
        return repr(v)[:200]
    return v


def fmt_num(v: Any) -> str:
    """Exact ints as is; fractions as ``≈decimal (n/d)`` shortened; missing as —."""
    if v is None or v == "":
        return DASH
    f = as_fraction(v)
    if f is None:
        return str(v)
    if f.denominator == 1:
        return f"{f.numerator:,}"
    whole, _, frac = float_string(abs(f), 3).partition(".")  # exact rounding, no float
    approx = ("-" if f < 0 else "") + f"{int(whole):,}.{frac}"
    rat = f"{f.numerator}/{f.denominator}"
    # EVs and balances are exact rationals over 2^256 − 1: too long to read, so say so instead of printing them.
    return f"≈{approx} ({rat})" if len(rat) <= 24 else f"≈{approx} (exact fraction)"


def fmt_wei(v: Any, exact: bool = False, digits: int = 4) -> str:
    """A wei amount for people (``≈0.02844 ETH``, ``8 gwei``; about ``digits`` significant digits), or with
    ``exact`` the exact value in wei (``199065600000000000/7 wei``); missing as —."""
    if v is None or v == "":
        return DASH
    f = as_fraction(v)
    if f is None:
        return str(v)
    return f"{rat_string(f)} wei" if exact else format_wei(f, digits=digits)


def short_hex(v: Any, n: int = 10) -> str:
    if v is None or v == "":
        return DASH
    s = str(v)
    return s if len(s) <= n + 2 else s[: n + 2] + "…"


def nonce_range(d: dict) -> tuple[Any, Any]:
    """(first, last) nonce of a batch, from explicit fields or a list of nonces."""
    ns, ne = pick(d, "nonce_start"), pick(d, "nonce_end")
    if ns is None:
        lst = pick(d, "nonces")
        if isinstance(lst, list) and lst:
            try:
                return min(lst), max(lst)
            except TypeError:
                return lst[0], lst[-1]
    return ns, ne


# What a timeline row says about an event, most important first: when a lane is narrow the least important parts
# are left out whole (never cut in the middle), so a nonce range, a status or an amount is shown entirely or not at
# all. Rank 0 is always kept (the event's name, its status, a win).
_RANKS = {"kind": 0, "status": 0, "win": 0, "nonces": 1, "nonce": 1, "reason": 2, "num_tickets": 2, "fee": 3,
          "balance_after": 4, "tx_hash": 3, "block": 3, "round": 5}
_SUMMARY_KEYS = ("status", "reason", "num_tickets", "nonce", "fee", "balance_after", "winning", "tx_hash", "block",
                 "round", "manifest_id")
# Shorter names for common event kinds, used only when a lane cannot fit the full one.
_SHORT_KIND = {"payment": "pay", "received": "recv", "params_issued": "params", "payment_received": "pay recv",
               "orchestrator_info": "orch info", "signer_reply": "reply", "redemption_sent": "redeem",
               "redemption_mined": "redeemed", "redemption_failed": "redeem fail", "winner_stored": "winner",
               "sender_funds": "funds", "orch_info": "orch info"}


def fit(parts: list[tuple[int, str]], width: int) -> str:
    """Join ``(rank, text)`` parts in order, leaving out the highest-ranked ones until the line fits ``width``;
    only a rank-0 part that alone is too wide is cut (with …), and never just after a number."""
    keep = [p for p in parts if p[1]]
    while keep and len(" ".join(t for _, t in keep)) > width:
        worst = max(r for r, _ in keep)
        if worst == 0:
            break
        i = max(i for i, (r, _) in enumerate(keep) if r == worst)
        keep.pop(i)
    s = " ".join(t for _, t in keep)
    if len(s) <= width:
        return s
    cut = s[: max(0, width - 1)]
    last = cut.rsplit(" ", 1)
    if len(last) == 2 and any(c.isdigit() for c in last[1]):  # never end on a number: "15…" reads as a cut 15
        cut = last[0]
    return cut + "…"


def summary_parts(ev: Event) -> list[tuple[int, str]]:
    """The parts of an event's one-line description with their ranks (see :func:`fit`)."""
    d = ev.data if isinstance(ev.data, dict) else {}
    kind = ev.kind.rsplit(".", 1)[-1]  # the lane already names the actor
    if ev.kind == "stack.actor":  # the lane names the actor's side; say which one and what happened to it
        return [(0, f"{d.get('action') or kind} {d.get('name') or ''}".strip())]
    if ev.kind == "stack.chain" and d.get("op"):  # the stack's chain operations, named by what they did
        op = str(d["op"])
        if op == "mine":
            n = d.get("blocks")
            head = f"mined block {d.get('to_block')}" if n == 1 else f"mined {n} blocks to {d.get('to_block')}"
            return [(0, head)] + ([(2, f"round {d['round']}")] if d.get("round") is not None else [])
        if op == "initialize_round":
            return [(0, f"round {d.get('round')} initialized" + ("" if d.get("ok", True) else f": {d.get('reason')}"))]
        who = f" {d['account']}" if d.get("account") else ""
        return [(0, op.replace("_", " ") + who + ("" if d.get("ok", True) else f": {d.get('revert_reason')}"))]
    if ev.kind.startswith(("runner.", "gateway.runner_", "stack.runner")):
        return _runner_parts(ev.kind, d)
    if ev.kind.startswith("scenario."):
        what = d.get("description") or d.get("name") or d.get("detail") or d.get("action") or ""
        mark = {True: "✓ ", False: "✗ "}.get(d.get("passed"), "")
        return [(0, f"{kind}: {mark}{what}")]
    parts: list[tuple[int, str]] = [(0, kind)]
    ns, ne = nonce_range(d)
    for c in _SUMMARY_KEYS:
        if c == "nonce" and ns is not None:
            parts.append((_RANKS["nonces"], f"n{ns}–{ne if ne is not None else '?'}" if ne != ns else f"n{ns}"))
            continue
        v = pick(d, c)
        if v is None or v == "" or (c == "status" and v == 200 and "payment" not in ev.kind):
            continue
        if c == "num_tickets":
            if isinstance(v, (list, dict)):
                v = len(v)
            parts.append((_RANKS[c], f"{v}tkt"))
        elif c in ("fee", "balance_after"):
            f = as_fraction(v)
            # "balance": the sender's credit after this step (the signer's state Balance, or the orchestrator's
            # ledger for this sender and manifest id)
            amount = format_wei(f, digits=3) if f is not None else str(v)
            parts.append((_RANKS[c], f"{'fee' if c == 'fee' else 'balance'} {amount}"))
        elif c == "winning":
            if v:
                parts.append((_RANKS["win"], "WIN"))
        elif c == "tx_hash":
            parts.append((_RANKS[c], "tx " + short_hex(v, 6)))
        elif c == "nonce":
            parts.append((_RANKS[c], f"nonce {v}"))
        elif c == "manifest_id":
            continue
        elif c == "reason":
            parts.append((_RANKS[c], str(v)))
        elif c == kind:  # "round 13", "block 412": the event names this number
            parts.insert(1, (0, str(v)))
        else:
            parts.append((_RANKS[c], str(v) if c == "status" else f"{c} {v}"))
    return parts


def _bytes(n: Any) -> str:
    n = as_int(n)
    if n is None:
        return DASH
    for unit, size in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n}B"


def _count(v: Any) -> int:
    """How many items a list field names (0 when it is not a list)."""
    return len(v) if isinstance(v, list) else 0


def _secs(v: Any) -> str:
    f = as_float(v)
    return DASH if f is None else f"{f:g}s"


def _sid(v: Any) -> str:
    """A session id as rows show it (``session_ab12cd34`` -> ``ab12cd34``)."""
    s = str(v or "")
    return s[len("session_"):] if s.startswith("session_") else s


def _runner_parts(kind: str, d: dict) -> list[tuple[int, str]]:
    """Live Runner rows: what happened, to which runner or session, and the numbers that matter."""
    rid = str(d.get("runner") or d.get("runner_id") or d.get("route") or "")
    sid = _sid(d.get("session_id"))
    status = pick(d, "status")
    st = [(0, str(status))] if isinstance(status, int) and not isinstance(status, bool) else []
    reason = d.get("reason") or d.get("message")
    tail = kind.rsplit(".", 1)[-1]
    if kind == "runner.registered":
        pi = d.get("price_info") if isinstance(d.get("price_info"), dict) else {}
        price = pi.get("price")
        free = price in (None, "", 0, "0")
        return [(0, "registered static" if d.get("static") else "registered"), (1, rid), (3, str(d.get("app") or "")),
                (2, "free" if free else f"{price} USD/{pi.get('unit', 'hour')}"), (4, f"cap {d.get('capacity')}")]
    if kind == "runner.heartbeat":
        return [(0, "heartbeat"), (1, rid), (2, f"{d.get('capacity_used', 0)}/{d.get('capacity', '?')} used")]
    if kind == "runner.expired":
        n = _count(d.get("sessions_released"))
        return [(0, "expired"), (2, rid), (3, f"silent {_secs(d.get('silent_s'))}"),
                (1, f"{n} session{'s' if n != 1 else ''} released")]
    if kind == "runner.unregistered":
        return [(0, "unregistered"), (1, rid)]
    if kind == "runner.health":
        return [(0, "healthy" if d.get("healthy") else "unhealthy"), (1, str(d.get("label") or rid)),
                (2, str(d.get("status") or ""))]
    if kind == "runner.session_reserved":
        return [(0, "reserved"), (1, "paid" if d.get("paid") else "free"), (2, sid), (4, rid)]
    if kind == "runner.session_released":
        return [(0, "released"), (2, sid), (1, str(reason or "")), (4, f"{d.get('debits', 0)} debits")]
    if kind == "runner.proxied":
        return [(0, f"{d.get('method', '')} {d.get('path', '')}".strip()), *st,
                (1, f"{_bytes(d.get('bytes_in'))}→{_bytes(d.get('bytes_out'))}"), (3, sid)]
    if kind == "runner.challenge":
        return [(0, "402 challenge"), (2, _sid(d.get("manifest_id"))), (3, str(d.get("unit") or ""))]
    if kind == "runner.rejected":
        return [(0, "refused"), *st, (1, str(reason or ""))]
    if kind in ("runner.channels", "runner.proxy_created"):
        return [(0, tail.replace("_", " ")), (2, sid)]
    if kind == "stack.runner":
        return [(0, f"{d.get('action', '')} {d.get('name', '')}".strip())]
    # a runner client's answers (gateway.runner_*)
    if kind == "gateway.runner_discovery":
        n = d.get("count", 0)
        return [(0, "discovery"), *st, (1, f"{n} runner{'s' if n != 1 else ''}")]
    word = {"runner_reserve": "reserve", "runner_call": "call", "runner_payment": "payment",
            "runner_stop": "stop"}.get(tail, tail)
    parts = [(0, word), *st]
    if kind == "gateway.runner_call":
        parts.append((2, f"{d.get('method', '')} {d.get('path', '')}".strip()))
    if d.get("signer_status") not in (None, 200):
        parts.append((0, f"signer {d['signer_status']}"))
    if d.get("paid"):
        parts.append((1, "paid"))
    if sid:
        parts.append((3, sid))
    if reason:
        parts.append((1, str(reason)))
    return parts


def summarize(ev: Event, width: int = 48) -> str:
    """A one-line description of any event, at most ``width`` characters: the kind's tail plus the numbers that
    matter most (a part that does not fit is left out whole; a kind too long for the lane gets its short name)."""
    parts = summary_parts(ev)
    if parts and len(" ".join(t for r, t in parts if r <= 1)) > width:
        short = _SHORT_KIND.get(parts[0][1])
        if short is not None:
            parts[0] = (0, short)
    return fit(parts, width)


@dataclass(slots=True)
class Row:
    seq: int
    t: float
    lane: str
    kind: str
    ev: Event
    status: int | str | None
    to: str | None
    pay: Any = None  # key of the payment this row belongs to
    incoming: bool = False  # the message came from ``to`` (a reply or a request received), else it went there
    tick: bool = False  # a block-tick row: later ticks of the same kind and actor update it (``ev`` is the latest)
    ticks: int = 1  # how many events this row stands for
    last_seq: int = -1  # seq of the latest event in the row (``seq``, its first event's, is the row's key)
    session: Any = None  # the RunnerSession this row is about (a Live Runner session), else None

    @property
    def text(self) -> str:  # computed only for rows on screen (seek stays cheap)
        return self.label(48)

    def label(self, width: int) -> str:
        """The row's description in at most ``width`` characters (see :func:`summarize`)."""
        if self.ticks > 1:
            return tick_text(self.ev, self.ticks, width)
        return summarize(self.ev, width)


TICK_TEXT_WIDTH = 24  # the timeline's lane width: the count must stay visible


def tick_text(ev: Event, ticks: int, width: int = TICK_TEXT_WIDTH) -> str:
    """``chain block 412 (×37) round 3``: the latest block first, then the count, the round if it fits;
    ``heartbeat runner_ab12 (×12) 1/4 used`` for a runner's heartbeats."""
    d = ev.data if isinstance(ev.data, dict) else {}
    if ev.kind == "runner.heartbeat":
        parts = [(0, "heartbeat"), (1, str(d.get("runner_id") or "")), (0, f"(×{ticks})"),
                 (2, f"{d.get('capacity_used', 0)}/{d.get('capacity', '?')} used")]
        return fit(parts, width)
    tail = ev.kind.rsplit(".", 1)[-1]
    blk = pick(d, "block")
    head = tail if blk is None else (f"{tail} {blk}" if tail == "block" else f"{tail} block {blk}")
    parts = [(0, head), (1, f"(×{ticks})")]
    rnd = pick(d, "round")
    if rnd is not None:
        parts.append((2, f"round {rnd}"))
    return fit(parts, min(width, TICK_TEXT_WIDTH))


@dataclass
class Payment:
    key: Any
    seq: int
    t: float
    signer: dict = field(default_factory=dict)   # the signer's payment event data (fee, tickets, balances…)
    status: int | str | None = None
    orch: dict = field(default_factory=dict)     # the orchestrator's credit event
    gateway: dict = field(default_factory=dict)
    prev_state: dict | None = None
    attempts: int = 0
    refused: list = field(default_factory=list)  # (status, reason) of earlier attempts of this call (480…)

    def get(self, concept: str) -> Any:
        for d in (self.signer, self.orch, self.gateway):
            v = pick(d, concept)
            if v is not None:
                return v
        return None


@dataclass
class RunnerSession:
    """One Live Runner session as the events tell it: the 402 challenge (paid sessions), the reservation, the
    client's payments and the orchestrator's credits and debits, the proxied traffic, the release and its reason."""

    session_id: str
    seq: int
    runner: str = ""
    client: str = ""  # the runner client (actor) that reserved it
    label: str = ""
    challenge: dict = field(default_factory=dict)  # runner.challenge
    reserved: dict = field(default_factory=dict)  # runner.session_reserved
    payments: list = field(default_factory=list)  # the client's payments: (seq, what, status, signer status, tickets)
    tickets: int = 0  # tickets the orchestrator received for it
    debits: int = 0
    debited: Fraction = Fraction(0)
    balance: Any = None  # the orchestrator's credit for it, latest known
    refused: list = field(default_factory=list)  # (status, message) of requests about it that were refused
    requests: int = 0  # proxied requests
    bytes_in: int = 0
    bytes_out: int = 0
    statuses: dict = field(default_factory=dict)  # proxied status -> count
    recent: deque = field(default_factory=lambda: deque(maxlen=5))  # the last proxied requests (method, path, status, in, out)
    released: dict = field(default_factory=dict)  # runner.session_released

    @property
    def paid(self) -> bool:
        return bool(self.reserved.get("paid") or self.challenge)

    @property
    def state(self) -> str:
        if self.released:
            return "released"
        return "reserved" if self.reserved else "challenged"


_SESSION_KEYS = ("session_id", "manifest_id")


@dataclass
class TicketRow:
    key: Any
    seq: int
    nonce: Any = None
    ticket_hash: str | None = None
    winning: bool | None = None
    stored: bool = False
    redeemed_tx: str | None = None
    gas_used: Any = None
    failed: str | None = None
    face_value: Any = None


class Series:
    """A bounded plot series: when it exceeds ``max_points`` every other point is dropped (x stays monotone)."""

    def __init__(self, name: str, max_points: int = 600) -> None:
        self.name = name
        self.max_points = max_points
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.last: Fraction | None = None  # exact last value, for the legend

    def add(self, x: float, value: Fraction) -> None:
        self.last = value
        self.xs.append(x)
        self.ys.append(float(value))  # plots are display only; money stays exact in self.last
        if len(self.xs) > self.max_points:
            self.xs = self.xs[::2]
            self.ys = self.ys[::2]


def decode_state(data: dict) -> dict | None:
    """The signer's state blob (docs/remote-signer.md#the-state-blob) as a dict: from a decoded ``state`` object,
    or base64 of its JSON bytes."""
    st = pick(data, "state")
    if isinstance(st, dict):
        return {k: v for k, v in st.items()}
    blob = st if isinstance(st, str) else pick(data, "state_blob")
    if isinstance(blob, str) and blob:
        try:
            obj = bounded.loads_json(base64.b64decode(blob), what="state")  # from a trace: untrusted
            return obj if isinstance(obj, dict) else None
        except ValueError:  # BoundedInputError and base64 errors included
            return None
    return None


def state_diff(prev: dict | None, cur: dict | None) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field that changed, in the state's own field order."""
    if cur is None:
        return []
    prev = prev or {}
    return [(k, prev.get(k), v) for k, v in cur.items() if prev.get(k) != v]


def _is_signer_payment(ev: Event, lane: str) -> bool:
    if lane != "signer":
        return False
    k = ev.kind
    return ("payment" in k or "generate" in k) and ("fee" in ev.data or "status" in ev.data or "num_tickets" in ev.data)


class FlowModel:
    """Applies events one by one; everything the views show is read from here."""

    def __init__(self, *, row_cap: int = 5000, payment_cap: int = 2000, ticket_cap: int = 2000,
                 series_points: int = 600, session_cap: int = 1000) -> None:
        self.session_cap = session_cap
        self.row_cap = row_cap
        self.payment_cap = payment_cap
        self.ticket_cap = ticket_cap
        self.series_points = series_points
        self.reset()

    def reset(self) -> None:
        self.rows: deque[Row] = deque(maxlen=self.row_cap)
        self.payments: OrderedDict[Any, Payment] = OrderedDict()
        self.tickets: OrderedDict[Any, TicketRow] = OrderedDict()
        self.winners: OrderedDict[Any, TicketRow] = OrderedDict()
        self.sessions: OrderedDict[str, RunnerSession] = OrderedDict()  # Live Runner sessions by session id
        self.series: dict[str, Series] = {}
        self.count = 0
        self.status_counts: dict[Any, int] = {}
        self.kind_counts: dict[str, int] = {}
        self.last: Event | None = None
        self.t0: float | None = None
        self.current_pay: Any = None
        self.last_state: dict | None = None
        self.last_step: str | None = None
        self.facts: dict[str, Any] = {}  # latest known block, round, expiration block, price…
        self._auto_call = 0
        self._fees_total = Fraction(0)
        self._x = 0
        self._by_nonce: dict[Any, TicketRow] = {}
        self._by_hash: dict[Any, TicketRow] = {}
        self.rows_added = 0  # rows ever appended (a tick that updates a row in place does not count)
        self._tick_run: dict[tuple, Row] | None = None  # the trailing run of tick rows by (kind, actor, runner)
        self._actor_lanes: dict[str, str] = {}  # actor name -> its lane, as its own events showed it

    # -- applying events ----------------------------------------------------------------------------------
    def apply_many(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.apply(ev)

    def apply(self, ev: Event) -> Row:
        self.count += 1
        self._x = ev.seq
        self.last = ev
        if self.t0 is None:
            self.t0 = ev.t
        self.kind_counts[ev.kind] = self.kind_counts.get(ev.kind, 0) + 1
        d = ev.data if isinstance(ev.data, dict) else {}
        lane = lane_of(ev)
        if lane in LANES:
            if ev.actor not in self._actor_lanes and len(self._actor_lanes) < 1000:
                self._actor_lanes[ev.actor] = lane
        elif ev.kind == "stack.actor":  # a kill/restart shows in the lane of the actor it names
            name = d.get("name")
            if isinstance(name, str):
                lane = self._actor_lanes.get(name) or _as_lane(name) or lane
        status = status_of(ev)
        if status is not None:
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
        to, incoming = peer_of(ev, d)
        pay = self._payment(ev, lane, status, d)
        session = self._runner_session(ev, d)
        self._ticket(ev, d)
        self._series(ev, lane, d)
        self._facts(ev, d)
        if ev.kind == "scenario.step":
            self.last_step = str(d.get("name") or d.get("description") or d.get("title") or d.get("action") or DASH)
        tick = is_block_tick(ev)
        tick_key = (ev.kind, ev.actor, d.get("runner_id"))
        if tick and self._tick_run is not None:
            row = self._tick_run.get(tick_key)
            if row is not None:  # the same ticker again: the run's row shows the latest block and counts it
                row.ev, row.t, row.status, row.pay, row.last_seq = ev, ev.t, status, pay, ev.seq
                row.ticks += 1
                return row
        row = Row(ev.seq, ev.t, lane, ev.kind, ev, status, to, pay, incoming, tick, 1, ev.seq, session)
        self.rows.append(row)
        self.rows_added += 1
        if tick:
            if self._tick_run is None:
                self._tick_run = {}
            self._tick_run[tick_key] = row
        else:
            self._tick_run = None
        return row

    def _payment(self, ev: Event, lane: str, status, d: dict) -> Any:
        call = as_key(pick(d, "call"))
        if _is_signer_payment(ev, lane):
            key = call if call is not None else self._next_auto()
            p = self.payments.get(key)
            if p is None:
                p = Payment(key=key, seq=ev.seq, t=ev.t)
                self.payments[key] = p
                if len(self.payments) > self.payment_cap:
                    self.payments.popitem(last=False)
            p.attempts += 1
            if p.signer and p.status not in (200, None):
                p.refused.append((p.status, pick(p.signer, "reason")))
            p.signer, p.status = d, status
            st = decode_state(d)
            if st is not None:
                prev = d.get("previous_state")
                p.prev_state = prev if isinstance(prev, dict) else self.last_state
                if status == 200 or status is None:
                    self.last_state = st
            self.current_pay = key
            return key
        if lane == "gateway" and "signer_reply" in ev.kind:
            cur = self.payments.get(self.current_pay) if self.current_pay is not None else None
            if cur is not None and cur.signer and not cur.gateway and cur.status == status:
                cur.gateway = d
                return cur.key
            key = call if call is not None else self._next_auto()
            p = Payment(key=key, seq=ev.seq, t=ev.t, status=status, gateway=d, attempts=1)
            self.payments[key] = p
            if len(self.payments) > self.payment_cap:
                self.payments.popitem(last=False)
            self.current_pay = key
            return key
        if call is not None and call in self.payments:
            key = call
        elif call is not None and lane == "gateway":
            return call  # the request before the signer answered: the row still points at its call
        else:
            key = self.current_pay
        if key is None or key not in self.payments:
            return call
        p = self.payments[key]
        if lane == "orch" and ("payment" in ev.kind or "credit" in ev.kind):
            p.orch = d
        elif lane == "gateway" and "payment" in ev.kind:
            p.gateway = d
        return key

    def _runner_session(self, ev: Event, d: dict) -> RunnerSession | None:
        """The Live Runner session this event is about (made by its challenge or reservation), updated with it."""
        k = ev.kind
        sid = next((str(d[key]) for key in _SESSION_KEYS if d.get(key)), None)
        if sid is None:
            return None
        rs = self.sessions.get(sid)
        if rs is None:
            if k not in ("runner.challenge", "runner.session_reserved"):
                return None
            rs = RunnerSession(sid, ev.seq, runner=str(d.get("runner_id") or ""))
            self.sessions[sid] = rs
            if len(self.sessions) > self.session_cap:
                self.sessions.popitem(last=False)
        st = status_of(ev)
        if k == "runner.challenge":
            rs.challenge = d
        elif k == "runner.session_reserved":
            rs.reserved = d
            rs.balance = d.get("balance", rs.balance)
        elif k == "runner.session_released":
            rs.released = d
        elif k == "runner.proxied":
            rs.requests += 1
            rs.bytes_in += as_int(d.get("bytes_in")) or 0
            rs.bytes_out += as_int(d.get("bytes_out")) or 0
            rs.statuses[st] = rs.statuses.get(st, 0) + 1
            rs.recent.append((d.get("method"), d.get("path"), st, d.get("bytes_in"), d.get("bytes_out")))
        elif k == "runner.rejected":
            rs.refused.append((st, d.get("message")))
            del rs.refused[:-5]
        elif k == "orch.payment_received":
            rs.tickets += as_int(d.get("tickets")) or 0
        elif k == "orch.credit":
            rs.balance = d.get("balance", rs.balance)
        elif k == "orch.debit":
            if d.get("ok"):
                rs.debits += 1
                rs.debited += as_fraction(d.get("fee")) or 0
                rs.balance = d.get("balance", rs.balance)
        elif k == "gateway.runner_reserve":
            rs.client, rs.label = ev.actor, str(d.get("label") or "")
        elif k == "gateway.signer_reply":
            rs.payments.append((ev.seq, "signer", st, None, d.get("tickets")))
        elif k in ("gateway.runner_payment", "gateway.runner_call", "gateway.runner_stop"):
            if k == "gateway.runner_payment":
                rs.payments.append((ev.seq, "payment", st, d.get("signer_status"), d.get("tickets")))
        del rs.payments[:-20]
        return rs

    def _next_auto(self) -> int:
        self._auto_call += 1
        return f"#{self._auto_call}"

    def _ticket(self, ev: Event, d: dict) -> None:
        k = ev.kind
        if "ticket" not in k and "winner" not in k and "redeem" not in k and "redemption" not in k:
            return
        h = as_key(pick(d, "ticket_hash"))
        nonce = as_key(pick(d, "nonce"))
        if h is None and nonce is None:
            return
        session = as_key(pick(d, "recipient_rand_hash") or pick(d, "manifest_id"))
        key = h if h is not None else (session, nonce)
        tr = self.tickets.get(key) or self.winners.get(key)
        if tr is None and h is not None and nonce is not None:
            # An event that names the hash (winner stored) for a ticket first seen by nonce only.
            alias = self._by_nonce.get(nonce)
            if alias is not None and alias.ticket_hash is None:
                tr = alias
                tr.ticket_hash = h
        if tr is None and h is not None:
            tr = self._by_hash.get(h)
        if tr is None:
            tr = TicketRow(key=key, seq=ev.seq, nonce=nonce, ticket_hash=h)
            self.tickets[key] = tr
            if nonce is not None:
                self._by_nonce[nonce] = tr
            if len(self.tickets) > self.ticket_cap:
                self.tickets.popitem(last=False)
        key = tr.key  # one row per ticket, whichever name (hash or session+nonce) found it
        if nonce is not None:
            tr.nonce = nonce
        if h is not None:
            self._by_hash[h] = tr
            if len(self._by_hash) > 2 * self.ticket_cap:
                self._by_hash.pop(next(iter(self._by_hash)))
        if len(self._by_nonce) > 2 * self.ticket_cap:
            self._by_nonce.pop(next(iter(self._by_nonce)))
        if d.get("credited") is False and d.get("error"):
            tr.failed = "not credited: " + str(d["error"])
        w = pick(d, "winning")
        if w is not None:
            tr.winning = bool(w)
        fv = pick(d, "face_value")
        if fv is not None:
            tr.face_value = fv
        if "winner" in k or "stored" in k or "queued" in k:
            tr.stored = True
            tr.winning = True if tr.winning is None else tr.winning
        if "redeem" in k or "redemption" in k:
            if "sent" in k or "queued" in k:
                return self._keep_winner(key, tr)
            ok = d.get("ok")
            if "failed" in k:
                ok = False
            if ok is False or (d.get("reason") and not pick(d, "tx_hash")):
                tr.failed = str(pick(d, "reason", "failed"))
            else:
                tr.redeemed_tx = pick(d, "tx_hash")
                tr.gas_used = pick(d, "gas_used")
        self._keep_winner(key, tr)

    def _keep_winner(self, key, tr: TicketRow) -> None:
        if tr.winning or tr.stored:
            self.winners[key] = tr
            if len(self.winners) > self.ticket_cap:
                self.winners.popitem(last=False)

    def _add(self, name: str, t: float, v: Any) -> None:
        # x is the event seq: monotone, and distinct even when a virtual clock has not moved
        f = as_fraction(v)
        if f is None:
            return
        s = self.series.get(name)
        if s is None:
            s = self.series[name] = Series(name, self.series_points)
        s.add(float(self._x), f)

    def _series(self, ev: Event, lane: str, d: dict) -> None:
        if lane == "signer":
            v = d.get("balance_after")
            if v is None and "state" in d and isinstance(d["state"], dict):
                v = d["state"].get("Balance")
            if v is not None and (status_of(ev) in (200, None)):
                self._add("signer credit", ev.t, v)
        elif lane == "orch":
            mid = pick(d, "manifest_id")
            v = d.get("balance") if "balance" in d else d.get("balance_after")
            if mid is not None and v is not None:
                self._add(f"orch credit {mid}", ev.t, v)
        if ev.kind.endswith("sender_funds"):  # the orchestrator's sender monitor: on-chain deposit and reserve
            for concept in ("deposit", "reserve"):
                v = pick(d, concept)
                if v is not None:
                    self._add(concept, ev.t, v)
            return
        if lane != "chain" and not ev.kind.endswith("redemption_mined"):
            return
        for concept in ("deposit", "reserve"):
            v = pick(d, concept)
            if v is not None and lane == "chain":
                self._add(concept, ev.t, v)
        fees = pick(d, "fees")
        if fees is not None and lane == "chain":
            self._add("orchestrator fees", ev.t, fees)
        elif (("redeem" in ev.kind and lane == "chain") or ev.kind.endswith("redemption_mined")) \
                and d.get("ok") is not False and "orchestrator_fees" not in d:
            # what the contract paid (less than the face value when the sender's funds ran short), else face value
            fv = as_fraction(d["amount_paid"] if d.get("amount_paid") is not None else pick(d, "face_value"))
            if fv is not None:
                self._fees_total += fv
                self._add("orchestrator fees", ev.t, self._fees_total)

    def _facts(self, ev: Event, d: dict) -> None:
        for concept, keys in _FACT_KEYS:
            for key in keys:
                v = d.get(key)
                if v is not None:
                    if isinstance(v, int):
                        self.facts[concept] = v
                    break
        if "auth_expiration" in d:
            self.facts["auth_expiration"] = d["auth_expiration"]
        if ev.kind == "signer.started" and d.get("profile"):  # each signer's dialect, for the header
            self.facts.setdefault("signer_profiles", {})[ev.actor] = str(d["profile"])
        if "params" in ev.kind or "price" in ev.kind:
            p = d.get("price")
            if p is not None:
                self.facts["price"] = p
        self.facts["now"] = ev.t

    # -- reading -------------------------------------------------------------------------------------------
    def rows_after(self, seq: int | None) -> list[Row]:
        """The rows that events after ``seq`` added or updated, in timeline order: the new rows, and the tick
        rows of the run they extended (only the trailing run of tick rows can change; older rows never do)."""
        out: list[Row] = []
        for r in reversed(self.rows):
            if seq is None or r.last_seq > seq:
                out.append(r)
            elif not r.tick:
                break
        out.reverse()
        return out

    def payment_for(self, row: Row | None) -> Payment | None:
        if row is None or row.pay is None:
            return None
        return self.payments.get(row.pay)

    def ticket_rows(self, winners_only: bool = False, limit: int = 300) -> list[TicketRow]:
        src = self.winners if winners_only else self.tickets
        vals = list(src.values())[-limit:]
        return vals

    def totals(self) -> dict[str, Any]:
        return {
            "events": self.count,
            "payments": len(self.payments),
            "tickets": len(self.tickets),
            "winners": len(self.winners),
            "statuses": dict(self.status_counts),
        }
