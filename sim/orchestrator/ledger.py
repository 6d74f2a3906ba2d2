"""Balances per (sender, manifest id), sans-IO (docs/orchestrator.md#credit-and-debit; go-livepeer
``core/accounting.go``).

Credit by received ticket EV, debit by fees. Two go-livepeer behaviours are kept on purpose:

* ``set_fixed_price`` does nothing when the sender has no entry yet, so a brand-new sender's first payment does
  not pin the session price; the next one does (docs/orchestrator.md#credit-and-debit).
* ``account_payment`` refuses a fee larger than the balance with the exact insufficient-balance message
  (docs/orchestrator.md#credit-and-debit).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sim.pm.accounting import insufficient_balance_message

__all__ = ["Balance", "Ledger", "InsufficientBalance", "CLEANUP_TTL_S"]

CLEANUP_TTL_S = 10 * 60  # cleanupInterval in production


class InsufficientBalance(Exception):
    """``str(e)`` = ``insufficient balance, mid=…, fee=…, balance=…``."""


@dataclass
class Balance:
    amount: Fraction = Fraction(0)
    fixed_price: Fraction | None = None
    last_update: float = 0.0


class Ledger:
    def __init__(self) -> None:
        self._by_sender: dict[bytes, dict[str, Balance]] = {}

    # ------------------------------------------------------------ queries
    def balance(self, sender: bytes, manifest_id: str) -> Fraction | None:
        """``Balances.Balance``: None when there is no entry."""
        b = self._by_sender.get(bytes(sender), {}).get(manifest_id)
        return None if b is None else b.amount

    def fixed_price(self, sender: bytes, manifest_id: str) -> Fraction | None:
        b = self._by_sender.get(bytes(sender), {}).get(manifest_id)
        return None if b is None else b.fixed_price

    def entries(self) -> list[tuple[bytes, str, Balance]]:
        return [(s, m, b) for s, per in self._by_sender.items() for m, b in per.items()]

    # ------------------------------------------------------------ updates
    def _entry(self, sender: bytes, manifest_id: str, now: float) -> Balance:
        per = self._by_sender.setdefault(bytes(sender), {})
        b = per.get(manifest_id)
        if b is None:
            b = per[manifest_id] = Balance(last_update=now)
        b.last_update = now
        return b

    def credit(self, sender: bytes, manifest_id: str, amount: Fraction, now: float = 0.0) -> Fraction:
        b = self._entry(sender, manifest_id, now)
        b.amount += Fraction(amount)
        return b.amount

    def debit(self, sender: bytes, manifest_id: str, amount: Fraction, now: float = 0.0) -> Fraction:
        b = self._entry(sender, manifest_id, now)
        b.amount -= Fraction(amount)
        return b.amount

    def set_fixed_price(self, sender: bytes, manifest_id: str, price: Fraction) -> bool:
        """Pin the session price if none yet. Quirk kept: no-op (False) when the sender has no entry at all."""
        per = self._by_sender.get(bytes(sender))
        if per is None:
            return False
        b = per.get(manifest_id)
        if b is None:
            b = per[manifest_id] = Balance()
        if b.fixed_price is None:
            b.fixed_price = Fraction(price)
            return True
        return False

    def account_payment(self, sender: bytes, manifest_id: str, units: int, price: Fraction,
                        now: float = 0.0) -> Fraction:
        """``AccountPayment``: debit ``units × price``; returns the fee. Price 0 → nothing to debit."""
        price = Fraction(price)
        if price == 0:
            return Fraction(0)
        fee = Fraction(units) * price
        bal = self.balance(sender, manifest_id)
        if bal is None or bal < fee:
            raise InsufficientBalance(insufficient_balance_message(manifest_id, fee, bal))
        self.debit(sender, manifest_id, fee, now)
        return fee

    def sufficient_balance(self, sender: bytes, manifest_id: str, ticket_ev: int) -> bool:
        """``SufficientBalance``: balance ≥ the configured ticket EV."""
        bal = self.balance(sender, manifest_id)
        return bal is not None and bal >= ticket_ev

    def cleanup(self, now: float, ttl: float = CLEANUP_TTL_S) -> int:
        n = 0
        for s in list(self._by_sender):
            per = self._by_sender[s]
            for m in [m for m, b in per.items() if now - b.last_update > ttl]:
                del per[m]
                n += 1
            if not per:
                del self._by_sender[s]
        return n
