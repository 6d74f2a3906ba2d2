"""Structurally valid ``net.Payment`` messages with out-of-range fields never make the orchestrator answer a 5xx
(docs/orchestrator.md#the-payment-endpoint): every integer or bytes field of a payment made for the orchestrator's own
params is replaced by values outside what a sender would send (33+-byte big integers, short or long addresses and
hashes, negative int64s, zero prices, odd signature lengths, no expiration params), with a valid segment header, and the
answer is 200 or a Go-worded 4xx. The sans-IO core decides every status, so the core is driven directly."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import devnet
from sim.orchestrator.node import Orchestrator, OrchestratorConfig
from sim.orchestrator.probe import Payer
from sim.pm.ticket import u256
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import b64encode

INT64 = st.integers(min_value=-2**63, max_value=2**63 - 1)
BIG_BYTES = st.one_of(
    st.binary(min_size=33, max_size=64),  # wider than a uint256
    st.just(b"\x01" + b"\x00" * 32), st.just(b"\xff" * 33), st.just(b""), st.just(b"\x00" * 40),
    st.binary(max_size=32),
)
ODD_BYTES = st.one_of(st.binary(max_size=70), st.just(b""))

# (message path, field) -> strategy for its new value
MUTATIONS = {
    ("ticket_params", "face_value"): BIG_BYTES,
    ("ticket_params", "win_prob"): BIG_BYTES,
    ("ticket_params", "seed"): BIG_BYTES,
    ("ticket_params", "expiration_block"): BIG_BYTES,
    ("ticket_params", "recipient"): ODD_BYTES,
    ("ticket_params", "recipient_rand_hash"): ODD_BYTES,
    ("expiration_params", "creation_round"): INT64,
    ("expiration_params", "creation_round_block_hash"): ODD_BYTES,
    ("expected_price", "pricePerUnit"): INT64,
    ("expected_price", "pixelsPerUnit"): INT64,
    ("ticket_sender_params", "sender_nonce"): st.integers(min_value=0, max_value=2**32 - 1),
    ("ticket_sender_params", "sig"): ODD_BYTES,
    ("", "sender"): st.one_of(ODD_BYTES, st.just("payer-padded")),
    ("", "clear"): st.sampled_from(["ticket_params", "expiration_params", "expected_price",
                                    "ticket_sender_params"]),
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    chain = devnet.open_chain("mock")
    orch = Orchestrator(OrchestratorConfig(eth_key=chain.key("orchestrator"),
                                           data_dir=tmp_path_factory.mktemp("orch")), chain)
    orch.on_chain()
    payer = Payer(chain.key("sender"), manifest_id="fuzz")
    payer.use(orch.orchestrator_info(payer.address, ""))
    yield orch, payer
    orch.close()
    chain.close()


def _apply(payment: pb.Payment, payer: Payer, where: str, name: str, value) -> None:
    if where == "" and name == "clear":
        payment.ClearField(value)
    elif where == "" and name == "sender":
        payment.sender = b"\x00" * 12 + payer.address if value == "payer-padded" else value
    elif where == "ticket_sender_params":
        for tsp in payment.ticket_sender_params:
            setattr(tsp, name, value)
    else:
        setattr(getattr(payment, where), name, value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(n=st.integers(min_value=0, max_value=3),
       picks=st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3, unique=True), data=st.data())
def test_out_of_range_payment_fields_never_5xx(setup, n, picks, data):
    orch, payer = setup
    payment = payer.payment(payer.tickets(n))
    for where, name in picks:
        _apply(payment, payer, where, name, data.draw(MUTATIONS[(where, name)], label=f"{where}.{name}"))
    segment = b64encode(payer.segment().SerializeToString())
    reply, _, _ = orch.payment_from_headers(b64encode(payment.SerializeToString()), segment)
    assert 200 <= reply.status < 500, (reply.status, reply.body)
    if reply.status != 200:
        assert reply.content_type == "text/plain; charset=utf-8" and reply.body.endswith(b"\n")
    else:
        assert pb.PaymentResult.FromString(reply.body).info.ticket_params.recipient == orch.address


def test_u256_keeps_values_wider_than_32_bytes_like_left_pad_bytes():
    """Go ``LeftPadBytes(b, 32)`` returns ``b`` unchanged when it is longer than 32 bytes."""
    assert u256(5) == b"\x00" * 31 + b"\x05"
    assert u256(2**256 - 1) == b"\xff" * 32
    assert u256(2**256) == b"\x01" + b"\x00" * 32
    assert u256(-(2**264)) == b"\x01" + b"\x00" * 33
