"""The orchestrator over the wire (mock chain): one TLS port for gRPC + HTTP, GetOrchestrator, /payment
(docs/orchestrator.md), /refresh-payment, admin fault knobs, h2c, certificate rotation."""
from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from fractions import Fraction

import aiohttp
import grpc
import pytest

import devnet
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.probe import Payer, get_orchestrator, grpc_channel, tofu_cert
from sim.pm.crypto import keccak, recover_personal, to_checksum_address
from sim.pm.params import PARAMS_EXPIRATION_BLOCK, auth_token
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire import lp_rpc_pb2_grpc as pbg
from sim.wire.gojson import b64encode


@pytest.fixture
def chain():
    c = devnet.open_chain("mock")
    yield c
    c.close()


@pytest.fixture
async def orch(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=3600) as o:
        yield o


async def info_for(o, payer: Payer) -> pb.OrchestratorInfo:
    info = await asyncio.to_thread(get_orchestrator, o.url, payer.request())
    payer.use(info)
    return info


JSON = {"Content-Type": "application/json"}  # the admin API takes JSON writes only


async def post(url: str, path: str = "/payment", headers=None, data=b"", method="POST"):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, url + path, headers=headers or {}, data=data, ssl=False) as r:
            return r.status, r.headers.get("Content-Type"), await r.read()


# ------------------------------------------------------------------ GetOrchestrator
async def test_grpc_tofu_get_orchestrator_fields(orch, chain):
    payer = Payer(chain.key("sender"))
    info = await info_for(orch, payer)
    assert info.transcoder == orch.url
    assert info.address == orch.orch.address
    tp = info.ticket_params
    assert tp.recipient == orch.orch.address
    params = payer.params()
    assert params.face_value > 0 and params.win_prob > 0
    assert params.expiration_block == chain.last_block() + PARAMS_EXPIRATION_BLOCK
    lir = chain.last_initialized_round()
    assert tp.expiration_params.creation_round == lir > 0
    assert tp.expiration_params.creation_round_block_hash == chain.block_hash_for_round(lir) != b"\x00" * 32
    assert info.price_info.pixelsPerUnit > 0 and info.price_info.pricePerUnit > 0
    tok = info.auth_token
    assert len(tok.session_id) == 8 and int(tok.session_id, 16) >= 0
    assert abs(tok.expiration - (time.time() + 1800)) < 5
    assert tok.token == auth_token(orch.orch.secret, tok.session_id, tok.expiration)
    assert info.capabilities.bitstring[0] & (1 << 35)
    assert "noop" in info.capabilities.constraints.PerCapability[35].models
    assert [(p.capability, p.constraint) for p in info.capabilities_prices] == [(35, "noop")]
    # a second call: fresh seed, new session
    info2 = await info_for(orch, payer)
    assert info2.ticket_params.seed != tp.seed and info2.auth_token.session_id != tok.session_id


async def test_get_orchestrator_bad_sig_is_unknown_with_go_text(orch, chain):
    req = Payer(chain.key("sender")).request()
    req.sig = req.sig[:-1] + bytes([req.sig[-1] ^ 1])
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.to_thread(get_orchestrator, orch.url, req)
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert e.value.details() == "Invalid orchestrator request: orchestrator req sig check failed"
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.to_thread(get_orchestrator, orch.url, pb.OrchestratorRequest())
    assert "sig check failed" in e.value.details()


async def test_get_orchestrator_capacity_full_fault(orch, chain):
    status, _, body = await post(orch.url, "/admin/faults", headers=JSON, data=json.dumps({"capacity_full": True}))
    assert status == 200, body
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.to_thread(get_orchestrator, orch.url, Payer(chain.key("sender")).request())
    assert e.value.details() == "Invalid orchestrator request: OrchestratorCapped"


async def test_ping_and_end_session(orch, chain):
    def call():
        ch = grpc_channel(orch.url)
        try:
            stub = pbg.OrchestratorStub(ch)
            pong = stub.Ping(pb.PingPong(value=b"hello"), timeout=5)
            end = stub.EndTranscodingSession(pb.EndTranscodingSessionRequest(), timeout=5)
            return pong, end
        finally:
            ch.close()
    pong, end = await asyncio.to_thread(call)
    assert recover_personal(keccak(b"hello"), pong.value) == orch.orch.address
    assert end == pb.EndTranscodingSessionResponse()


