"""lpdev's own end-to-end vectors (computed independently with libsecp256k1; go-livepeer must give the same bytes), for
wire formats: the Payment protobuf, the segCreds Flatten/sig/SegData bytes, the GetOrchestrator sig and the signer state
blob + sig.

Other wire tests import the constants from here."""
from __future__ import annotations

from fractions import Fraction

from sim.pm.crypto import hmac_sha256, keccak, private_key_to_address, recover_personal, text_hash
from sim.pm.params import TicketParams, recipient_rand, recipient_rand_hash
from sim.pm.sender import create_ticket_batch
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import b64decode, parse_rfc3339nano
from sim.wire.state import RemotePaymentState, sign_state, verify_state

PRIV = bytes.fromhex("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19")
SENDER_HEX = "0x96216849c49358B10257cb55b28eA603c874b05E"
SENDER = bytes.fromhex(SENDER_HEX[2:])
RECIPIENT = bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F")
SECRET = b"\x03" + b"\x00" * 31
SEED = int.from_bytes(bytes(range(1, 33)), "big")
FACE_VALUE = 1_200_000_000_000_000
WIN_PROB = 771947261582107969490473233391252719021799897770937093596383896000000000
EXPIRATION_BLOCK = 20_000_040
CREATION_ROUND = 3600
BLOCK_HASH = keccak(b"block")
RECIPIENT_RAND = 0xB97815179D15E33FCE3DA4D09516BAC510715EB9A3D72F85C95D932A1C287D7F
RAND_HASH = bytes.fromhex("200872ee710040af3a0b35d84b07b74c765d365fbdd9199ac0e6223d74495952")

TICKET1_HASH = "cfb09215f5abafe38b3c834bf1d4fe8552bd485ef49b24e7c151dd2b17aa3ced"
TICKET2_HASH = "d2ac5f8a2947b71696016bfcff8c26a419176af3e3166eda7823820df89253f7"
TICKET1_SIG = ("40502df6b5411b0b24409d2fc9e713eb6df529c163bfe8071b1f68dd041fef8722cc520e67148be26bd343a66c01fa"
               "fd2f9eee5053977c95c3a4c8dccc3039f21c")
TICKET2_SIG = ("dea95ca3949e03a3de3e913d70dc928f0212211b0fd86653ada672b24b812d4660461755bc23297cc1074042aefec8"
               "4e5853fc01b3edc0e5352b1a69e48c7a901b")
