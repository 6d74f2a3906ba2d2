"""Step gate: pause a scenario before each step until someone says go (``--step``; the TUI reuses it).

The runner awaits :meth:`StepGate.wait` with the step about to run; a front end calls :meth:`release`
(``lpdev scenario run --step`` does it on Enter; a TUI does it on a key press). ``StepGate(enabled=False)``
never pauses.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Callable

__all__ = ["StepGate", "stdin_gate"]


class StepGate:
    def __init__(self, enabled: bool = True, *, on_pause: Callable[[int, str], None] | None = None) -> None:
        self.enabled = enabled
        self.on_pause = on_pause  # called with (step index, description) when the runner waits
        self._go = asyncio.Event()
        self.waiting: tuple[int, str] | None = None
        self.run_to_end = False

    async def wait(self, index: int, description: str) -> None:
        if not self.enabled or self.run_to_end:
            return
        self.waiting = (index, description)
        if self.on_pause is not None:
            self.on_pause(index, description)
        await self._go.wait()
        self._go.clear()
        self.waiting = None

    def release(self) -> None:
        """Let the waiting step run (a no-op when nothing waits: the next wait still pauses)."""
        self._go.set()

    def continue_all(self) -> None:
        """Stop pausing; run the remaining steps."""
        self.run_to_end = True
        self._go.set()


def stdin_gate(out=sys.stderr) -> StepGate:
    """A gate released by Enter on stdin (``c`` + Enter runs the rest)."""
    loop = asyncio.get_event_loop()
    gate: StepGate

    def on_pause(i: int, desc: str) -> None:
        out.write(f"[step {i + 1}] {desc} — Enter to run, c+Enter to run all: ")
        out.flush()

        def read() -> None:
            line = sys.stdin.readline()
            if line.strip().lower() == "c":
                loop.call_soon_threadsafe(gate.continue_all)
            else:
                loop.call_soon_threadsafe(gate.release)

        loop.run_in_executor(None, read)

    gate = StepGate(True, on_pause=on_pause)
    return gate