async def test_sdk_get_orch_info_via_tofu(orch, chain):
    """The livepeer-gateway SDK's own get_orch_info, with a stub signer answering /sign-orchestrator-info."""
    from aiohttp import web
    from livepeer_gateway import orch_info

    addr, sig = codec.sign_orch_request(chain.key("sender"))

    async def sign(_req):
        return web.json_response({"address": "0x" + addr.hex(), "signature": "0x" + sig.hex()})

    app = web.Application()
    app.router.add_post("/sign-orchestrator-info", sign)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        info = await asyncio.to_thread(orch_info.get_orch_info, f"127.0.0.1:{orch.port}",
                                       signer_url=f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert info.transcoder == orch.url
    assert info.ticket_params.recipient == orch.orch.address
    assert info.auth_token.session_id


# ------------------------------------------------------------------ /payment happy path
async def test_payment_credited_and_fresh_params_returned(orch, chain):
    payer = Payer(chain.key("sender"), manifest_id="m-1")
    await info_for(orch, payer)
    headers = payer.headers(2)
    status, ctype, body = await post(orch.url, headers=headers)
    assert status == 200, body
    result = pb.PaymentResult.FromString(body)
    assert result.info.auth_token == payer.info.auth_token  # the segment's token, not a new one
    assert result.info.ticket_params.seed != payer.info.ticket_params.seed
    ev = sum((t.ticket.ev for t in payer.sent), Fraction(0))
    assert orch.orch.ledger.balance(payer.address, "m-1") == ev
    # first payment of a new sender does not pin the price (quirk); the second does
    assert orch.orch.ledger.fixed_price(payer.address, "m-1") is None
    status, _, body = await post(orch.url, headers=payer.headers(2))
    assert status == 200, body
    assert orch.orch.ledger.fixed_price(payer.address, "m-1") == codec.price_info(payer.info.price_info)
    assert orch.orch.ledger.balance(payer.address, "m-1") == sum((t.ticket.ev for t in payer.sent), Fraction(0))
    kinds = [e.kind for e in orch.orch.bus.recent]
    for k in ("orch.params_issued", "orch.payment_received", "orch.ticket", "orch.credit"):
        assert k in kinds


async def test_payment_over_http2(orch, chain):
    """The same port answers /payment over HTTP/2 (h2 via ALPN), not only HTTP/1.1."""
    import h2.connection
    import h2.events

    payer = Payer(chain.key("sender"))
    await info_for(orch, payer)
    hdrs = payer.headers(2)

    def run():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", orch.port), timeout=5) as raw, ctx.wrap_socket(raw) as s:
            assert s.selected_alpn_protocol() == "h2"
            c = h2.connection.H2Connection()
            c.initiate_connection()
            c.send_headers(1, [(":method", "POST"), (":path", "/payment"), (":scheme", "https"),
                               (":authority", "127.0.0.1")] + [(k.lower(), v) for k, v in hdrs.items()],
                           end_stream=True)
            s.sendall(c.data_to_send())
            status, body = None, b""
            while True:
                for ev in c.receive_data(s.recv(65536)):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = dict(ev.headers)[b":status"]
                    elif isinstance(ev, h2.events.DataReceived):
                        body += ev.data
                        c.acknowledge_received_data(ev.flow_controlled_length, 1)
                    elif isinstance(ev, h2.events.StreamEnded):
                        return status, body
                s.sendall(c.data_to_send())
    status, body = await asyncio.to_thread(run)
    assert status == b"200"
    assert pb.PaymentResult.FromString(body).info.transcoder == orch.url


# ------------------------------------------------------------------ ProcessPayment behaviours
async def _raw_payment(orch, payer: Payer, tickets, mutate=None, manifest_id=None):
    pay = payer.payment(tickets)
    if mutate:
        mutate(pay)
    seg = payer.segment(manifest_id)
    return await post(orch.url, headers={"Livepeer-Payment": b64encode(pay.SerializeToString()),
                                         "Livepeer-Segment": b64encode(seg.SerializeToString())})


async def test_sticky_non_fatal_error_stops_credit_but_winners_stored(orch, chain):
    orch.orch.faults.update({"win_prob_max": True})  # every ticket wins
    payer = Payer(chain.key("sender"), manifest_id="sticky")
    await info_for(orch, payer)
    ok1, bad, w3 = payer.tickets(3)
    bad = type(bad)(bad.ticket, bad.sig[:5] + bytes([bad.sig[5] ^ 0xFF]) + bad.sig[6:])
    status, ctype, body = await _raw_payment(orch, payer, [ok1, bad, w3])
    assert (status, ctype, body) == (400, "text/plain; charset=utf-8", b"invalid ticket signature\n")
    assert orch.orch.ledger.balance(payer.address, "sticky") == ok1.ticket.ev  # only the ticket before the error
    stored = {w.ticket.sender_nonce: w for w in orch.orch.store.all()}
    assert set(stored) == {1, 3}  # bad sig never wins; ticket 3 won despite the sticky error
    # replay: duplicate nonce -> non-fatal 400, nothing credited, winner not stored twice
    status, _, body = await _raw_payment(orch, payer, [w3])
    assert status == 400
    assert body == (f"invalid ticket senderNonce: already seen sender={to_checksum_address(payer.address)} "
                    f"nonce=3\n").encode()
    assert len(orch.orch.store.all()) == 2
    assert orch.orch.ledger.balance(payer.address, "sticky") == ok1.ticket.ev


async def test_fatal_error_stops_processing_and_credits_nothing(orch, chain):
    orch.orch.faults.update({"win_prob_max": True})
    payer = Payer(chain.key("sender"), manifest_id="fatal")
    await info_for(orch, payer)
    ts = payer.tickets(2)

    def tamper(pay):
        pay.ticket_params.face_value = (int.from_bytes(pay.ticket_params.face_value, "big") + 1).to_bytes(32, "big")
    status, _, body = await _raw_payment(orch, payer, ts, tamper)
    assert (status, body) == (400, b"invalid recipientRand for ticket recipientRandHash\n")
    assert orch.orch.ledger.balance(payer.address, "fatal") is None
    assert orch.orch.store.all() == []


@pytest.mark.parametrize("case,expected", [
    ("no_price", 'invalid expected price sent with payment err="expected price is nil"'),
    ("zero_pixels", 'invalid expected price sent with payment err="pixels per unit is 0"'),
    ("inactive", "orchestrator {addr} is inactive in round {round}, cannot process payments"),
    ("no_sender", "Could not find Sender for payment: "),
    ("expired", "TicketParams expired"),
])
async def test_process_payment_errors(orch, chain, case, expected):
    payer = Payer(chain.key("sender"), manifest_id="e")
    await info_for(orch, payer)
    ts = payer.tickets(1)
    other = bytes.fromhex(chain.address("gateway")[2:])

    def mutate(pay):
        if case == "no_price":
            pay.ClearField("expected_price")
        elif case == "zero_pixels":
            pay.expected_price.pixelsPerUnit = 0
        elif case == "inactive":
            pay.ticket_params.recipient = other
        elif case == "no_sender":
            pay.sender = b""
    if case == "expired":
        chain.mine(PARAMS_EXPIRATION_BLOCK)
        await orch.refresh()
    if case == "no_sender":
        # Over HTTP the segCreds check (against the zero sender) answers 403 first, as in Go; so call
        # ProcessPayment itself.
        pay = payer.payment(ts)
        mutate(pay)
        text = orch.orch.process_payment(pay, "e")
        assert text.startswith(expected)
        return
    status, _, body = await _raw_payment(orch, payer, ts, mutate)
    assert status == 400
    text = body.decode()
    if case == "inactive":
        expected = expected.format(addr=to_checksum_address(other), round=chain.current_round())
        assert text == expected + "\n"
    else:
        assert text == expected + "\n"


async def test_payment_without_tickets_accepted_without_credit(orch, chain):
    payer = Payer(chain.key("sender"), manifest_id="zero")
    await info_for(orch, payer)
    status, _, body = await _raw_payment(orch, payer, [])
    assert status == 200, body
    assert orch.orch.ledger.balance(payer.address, "zero") is None


# ------------------------------------------------------------------ malformed headers: documented 4xx
async def test_malformed_headers_get_documented_4xx(orch, chain):
    payer = Payer(chain.key("sender"), manifest_id="bad")
    await info_for(orch, payer)
    good = payer.headers(1)
    seg = payer.segment()
    expired_tok = pb.AuthToken(session_id="abcd1234", expiration=int(time.time()) - 10)
    expired_tok.token = auth_token(orch.orch.secret, expired_tok.session_id, expired_tok.expiration)
    forged_tok = pb.AuthToken(session_id="abcd1234", expiration=int(time.time()) + 100, token=b"\x00" * 32)

    def seg_with(**kw):
        s = payer.segment(auth_token=kw.pop("tok", None))
        for k, v in kw.items():
            if k == "caps":
                s.capabilities.bitstring.extend([0, 1 << 6])  # capability 70: not ours
            elif k == "no_token":
                s.ClearField("auth_token")
            else:
                setattr(s, k, v)
        if kw.get("resign", True) and "sig" not in kw:
            s.sig = codec.build_segcreds(payer.key, payer.manifest_id, None).sig
        return b64encode(s.SerializeToString())

    cases = [
        ({"Livepeer-Payment": "!!!!", "Livepeer-Segment": good["Livepeer-Segment"]}, 402,
         "base64 decode error: illegal base64 data at input byte 0"),
        ({"Livepeer-Payment": "abc", "Livepeer-Segment": good["Livepeer-Segment"]}, 402,
         "base64 decode error: illegal base64 data at input byte 0"),
        ({"Livepeer-Payment": b64encode(b"\xff\xff\xff\xff"), "Livepeer-Segment": good["Livepeer-Segment"]}, 402,
         "protobuf unmarshal error: proto: cannot parse invalid wire-format data"),
        ({"Livepeer-Payment": good["Livepeer-Payment"]}, 403, "ErrSegSig"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": "%%%"}, 403, "ErrorSegEncoding"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": b64encode(b"\x0a\xff")}, 403,
         "ErrorSegEncoding"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": seg_with(sig=b"\x01" * 65)}, 403,
         "ErrSegSig"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": seg_with(duration=-1)}, 403,
         "invalid duration"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": seg_with(caps=True)}, 403,
         "incompatible capabilities"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": seg_with(no_token=True)}, 403,
         "missing auth token"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": seg_with(tok=forged_tok)}, 403,
         "invalid auth token"),
        ({"Livepeer-Payment": good["Livepeer-Payment"], "Livepeer-Segment": seg_with(tok=expired_tok)}, 403,
         "expired auth token"),
    ]
    assert seg.sig  # sanity: the unmodified segment is signed
    for headers, status, message in cases:
        got_status, ctype, body = await post(orch.url, headers=headers)
        assert (got_status, body) == (status, (message + "\n").encode()), headers
        assert ctype == "text/plain; charset=utf-8"


