"""What a stateless signer still remembers, bounded (lpdev extensions: docs/remote-signer.md#the-state-blob,
docs/tickets.md#nonces).

go-livepeer's signer keeps nothing between requests, so a gateway can replay an old signed state (getting its
old, larger balance back and reusing nonces the orchestrator will reject as duplicates). lpdev keeps two small
LRU maps in memory; both are forgotten on restart and hold at most ``window`` entries, so the service stays
stateless in every way that matters:

* :class:`StateLedger` — per ``StateID`` the newest ``SequenceNumber`` issued. A request whose state is older
  than that (a replay) or that is already being served (a concurrent duplicate) is refused with 400
  ``invalid state: ...``. A state id never seen (e.g. issued before a restart) is accepted.
* :class:`NonceBook` — per PM session (``recipientRandHash``) the highest nonce used, so two states that share
  an orchestrator's params never hand out the same nonce.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["StateLedger", "ReplayError", "NonceBook"]


class ReplayError(ValueError):
    pass


class StateLedger:
    def __init__(self, window: int = 100_000) -> None:
        self.window = window
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def begin(self, state_id: str, seq: int) -> None:
        """Claim ``state_id`` carrying sequence ``seq`` for one request; raises :class:`ReplayError`."""
        with self._lock:
            if state_id in self._inflight:
                raise ReplayError(f"invalid state: state {state_id} sequence {seq} is already being used by "
                                  "another request")
            latest = self._latest.get(state_id)
            if latest is not None and seq < latest:
                raise ReplayError(f"invalid state: replayed state {state_id} (sequence number {seq}, newest "
                                  f"issued {latest})")
            self._inflight.add(state_id)

    def end(self, state_id: str, issued_seq: int | None) -> None:
        """Release the claim; ``issued_seq`` is the sequence number of the state returned (None: no state)."""
        with self._lock:
            self._inflight.discard(state_id)
            if issued_seq is not None:
                self._latest[state_id] = max(issued_seq, self._latest.get(state_id, -1))
                self._latest.move_to_end(state_id)
                while len(self._latest) > self.window:
                    self._latest.popitem(last=False)

    def issued(self, state_id: str) -> int | None:
        with self._lock:
            return self._latest.get(state_id)


class NonceBook:
    def __init__(self, window: int = 100_000) -> None:
        self.window = window
        self._high: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def high(self, session_id: str) -> int:
        """The highest nonce handed out for ``session_id`` (0 if none)."""
        with self._lock:
            return self._high.get(session_id, 0)

    def reserve(self, session_id: str, start: int, count: int) -> range:
        """Nonces for ``count`` tickets after ``max(start, highest used)``: ``s+1 … s+count`` (uint32)."""
        with self._lock:
            s = max(int(start), self._high.get(session_id, 0))
            end = s + count
            if end > 2**32 - 1:
                raise OverflowError(f"sender nonce overflow for session {session_id}: {end} > {2**32 - 1}")
            self._high[session_id] = end
            self._high.move_to_end(session_id)
            while len(self._high) > self.window:
                self._high.popitem(last=False)
            return range(s + 1, end + 1)
