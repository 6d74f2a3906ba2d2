"""A minimal ASGI host: serve an app over plain HTTP on a free loopback port inside the running event loop (tests,
demos), with the same limits as every lpdev server (:mod:`sim.serving`)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from sim.serving import ServerLimits, serve


@contextlib.asynccontextmanager
async def serve_app(app, limits: ServerLimits | None = None):
    """Serve ``app`` over plain HTTP on 127.0.0.1:<free port>; yields the base URL ``http://127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, [sock], limits=limits or ServerLimits(idle_timeout_s=5),
                                     shutdown_trigger=stop.wait, errorlog=logging.getLogger("lpdev.asgi_host")))
    try:
        for _ in range(100):  # wait until it answers
            if task.done():
                task.result()  # startup failed: raise why
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except (asyncio.TimeoutError, Exception):
            task.cancel()
        sock.close()