async def test_random_headers_never_5xx(orch, chain):
    import random

    rnd = random.Random(7)
    payer = Payer(chain.key("sender"))
    await info_for(orch, payer)
    good = payer.headers(1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ %\t"
    statuses = set()
    for i in range(60):
        h = dict(good)
        which = rnd.choice(["Livepeer-Payment", "Livepeer-Segment"])
        mode = i % 3
        if mode == 0:
            h[which] = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))).strip()
        elif mode == 1:
            h[which] = b64encode(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 80))))
        else:  # flip one base64 char of a valid header
            s = list(h[which])
            j = rnd.randrange(len(s))
            s[j] = rnd.choice(alphabet[:64])
            h[which] = "".join(s)
        status, _, body = await post(orch.url, headers=h)
        statuses.add(status)
        assert 200 <= status < 500, (h, status, body)
    assert statuses & {400, 402, 403}


# ------------------------------------------------------------------ /refresh-payment
async def test_refresh_payment(orch, chain):
    payer = Payer(chain.key("sender"), manifest_id="r1")
    sender = to_checksum_address(payer.address)
    status, _, body = await post(orch.url, "/refresh-payment", data=json.dumps({"sender": sender,
                                                                                "manifest_id": "r1"}))
    assert (status, body) == (409, b'{"error":{"message":"fixed price not found for session"}}\n')
    for bad in (b"{not json", json.dumps({"sender": "0x12", "manifest_id": "r1"}).encode(),
                json.dumps({"sender": sender}).encode(), b"[]"):
        status, _, body = await post(orch.url, "/refresh-payment", data=bad)
        assert status == 400, bad
    # go's RefreshPayment: json.Decoder errors (first in document order), then sender, then manifest id; every
    # error is respondJsonError's JSON envelope
    T = "json: cannot unmarshal {} into Go struct field refreshPaymentParamsRequest.{} of type string"
    for bad, message in (
            (b"", "EOF"),
            (b"[]", "json: cannot unmarshal array into Go value of type server.refreshPaymentParamsRequest"),
            (b'{"manifest_id":5,"sender":true}', T.format("number", "manifest_id")),
            (b'{"sender":true,"manifest_id":5}', T.format("bool", "sender")),
            (b'{"SENDER":{},"sender":"' + sender.encode() + b'","manifest_id":"r1"}', T.format("object", "sender")),
            (b'{"sender":"0x12","manifest_id":"r1"}', "invalid sender"),
            (b'{"manifest_id":"r1"}', "invalid sender"),
            (b'{"sender":"' + sender[2:].encode() + b'","manifest_id":" \\t "}', "missing manifest_id")):
        status, ctype, body = await post(orch.url, "/refresh-payment", data=bad)
        assert (status, ctype, json.loads(body)) == (400, "application/json", {"error": {"message": message}}), bad
    status, _, _ = await post(orch.url, "/refresh-payment", method="GET")
    assert status == 405
    await info_for(orch, payer)

    def refreshes():
        return [e.data for e in orch.orch.bus.recent if e.kind == "orch.refresh" and e.data.get("manifest_id") == "r1"]

    # Go's 409 says nothing more; the event tells the real reason, which changes as payments arrive
    assert "holds no balance for this sender" in refreshes()[0]["reason"]
    status, _, body = await post(orch.url, headers=payer.headers(1))
    assert status == 200, body
    status, _, body = await post(orch.url, "/refresh-payment", data=json.dumps({"sender": sender, "manifest_id": "r1"}))
    assert (status, body) == (409, b'{"error":{"message":"fixed price not found for session"}}\n')
    assert "while the sender was new to this orchestrator" in refreshes()[-1]["reason"]
    status, _, body = await post(orch.url, headers=payer.headers(1))  # the second payment pins the price
    assert status == 200, body
    # keys case-insensitive, the manifest id trimmed (strings.TrimSpace), a bare 40-hex sender accepted
    status, ctype, body = await post(orch.url, "/refresh-payment",
                                     data=json.dumps({"Sender": sender[2:].lower(), "MANIFEST_ID": " r1\n"}))
    assert status == 200 and ctype == "application/json"
    assert body.startswith(b'{"payment_params":"') and not body.endswith(b"\n")  # json.Marshal, struct order
    obj = json.loads(body)
    assert list(obj) == ["payment_params", "orchestrator", "manifest_id", "payment_url"]
    assert obj["orchestrator"] == orch.url
    info = codec.decode_orch_info(obj["payment_params"])
    assert obj["manifest_id"] == "r1" and obj["payment_url"] == orch.url + "/payment"
    assert info.auth_token.session_id == "r1"
    assert codec.price_info(info.price_info) == codec.price_info(payer.info.price_info)
    assert refreshes()[-1]["status"] == 200


