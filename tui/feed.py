"""An events endpoint a stack can expose, and the client the TUI uses to attach to it (``lpdev tui --attach``).

Server (``events_app(bus)``, an aiohttp application; mount it or run it with :func:`serve`):

* ``GET /events?since=N`` — the bus's retained events with ``seq > N`` as JSONL (one trace line each);
* ``GET /events/stream?since=N`` — the same, then every new event, as Server-Sent Events
  (``id: <seq>`` + ``data: <event JSON>``); a ``: keepalive`` comment every 15 s;
* ``GET /kinds`` — the registered event kinds and their meanings.

Client: :func:`follow` yields :class:`sim.events.Event` from ``/events/stream``, reconnecting with
``since=<last seq>`` so nothing is seen twice; an event line it cannot read is skipped (and reported through
``on_state``), never a reason to reconnect. :func:`fetch_events` reads ``/events`` once, within
:data:`MAX_EVENTS_BYTES`. The endpoint is another process: everything it sends is parsed with
:mod:`sim.wire.bounded`.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

from aiohttp import ClientSession, ClientTimeout, web

from sim.events import KINDS, Event, EventBus
from sim.serving import ServerLimits, aiohttp_runner
from sim.wire import bounded

__all__ = ["events_app", "serve", "follow", "fetch_events", "parse_event"]

KEEPALIVE_S = 15.0
MAX_EVENTS_BYTES = 64 << 20  # one /events answer: at most the bus's 10 000 retained events


def parse_event(line: str | bytes, what: str = "event") -> Event:
    """One event line from another process (bounded JSON): an object with ``seq``, ``t``, ``actor``, ``kind``
    (non-empty strings) and ``data`` (an object, or null); :class:`sim.wire.bounded.BoundedInputError` (a
    ValueError) names what is wrong."""
    d = bounded.loads_json(line, what=what)
    data = d.get("data") if isinstance(d, dict) else None
    if not isinstance(d, dict) or not isinstance(data, (dict, type(None))) or "seq" not in d or "t" not in d \
            or not all(isinstance(d.get(k), str) and d[k] for k in ("actor", "kind")):
        raise bounded.BoundedInputError(what, "want an event object with seq, t, actor, kind and data")
    return Event(bounded.parse_int(d["seq"], what=f"{what} seq"), bounded.parse_float(d["t"], what=f"{what} t"),
                 d["actor"], d["kind"], dict(data or {}))


def _since(request: web.Request) -> int:
    raw = request.query.get("since", "0")
    try:
        n = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"since must be an integer event seq, got {raw!r}\n") from None
    if n < 0:
        raise web.HTTPBadRequest(text=f"since must be ≥ 0, got {n}\n")
    return n


def events_app(bus: EventBus) -> web.Application:
    app = web.Application()

    async def events(request: web.Request) -> web.Response:
        since = _since(request)
        body = "".join(e.to_json() + "\n" for e in list(bus.recent) if e.seq > since)
        return web.Response(text=body, content_type="application/x-ndjson")

    streams: set[asyncio.Task] = set()

    async def stream(request: web.Request) -> web.StreamResponse:
        since = _since(request)
        task = asyncio.current_task()
        if task is not None:
            streams.add(task)
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Event] = asyncio.Queue()

        def on_event(ev: Event) -> None:
            loop.call_soon_threadsafe(q.put_nowait, ev)

        unsubscribe = bus.subscribe(on_event)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        last = since
        try:
            for e in list(bus.recent):
                if e.seq > last:
                    await resp.write(f"id: {e.seq}\ndata: {e.to_json()}\n\n".encode())
                    last = e.seq
            while True:
                try:
                    e = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if e.seq <= last:
                    continue
                await resp.write(f"id: {e.seq}\ndata: {e.to_json()}\n\n".encode())
                last = e.seq
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            streams.discard(task)
        return resp

    async def kinds(request: web.Request) -> web.Response:
        return web.json_response(dict(sorted(KINDS.items())))

    async def on_shutdown(app: web.Application) -> None:
        for t in list(streams):  # open streams never end on their own: end them so shutdown is prompt
            t.cancel()

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/events", events)
    app.router.add_get("/events/stream", stream)
    app.router.add_get("/kinds", kinds)
    return app


async def serve(bus: EventBus, host: str = "127.0.0.1", port: int = 0, *,
                limits: ServerLimits | None = None) -> tuple[web.AppRunner, str]:
    """Start the endpoint; returns the runner (``await runner.cleanup()`` to stop) and its base URL. It serves within
    ``limits`` (:func:`sim.serving.aiohttp_runner`): a connection that sends no complete request head within
    ``header_timeout_s`` is closed, one idle between requests after ``idle_timeout_s``, and beyond
    ``max_connections`` open connections (streams included) each request gets 503 ``too many connections``."""
    limits = limits or ServerLimits()
    runner = aiohttp_runner(events_app(bus), limits=limits)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sock = site._server.sockets[0]  # port 0: the OS picked it
    h, p = sock.getsockname()[:2]
    return runner, f"http://{h}:{p}"


def _base(url: str) -> str:
    url = url.rstrip("/")
    for suffix in ("/events/stream", "/events"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


async def fetch_events(url: str, since: int = 0) -> list[Event]:
    """The endpoint's retained events after ``since`` (``GET /events``); a bad answer is a
    :class:`sim.wire.bounded.BoundedInputError` naming the line."""
    async with ClientSession(timeout=ClientTimeout(total=10)) as s:
        async with s.get(_base(url) + "/events", params={"since": str(since)}) as r:
            r.raise_for_status()
            raw = await bounded.read_reply(r, MAX_EVENTS_BYTES)
    what = f"{_base(url)}/events"
    text = bounded.decode_text(raw, what=what, max_bytes=MAX_EVENTS_BYTES)
    return [parse_event(line, what=f"{what}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]


async def follow(url: str, since: int = 0, *, retry_s: float = 1.0, on_state=None) -> AsyncIterator[Event]:
    """Follow ``/events/stream`` forever, reconnecting after errors. ``on_state(str)`` hears connection news and
    every event line that was skipped because it could not be read (the stream goes on past it: its ``id:``, when
    readable, moves ``since`` on so a reconnect does not fetch it again)."""
    last = since
    while True:
        try:
            async with ClientSession(timeout=ClientTimeout(total=None, sock_read=KEEPALIVE_S * 3)) as s:
                async with s.get(_base(url) + "/events/stream", params={"since": str(last)}) as r:
                    r.raise_for_status()
                    if on_state:
                        on_state(f"attached to {_base(url)}")
                    event_id = None  # the current event's "id:" field
                    async for raw in r.content:
                        line = raw.decode("utf-8", "replace").rstrip("\r\n")
                        if not line:
                            event_id = None  # the end of one event
                        elif line.startswith("id: "):
                            event_id = line[4:].strip()
                        elif line.startswith("data: "):
                            try:
                                ev = parse_event(line[6:])
                            except ValueError as exc:
                                if event_id is not None and event_id.isdigit() and len(event_id) <= 19:
                                    last = max(last, int(event_id))
                                if on_state:
                                    on_state(f"skipped an unreadable event from {_base(url)} "
                                             f"(id {event_id or '?'}): {exc}")
                                continue
                            if ev.seq > last:
                                last = ev.seq
                                yield ev
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any transport failure: report and retry
            if on_state:
                on_state(f"lost {_base(url)}: {exc.__class__.__name__}: {exc}; retrying")
        await asyncio.sleep(retry_s)
