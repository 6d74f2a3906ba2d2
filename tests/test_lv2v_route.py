"""``POST /live-video-to-video`` on lpdev's orchestrator, over real TLS on loopback
(mock chain, tickets signed locally by sim.orchestrator.probe.Payer): every refusal in go-livepeer's order with its
status and text, the O's own manifest id, the trickle URLs, per-segment debits at the initial price and the stop for
insufficient balance (docs/orchestrator.md#live-video-to-video)."""
from __future__ import annotations

import asyncio
import base64
import json
from fractions import Fraction

import aiohttp
import pytest

import devnet
from tests.trickle_client import read_all
from sim.clock import VirtualClock
from sim.events import EventBus
from sim.media import mpegts
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.probe import Payer, get_orchestrator
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, insufficient_balance_message
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import b64encode

TICKET_EV = 10**12


@pytest.fixture
def chain():
    c = devnet.open_chain("mock")
    yield c
    c.close()


@pytest.fixture
async def stack(chain, tmp_path):
    bus = EventBus()
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=3600,
                                  bus=bus, ticket_ev=TICKET_EV, price_per_unit=1000, auto_adjust_price=False,
                                  lv2v_models={"noop": 2}) as o:
        payer = Payer(chain.key("sender"))
        payer.use(await asyncio.to_thread(get_orchestrator, o.url, payer.request()))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
            yield o, payer, http, bus


async def post(http, url, body=b'{"model_id":"noop"}', headers=None):
    async with http.post(url, data=body, headers=headers or {}) as r:
        return r.status, r.headers.get("Content-Type"), await r.read()


def events(bus, kind, **match):
    return [e for e in bus.recent if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]


async def test_refusals_in_go_order(stack):
    o, payer, http, bus = stack
    url = o.url + "/live-video-to-video"
    good = payer.headers(2)
    # 1. body
    st, ct, body = await post(http, url, b"{nope", good)
    assert st == 400 and ct == "text/plain; charset=utf-8" and body.startswith(b"invalid JSON body")
    st, _, body = await post(http, url, b'{"params": {}}', good)
    assert (st, body) == (400, b'model_id is required (a string, e.g. "noop")\n')
    # 2. capacity before payment: an unknown model is refused even with a bad payment header
    st, _, body = await post(http, url, b'{"model_id":"sd-turbo"}', {"Livepeer-Payment": "%%%"})
    assert (st, body) == (503, b"insufficient capacity\n")
    # 3. payment header
    st, ct, body = await post(http, url, headers={"Livepeer-Payment": "%%%", "Livepeer-Segment": good["Livepeer-Segment"]})
    assert st == 402 and ct == "text/plain; charset=utf-8" and body.startswith(b"base64 decode error: ")
    st, _, body = await post(http, url, headers={"Livepeer-Payment": b64encode(b"\xff\xff\xff"),
                                                 "Livepeer-Segment": good["Livepeer-Segment"]})
    assert st == 402 and body.startswith(b"protobuf unmarshal error: ")
    # 4. segCreds checked against the payment's sender
    st, _, body = await post(http, url, headers={"Livepeer-Payment": good["Livepeer-Payment"]})
    assert (st, body) == (403, b"ErrSegSig\n")
    st, _, body = await post(http, url, headers={"Livepeer-Payment": good["Livepeer-Payment"],
                                                 "Livepeer-Segment": "!!"})
    assert (st, body) == (403, b"ErrorSegEncoding\n")
    # 6. tickets gone, price still announced: nothing credited -> Insufficient balance
    pay = pb.Payment.FromString(base64.b64decode(good["Livepeer-Payment"]))
    del pay.ticket_sender_params[:]
    st, _, body = await post(http, url, headers={"Livepeer-Payment": b64encode(pay.SerializeToString()),
                                                 "Livepeer-Segment": good["Livepeer-Segment"]})
    assert (st, body) == (400, b"Insufficient balance\n")
    rej = events(bus, "orch.lv2v_rejected", message="Insufficient balance")
    assert rej and rej[-1].data["balance"] is None and rej[-1].data["ticket_ev"] == TICKET_EV
    # 5. ProcessPayment error text (a replayed nonce is non-fatal: 400 with go's message, nothing credited)
    st, _, body = await post(http, url, headers=good)
    assert st == 200
    st, _, body = await post(http, url, headers=good)
    assert st == 400 and b"nonce" in body.lower()
    # wrong method
    async with http.get(url) as r:
        assert r.status == 405 and r.headers["Allow"] == "POST"