# ------------------------------------------------------------------ admin + fault knobs
async def test_admin_faults_and_status(orch, chain):
    status, _, body = await post(orch.url, "/admin/faults", headers=JSON, data=json.dumps({"nope": 1}))
    assert status == 400 and b"unknown fault 'nope'" in body
    status, _, body = await post(orch.url, "/admin/faults", headers=JSON, data=json.dumps({"delay_s": "x"}))
    assert status == 400
    status, _, body = await post(orch.url, "/admin/faults", headers=JSON, data=json.dumps(
        {"reject_payments": {"status": 503, "message": "go away"}, "price_per_unit": 7, "pixels_per_unit": 2}))
    assert status == 200, body
    payer = Payer(chain.key("sender"))
    info = await info_for(orch, payer)
    base = Fraction(7, 2)
    price = codec.price_info(info.price_info)
    assert base <= price < base * Fraction(102, 100)  # auto-adjusted overhead on the new base price
    status, _, body = await post(orch.url, headers=payer.headers(1))
    assert (status, body) == (503, b"go away\n")
    status, ctype, body = await post(orch.url, "/admin/status", method="GET")
    assert status == 200
    st = json.loads(body)
    assert st["faults"]["reject_payments"] == {"status": 503, "message": "go away"}
    assert st["address"] == to_checksum_address(orch.orch.address)
    assert st["chain"]["last_block"] == chain.last_block()


