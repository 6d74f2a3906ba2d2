"""tui/feed.py's client against an events endpoint that sends something it cannot read: `follow` skips the bad line
(reported through on_state) and goes on, `parse_event` requires what its docstring says, `fetch_events` reads
within its bound."""
from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from sim.wire.bounded import BoundedInputError
from tui import feed
from tui.feed import fetch_events, follow, parse_event
from tests.loopback import LoopbackApp


def ev(seq: int, kind: str = "stack.ready") -> str:
    return json.dumps({"seq": seq, "t": 1.0, "actor": "stack", "kind": kind, "data": {}})


class FakeFeed(LoopbackApp):
    """``/events/stream`` answering ``blocks`` (SSE text) then ending; ``/events`` answering ``events``."""

    def __init__(self, blocks: list[str], events: bytes = b"") -> None:
        self.blocks, self.events, self.since = blocks, events, []

    def routes(self, app: web.Application) -> None:
        async def stream(request):
            self.since.append(request.query.get("since"))
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for b in self.blocks:
                await resp.write(b.encode())
            return resp

        async def events(request):
            return web.Response(body=self.events, content_type="application/x-ndjson")

        app.router.add_get("/events/stream", stream)
        app.router.add_get("/events", events)


async def test_follow_skips_a_bad_event_line_reports_it_and_moves_on():
    blocks = [f"id: 1\ndata: {ev(1)}\n\n", "id: 2\ndata: {not json\n\n", f"id: 3\ndata: {ev(3)}\n\n",
              'id: 4\ndata: {"seq": 4, "t": 1}\n\n', ": keepalive\n\n"]
    states: list[str] = []
    got: list[int] = []

    async def collect():
        async for e in follow(f.url, retry_s=0.01, on_state=states.append):
            got.append(e.seq)

    async with FakeFeed(blocks) as f:
        task = asyncio.create_task(collect())
        try:
            async with asyncio.timeout(10):
                while len(f.since) < 3:  # the stream ended and follow reconnected, twice
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert got == [1, 3]  # nothing seen twice, the bad lines skipped
    skipped = [s for s in states if s.startswith("skipped")]
    assert skipped[0].startswith(f"skipped an unreadable event from {f.url} (id 2): event: invalid JSON")
    assert skipped[1] == (f"skipped an unreadable event from {f.url} (id 4): event: want an event object with "
                          "seq, t, actor, kind and data")
    assert f.since[:3] == ["0", "4", "4"]  # the reconnect starts after the skipped lines, not before them


@pytest.mark.parametrize("doc", [
    {"seq": 1, "t": 1.0, "kind": "stack.ready", "data": {}},                     # no actor
    {"seq": 1, "t": 1.0, "actor": "stack", "data": {}},                          # no kind
    {"seq": 1, "t": 1.0, "actor": None, "kind": "stack.ready", "data": {}},
    {"seq": 1, "t": 1.0, "actor": "stack", "kind": 5, "data": {}},
    {"seq": 1, "t": 1.0, "actor": "", "kind": "stack.ready", "data": {}},
])
def test_parse_event_requires_actor_and_kind(doc):
    with pytest.raises(BoundedInputError, match="want an event object with seq, t, actor, kind and data"):
        parse_event(json.dumps(doc))


def test_parse_event_reads_a_good_line():
    e = parse_event(ev(7, "orch.credit"))
    assert (e.seq, e.t, e.actor, e.kind, e.data) == (7, 1.0, "stack", "orch.credit", {})


async def test_fetch_events_is_bounded_and_names_a_bad_line(monkeypatch):
    async with FakeFeed([], (ev(1) + "\n" + ev(2) + "\n").encode()) as f:
        assert [e.seq for e in await fetch_events(f.url)] == [1, 2]
        f.events = (ev(1) + "\n\n" + '{"seq": 3}' + "\n").encode()
        with pytest.raises(BoundedInputError, match=rf"^{f.url}/events:3: want an event object"):
            await fetch_events(f.url)
        monkeypatch.setattr(feed, "MAX_EVENTS_BYTES", 100)
        f.events = (ev(1) + "\n") * 10
        f.events = f.events.encode()
        with pytest.raises(BoundedInputError, match=rf"^{f.url}/events: larger than 100 bytes"):
            await fetch_events(f.url)
