"""Ending background tasks: cancel them, then wait until they have really finished, so nothing they hold (a socket,
a trickle subscription, a half-written segment) outlives the object that started them and no "Task was destroyed
but it is pending" warning is left for the event loop's shutdown."""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable

__all__ = ["cancel_and_wait"]

log = logging.getLogger("lpdev.tasks")


async def cancel_and_wait(*tasks: asyncio.Task | None | Iterable[asyncio.Task | None]) -> None:
    """Cancel every task given (single tasks or iterables of them; ``None`` and finished ones are skipped, the
    calling task itself is never awaited) and wait for all of them to end. An exception a task ended with is logged,
    not raised: shutdown goes on. The caller's own cancellation still propagates."""
    flat: list[asyncio.Task] = []
    for t in tasks:
        if t is None:
            continue
        if isinstance(t, asyncio.Future):
            flat.append(t)
        else:
            flat.extend(x for x in t if x is not None)
    me = asyncio.current_task()
    pending = [t for t in flat if t is not me and not t.done()]
    for t in pending:
        t.cancel()
    if not pending:
        return
    results = await asyncio.gather(*pending, return_exceptions=True)
    for t, res in zip(pending, results):
        if isinstance(res, Exception):
            log.warning("task %s ended with %r", t.get_name(), res)
