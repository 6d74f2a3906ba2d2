"""A minimal client of the orchestrator for tests, the benchmark and manual poking.

Not a gateway (that is ``sim/gateway``): it signs tickets locally with a sender key, the way the remote signer
would, and talks to one orchestrator: GetOrchestrator over gRPC with trust-on-first-use TLS (as the
livepeer-gateway SDK does: fetch the certificate, pin it as the root, override the authority), ``/payment``
over HTTP/1.1 or HTTP/2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

import grpc

from sim.pm.crypto import private_key_to_address
from sim.tofu import fetch_cert_pem, secure_channel
from sim.pm.sender import SignedTicket, create_ticket_batch
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire import lp_rpc_pb2_grpc as pbg
from sim.wire.gojson import b64encode

__all__ = ["tofu_cert", "grpc_channel", "get_orchestrator", "Payer"]


def tofu_cert(host: str, port: int) -> bytes:
    """The server's certificate as PEM, fetched without verification (trust on first use)."""
    return fetch_cert_pem(host, port).encode()


def grpc_channel(url: str) -> grpc.Channel:
    """A channel to the orchestrator at ``url``: TLS with the pinned certificate for https, h2c for http."""
    u = urlparse(url if "://" in url else f"https://{url}")
    if u.scheme == "http":
        return grpc.insecure_channel(f"{u.hostname}:{u.port}")
    return secure_channel(u.hostname, u.port)[0]


def get_orchestrator(url: str, req: pb.OrchestratorRequest, timeout: float = 5.0) -> pb.OrchestratorInfo:
    ch = grpc_channel(url)
    try:
        return pbg.OrchestratorStub(ch).GetOrchestrator(req, timeout=timeout)
    finally:
        ch.close()


@dataclass
class Payer:
    """Signs tickets against the latest OrchestratorInfo, like a sender with its own nonce counter."""

    key: bytes
    manifest_id: str = "lpdev-manifest"
    info: pb.OrchestratorInfo | None = None
    nonce: int = 0
    sent: list[SignedTicket] = field(default_factory=list)

    @property
    def address(self) -> bytes:
        return private_key_to_address(self.key)

    def request(self, capabilities: pb.Capabilities | None = None) -> pb.OrchestratorRequest:
        return codec.build_orch_request(self.key, capabilities, ignore_capacity_check=True)

    def use(self, info: pb.OrchestratorInfo) -> None:
        """Adopt new params (nonces restart: a new recipientRandHash is a new session, docs/tickets.md#nonces)."""
        self.info = info
        self.nonce = 0

    def params(self):
        return codec.ticket_params_from_pb(self.info.ticket_params, codec.price_info(self.info.price_info))

    def tickets(self, n: int) -> list[SignedTicket]:
        params = self.params()
        out = create_ticket_batch(self.key, self.address, params, range(self.nonce + 1, self.nonce + n + 1))
        self.nonce += n
        return out

    def payment(self, tickets: list[SignedTicket]) -> pb.Payment:
        return codec.build_payment(self.params(), self.address, tickets, self.info.price_info)

    def segment(self, manifest_id: str | None = None, auth_token: pb.AuthToken | None = None) -> pb.SegData:
        return codec.build_segcreds(self.key, manifest_id or self.manifest_id,
                                    self.info.auth_token if auth_token is None else auth_token)

    def headers(self, n: int = 2) -> dict[str, str]:
        """``Livepeer-Payment`` / ``Livepeer-Segment`` for ``n`` fresh tickets."""
        ts = self.tickets(n)
        self.sent.extend(ts)
        return {"Livepeer-Payment": b64encode(self.payment(ts).SerializeToString()),
                "Livepeer-Segment": b64encode(self.segment().SerializeToString())}