async def test_drop_connection_fault(orch, chain):
    orch.orch.faults.update({"drop_connection": True})
    with pytest.raises(aiohttp.ClientError):
        await post(orch.url, headers={})
    orch.orch.faults.update({"drop_connection": False})
    status, _, _ = await post(orch.url, headers={})
    assert status == 403


async def test_params_expiry_and_face_value_faults(orch, chain):
    payer = Payer(chain.key("sender"))
    orch.orch.faults.update({"params_expiry_blocks": 1, "face_value": 10**30})
    await info_for(orch, payer)
    p = payer.params()
    assert p.expiration_block == chain.last_block() + 1
    assert p.face_value == 10**30
    assert p.ev >= orch.config.ticket_ev
    status, _, body = await post(orch.url, headers=payer.headers(1))  # O accepts its own odd params
    assert status == 200, body


async def test_rotate_certificate(orch, chain):
    before = await asyncio.to_thread(tofu_cert, "127.0.0.1", orch.port)
    status, _, body = await post(orch.url, "/admin/faults", headers=JSON, data=json.dumps({"rotate_certificate": True}))
    assert status == 200, body
    after = await asyncio.to_thread(tofu_cert, "127.0.0.1", orch.port)
    assert before != after
    assert json.loads(body)["certificate"]["sha256"] == orch.cert.fingerprint_sha256


