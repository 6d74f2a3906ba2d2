"""Round-trip properties (hypothesis) for the wire types test_wire_codec.py leaves out: OrchestratorInfo,
OrchestratorRequest, Capabilities and PaymentResult (docs/wire.md#protobuf-messages). Each goes through lpdev's own code
— ``codec.to_b64`` / ``decode_orch_info`` / ``decode_capabilities`` / ``parse_pb``, the ticket params and price
converters, the GetOrchestrator signature, and ``lpdev decode orch-info`` — not only through protobuf."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from lpdev.commands import decode as decode_cmd
from lpdev.commands.decode import describe_orch_info
from sim.orchestrator.capabilities import build_capabilities
from sim.pm.crypto import keccak, parse_address, private_key_to_address
from sim.pm.params import TicketParams
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.capabilities import bitstring, capability_ids
from tests.test_wire_codec import addresses, hashes, prices, u256s

KEYS = [keccak(b"wire-props-%d" % i) for i in range(3)]  # throwaway test keys
SETTINGS = settings(max_examples=40, deadline=None)

u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
i64 = st.integers(min_value=-2**63, max_value=2**63 - 1)
texts = st.text(max_size=12)  # hypothesis never draws surrogates: always valid UTF-8 for proto3 strings


# ---- strategies ---------------------------------------------------------------------------------------------
@st.composite
def ticket_params(draw):
    return TicketParams(
        recipient=draw(addresses), face_value=draw(u256s), win_prob=draw(u256s),
        recipient_rand_hash=draw(hashes), seed=draw(u256s), expiration_block=draw(u256s),
        creation_round=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        creation_round_block_hash=draw(hashes), price_per_pixel=draw(prices))


@st.composite
def price_infos(draw):  # arbitrary int64 terms, as a peer may send them (0 pixels, negative prices included)
    return pb.PriceInfo(pricePerUnit=draw(i64), pixelsPerUnit=draw(i64), capability=draw(u32),
                        constraint=draw(texts))


@st.composite
def capabilities(draw):
    caps = pb.Capabilities(bitstring=draw(st.lists(u64, max_size=3)), mandatories=draw(st.lists(u64, max_size=2)),
                           version=draw(texts))
    for k, v in draw(st.dictionaries(u32, u32, max_size=4)).items():
        caps.capacities[k] = v
    if draw(st.booleans()):
        caps.constraints.minVersion = draw(texts)
        per = draw(st.dictionaries(u32, st.dictionaries(
            texts, st.tuples(st.booleans(), u32, texts, u32), max_size=3), max_size=3))
        for cap_id, models in per.items():
            cc = caps.constraints.PerCapability[cap_id]
            for name, (warm, capacity, runner, in_use) in models.items():
                m = cc.models[name]
                m.warm, m.capacity, m.runnerVersion, m.capacityInUse = warm, capacity, runner, in_use
    return caps


@st.composite
def auth_tokens(draw):
    return pb.AuthToken(token=draw(st.binary(max_size=40)), session_id=draw(texts), expiration=draw(i64))


@st.composite
def orch_infos(draw):
    """(OrchestratorInfo, the TicketParams inside it or None)."""
    info = pb.OrchestratorInfo(transcoder=draw(texts), address=draw(st.one_of(st.just(b""), addresses)))
    params = draw(st.one_of(st.none(), ticket_params()))
    if params is not None:  # as the orchestrator sends them: params + their price
        info.ticket_params.CopyFrom(codec.ticket_params_to_pb(params))
        info.price_info.CopyFrom(codec.price_info_pb(params.price_per_pixel))
    elif draw(st.booleans()):
        info.price_info.CopyFrom(draw(price_infos()))
    if draw(st.booleans()):
        info.capabilities.CopyFrom(draw(capabilities()))
    if draw(st.booleans()):
        info.auth_token.CopyFrom(draw(auth_tokens()))
    for p in draw(st.lists(price_infos(), max_size=3)):
        info.capabilities_prices.add().CopyFrom(p)
    for pipeline, model, gpus in draw(st.lists(st.tuples(texts, texts, st.dictionaries(
            texts, st.tuples(texts, u32, u32, i64), max_size=2)), max_size=2)):
        hw = info.hardware.add(pipeline=pipeline, model_id=model)
        for key, (name, major, minor, mem) in gpus.items():
            hw.gpu_info[key].CopyFrom(pb.GPUComputeInfo(id=key, name=name, major=major, minor=minor,
                                                        memory_free=mem, memory_total=mem))
    for s in draw(st.lists(st.sampled_from([0, 1, 2]), max_size=2)):
        info.storage.add(storageType=s)
    info.nodes.extend(draw(st.lists(texts, max_size=3)))
    return info, params


def _cli_orch_info(b64: str) -> dict:
    """`lpdev decode orch-info B64 --json` through its command handler (building the whole argparse tree per
    example would cost more than the property; test_decode_cli.py covers the parser)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = decode_cmd._cmd_orch_info(argparse.Namespace(data=b64, json=True))
    assert code == 0
    return json.loads(out.getvalue())


