"""Invariants checked after every scenario: money is exact (issue 6;
README.md#scenarios-lpdev-scenario-and-lpdev-bench-scenario).

Each check reads the run's events and, for money, the chain (before/after snapshots taken by the stack):

* ``money_conservation``: what the senders' deposit + reserve lost (net of funding and withdrawals) equals the
  fees credited to orchestrators on chain, which equals the face values of the redeemed winners — less only
  what a reserve cap withheld (docs/chain.md#what-the-ticketbroker-checks-in-order: an underfunded ticket pays what
  is there);
* ``no_double_redemption``: no ticket hash redeemed twice (and each redeemed hash is used on chain);
* ``winners_accounted``: every stored winning ticket is redeemed, or failed / still queued with its reason;
* ``nonce_unique``: no (recipientRandHash, nonce) pair was signed twice;
* ``signer_balance_nonnegative``: the signer-side balance in every returned state is ≥ 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sim.pm.money import float_string, parse_rat

__all__ = ["InvariantResult", "WinnerRecord", "check_invariants"]


@dataclass
class InvariantResult:
    name: str
    ok: bool  # did the invariant hold?
    detail: str

    def verdict(self, expected: str) -> tuple[bool, str]:
        """(passed, detail) given what the scenario expects: hold, violated (a misuse demo) or skip."""
        if expected == "skip":
            return True, f"skipped by the scenario ({self.detail})"
        if expected == "violated":
            return (not self.ok), ("violated, as this scenario demonstrates: " + self.detail if not self.ok
                                   else "expected a violation but it held: " + self.detail)
        return self.ok, self.detail


def _redeemed(events: list) -> list:
    return [e for e in events if e.kind == "orch.redemption_mined"]


def money_conservation(events, before: dict, after: dict, funded: dict, withdrawn: dict) -> InvariantResult:
    lost = 0
    for role, b in before["senders"].items():
        a = after["senders"][role]
        lost += (b["deposit"] + b["reserve"] + funded.get(role, 0) - withdrawn.get(role, 0)) - (a["deposit"] + a["reserve"])
    credited = sum(after["orchestrators"][n] - before["orchestrators"].get(n, 0) for n in after["orchestrators"])
    redeemed = _redeemed(events)
    face = sum(int(e.data.get("face_value", 0)) for e in redeemed)
    detail = (f"senders lost {lost} wei, orchestrators credited {credited} wei, {len(redeemed)} redeemed winner(s) "
              f"with face values {face} wei")
    if lost != credited:
        return InvariantResult("money_conservation", False, detail + " — lost != credited")
    if all("amount_paid" in e.data for e in redeemed):
        # Ticket by ticket: what each redemption paid on chain (WinningTicketTransfer) adds up to the credit.
        paid = sum(int(e.data["amount_paid"]) for e in redeemed)
        if paid != credited:
            return InvariantResult("money_conservation", False,
                                   detail + f" — the redemptions report paying {paid} wei, not {credited}")
        short = [e for e in redeemed if int(e.data["amount_paid"]) < int(e.data.get("face_value", 0))]
        if short:
            return InvariantResult("money_conservation", True, detail + (
                f" — {face - paid} wei of face value unpaid on {len(short)} ticket(s): the sender's deposit and "
                "reserve could not cover them (reserve cap)"))
        return InvariantResult("money_conservation", True, detail)
    # Traces from before redemptions carried amount_paid: only the totals can be compared.
    if credited > face:
        return InvariantResult("money_conservation", False, detail + " — credited more than the face values")
    if credited < face:
        return InvariantResult("money_conservation", True,
                               detail + f" — {face - credited} wei of face value unpaid: the sender's deposit and "
                                        "reserve could not cover it (reserve cap)")
    return InvariantResult("money_conservation", True, detail)


def no_double_redemption(events, is_used=None) -> InvariantResult:
    seen: dict[str, int] = {}
    for e in _redeemed(events):
        h = e.data.get("ticket_hash")
        seen[h] = seen.get(h, 0) + 1
    twice = [h for h, c in seen.items() if c > 1]
    if twice:
        return InvariantResult("no_double_redemption", False, f"redeemed twice: {', '.join(twice)}")
    if is_used is not None:
        missing = [h for h in seen if not is_used(bytes.fromhex(h[2:]))]
        if missing:
            return InvariantResult("no_double_redemption", False,
                                   f"reported redeemed but not used on chain: {', '.join(missing)}")
    return InvariantResult("no_double_redemption", True, f"{len(seen)} ticket(s) redeemed once each")


@dataclass(frozen=True)
class WinnerRecord:
    """What :func:`winners_accounted` reads of a stored winner (a trace keeps these, so a replay rechecks it)."""

    ticket_hash: bytes
    status: str
    reason: str | None

    @classmethod
    def of(cls, w) -> "WinnerRecord":
        return cls(bytes(w.ticket_hash), w.status, w.reason)

    def to_json(self) -> list:
        return ["0x" + self.ticket_hash.hex(), self.status, self.reason]

    @classmethod
    def from_json(cls, v) -> "WinnerRecord":
        h, status, reason = v
        return cls(bytes.fromhex(str(h)[2:]), str(status), reason)


def winners_accounted(events, stores: dict) -> InvariantResult:
    """``stores``: orchestrator name -> list of StoredWinner or WinnerRecord (its SQLite, even when it was
    killed)."""
    counts = {"redeemed": 0, "failed": 0, "queued": 0, "sending": 0}
    unexplained = []
    reasons: dict[str, int] = {}
    for name, winners in stores.items():
        for w in winners:
            counts[w.status] = counts.get(w.status, 0) + 1
            if w.status == "redeemed":
                continue
            if not w.reason:
                unexplained.append(f"{name}:{'0x' + bytes(w.ticket_hash).hex()[:16]}… {w.status} without a reason")
            else:
                reasons[w.reason] = reasons.get(w.reason, 0) + 1
    stored = sum(1 for e in events if e.kind == "orch.winner_stored" and not e.data.get("duplicate"))
    total = sum(counts.values())
    detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no winning tickets"
    if reasons:
        detail += "; reasons: " + "; ".join(f"{r} (x{c})" for r, c in sorted(reasons.items()))
    if total != stored:
        return InvariantResult("winners_accounted", False,
                               f"{stored} winner(s) reported stored but {total} found in the stores ({detail})")
    if unexplained:
        return InvariantResult("winners_accounted", False, detail + "; " + "; ".join(unexplained))
    return InvariantResult("winners_accounted", True, detail)


def nonce_unique(events) -> InvariantResult:
    seen: dict[tuple[str, int], int] = {}
    for e in events:
        if e.kind == "gateway.signer_reply" and e.data.get("status") == 200:
            rrh = e.data.get("recipient_rand_hash", "")
            for n in e.data.get("nonces", []):
                seen[(rrh, n)] = seen.get((rrh, n), 0) + 1
    dups = [(r, n) for (r, n), c in seen.items() if c > 1]
    if dups:
        show = ", ".join(f"nonce {n} for {r[:12]}…" for r, n in dups[:5])
        return InvariantResult("nonce_unique", False, f"{len(dups)} (recipientRandHash, nonce) pair(s) signed more "
                                                      f"than once: {show}")
    return InvariantResult("nonce_unique", True, f"{len(seen)} nonce(s), all unique per recipientRandHash")


def signer_balance_nonnegative(events) -> InvariantResult:
    low, n, negative, first = None, 0, 0, None
    for e in events:
        if e.kind == "gateway.signer_reply" and e.data.get("status") == 200 and e.data.get("balance") is not None:
            b = parse_rat(str(e.data["balance"]))
            n += 1
            low = b if low is None else min(low, b)
            if b < 0:
                negative += 1
                first = first or e
    if low is not None and low < 0:
        return InvariantResult("signer_balance_nonnegative", False,
                               f"{negative} of {n} state(s) carried a negative balance, lowest "
                               f"{float_string(low, 3)} wei; first: {first.actor} (event {first.seq}) got balance "
                               f"{first.data['balance']} from {first.data.get('signer') or 'the signer'}")
    return InvariantResult("signer_balance_nonnegative", True,
                           f"{n} state(s), lowest balance {float_string(low if low is not None else Fraction(0), 3)} wei")


def check_invariants(events, *, before, after, funded, withdrawn, stores, is_used=None) -> list[InvariantResult]:
    return [
        money_conservation(events, before, after, funded, withdrawn),
        no_double_redemption(events, is_used),
        winners_accounted(events, stores),
        nonce_unique(events),
        signer_balance_nonnegative(events),
    ]
