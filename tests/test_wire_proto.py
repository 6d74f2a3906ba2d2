"""The generated protobuf modules: up to date with the .proto, field numbers as go-livepeer's
(docs/wire.md#protobuf-messages), and importable next to the livepeer-gateway SDK's own ``lp_rpc_pb2`` (both define
``net.*``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.wire import lp_rpc_pb2 as pb
from sim.wire import regen


def test_generated_modules_are_up_to_date():
    assert regen.stale(regen.generate()) == []
    assert regen.main(["--check"]) == 0


def test_check_detects_a_stale_module(monkeypatch):
    generated = regen.generate()
    generated["lp_rpc_pb2.py"] += "# drift\n"
    monkeypatch.setattr(regen, "generate", lambda: generated)
    assert regen.main(["--check"]) == 1


def test_grpc_module_imports_the_package_module():
    from sim.wire import lp_rpc_pb2_grpc as g

    assert g.lp__rpc__pb2 is pb
    assert hasattr(g, "OrchestratorStub") and hasattr(g, "add_OrchestratorServicer_to_server")


# (message, {field name: number}) straight from go-livepeer net/lp_rpc.proto.
FIELDS = [
    (pb.OrchestratorRequest, {"address": 1, "sig": 2, "capabilities": 3, "ignoreCapacityCheck": 4}),
    (pb.OrchestratorInfo, {"transcoder": 1, "ticket_params": 2, "price_info": 3, "address": 4,
                           "capabilities": 5, "auth_token": 6, "hardware": 7, "storage": 32,
                           "capabilities_prices": 33, "nodes": 34}),
    (pb.TicketParams, {"recipient": 1, "face_value": 2, "win_prob": 3, "recipient_rand_hash": 4, "seed": 5,
                       "expiration_block": 6, "expiration_params": 7}),
    (pb.TicketExpirationParams, {"creation_round": 1, "creation_round_block_hash": 2}),
    (pb.PriceInfo, {"pricePerUnit": 1, "pixelsPerUnit": 2, "capability": 3, "constraint": 4}),
    (pb.AuthToken, {"token": 1, "session_id": 2, "expiration": 3}),
    (pb.Payment, {"ticket_params": 1, "sender": 2, "expiration_params": 3, "ticket_sender_params": 4,
                  "expected_price": 5}),
    (pb.TicketSenderParams, {"sender_nonce": 1, "sig": 2}),
    (pb.SegData, {"manifestId": 1, "seq": 2, "hash": 3, "profiles": 4, "sig": 5, "duration": 6,
                  "capabilities": 7, "auth_token": 8, "calc_perceptual_hash": 10, "storage": 32,
                  "fullProfiles": 33, "fullProfiles2": 34, "fullProfiles3": 35, "segment_parameters": 37,
                  "ForceSessionReinit": 38}),
    (pb.SegParameters, {"from": 1, "to": 2}),
    (pb.PaymentResult, {"info": 16}),
    (pb.Capabilities, {"bitstring": 1, "mandatories": 2, "capacities": 3, "version": 4, "constraints": 5}),
    (pb.Capabilities.Constraints, {"minVersion": 1, "PerCapability": 2}),
    (pb.Capabilities.CapabilityConstraints, {"models": 1}),
    (pb.Capabilities.CapabilityConstraints.ModelConstraint,
     {"warm": 1, "capacity": 2, "runnerVersion": 3, "capacityInUse": 4}),
    (pb.OSInfo, {"storageType": 1, "s3info": 16}),
    (pb.S3OSInfo, {"host": 1, "key": 2, "policy": 3, "signature": 4, "credential": 5, "xAmzDate": 6}),
    (pb.HardwareInformation, {"pipeline": 1, "model_id": 2, "gpu_info": 3}),
    (pb.GPUComputeInfo, {"id": 1, "name": 2, "major": 4, "minor": 5, "memory_free": 6, "memory_total": 7}),
    (pb.VideoProfile, {"name": 16, "width": 17, "height": 18, "bitrate": 19, "fps": 20, "format": 21,
                       "fpsDen": 22, "profile": 23, "gop": 24, "encoder": 25, "colorDepth": 26,
                       "chromaFormat": 27, "quality": 28}),
    (pb.PingPong, {"value": 1}),
    (pb.EndTranscodingSessionRequest, {"auth_token": 1}),
    (pb.EndTranscodingSessionResponse, {}),
]


@pytest.mark.parametrize("msg,fields", FIELDS, ids=[m.DESCRIPTOR.full_name for m, _ in FIELDS])
def test_field_numbers(msg, fields):
    d = msg.DESCRIPTOR
    assert d.full_name.startswith("net.")
    assert {f.name: f.number for f in d.fields} == fields


def test_enums_and_service():
    assert dict(pb.OSInfo.StorageType.items()) == {"DIRECT": 0, "S3": 1, "GOOGLE": 2}
    assert dict(pb.VideoProfile.Format.items()) == {"MPEGTS": 0, "MP4": 1}
    assert pb.VideoProfile.H264_CONSTRAINED_HIGH == 4 and pb.VideoProfile.VP9 == 3
    assert pb.VideoProfile.CHROMA_444 == 2
    svc = pb.DESCRIPTOR.services_by_name["Orchestrator"]
    assert svc.full_name == "net.Orchestrator"
    assert {m.name: (m.input_type.full_name, m.output_type.full_name) for m in svc.methods} == {
        "GetOrchestrator": ("net.OrchestratorRequest", "net.OrchestratorInfo"),
        "EndTranscodingSession": ("net.EndTranscodingSessionRequest", "net.EndTranscodingSessionResponse"),
        "Ping": ("net.PingPong", "net.PingPong"),
    }


def test_coexists_with_the_sdk_in_this_process():
    from livepeer_gateway import lp_rpc_pb2 as sdk

    ours = pb.Payment(sender=b"\x01" * 20, expected_price=pb.PriceInfo(pricePerUnit=3, pixelsPerUnit=1))
    theirs = sdk.Payment.FromString(ours.SerializeToString())
    assert theirs.sender == b"\x01" * 20 and theirs.expected_price.pricePerUnit == 3
    assert pb.Payment.FromString(theirs.SerializeToString()) == ours


@pytest.mark.parametrize("order", ["sdk-first", "ours-first"])
def test_coexists_with_the_sdk_in_either_import_order(order):
    imports = ["from livepeer_gateway import lp_rpc_pb2 as sdk",
               "from sim.wire import lp_rpc_pb2 as pb, lp_rpc_pb2_grpc"]
    if order == "ours-first":
        imports.reverse()
    code = "\n".join(imports + ["assert sdk.PingPong(value=b'a').value == pb.PingPong(value=b'a').value",
                                "print('ok')"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_generated_grpc_stubs_work_over_loopback():
    """A real gRPC round trip through the generated stub/servicer (private descriptor pool included)."""
    from concurrent import futures

    import grpc

    from sim.wire import lp_rpc_pb2_grpc as g

    class Orch(g.OrchestratorServicer):
        def Ping(self, request, context):
            return pb.PingPong(value=request.value[::-1])

        def GetOrchestrator(self, request, context):
            return pb.OrchestratorInfo(transcoder="https://o", address=request.address)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    g.add_OrchestratorServicer_to_server(Orch(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = g.OrchestratorStub(ch)
            assert stub.Ping(pb.PingPong(value=b"abc"), timeout=10).value == b"cba"
            info = stub.GetOrchestrator(pb.OrchestratorRequest(address=b"\x01" * 20), timeout=10)
            assert info.transcoder == "https://o" and info.address == b"\x01" * 20
            with pytest.raises(grpc.RpcError) as ei:  # not implemented by this servicer
                stub.EndTranscodingSession(pb.EndTranscodingSessionRequest(), timeout=10)
            assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(0).wait()