async def test_cert_regenerated_per_start_unless_kept(chain, tmp_path):
    pems = []
    for keep in (False, False, True, True):
        async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                      keep_cert=keep, block_poll_s=3600) as o:
            pems.append(await asyncio.to_thread(tofu_cert, "127.0.0.1", o.port))
    assert pems[0] != pems[1]
    assert pems[2] == pems[3] != pems[1]


async def test_cleartext_h2c_grpc_and_http1(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  service_addr="http://127.0.0.1:0", block_poll_s=3600) as o:
        assert o.url.startswith("http://")
        payer = Payer(chain.key("sender"))
        info = await asyncio.to_thread(get_orchestrator, o.url, payer.request())
        payer.use(info)
        assert info.transcoder == o.url
        status, _, body = await post(o.url, headers=payer.headers(2))
        assert status == 200, body
        status, _, body = await post(o.url, "/admin/faults", headers=JSON, data=json.dumps({"rotate_certificate": True}))
        assert status == 400


async def test_unknown_route_and_grpc_method(orch, chain):
    status, _, body = await post(orch.url, "/nope", method="GET")
    assert (status, body) == (404, b"404 page not found\n")

    def call():
        ch = grpc_channel(orch.url)
        try:
            return ch.unary_unary("/net.Orchestrator/Nope", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)(b"", timeout=5)
        finally:
            ch.close()
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.to_thread(call)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_mount_sub_app(orch):
    async def sub(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})
    orch.app.mount("/ai/trickle/", sub)
    status, _, body = await post(orch.url, "/ai/trickle/abc", method="GET")
    assert (status, body) == (200, b"/ai/trickle/abc")


