"""The ETH/USD rate a signer converts USD prices with (livepeer/node's USD ceilings, go-livepeer's USD fees).

The rate comes from the chain view's ``eth_usd()`` (a Chainlink-compatible feed on every devnet backend: an
``EthUsd`` with ``usd_per_eth``, ``updated_at`` (unix s) and ``wei_per_usd()``), read at most every ``poll_s``
seconds (livepeer/node polls every 30 s); a failed read keeps the last good rate. Whether that rate may still
be used is the dialect's rule:

* ``max_age_s=None`` (go-livepeer): the last rate read stays in use (its price feed watcher keeps it);
* ``max_age_s=N`` (livepeer/node ``ETHUSDMaxAge``, 2 h): usable while ``now < updated_at + N``; after that, or
  with no rate at all, the rate is unavailable (node: 503 ``signer USD conversion rate unavailable``).

``pinned`` (node ``WeiPerUSD``) fixes the rate: always usable, the chain is never asked.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["UsdRate", "UsdQuote", "feed_problem"]


@dataclass(frozen=True)
class UsdQuote:
    wei_per_usd: Fraction
    updated_at: int | None  # the feed's updatedAt (None: pinned)
    read_at: float  # clock time of the read


def _read(view) -> UsdQuote:
    fn = getattr(view, "eth_usd", None)
    if fn is None:
        raise LookupError("the chain view has no ETH/USD price feed interface (eth_usd)")
    q = fn()
    wpu = Fraction(q.wei_per_usd())
    if wpu <= 0:
        raise ValueError(f"ETH/USD feed answered a non-positive price ({q.usd_per_eth} USD/ETH)")
    return UsdQuote(wpu, int(q.updated_at), 0.0)


def feed_problem(view) -> str | None:
    """Why ``view`` has no usable ETH/USD feed, or None when it has one (or cannot say: a chain view without
    the ``eth_usd`` interface)."""
    if getattr(view, "eth_usd", None) is None:
        return None
    try:
        _read(view)
    except Exception as exc:  # noqa: BLE001 - the reason is the answer
        return str(exc) or type(exc).__name__
    return None


class UsdRate:
    def __init__(self, view, clock, *, poll_s: float = 30.0, max_age_s: float | None = None,
                 pinned: Fraction | None = None) -> None:
        self.view = view
        self.clock = clock
        self.poll_s = poll_s
        self.max_age_s = max_age_s
        self.pinned = Fraction(pinned) if pinned is not None else None
        self._quote: UsdQuote | None = None
        self._last_try: float | None = None
        self.error = ""  # the last read failure
        self.reads = 0
        self._lock = threading.Lock()

    def due(self) -> bool:
        if self.pinned is not None:
            return False
        t = self._last_try
        now = self.clock.now()
        return t is None or now - t >= self.poll_s or now < t

    def refresh(self) -> None:
        """Read the feed now; on failure keep the last good quote and remember why."""
        if self.pinned is not None:
            return
        with self._lock:
            self._last_try = self.clock.now()
            self.reads += 1
            try:
                q = _read(self.view)
            except Exception as exc:  # noqa: BLE001
                self.error = str(exc) or type(exc).__name__
                return
            self._quote = UsdQuote(q.wei_per_usd, q.updated_at, self._last_try)
            self.error = ""

    def rate(self) -> tuple[Fraction | None, str]:
        """``(wei per USD, "")`` when usable now, else ``(None, why)``. Reads the feed if a poll is due."""
        if self.pinned is not None:
            return self.pinned, ""
        if self.due():
            self.refresh()
        q = self._quote
        if q is None:
            return None, f"no ETH/USD rate: {self.error or 'not read yet'}"
        if self.max_age_s is not None and q.updated_at is not None:
            until = q.updated_at + self.max_age_s
            if not self.clock.now() < until:
                return None, (f"ETH/USD rate is stale: feed updated at {q.updated_at}, valid until {int(until)}, "
                              f"now {int(self.clock.now())}" + (f" (last read: {self.error})" if self.error else ""))
        return q.wei_per_usd, ""
