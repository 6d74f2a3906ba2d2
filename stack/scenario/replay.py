"""Replay a scenario trace: rebuild the run's summary from its events and recheck every verdict the events can
decide, instead of trusting the ``passed`` the trace recorded (``lpdev scenario replay TRACE``).

Rechecked from the trace alone:

* the invariants: ``nonce_unique``, ``signer_balance_nonnegative`` and ``no_double_redemption`` (its
  ``usedTickets`` half needs the chain: taken as recorded) from the events; ``money_conservation`` and
  ``winners_accounted`` from the events plus the balances and stored winners the run recorded next to them;
* the ``event`` and ``summary`` expectations, against the events that came before each one;
* the summary counts the run recorded (``scenario.summary``) against the events' own counts;
* the event sequence numbers: a gap means lines were removed.

``outcome(s)``, ``chain`` and ``winners`` expectations read live objects (gateway outcomes, the chain, the
orchestrators' SQLite) and stay as recorded. A recheck that disagrees with the recorded verdict fails the
replay and says which verdict the trace contradicts.
"""
from __future__ import annotations

from pathlib import Path

from sim.events import Event, TraceError, read_trace
from stack.scenario.invariants import (InvariantResult, WinnerRecord, money_conservation, no_double_redemption,
                                     nonce_unique, signer_balance_nonnegative, winners_accounted)
from stack.scenario.model import CMP_KEYS, Cmp
from stack.scenario.runner import EVENT_CHECKS, check_on_events, summarize

__all__ = ["NotAScenarioTrace", "replay_trace", "recheck"]

COUNTS = ("payments", "tickets", "winning_tickets", "redeemed")


class NotAScenarioTrace(TraceError):
    """An lpdev trace, but not one ``lpdev scenario run`` wrote (e.g. the TUI demo's)."""


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _expected_mode(d: dict) -> str:
    """hold | violated | skip: recorded since the trace kept it, else read from how the verdict was worded."""
    if d.get("expected") in ("hold", "violated", "skip"):
        return d["expected"]
    detail = str(d.get("detail", ""))
    if detail.startswith("skipped by the scenario"):
        return "skip"
    if detail.startswith(("violated, as this scenario demonstrates", "expected a violation but it held")):
        return "violated"
    return "hold"


def _recheck_invariant(d: dict, before: list[Event]) -> tuple[bool, str] | None:
    name = d.get("name")
    if name == "nonce_unique":
        r = nonce_unique(before)
    elif name == "signer_balance_nonnegative":
        r = signer_balance_nonnegative(before)
    elif name == "no_double_redemption":
        r = no_double_redemption(before)
        if r.ok and "not used on chain" in str(d.get("detail", "")):
            r = InvariantResult(name, False, str(d["detail"]))  # the chain half: as recorded
    elif name == "money_conservation" and isinstance(d.get("books"), dict):
        b = d["books"]
        try:
            r = money_conservation(before, b["before"], b["after"], b.get("funded") or {}, b.get("withdrawn") or {})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            return False, f"the recorded balances cannot be read ({type(exc).__name__}: {exc})"
    elif name == "winners_accounted" and isinstance(d.get("stores"), dict):
        try:
            stores = {n: [WinnerRecord.from_json(w) for w in ws] for n, ws in d["stores"].items()}
        except (AttributeError, TypeError, ValueError) as exc:
            return False, f"the recorded stored winners cannot be read ({type(exc).__name__}: {exc})"
        r = winners_accounted(before, stores)
    else:
        return None  # an older trace without the invariant's inputs: as recorded
    return r.verdict(_expected_mode(d))


def _expectation_args(args: dict) -> dict:
    return {k: (Cmp.parse(v) if k in CMP_KEYS and Cmp.parse(v) is not None else v) for k, v in args.items()}


def _recheck_expectation(d: dict, before: list[Event]) -> tuple[bool, str] | None:
    if d.get("check") not in EVENT_CHECKS or not isinstance(d.get("args"), dict):
        return None
    try:
        return check_on_events(d["check"], _expectation_args(d["args"]), before)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return False, f"cannot be rechecked from the recorded arguments ({type(exc).__name__}: {exc})"


def _sequence_problems(evs: list[Event]) -> list[str]:
    seqs = sorted(e.seq for e in evs)
    if not seqs:
        return []
    out = []
    dup = sorted({a for a, b in zip(seqs, seqs[1:]) if a == b})
    if dup:
        out.append(f"event seq {', '.join(map(str, dup[:5]))}{'…' if len(dup) > 5 else ''} appear(s) more than once")
    missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
    if missing:
        show = ", ".join(map(str, missing[:5])) + ("…" if len(missing) > 5 else "")
        out.append(f"{len(missing)} event(s) missing from the trace (seq {show}): lines were removed")
    return out


def recheck(evs: list[Event]) -> dict:
    """The summary of ``evs`` (as :func:`summarize`), with each verdict the events can decide recomputed.

    Extra keys: ``rechecked`` (how many of the expectations / invariants were recomputed) and
    ``contradictions`` (one sentence per verdict or count the events do not support)."""
    s = summarize(evs)
    exps, invs = iter(s["expectations"]), iter(s["invariants"])
    contradictions = _sequence_problems(evs)
    done = {"expectations": 0, "invariants": 0}
    for i, e in enumerate(evs):
        d = e.data
        if e.kind == "scenario.summary":
            got = summarize(evs[:i], final=False)
            for k in COUNTS:
                if k in d and d[k] != got[k]:
                    contradictions.append(f"the recorded summary says {k} {d[k]}, but the trace's events give "
                                          f"{got[k]}")
            continue
        if e.kind != "scenario.expectation":
            continue
        is_inv = d.get("group") == "invariant"
        item = next(invs if is_inv else exps)
        res = (_recheck_invariant if is_inv else _recheck_expectation)(d, evs[:i])
        if res is None:
            continue
        done["invariants" if is_inv else "expectations"] += 1
        ok, detail = res
        if ok != item["passed"]:
            contradictions.append(f"{item['name']}: recorded {_mark(item['passed'])} ({item['detail']}), but the "
                                  f"trace's events give {_mark(ok)} ({detail})")
            item["passed"] = False
            item["detail"] = f"the trace contradicts its recorded {_mark(not ok)}: {detail}"
    s["rechecked"] = done
    s["contradictions"] = contradictions
    if contradictions:
        s["passed"] = False
    return s


def replay_trace(path: str | Path) -> dict:
    """Read a scenario trace and :func:`recheck` it; adds ``scenario``, ``chain``, ``seed``, ``events``.

    Raises :class:`TraceError` for a file that is not an lpdev trace and :class:`NotAScenarioTrace` for one
    ``lpdev scenario run`` did not write."""
    header, events = read_trace(path)
    evs = list(events)
    if not header.get("scenario"):
        src = header.get("source")
        raise NotAScenarioTrace(f"not a scenario trace: {path} (its header names no scenario"
                                + (f"; it was written by {src}" if src else "")
                                + "); `lpdev tui --replay` shows any trace")
    s = recheck(evs)
    s.update(scenario=header.get("scenario"), chain=header.get("chain"), seed=header.get("seed"), events=len(evs))
    return s