# ------------------------------------------------------------------ live debit
async def test_live_debit_api(chain, tmp_path):
    from sim.clock import VirtualClock
    from sim.orchestrator.ledger import InsufficientBalance

    clock = VirtualClock(start=1_000.0)
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, clock=clock,
                                  block_poll_s=3600) as o:
        sender = bytes.fromhex(chain.address("sender")[2:])
        o.orch.ledger.credit(sender, "live", Fraction(100))
        d = o.orch.live_debit(sender, "live", Fraction(3), interval_s=5, units_per_second=2)
        assert d.tick() is None
        clock.advance(5.25)
        assert d.tick() == 30  # 10 units (5.25 s × 2, truncated) × price 3; 0.25 s carried over
        clock.advance(4.8)
        assert d.tick() == 30  # 5.05 s elapsed → 10 units
        clock.advance(5)
        assert d.tick() == 30  # balance 40 -> 10
        clock.advance(5)
        with pytest.raises(InsufficientBalance) as e:
            d.tick()
        assert str(e.value) == "insufficient balance, mid=live, fee=30, balance=10"
        assert o.orch.ledger.balance(sender, "live") == 10  # a refused debit leaves the balance


async def test_lv2v_model_capacity_check(orch, chain):
    payer = Payer(chain.key("sender"))
    caps = pb.Capabilities()
    caps.capacities[35] = 1
    caps.constraints.PerCapability[35].models["some/other-model"].warm = True
    req = codec.build_orch_request(payer.key, caps, ignore_capacity_check=False)
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.to_thread(get_orchestrator, orch.url, req)
    assert e.value.details() == "Invalid orchestrator request: OrchestratorCapped"
    req.ignoreCapacityCheck = True  # what the SDK sends: no capacity check, info returned
    info = await asyncio.to_thread(get_orchestrator, orch.url, req)
    assert not info.capabilities_prices  # capabilities given: no per-capability price list
    caps.constraints.PerCapability[35].models["noop"].warm = True
    req = codec.build_orch_request(payer.key, caps, ignore_capacity_check=False)
    assert (await asyncio.to_thread(get_orchestrator, orch.url, req)).auth_token.session_id


async def test_chain_failure_is_an_error_not_a_hang(chain, tmp_path):
    from devnet.base import ChainUnreachable

    class Flaky:
        """The mock chain, except that sender lookups fail (chain gone mid-run)."""

        def __init__(self, inner):
            self.inner, self.broken = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def sender_info(self, sender):
            if self.broken:
                raise ChainUnreachable("no answer from http://127.0.0.1:1")
            return self.inner.sender_info(sender)

    flaky = Flaky(chain)
    async with OrchestratorServer(flaky, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=3600) as o:
        payer = Payer(chain.key("sender"))
        await info_for(o, payer)
        headers = payer.headers(1)
        flaky.broken = True
        o.orch.watch.forget_sender(payer.address)
        with pytest.raises(grpc.RpcError) as e:
            await asyncio.to_thread(get_orchestrator, o.url, payer.request())
        assert e.value.code() == grpc.StatusCode.UNKNOWN and "no answer" in e.value.details()
        status, _, body = await post(o.url, headers=headers)
        assert status == 500 and b"no answer from" in body  # Go: 500 Internal Server Error; here the cause too
        flaky.broken = False
        status, _, body = await post(o.url, headers=payer.headers(1))
        assert status == 200, body


async def test_admin_is_loopback_only_and_sessions_cap_capacity(orch, chain):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(msg):
        sent.append(msg)
    scope = {"type": "http", "path": "/admin/faults", "method": "POST", "headers": [], "client": ("10.1.2.3", 5555),
             "http_version": "1.1"}
    await orch.app(scope, receive, send)
    assert sent[0]["status"] == 403 and sent[1]["body"] == b"admin API is loopback-only\n"

    orch.config.max_sessions = 1
    orch.orch.open_session("s1")
    with pytest.raises(Exception, match="OrchestratorCapped"):
        orch.orch.open_session("s2")
    with pytest.raises(grpc.RpcError) as e:
        await asyncio.to_thread(get_orchestrator, orch.url, Payer(chain.key("sender")).request())
    assert e.value.details() == "Invalid orchestrator request: OrchestratorCapped"
    orch.orch.close_session("s1")
    assert (await asyncio.to_thread(get_orchestrator, orch.url, Payer(chain.key("sender")).request())).transcoder


