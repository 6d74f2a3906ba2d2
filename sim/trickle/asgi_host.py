"""A minimal ASGI host: serve an app with Hypercorn on a free loopback port inside the running event loop (tests, demos)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from hypercorn.asyncio import serve
from hypercorn.config import Config


@contextlib.asynccontextmanager
async def serve_app(app):
    """Serve ``app`` over plain HTTP on 127.0.0.1:<free port>; yields the base URL ``http://127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    fd = sock.detach()  # Hypercorn takes ownership of the listening fd and closes it on shutdown
    cfg = Config()
    cfg.bind = [f"fd://{fd}"]
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("hypercorn.test")
    cfg.graceful_timeout = 0.5
    cfg.keep_alive_timeout = 5
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, cfg, shutdown_trigger=stop.wait))
    try:
        # wait until it answers
        for _ in range(100):
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
