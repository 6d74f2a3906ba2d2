"""Redemption of stored winning tickets by go-livepeer's rules (docs/chain.md#redeeming-a-winning-ticket;
``pm/queue.go``, ``pm/sendermonitor.go``).

Driven by new blocks: for each queued ticket, oldest first,

1. skip unless ``creationRound ≥ lastInitializedRound − ticketValidityPeriod`` — an older ticket can never be
   redeemed, so it is marked failed with that reason. go-livepeer uses a constant 2; lpdev reads
   ``TicketBroker.ticketValidityPeriod()`` from the chain at each pass, so a chain with another period (or a
   governance change) is followed;
2. skip (retry later) unless ``ParamsExpirationBlock ≤ latest block`` (the sender may no longer use the
   params), the current round is initialized (lpdev waits here; go-livepeer would send and lose the ticket to
   the revert) and the orchestrator is an active transcoder;
3. ``usedTickets(hash)`` true → ``ticket already used`` (non-retryable; the row is marked ``redeemed`` since the
   face value did reach this orchestrator on chain);
4. ``availableFunds = reserveAlloc + deposit − pending`` must exceed ``txCost = RedeemGas × gasPrice``, and so
   must the face value (retryable);
5. mark ``sending`` (fsynced) → send → ``redeemed`` with the tx hash, or ``failed`` with the revert reason
   (a mined-but-failed transaction is non-retryable, as in go-livepeer).

Crash safety: a ticket found in ``sending`` at start-up was maybe sent. The chain decides: ``usedTickets`` true →
``redeemed`` (by our earlier transaction); false → back to ``queued`` and sent again. So a ``kill -9`` at any
moment loses no winner and redeems none twice (the contract also refuses a second redemption).
"""
from __future__ import annotations

import os
import signal

from sim.orchestrator.winners import FAILED, QUEUED, REDEEMED, SENDING, StoredWinner
from sim.pm.crypto import to_checksum_address

__all__ = ["Redeemer", "NON_RETRYABLE"]

NON_RETRYABLE = ("ticket already used", "transaction failed", "ticket creationRound does not have a block hash")
# Reverts that say "not now" rather than "never": the ticket is still unused, so it goes back in the queue.
# (go-livepeer drops every failed transaction; a round boundary between the queue's check and the send would
# then lose a winner for good.)
TRANSIENT_REVERTS = ("current round is not initialized", "system is paused")


