"""sim/serving.py's promise: a client that keeps sending after an early answer (a 413 before its body ended) gets the
answer, then its connection closed once the drain gives up — logged as one debug line, never Hypercorn's
"Error in ASGI Framework" traceback."""
from __future__ import annotations

import asyncio
import logging
import socket

from sim.serving import ServerLimits, read_body, serve

LIMITS = ServerLimits(close_timeout_s=0.5, body_timeout_s=5)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (msg := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = await read_body(receive, 10)  # far larger: None, answered 413 before the body ends
    status = 413 if body is None else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"no\n" if body is None else b"ok\n"})


async def test_a_413_then_a_body_that_never_ends_closes_the_connection_without_a_traceback(caplog):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, [sock], limits=LIMITS, shutdown_trigger=stop.wait))
    caplog.set_level(logging.DEBUG)
    try:
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"x" * ((1 << 20) + 100_000))
        got, closed = b"", False
        async with asyncio.timeout(10):
            while not closed:  # trickle on, well past the drain's close_timeout_s, until the server hangs up
                try:
                    writer.write(b"x" * 1000)
                    await writer.drain()
                    chunk = await asyncio.wait_for(reader.read(4096), 0.1)
                    got += chunk
                    closed = chunk == b""
                except asyncio.TimeoutError:
                    pass
                except ConnectionError:
                    closed = True
        writer.close()
        assert got.startswith(b"HTTP/1.1 413"), got[:200]
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await server
    text = caplog.text
    assert not [r for r in caplog.records if r.exc_info], text[-3000:]
    assert "Traceback" not in text and "Error in ASGI Framework" not in text, text[-3000:]