PAYMENT_HEX = (
    "0a89010a1473aed7b5deb30222fa896f399d46cc99c7bee57f1207044364c5bb00001a1e6fd91d84bcda58175fdfab3d77a168e2893e"
    "4958803b6b57ae84efcbf0002220200872ee710040af3a0b35d84b07b74c765d365fbdd9199ac0e6223d744959522a20010203040506"
    "0708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20320401312d28121496216849c49358b10257cb55b28ea603c874b05e"
    "1a2508901c122020b53acf0daefc8c6ad68c861fb3b543ca541abd101abc1edfcbf6606b838ef422450801124140502df6b5411b0b24"
    "409d2fc9e713eb6df529c163bfe8071b1f68dd041fef8722cc520e67148be26bd343a66c01fafd2f9eee5053977c95c3a4c8dccc3039"
    "f21c224508021241dea95ca3949e03a3de3e913d70dc928f0212211b0fd86653ada672b24b812d4660461755bc23297cc1074042aefe"
    "c84e5853fc01b3edc0e5352b1a69e48c7a901b2a0408031001"
)
SEG_FLATTEN_HEX = ("6162636431323334" + "00" * 32
                   + "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
SEG_FLATTEN_KECCAK = "c5b4b3dc40f0f7e6239c78ae77735fae1e424f59bcfc0d4d3fe09699d2a55b51"
SEG_SIG = ("feba249a75cf586bc5c21394780734002811e82db9e17b71f0c41b6ec8716b2061db2004ca191826ce395a1b5a3c4f49b729a2"
           "2d67e9eb5d3ad9f6e41e213df81b")
AUTH_TOKEN = "e896e58f32128ad59566fbef0ae8d4b702f6f08cdfe3f17b544696016f5e5423"
SEGDATA_HEX = (
    "0a0861626364313233341a20c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a4702207696e76616c69642a"
    "41feba249a75cf586bc5c21394780734002811e82db9e17b71f0c41b6ec8716b2061db2004ca191826ce395a1b5a3c4f49b729a22d67"
    "e9eb5d3ad9f6e41e213df81b42290a20e896e58f32128ad59566fbef0ae8d4b702f6f08cdfe3f17b544696016f5e542312036261721864"
)
ORCH_SIG = ("a224e17c21555def269cf7f7c379a974b62870990c56c1ea81e6aeac3c5758be2a3e1bf6419b39e2d245d7e309d02a492f5b9a5e"
            "7b9f8479c71dfbc24af8398d1b")
STATE_JSON = (
    b'{"StateID":"0a1b2c3d","PMSessionID":"0x200872ee710040af3a0b35d84b07b74c765d365fbdd9199ac0e6223d74495952",'
    b'"LastUpdate":"2026-08-18T20:47:20.123456789Z","OrchestratorAddress":"0x73aed7b5deb30222fa896f399d46cc99c7bee57f",'
    b'"App":"","AuthExpiry":0,"SenderNonce":2,"Balance":"125/7","InitialPricePerUnit":3,"InitialPixelsPerUnit":1,'
    b'"Type":"live","SequenceNumber":0,"AuthID":""}'
)
STATE_TEXT_HASH = "196dba40f2c466fdb7432f1b2fa41c80a40e351bd529acda7f422451dd4f8243"
STATE_SIG = ("fc8447e2e7864c2cef3f6f640b9b67e7fd723ef7d498b51f95155ab50bb3edc24904d6a5ee02b00ea76440fc3ce53968709c71"
             "f6d7bafef4ef2a213c117b086c1b")


def vector_params() -> TicketParams:
    rand = recipient_rand(SECRET, SEED, SENDER, FACE_VALUE, WIN_PROB, EXPIRATION_BLOCK, Fraction(3), CREATION_ROUND,
                          BLOCK_HASH)
    assert rand == RECIPIENT_RAND
    return TicketParams(recipient=RECIPIENT, face_value=FACE_VALUE, win_prob=WIN_PROB,
                        recipient_rand_hash=recipient_rand_hash(rand), seed=SEED,
                        expiration_block=EXPIRATION_BLOCK, creation_round=CREATION_ROUND,
                        creation_round_block_hash=BLOCK_HASH, price_per_pixel=Fraction(3))


def vector_payment() -> pb.Payment:
    params = vector_params()
    tickets = create_ticket_batch(PRIV, SENDER, params, [1, 2])
    return codec.build_payment(params, SENDER, tickets, pb.PriceInfo(pricePerUnit=3, pixelsPerUnit=1))


def vector_auth_token() -> pb.AuthToken:
    return pb.AuthToken(token=hmac_sha256(b"foo", b"bar" + bytes([100])), session_id="bar", expiration=100)


def vector_state() -> RemotePaymentState:
    return RemotePaymentState(
        state_id="0a1b2c3d", pm_session_id="0x" + RAND_HASH.hex(),
        last_update=parse_rfc3339nano("2026-08-18T20:47:20.123456789Z")[0], orchestrator_address=RECIPIENT,
        sender_nonce=2, balance="125/7", initial_price_per_unit=3, initial_pixels_per_unit=1, type="live")


PAYMENT_B64 = codec.b64encode(bytes.fromhex(PAYMENT_HEX))


# ---------------------------------------------------------------------------------------------------
def test_key_and_params():
    assert private_key_to_address(PRIV) == SENDER
    assert vector_params().recipient_rand_hash == RAND_HASH


def test_payment_protobuf_bytes():
    assert vector_payment().SerializeToString().hex() == PAYMENT_HEX


def test_payment_decodes_to_the_signed_tickets():
    pay = codec.decode_payment(PAYMENT_B64)
    tickets = codec.payment_tickets(pay)
    assert [t.hash().hex() for t, _ in tickets] == [TICKET1_HASH, TICKET2_HASH]
    assert [s.hex() for _, s in tickets] == [TICKET1_SIG, TICKET2_SIG]
    assert all(t.recover_signer(s) == SENDER for t, s in tickets)
    assert codec.price_info(pay.expected_price) == 3
    # The params travel without expiration_params; the payment carries them beside.
    assert not pay.ticket_params.HasField("expiration_params")
    assert codec.ticket_params_from_pb(pay.ticket_params, Fraction(3), pay.expiration_params) == vector_params()


def test_segcreds_flatten_sig_and_bytes():
    flat = codec.segcreds_flatten("abcd1234")
    assert flat.hex() == SEG_FLATTEN_HEX
    assert len(flat) == 64 + len("abcd1234")
    assert keccak(flat).hex() == SEG_FLATTEN_KECCAK
    assert vector_auth_token().token.hex() == AUTH_TOKEN
    seg = codec.build_segcreds(PRIV, "abcd1234", vector_auth_token())
    assert seg.sig.hex() == SEG_SIG
    assert seg.SerializeToString().hex() == SEGDATA_HEX
    parsed = codec.decode_segcreds(codec.b64encode(bytes.fromhex(SEGDATA_HEX)))
    assert codec.verify_segcreds(parsed, SENDER)
    assert not codec.verify_segcreds(parsed, RECIPIENT)
    assert codec.segcreds_signer(parsed) == SENDER


def test_get_orchestrator_sig():
    msg = codec.orch_request_message(SENDER)
    assert msg == SENDER_HEX.encode()
    assert keccak(msg).hex() == "ee96633aed042ac52aa7069ecf77197b72b4eaf865c41905e4e184b7b2a54799"
    assert text_hash(keccak(msg)).hex() == "86823e0a870be94a5ea7641cd849e4938a5537b90e12235c02e4bcf660463c30"
    addr, sig = codec.sign_orch_request(PRIV)
    assert addr == SENDER and sig.hex() == ORCH_SIG
    req = codec.build_orch_request(PRIV)
    assert codec.verify_orch_request(req)
    assert codec.orch_request_signer(req.address, req.sig) == SENDER
    forged = pb.OrchestratorRequest(address=RECIPIENT, sig=req.sig)
    assert not codec.verify_orch_request(forged)


def test_state_blob_bytes_and_sig():
    raw = vector_state().to_json_bytes()
    assert raw == STATE_JSON and len(raw) == 370
    assert text_hash(raw).hex() == STATE_TEXT_HASH
    sig = sign_state(PRIV, raw)
    assert sig.hex() == STATE_SIG
    assert verify_state(SENDER, raw, sig)
    assert not verify_state(SENDER, raw.replace(b'"125/7"', b'"125/6"'), sig)
    assert recover_personal(raw, bytes.fromhex(STATE_SIG)) == SENDER
    assert RemotePaymentState.from_json(STATE_JSON) == vector_state()


def test_payment_base64_is_standard_padded():
    assert PAYMENT_B64.endswith("=") and "-" not in PAYMENT_B64 and "_" not in PAYMENT_B64
    assert b64decode(PAYMENT_B64).hex() == PAYMENT_HEX