class Redeemer:
    def __init__(self, orch) -> None:
        self.orch = orch  # sim.orchestrator.node.Orchestrator
        self.validity_period: int | None = None  # TicketBroker.ticketValidityPeriod(), as last read

    def _read_validity_period(self) -> int | None:
        """``TicketBroker.ticketValidityPeriod()`` (rounds); the last value read if the chain does not answer."""
        try:
            with self.orch.watch.lock:
                self.validity_period = int(self._chain.ticket_validity_period())
        except Exception:  # noqa: BLE001 - unreachable chain: the pass waits or uses the last known period
            pass
        return self.validity_period

    @property
    def _chain(self):
        return self.orch.chain

    def recover(self) -> int:
        """At start-up: settle tickets left in ``sending`` by a crash. Returns how many were found."""
        stuck = self.orch.store.with_status(SENDING)
        for w in stuck:
            h = w.ticket.hash()
            with self.orch.watch.lock:
                used = bool(self._chain.is_used_ticket(h))
            if used:
                self.orch.store.set_status(h, REDEEMED, reason="found used on chain after restart (our earlier send)")
                self.orch.emit("orch.redemption_mined", ticket_hash=h, sender=w.ticket.sender,
                               face_value=w.ticket.face_value, tx_hash=None, recovered=True)
            else:
                self.orch.store.set_status(h, QUEUED, reason="not on chain after restart: will resend")
        return len(stuck)

    def reconcile_redeemed(self) -> int:
        """After the chain was restored from a saved state (``lpdev up --resume`` after a ``kill -9``): a winner the
        store calls ``redeemed`` whose ticket the restored chain does not know as used was redeemed after that
        state was saved -- that redemption is gone with the lost blocks, so the ticket goes back in the queue.
        Returns how many were requeued."""
        n = 0
        for w in self.orch.store.with_status(REDEEMED):
            h = w.ticket.hash()
            with self.orch.watch.lock:
                used = bool(self._chain.is_used_ticket(h))
            if not used:
                self.orch.store.set_status(h, QUEUED, reason="redeemed after the restored chain state was saved: "
                                                             "will resend")
                n += 1
        return n

    def run_once(self) -> dict:
        """One pass over the queue (called on each new block and by tests). Returns counts."""
        out = {"redeemed": 0, "failed": 0, "waiting": 0}
        if self.orch.store.counts().get(SENDING):
            self.recover()  # a send whose outcome is unknown: the chain decides
        if self.orch.faults.stop_redeeming:
            out["waiting"] = len(self.orch.store.with_status(QUEUED))
            return out
        snap = self.orch.watch.snapshot
        validity = self._read_validity_period()
        if validity is None:  # never read it: nothing can be judged expired or sent yet
            out["waiting"] = len(self.orch.store.with_status(QUEUED))
            return out
        for w in self.orch.store.with_status(QUEUED):
            verdict = self._redeem(w, snap, validity)
            out[verdict] += 1
            if self.orch.faults.stop_redeeming:
                break
        return out

    def _fail(self, w: StoredWinner, reason: str, *, retry: bool) -> str:
        h = w.ticket.hash()
        if retry:
            self.orch.store.set_status(h, QUEUED, reason=reason)
        else:
            self.orch.store.set_status(h, FAILED, reason=reason)
        self.orch.emit("orch.redemption_failed", ticket_hash=h, sender=w.ticket.sender, reason=reason, retry=retry)
        return "waiting" if retry else "failed"

    def _redeem(self, w: StoredWinner, snap, validity: int) -> str:
        t = w.ticket
        h = t.hash()
        if t.creation_round < snap.last_initialized_round - validity:
            return self._fail(w, f"ticket creationRound {t.creation_round} is outside the validity window "
                                  f"(last initialized round {snap.last_initialized_round}, ticketValidityPeriod "
                                  f"{validity})", retry=False)
        if w.params_expiration_block > snap.last_block:
            return "waiting"  # not yet: the params are still usable by the sender
        if snap.current_round >= t.creation_round + validity:
            # TicketBroker would revert "ticket is expired" (docs/chain.md#what-the-ticketbroker-checks-in-order);
            # go-livepeer sends anyway and drops the ticket as a failed transaction. Same outcome here, without burning
            # gas.
            return self._fail(w, f"ticket is expired: creationRound {t.creation_round} + ticketValidityPeriod "
                                 f"{validity} <= current round {snap.current_round}", retry=False)
        if snap.current_round != snap.last_initialized_round:
            # The contract would revert ("current round is not initialized") and go-livepeer would then drop the
            # ticket as a failed transaction; lpdev waits for the round to be initialized instead.
            if w.reason != "current round is not initialized":
                self._fail(w, "current round is not initialized", retry=True)
            return "waiting"
        if not snap.active:
            if w.reason != "orchestrator not active":
                self._fail(w, "orchestrator not active", retry=True)
            return "waiting"
        watch = self.orch.watch
        try:
            with watch.lock:
                if self._chain.is_used_ticket(h):
                    return self._already_used(w, "ticket already used")
                watch.forget_sender(t.sender)
                available = watch.available_funds(t.sender)
        except Exception as exc:  # chain unreachable: try again next block
            return self._fail(w, f"chain error: {exc}", retry=True)
        tx_cost = self.orch.config.redeem_gas * snap.gas_price
        if available <= tx_cost:
            return self._fail(w, "insufficient sender funds for redeem tx cost", retry=True)
        if t.face_value <= tx_cost:
            return self._fail(w, "insufficient ticket face value for redeem tx cost", retry=True)
        self.orch.store.set_status(h, SENDING, attempt=True)  # durable BEFORE the transaction leaves
        self._maybe_crash("before_send")
        self.orch.emit("orch.redemption_sent", ticket_hash=h, sender=t.sender, face_value=t.face_value,
                       nonce=t.sender_nonce, attempt=w.attempts + 1)
        with watch.lock:
            watch.pending[t.sender] = watch.pending.get(t.sender, 0) + t.face_value
        try:
            with watch.lock:
                res = self._chain.redeem_winning_ticket(t, w.sig, w.recipient_rand, from_key=self.orch.config.eth_key)
        except Exception as exc:
            # Unknown whether it left: leave it 'sending'-safe by asking the chain next time.
            self.orch.store.set_status(h, SENDING, reason=f"send error: {exc}")
            self.recover_one(w)
            return "waiting"
        finally:
            with watch.lock:
                watch.pending[t.sender] = max(0, watch.pending.get(t.sender, 0) - t.face_value)
                watch.forget_sender(t.sender)
        self._maybe_crash("after_send")
        if res.ok:
            self.orch.store.set_status(h, REDEEMED, tx_hash=res.tx_hash, reason=None)
            # What the contract actually paid (deposit, then reserve up to this orchestrator's allocation,
            # docs/chain.md#what-the-ticketbroker-checks-in-order):
            # less than the face value when the sender is underfunded.
            paid = sum(int(e["args"]["amount"]) for e in res.events if e.get("event") == "WinningTicketTransfer")
            self.orch.emit("orch.redemption_mined", ticket_hash=h, sender=t.sender, face_value=t.face_value,
                           amount_paid=paid, tx_hash=res.tx_hash, gas_used=res.gas_used,
                           sender_hex=to_checksum_address(t.sender))
            try:  # read the sender's funds after the payout now (orch.sender_funds), not at its next payment
                watch.sender(t.sender)
            except Exception:  # noqa: BLE001 - a display refresh; the next block poll reads them again
                pass
            return "redeemed"
        reason = res.revert_reason if res.revert_reason is not None else "transaction failed"
        if reason == "ticket is used":  # e.g. our own earlier send, still pending when we crashed, got mined first
            return self._already_used(w, f"transaction failed: {reason}", tx_hash=res.tx_hash)
        if reason in TRANSIENT_REVERTS:
            return self._fail(w, reason, retry=True)
        self.orch.store.set_status(h, FAILED, tx_hash=res.tx_hash, reason=f"transaction failed: {reason}")
        self.orch.emit("orch.redemption_failed", ticket_hash=h, sender=t.sender, reason=f"transaction failed: {reason}",
                       tx_hash=res.tx_hash, retry=False)
        return "failed"

    def _already_used(self, w: StoredWinner, reason: str, tx_hash: str | None = None) -> str:
        """go-livepeer stops here with a non-retryable error. A used ticket was paid to its recipient (this
        orchestrator) whoever sent the transaction, so the row is ``redeemed`` — the DB keeps agreeing with the
        chain — with the reason recorded."""
        h = w.ticket.hash()
        self.orch.store.set_status(h, REDEEMED, tx_hash=tx_hash, reason=reason)
        self.orch.emit("orch.redemption_failed", ticket_hash=h, sender=w.ticket.sender, reason=reason, retry=False,
                       paid_on_chain=True)
        return "failed"

    def _maybe_crash(self, point: str) -> None:
        """Fault knob ``crash_at``: die like ``kill -9`` (no cleanup, no flush) at this point."""
        if self.orch.faults.crash_at == point:
            os.kill(os.getpid(), signal.SIGKILL)

    def recover_one(self, w: StoredWinner) -> None:
        h = w.ticket.hash()
        try:
            with self.orch.watch.lock:
                used = bool(self._chain.is_used_ticket(h))
        except Exception:
            return  # stays 'sending'; recover() at the next start (or next pass) settles it
        self.orch.store.set_status(h, REDEEMED if used else QUEUED,
                                   reason="used on chain after a send error" if used else "send error: will resend")
