"""A :class:`~stack.stack.Stack` on its own event loop in a background thread, for synchronous callers (the SDK
is blocking: urllib + sync gRPC) -- tests, notebooks::

    with StackThread(spec, LIVE) as t:
        t.stack.signers["signer"].url
        t.call(t.stack.mine(40))      # a coroutine, run on the stack's loop
"""
from __future__ import annotations

import asyncio
import threading

from stack.policy import LIVE, Policy
from stack.spec import StackSpec
from stack.stack import Stack, StartupError

__all__ = ["StackThread"]


class StackThread:
    def __init__(self, spec: StackSpec, policy: Policy = LIVE, *, run_loops: bool = True, **stack_kw) -> None:
        """``run_loops``: run the policy's live loops (ticker, gateways); False keeps only the services."""
        self.spec, self.policy, self.run_loops, self.stack_kw = spec, policy, run_loops, stack_kw
        self.loop = asyncio.new_event_loop()
        self.stack: Stack | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="lpdev-stack", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        finally:
            self.loop.close()

    async def _run(self) -> None:
        self.stack = Stack(self.spec, self.policy, **self.stack_kw)
        try:
            await self.stack.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of start()
            self.error = exc
            self._ready.set()
            await self.stack.stop()
            return
        self._ready.set()
        try:
            if self.run_loops:
                await self.stack.run()
            await self.stack._stop.wait()
        finally:
            await self.stack.stop()

    def start(self, timeout: float = 120.0) -> "StackThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()  # whatever did start (anvil, servers) is stopped, not leaked
            raise StartupError(f"the stack did not start within {timeout:.0f} s")
        if self.error is not None:
            self._thread.join(30)
            raise self.error
        return self

    def call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread.is_alive() and self.stack is not None:
            self.loop.call_soon_threadsafe(self.stack.request_stop)
        self._thread.join(timeout)

    def __enter__(self) -> "StackThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