async def test_oversized_ticket_param_ints_get_fatal_400_on_every_route(orch, chain):
    """A 33-byte ``face_value`` / ``win_prob`` (or ``seed`` / ``expiration_block``) in a Payment with a valid
    segment header: Go's LeftPadBytes keeps the longer value, so the recipientRand HMAC no longer matches the
    ticket's recipientRandHash -> fatal 400, never a 5xx; on /payment and on the LV2V job route."""
    payer = Payer(chain.key("sender"), manifest_id="oversized")
    await info_for(orch, payer)
    big = b"\x01" + b"\x00" * 32  # 2^256: one byte longer than a uint256
    for field_name in ("face_value", "win_prob", "seed", "expiration_block"):
        for path, body in (("/payment", b""), ("/live-video-to-video", b'{"model_id":"noop"}')):
            pay = payer.payment(payer.tickets(1))
            setattr(pay.ticket_params, field_name, big)
            headers = {"Livepeer-Payment": b64encode(pay.SerializeToString()),
                       "Livepeer-Segment": b64encode(payer.segment().SerializeToString())}
            status, ctype, resp = await post(orch.url, path, headers=headers, data=body)
            assert (status, resp) == (400, b"invalid recipientRand for ticket recipientRandHash\n"), \
                (field_name, path)
            assert ctype == "text/plain; charset=utf-8"
    # the orchestrator still takes a good payment afterwards
    status, _, resp = await post(orch.url, headers=payer.headers(1))
    assert status == 200, resp


async def test_refresh_payment_fixed_price_beyond_int64_is_go_masked_500_with_cause(orch, chain):
    """An expected price of -2^63 / -1 pins 2^63 (big.Rat normalises the sign); go's fixedPriceInfo cannot put
    it in a PriceInfo: 500, which lpdev answers with the cause in go's JSON envelope (never an empty body)."""
    payer = Payer(chain.key("sender"), manifest_id="warm")
    await info_for(orch, payer)
    status, _, body = await post(orch.url, headers=payer.headers(1))  # the sender now has a ledger entry
    assert status == 200, body
    pay = payer.payment([])  # no tickets, but with ticket params: the price is pinned
    pay.ticket_params.CopyFrom(codec.ticket_params_to_pb(payer.params(), with_expiration=False))
    pay.expected_price.pricePerUnit, pay.expected_price.pixelsPerUnit = -(2**63), -1
    headers = {"Livepeer-Payment": b64encode(pay.SerializeToString()),
               "Livepeer-Segment": b64encode(payer.segment("huge-price").SerializeToString())}
    status, _, body = await post(orch.url, headers=headers)
    assert status == 200, body
    status, ctype, body = await post(orch.url, "/refresh-payment", data=json.dumps(
        {"sender": to_checksum_address(payer.address), "manifest_id": "huge-price"}))
    assert (status, ctype) == (500, "application/json")
    assert json.loads(body) == {"error": {"message": "Internal Server Error: fixed price cannot be represented "
                                                     "as int64 price info"}}


async def test_a_start_that_fails_on_a_busy_port_releases_what_it_bound(chain, tmp_path):
    """The plain-HTTP port is taken: start fails with the OS error and closes the TLS listener it had already bound
    (a retry or the next stack can take that port), and the Live Runner sweep it started is stopped."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    o = OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=None,
                           service_addr=f"https://127.0.0.1:{port}", http_port=busy.getsockname()[1])
    try:
        with pytest.raises(OSError) as failed:
            await o.start()
        assert failed.value.errno is not None
        again = socket.socket()  # no SO_REUSEADDR: refused while the abandoned listener still listens
        try:
            again.bind(("127.0.0.1", port))
        finally:
            again.close()
        assert o.runners.registry._sweeper is None
        busy.close()
        async with o:  # once the busy port is released, the same server starts on both ports
            assert o.port == port
    finally:
        busy.close()