# ---- OrchestratorInfo ----------------------------------------------------------------------------------------
@SETTINGS
@given(orch_infos())
def test_orch_info_round_trip(drawn):
    info, params = drawn
    text = codec.to_b64(info)
    back = codec.decode_orch_info(text)
    assert back == info
    assert codec.decode_orch_info(info.SerializeToString()) == info  # raw bytes path
    if params is not None:
        assert codec.ticket_params_from_pb(back.ticket_params, codec.price_info(back.price_info)) == params
        assert codec.ticket_params_from_pb(codec.ticket_params_to_pb(params), params.price_per_pixel) == params

    if not text:  # an all-default message is zero bytes: nothing for the CLI to decode ("empty input")
        return
    # `lpdev decode orch-info --json` shows what was sent
    doc = _cli_orch_info(text)
    assert doc == json.loads(json.dumps(describe_orch_info(back)))
    assert doc["transcoder"] == info.transcoder and doc["nodes"] == list(info.nodes)
    assert (parse_address(doc["address"]) if doc["address"] else b"") == info.address
    assert [(p["price_per_unit"], p["pixels_per_unit"]) for p in doc["capabilities_prices"]] == [
        (p.pricePerUnit, p.pixelsPerUnit) for p in info.capabilities_prices]
    for p, shown in zip(info.capabilities_prices, doc["capabilities_prices"]):
        assert (shown["price"] is None) == (p.pixelsPerUnit == 0)
    if params is not None:
        tp = doc["ticket_params"]
        assert (int(tp["face_value"]), int(tp["win_prob"]["int"]), int(tp["seed"]), tp["expiration_block"],
                tp["creation_round"]) == (params.face_value, params.win_prob, params.seed, params.expiration_block,
                                          params.creation_round)
        assert parse_address(tp["recipient"]) == params.recipient
        assert Fraction(doc["price_info"]["price"]) == params.price_per_pixel
    else:
        assert doc["ticket_params"] is None
    if info.HasField("auth_token"):
        assert bytes.fromhex(doc["auth_token"]["token"][2:]) == info.auth_token.token
        assert doc["auth_token"]["expiration"] == info.auth_token.expiration
    if info.HasField("capabilities"):
        caps = doc["capabilities"]
        assert [c["id"] for c in caps["capabilities"]] == capability_ids(info.capabilities.bitstring)
        assert caps["capacities"] == {str(k): v for k, v in info.capabilities.capacities.items()}
        if info.capabilities.HasField("constraints"):
            per = info.capabilities.constraints.PerCapability
            assert {k: set(v["models"]) for k, v in caps["constraints"]["per_capability"].items()} == {
                str(k): set(cc.models) for k, cc in per.items()}


# ---- Capabilities --------------------------------------------------------------------------------------------
@SETTINGS
@given(capabilities())
def test_capabilities_round_trip(caps):
    back = codec.decode_capabilities(codec.to_b64(caps))
    assert back == caps
    assert dict(back.capacities) == dict(caps.capacities)
    for cap_id, cc in caps.constraints.PerCapability.items():
        assert back.constraints.PerCapability[cap_id] == cc
    ids = capability_ids(back.bitstring)
    assert capability_ids(bitstring(ids)) == ids  # the bitstring helpers agree with each other
    assert bitstring(ids) == list(back.bitstring)[:len(bitstring(ids))]


@SETTINGS
@given(st.dictionaries(texts, st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=4).map(
    lambda d: {m: (c, min(c, u)) for m, (c, u) in d.items()}))
def test_orchestrator_capabilities_round_trip(models):
    """What lpdev's orchestrator advertises (docs/orchestrator.md#getorchestrator) survives the wire with every
    per-model constraint."""
    caps = build_capabilities(models)
    back = codec.decode_capabilities(codec.to_b64(caps))
    assert back == caps
    assert capability_ids(back.bitstring) == [12, 35]
    assert back.capacities[35] == sum(c for c, _ in models.values())
    got = {m: (mc.capacity, mc.capacityInUse, mc.warm) for m, mc in back.constraints.PerCapability[35].models.items()}
    assert got == {m: (c, u, True) for m, (c, u) in models.items()}


# ---- OrchestratorRequest -------------------------------------------------------------------------------------
@SETTINGS
@given(st.sampled_from(KEYS), st.one_of(st.none(), capabilities()), st.booleans())
def test_orch_request_round_trip(priv, caps, ignore):
    req = codec.build_orch_request(priv, caps, ignore_capacity_check=ignore)
    back = codec.parse_pb(pb.OrchestratorRequest, codec.decode_b64(codec.to_b64(req), "request"), "request")
    assert back == req
    assert back.ignoreCapacityCheck is ignore and back.HasField("capabilities") == (caps is not None)
    if caps is not None:
        assert back.capabilities == caps
    assert codec.verify_orch_request(back)
    assert codec.orch_request_signer(back.address, back.sig) == private_key_to_address(priv)


@SETTINGS
@given(st.binary(max_size=24), st.binary(max_size=70), st.booleans())
def test_orch_request_arbitrary_round_trip_never_verifies_by_accident(address, sig, ignore):
    req = pb.OrchestratorRequest(address=address, sig=sig, ignoreCapacityCheck=ignore)
    back = codec.parse_pb(pb.OrchestratorRequest, req.SerializeToString(), "request")
    assert back == req
    assert codec.verify_orch_request(back) is False  # random bytes are no signature (and never raise)


# ---- PaymentResult -------------------------------------------------------------------------------------------
@SETTINGS
@given(st.one_of(st.none(), orch_infos()))
def test_payment_result_round_trip(drawn):
    res = pb.PaymentResult()
    if drawn is not None:
        res.info.CopyFrom(drawn[0])
    raw = res.SerializeToString()
    back = codec.parse_pb(pb.PaymentResult, codec.decode_b64(codec.b64encode(raw), "payment result"),
                          "payment result")
    assert back == res
    assert back.HasField("info") == (drawn is not None)
    if drawn is not None:
        info, params = drawn
        assert raw[:2] == b"\x82\x01"  # field 16, length-delimited: a two-byte key
        assert codec.decode_orch_info(back.info.SerializeToString()) == info
        if params is not None:
            assert codec.ticket_params_from_pb(back.info.ticket_params, codec.price_info(back.info.price_info)) \
                == params
