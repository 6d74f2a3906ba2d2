"""Winning tickets on disk: SQLite in the orchestrator's data dir (docs/chain.md#redeeming-a-winning-ticket).

A winning ticket is money, so it is committed (WAL, ``synchronous=FULL``: fsync on commit) before ``/payment``
answers. Each ticket walks ``queued → sending → redeemed | failed``; ``sending`` is written (and fsynced) with
the ticket hash BEFORE the transaction goes out, so after a crash the redeemer asks the chain
(``usedTickets(hash)``) instead of sending blindly. The ticket hash is the primary key: a replayed winning
ticket is stored once.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sim.pm.ticket import Ticket

__all__ = ["WinnerStore", "StoredWinner", "QUEUED", "SENDING", "REDEEMED", "FAILED"]

QUEUED, SENDING, REDEEMED, FAILED = "queued", "sending", "redeemed", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS winning_tickets (
    ticket_hash TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    face_value TEXT NOT NULL,
    win_prob TEXT NOT NULL,
    sender_nonce INTEGER NOT NULL,
    recipient_rand_hash TEXT NOT NULL,
    creation_round INTEGER NOT NULL,
    creation_round_block_hash TEXT NOT NULL,
    sig TEXT NOT NULL,
    recipient_rand TEXT NOT NULL,
    params_expiration_block INTEGER NOT NULL,
    manifest_id TEXT NOT NULL,
    status TEXT NOT NULL,
    tx_hash TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS winning_tickets_status ON winning_tickets(status, received_at);
"""


@dataclass(frozen=True)
class StoredWinner:
    ticket: Ticket
    sig: bytes
    recipient_rand: int
    params_expiration_block: int
    manifest_id: str
    status: str
    tx_hash: str | None
    reason: str | None
    attempts: int
    received_at: float

    @property
    def ticket_hash(self) -> bytes:
        return self.ticket.hash()

    def to_dict(self) -> dict:
        t = self.ticket
        return {
            "ticket_hash": "0x" + self.ticket_hash.hex(), "sender": "0x" + t.sender.hex(),
            "face_value": t.face_value, "sender_nonce": t.sender_nonce, "creation_round": t.creation_round,
            "params_expiration_block": self.params_expiration_block, "manifest_id": self.manifest_id,
            "status": self.status, "tx_hash": self.tx_hash, "reason": self.reason, "attempts": self.attempts,
        }


class WinnerStore:
    """Thread-safe; one connection guarded by a lock (writes are few and must be durable)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ writes
    def add(self, ticket: Ticket, sig: bytes, recipient_rand: int, params_expiration_block: int,
            manifest_id: str) -> bool:
        """Store a winner durably. False if this ticket hash is already stored."""
        now = time.time()
        row = ("0x" + ticket.hash().hex(), "0x" + bytes(ticket.sender).hex(), "0x" + bytes(ticket.recipient).hex(),
               str(ticket.face_value), str(ticket.win_prob), ticket.sender_nonce,
               "0x" + bytes(ticket.recipient_rand_hash).hex(), ticket.creation_round,
               "0x" + bytes(ticket.creation_round_block_hash).hex(), "0x" + bytes(sig).hex(), str(recipient_rand),
               params_expiration_block, manifest_id, QUEUED, None, None, 0, now, now)
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO winning_tickets VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            return cur.rowcount == 1

    def set_status(self, ticket_hash: bytes, status: str, *, tx_hash: str | None = None,
                   reason: str | None = None, attempt: bool = False) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE winning_tickets SET status=?, tx_hash=COALESCE(?, tx_hash), reason=?, "
                "attempts=attempts+?, updated_at=? WHERE ticket_hash=?",
                (status, tx_hash, reason, 1 if attempt else 0, time.time(), "0x" + bytes(ticket_hash).hex()))

    # ------------------------------------------------------------------ reads
    def _rows(self, where: str = "", args: tuple = ()) -> list[StoredWinner]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sender, recipient, face_value, win_prob, sender_nonce, recipient_rand_hash, creation_round,"
                " creation_round_block_hash, sig, recipient_rand, params_expiration_block, manifest_id, status,"
                " tx_hash, reason, attempts, received_at FROM winning_tickets " + where
                + " ORDER BY received_at, rowid", args).fetchall()
        out = []
        for r in rows:
            t = Ticket(recipient=bytes.fromhex(r[1][2:]), sender=bytes.fromhex(r[0][2:]), face_value=int(r[2]),
                       win_prob=int(r[3]), sender_nonce=r[4], recipient_rand_hash=bytes.fromhex(r[5][2:]),
                       creation_round=r[6], creation_round_block_hash=bytes.fromhex(r[7][2:]))
            out.append(StoredWinner(t, bytes.fromhex(r[8][2:]), int(r[9]), r[10], r[11], r[12], r[13], r[14],
                                    r[15], r[16]))
        return out

    def all(self) -> list[StoredWinner]:
        return self._rows()

    def with_status(self, *statuses: str) -> list[StoredWinner]:
        marks = ",".join("?" * len(statuses))
        return self._rows(f"WHERE status IN ({marks})", tuple(statuses))

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM winning_tickets GROUP BY status").fetchall()
        return {s: n for s, n in rows}

    def redeemed_face_value(self) -> int:
        with self._lock:
            rows = self._db.execute("SELECT face_value FROM winning_tickets WHERE status=?", (REDEEMED,)).fetchall()
        return sum(int(r[0]) for r in rows)
