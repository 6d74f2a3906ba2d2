"""How the TUI drives a running stack: time travel (:class:`StackControl`) and step mode (:class:`Stepper`).

``StackControl`` is the small protocol a stack implements (``stack/stack.py``: the one stack behind ``lpdev up``,
the scenarios and the demo; a fake in tests). Each time-travel key first shows its consequence, computed from the
stack's facts by :func:`predict` with the protocol's own rules, then calls the control.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

__all__ = ["StackControl", "Stepper", "Action", "ACTIONS", "predict", "call_control", "LocalGate", "GateAdapter",
           "adapt_gate"]

PARAMS_EXPIRATION_BLOCKS = 40   # docs/tickets.md#ticket-params: params expire 40 blocks after issue
REFRESH_WINDOW_S = 180          # docs/refreshes.md#480-refresh-the-session: 480 once now > expiration − 180 s


@runtime_checkable
class StackControl(Protocol):
    """What a stack offers the TUI. Methods may be plain or ``async``; :func:`call_control` handles both."""

    def facts(self) -> dict:
        """Known now: ``last_block``, ``current_round``, ``round_length``, ``expiration_block`` (of the
        gateway's current ticket params), ``auth_expiration`` (unix s), ``now``, ``price`` and
        ``initial_price`` (wei per unit, Fraction or RatString), ``max_price`` (signer's configured ceiling or
        None), ``orchestrator_alive``, ``pending_winners``, ``expire_moves_clock`` (False if
        ``expire_auth_token`` shortens the token instead of moving the clock). Missing keys are fine."""

    def mine_blocks(self, n: int) -> Any: ...

    def advance_round(self) -> Any: ...

    def expire_auth_token(self) -> Any: ...

    def raise_price(self, factor: Fraction) -> Any: ...

    def restart_orchestrator(self) -> Any: ...


@dataclass(frozen=True)
class Action:
    key: str
    name: str
    method: str
    args: tuple = ()


ACTIONS = (
    Action("M", "mine 40 blocks", "mine_blocks", (40,)),
    Action("R", "advance a round", "advance_round"),
    Action("A", "expire the auth token", "expire_auth_token"),
    Action("P", "raise the orchestrator's price ×2.5", "raise_price", (Fraction(5, 2),)),
    Action("K", "kill and restart the orchestrator", "restart_orchestrator"),
)


def _frac(v: Any) -> Fraction | None:
    if v is None:
        return None
    try:
        return Fraction(v) if not isinstance(v, str) else Fraction(v.strip())
    except (ValueError, ZeroDivisionError, TypeError):
        return None


def predict(method: str, facts: dict, args: tuple = ()) -> str:
    """The consequence of an action, in the protocol's words, before it happens."""
    f = facts or {}
    block, exp = f.get("last_block"), f.get("expiration_block")
    if method == "mine_blocks":
        n = args[0] if args else PARAMS_EXPIRATION_BLOCKS
        if block is None or exp is None:
            return (f"mines {n} blocks. Ticket params expire {PARAMS_EXPIRATION_BLOCKS} blocks after issue, so the "
                    "next payment will likely get 480 (params expired) and the gateway refreshes "
                    "(docs/refreshes.md#480-refresh-the-session).")
        new = block + n
        if exp - new <= 1:
            return (f"block {block} → {new}; the gateway's ticket params expire at block {exp}, and after mining "
                    f"expiration − last block = {exp - new} (≤ 1 counts as expired), so the next payment will get "
                    "480: the gateway calls GetOrchestrator for fresh params and retries; the nonce restarts at 1 "
                    "under the new recipientRandHash (docs/refreshes.md#480-refresh-the-session, "
                    "docs/tickets.md#nonces).")
        return (f"block {block} → {new}; params expire at block {exp} ({exp - new} blocks left), so the next "
                "payment still succeeds with the same params.")
    if method == "advance_round":
        r, rl = f.get("current_round"), f.get("round_length")
        nxt = "the next round" if r is None else f"round {r + 1}"
        extra = "" if rl is None or block is None else f" (mines {rl - block % rl} blocks to the round boundary)"
        warn = ""
        if exp is not None and block is not None and rl is not None and exp - (block + rl - block % rl) <= 1:
            warn = " Those blocks also pass the params' expiration block, so the next payment gets 480."
        return (f"moves the chain to {nxt}{extra}. New ticket params carry the new creation round and its block "
                "hash; winners stay redeemable while creationRound ≥ lastInitializedRound − 2 "
                "(docs/chain.md#redeeming-a-winning-ticket)." + warn)
    if method == "expire_auth_token":
        text = ("puts the gateway's auth token into its last 180 s (expiration − 180 s, "
                "docs/refreshes.md#480-refresh-the-session): the next payment "
                "will get 480 'refresh session for remote signer'; the gateway fetches a new token with "
                "GetOrchestrator and retries.")
        exp, now = f.get("auth_expiration"), f.get("now")
        if exp is not None and now is not None and f.get("expire_moves_clock") is not False:
            shift = float(exp) - REFRESH_WINDOW_S + 1 - float(now)
            if shift > 60:
                text += (f" A stack that gets there by moving its clock (lpdev up does) skips ≈{shift:,.0f} s, and "
                         "the retry bills that time too (docs/remote-signer.md#billing-fee-tickets-balance): for "
                         "live video that can need more than 100 tickets, which the signer refuses with 400.")
        return text
    if method == "raise_price":
        factor = _frac(args[0]) if args else Fraction(2)
        price, initial, cap = _frac(f.get("price")), _frac(f.get("initial_price")), _frac(f.get("max_price"))
        if price is None:
            return (f"multiplies the orchestrator's price by {factor}. If it exceeds a ceiling the next payment "
                    "gets 481; above 2× the initial price it gets 481 'Orchestrator price has more than doubled'.")
        new = price * factor
        ceilings = []
        if cap is not None:
            ceilings.append(("configured maximum price", cap))
        if initial is not None:
            ceilings.append(("initial session price", initial))
        s = f"price {float(price):.3f} → {float(new):.3f} wei/unit. "
        if ceilings:
            label, c = min(ceilings, key=lambda x: x[1])
            if new > c:
                return s + (f"It exceeds the {label} ceiling {float(c):.3f}, so once the gateway holds the new "
                            "params the next payment gets 481 and the gateway stops the session "
                            "(docs/remote-signer.md#price-ceilings).")
        if initial is not None and new > 2 * initial:
            return s + ("More than double the initial price: the next payment gets 481 "
                        "(docs/refreshes.md#481-price-too-high).")
        return s + ("Within every ceiling: payments continue and the fee stays at the session's initial "
                    "price (docs/remote-signer.md#billing-fee-tickets-balance).")
    if method == "restart_orchestrator":
        pw = f.get("pending_winners")
        pend = "" if pw is None else f" {pw} stored winning ticket(s) wait in SQLite and are redeemed after restart;"
        return ("stops the orchestrator and starts it again on the same URL with a new TLS certificate and a new "
                "secret (go-livepeer draws both at start):" + pend + " its in-memory balances per manifest are "
                "lost. The gateway's auth token and recipientRandHash were made with the old secret, so its next "
                "payments get 403 'invalid auth token' until it refreshes (GetOrchestrator) — the scripted "
                "gateway does when the signer answers 480 for expired params; tickets signed in between are "
                "never credited (docs/orchestrator.md#the-payment-endpoint, docs/chain.md#redeeming-a-winning-ticket).")
    return f"runs {method}."


async def call_control(control: Any, method: str, *args: Any) -> Any:
    fn = getattr(control, method, None)
    if fn is None:
        raise AttributeError(f"this stack cannot {method.replace('_', ' ')}")
    res = fn(*args)
    if inspect.isawaitable(res):
        res = await res
    return res


@runtime_checkable
class Stepper(Protocol):
    """Step mode seen from the TUI: pause before the next step, let one step run, or run freely."""

    paused: bool

    def pause(self) -> None: ...

    def step(self) -> None: ...

    def run(self) -> None: ...


class LocalGate:
    """A thread-safe gate for runners in a worker thread (the demo stack)."""

    def __init__(self, paused: bool = True) -> None:
        self.paused = paused
        self._cv = threading.Condition()
        self._tokens = 0
        self.waiting: str | None = None
        self.closed = False

    def wait(self, description: str = "") -> None:
        with self._cv:
            if not self.paused:
                return
            self.waiting = description
            while self.paused and self._tokens == 0 and not self.closed:
                self._cv.wait(0.2)
            if self._tokens:
                self._tokens -= 1
            self.waiting = None

    def pause(self) -> None:
        with self._cv:
            self.paused = True

    def step(self) -> None:
        with self._cv:
            self._tokens += 1
            self._cv.notify_all()

    def run(self) -> None:
        with self._cv:
            self.paused = False
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()


class GateAdapter:
    """Wraps ``stack.gate.StepGate`` (async; ``release``/``continue_all``) as a :class:`Stepper`.

    The scenario runner awaits the gate on its own loop; calls are marshalled there."""

    def __init__(self, gate: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.gate = gate
        self.loop = loop

    @property
    def paused(self) -> bool:
        return bool(getattr(self.gate, "enabled", True)) and not getattr(self.gate, "run_to_end", False)

    @property
    def waiting(self) -> Any:
        return getattr(self.gate, "waiting", None)

    def _call(self, fn) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(fn)
        else:
            fn()

    def pause(self) -> None:
        def do() -> None:
            self.gate.enabled = True
            self.gate.run_to_end = False
        self._call(do)

    def step(self) -> None:
        self._call(self.gate.release)

    def run(self) -> None:
        self._call(self.gate.continue_all)


def adapt_gate(gate: Any, loop: asyncio.AbstractEventLoop | None = None) -> Stepper:
    if isinstance(gate, (LocalGate, GateAdapter)):
        return gate
    return GateAdapter(gate, loop)