async def test_start_credits_own_manifest_id_and_answers_trickle_urls(stack):
    o, payer, http, bus = stack
    h = payer.headers(3)
    st, ct, body = await post(http, o.url + "/live-video-to-video",
                              b'{"model_id":"noop","params":{"prompt":"x"},"gateway_request_id":"g1"}', h)
    assert st == 200 and ct == "application/json"
    doc = json.loads(body)
    mid = doc["manifest_id"]
    assert list(doc) == ["control_url", "events_url", "manifest_id", "publish_url", "subscribe_url"]
    assert body == json.dumps(doc, separators=(",", ":")).encode()  # go json.Marshal: compact, no newline
    base = f"{o.url}/ai/trickle/{mid}"
    assert doc == {"manifest_id": mid, "publish_url": base, "subscribe_url": base + "-out",
                   "control_url": base + "-control", "events_url": base + "-events"}
    assert len(mid) == 8 and mid != payer.manifest_id  # the O's own id, not the segCreds' manifest id
    orch = o.orch
    sent_ev = sum(t.ticket.ev for t in payer.sent)
    assert orch.ledger.balance(payer.address, mid) == sent_ev  # credited to the new id ...
    assert orch.ledger.balance(payer.address, payer.manifest_id) is None  # ... not to the segment's
    assert sorted(o.lv2v.hub.names()) == sorted([mid, mid + "-out", mid + "-control", mid + "-events"])
    assert mid in orch.sessions
    started = events(bus, "orch.lv2v_started", manifest_id=mid)[0].data
    assert started["price"] == "1000" and started["gateway_request_id"] == "g1"
    # the trickle channels answer on the same TLS port; a GetOrchestrator now shows one noop slot in use
    async with http.get(base + "/next") as r:
        assert r.status == 200 and r.headers["Lp-Trickle-Latest"] == "0"
    info = await asyncio.to_thread(get_orchestrator, o.url, payer.request())
    assert info.capabilities.constraints.PerCapability[35].models["noop"].capacityInUse == 1
    # capacity 2: a second job fits, the third is refused
    assert (await post(http, o.url + "/live-video-to-video", headers=payer.headers(2)))[0] == 200
    st, _, body = await post(http, o.url + "/live-video-to-video", headers=payer.headers(2))
    assert (st, body) == (503, b"insufficient capacity\n")
    # stopping a job frees its slot and closes its channels (subscribers see the end of the stream)
    assert await o.lv2v.stop_job(mid, "stopped")
    assert mid not in orch.sessions and o.lv2v.hub.get(mid) is None
    async with http.get(base + "-out/0") as r:
        assert r.status == 404
    assert (await post(http, o.url + "/live-video-to-video", headers=payer.headers(2)))[0] == 200


async def test_debit_per_segment_then_stop_for_insufficient_balance(stack):
    o, payer, http, bus = stack
    clock = VirtualClock(1_000.0)
    o.lv2v.config.clock = clock
    o.lv2v.config.payment_interval_s = 5.0
    st, _, body = await post(http, o.url + "/live-video-to-video", headers=payer.headers(2))
    assert st == 200
    doc = json.loads(body)
    mid = doc["manifest_id"]
    credit = o.orch.ledger.balance(payer.address, mid)
    price = Fraction(1000)  # the initial payment's expected price
    # 3 s per segment, interval 5 s: a debit of 6 s on every 2nd segment (fractions carry over)
    fee6 = 6 * LV2V_PIXELS_PER_SECOND * price
    paid = int(credit // fee6)
    assert 2 <= paid <= 20
    sess = o.lv2v.sessions[mid]
    got = []

    reader = asyncio.create_task(read_all(doc["subscribe_url"], got))
    segs = list(mpegts.segments(2 * paid + 4, segment_s=0.1, encoder="pure"))
    for i, seg in enumerate(segs):
        clock.advance(3)
        async with http.post(f"{doc['publish_url']}/{i}", data=seg,
                             headers={"Lp-Trickle-Reset": "1"} if i == 0 else {}) as r:
            if r.status != 200:
                break
        for _ in range(200):
            if (sess.job.stats.segments > i and len(got) > i) or sess.stop_reason is not None:
                break
            await asyncio.sleep(0.01)
        if sess.stop_reason is not None:
            break
    await asyncio.wait_for(reader, 10)
    debits = events(bus, "orch.debit", manifest_id=mid)
    ok = [d for d in debits if d.data["ok"]]
    assert debits[-1].data["ok"] is False
    total = sum(Fraction(d.data["fee"]) for d in ok)
    stop = events(bus, "orch.lv2v_stopped", manifest_id=mid)[0].data
    fee, bal = Fraction(stop["fee"]), Fraction(stop["balance"])
    assert bal == credit - total == o.orch.ledger.balance(payer.address, mid)
    assert fee > bal and fee == stop["units"] * price
    assert stop["reason"] == insufficient_balance_message(mid, fee, bal) == debits[-1].data["message"]
    assert stop["at"] == clock.now()
    # every debit covers exactly the seconds since the last one (6 s: two 3 s segments), none lost or doubled
    assert all(d.data["units"] == 6 * LV2V_PIXELS_PER_SECOND for d in ok)
    assert stop["units"] == 6 * LV2V_PIXELS_PER_SECOND
    assert len(ok) == paid and bal == credit - paid * fee6
    assert got == segs[:2 * paid + 1] and sess.job.stats.segments == 2 * paid + 1  # the unpaid one not echoed
    assert o.lv2v.hub.get(mid + "-out") is None and mid not in o.orch.sessions


async def test_free_job_when_no_ticket_params(stack):
    """go: no ticket params -> price pinned to 0, accepted with no credit, no payment processor (no charge)."""
    o, payer, http, bus = stack
    seg = payer.segment()
    empty = pb.Payment(sender=payer.address)
    st, _, body = await post(http, o.url + "/live-video-to-video",
                             headers={"Livepeer-Payment": b64encode(empty.SerializeToString()),
                                      "Livepeer-Segment": b64encode(seg.SerializeToString())})
    assert st == 200, body
    mid = json.loads(body)["manifest_id"]
    assert o.lv2v.sessions[mid].processor is None
    assert o.orch.ledger.balance(payer.address, mid) is None
