"""The event vocabulary and traces (sim/events.py) and the clocks / seeded randomness (sim/clock.py)."""
from __future__ import annotations

from fractions import Fraction

import pytest

from sim.clock import Rng, VirtualClock
from sim.events import (
    EventBus, SCHEMA_VERSION, TraceError, TraceWriter, dumps, jsonable, read_trace, register_kinds, write_events,
)

register_kinds({"test.ping": "a test event"})


def test_strict_bus_refuses_unregistered_kinds():
    bus = EventBus()
    with pytest.raises(ValueError, match="unknown event kind 'test.pnig'"):
        bus.emit("t", "test.pnig")
    assert EventBus(strict=False).emit("t", "demo.anything", x=1).kind == "demo.anything"


def test_events_are_ordered_timestamped_and_fanned_out():
    clock = VirtualClock(start=100.0)
    bus = EventBus(clock, keep=2)
    seen = []
    unsub = bus.subscribe(seen.append)
    bus.emit("a", "test.ping", n=1)
    clock.advance(1.5)
    bus.emit("b", "test.ping", n=2)
    unsub()
    bus.emit("c", "test.ping", n=3)
    assert [(e.seq, e.t, e.actor) for e in seen] == [(1, 100.0, "a"), (2, 101.5, "b")]
    assert [e.seq for e in bus.recent] == [2, 3]  # bounded memory
    assert bus.of_kind("test.ping")[-1].get("n") == 3


def test_jsonable_money_and_bytes():
    assert jsonable({"fee": Fraction(125, 7), "h": b"\x01\xff", "n": 2**256, "xs": (1, Fraction(4, 2))}) == \
        {"fee": "125/7", "h": "0x01ff", "n": 2**256, "xs": [1, "2"]}
    assert dumps({"b": 1, "a": [2]}) == '{"a":[2],"b":1}'  # canonical: sorted keys, no spaces


def test_trace_round_trip_is_byte_identical(tmp_path):
    clock = VirtualClock(start=5.0)
    bus = EventBus(clock)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    w = TraceWriter(a, scenario="x")
    bus.subscribe(w)
    for i in range(3):
        bus.emit("signer", "test.ping", i=i, fee=Fraction(i, 3))
    w.close()
    header, evs = read_trace(a)
    evs = list(evs)
    assert header == {"trace": "lpdev", "schema": SCHEMA_VERSION, "scenario": "x"}
    assert [e.get("fee") for e in evs] == ["0", "1/3", "2/3"]
    write_events(b, evs, scenario="x")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("content,where", [
    ("not json\n", ":1: not an lpdev trace"),
    ('{"trace":"other"}\n', ":1: not an lpdev trace"),
    ('{"trace":"lpdev","schema":99}\n', ":1: trace schema 99"),
    ('{"trace":"lpdev","schema":1}\n{"seq":1}\n', ":2: bad event line"),
])
def test_bad_traces_name_file_and_line(tmp_path, content, where):
    p = tmp_path / "t.jsonl"
    p.write_text(content)
    with pytest.raises(TraceError, match=where):
        _, evs = read_trace(p)
        list(evs)


def test_seeded_rng_is_deterministic_and_children_independent():
    assert Rng(7).bytes(16) == Rng(7).bytes(16) and Rng(7).bytes(16) != Rng(8).bytes(16)
    assert Rng(7).child("orch").hex_id() == Rng(7).child("orch").hex_id()
    assert Rng(7).child("orch").bytes(8) != Rng(7).child("signer").bytes(8)
    assert len(Rng(None).hex_id(4)) == 8 and Rng(None).bytes(0) == b""


def test_virtual_clock_moves_only_when_told():
    c = VirtualClock(start=10.0)
    assert c.now() == 10.0 and c.now_ns() == 10 * 10**9
    c.advance(0.25)
    assert c.now() == 10.25
    c.set(3.0)
    assert c.datetime().year == 1970
