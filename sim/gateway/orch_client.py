"""Orchestrator client: ``GetOrchestrator`` over gRPC and ``POST {transcoder}/payment`` (docs/orchestrator.md).

TLS like the livepeer-gateway SDK (docs/wire.md#transport): trust on first use — fetch the server's self-signed
certificate with a plain TLS handshake, pin it as the only root, and override the authority with the name the
certificate was issued for. An ``http://`` service address means cleartext gRPC (go-livepeer does the same for
an ``http`` transcoder URI). HTTP calls never verify certificates (go-livepeer's ``InsecureSkipVerify``).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import grpc
from google.protobuf.message import DecodeError

from sim.tofu import channel_options, fetch_cert_pem
from sim.wire import bounded
from sim.wire import lp_rpc_pb2 as pb
from sim.wire import lp_rpc_pb2_grpc as pb_grpc

__all__ = ["OrchestratorClient", "PaymentReply", "GetOrchestratorError", "BadPaymentAnswer", "split_service_uri"]


PAYMENT_ANSWER_BYTES = 1 << 20  # a PaymentResult carries one OrchestratorInfo (a few KiB)


class GetOrchestratorError(Exception):
    """The RPC failed; ``str(e)`` is the orchestrator's error text (gRPC status details)."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class BadPaymentAnswer(ValueError):
    """A 200 from ``/payment`` whose body is not a PaymentResult (or is larger than lpdev reads): go-livepeer's
    gateway fails that payment (``proto.Unmarshal`` error). ``str(e)`` says what was wrong."""


@dataclass
class PaymentReply:
    """``/payment``: 200 carries a PaymentResult (``info`` = refreshed OrchestratorInfo); errors are text."""

    status: int
    info: pb.OrchestratorInfo | None = None
    message: str = ""


def split_service_uri(uri: str) -> tuple[str, str, int]:
    """``https://host:port`` -> (scheme, host, port); no scheme means https (SDK rule)."""
    if "://" not in uri:
        uri = "https://" + uri
    u = urlsplit(uri)
    return u.scheme, u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)


class OrchestratorClient:
    """One orchestrator at ``service_uri``; keeps one gRPC channel (reopened if the certificate changes)."""

    def __init__(self, service_uri: str, *, http: aiohttp.ClientSession | None = None,
                 timeout_s: float = 10.0) -> None:
        self.service_uri = service_uri.rstrip("/")
        self.scheme, self.host, self.port = split_service_uri(self.service_uri)
        self.timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._pinned: str | None = None
        self._http = http
        self._own_http = http is None

    async def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        return self._http

    async def _open_channel(self, repin: bool = False) -> grpc.aio.Channel:
        if self._channel is not None and not repin:
            return self._channel
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        target = f"{self.host}:{self.port}"
        if self.scheme == "http":
            self._channel = grpc.aio.insecure_channel(target)
        else:
            pem = await asyncio.to_thread(fetch_cert_pem, self.host, self.port, self.timeout_s)
            self._pinned = pem
            creds = grpc.ssl_channel_credentials(root_certificates=pem.encode())
            self._channel = grpc.aio.secure_channel(target, creds, options=channel_options(pem, self.host))
        return self._channel

    async def get_orchestrator(self, address: bytes, sig: bytes, *, ignore_capacity_check: bool = False,
                               capabilities: pb.Capabilities | None = None) -> pb.OrchestratorInfo:
        req = pb.OrchestratorRequest(address=address, sig=sig, ignoreCapacityCheck=ignore_capacity_check)
        if capabilities is not None:
            req.capabilities.CopyFrom(capabilities)
        for attempt in (0, 1):
            ch = await self._open_channel(repin=attempt == 1)
            stub = pb_grpc.OrchestratorStub(ch)
            try:
                return await stub.GetOrchestrator(req, timeout=self.timeout_s)
            except grpc.aio.AioRpcError as exc:
                # A restarted orchestrator has a fresh self-signed cert: evict the pin and retry once (SDK rule).
                if attempt == 0 and exc.code() == grpc.StatusCode.UNAVAILABLE:
                    continue
                raise GetOrchestratorError(exc.code().name, exc.details() or "") from None
        raise AssertionError("unreachable")

    async def payment(self, transcoder: str, payment_b64: str, seg_b64: str) -> PaymentReply:
        """``POST {transcoder}/payment`` with ``Livepeer-Payment`` / ``Livepeer-Segment``
        (docs/orchestrator.md#the-payment-endpoint). A 200 whose body is not a PaymentResult raises
        :class:`BadPaymentAnswer`."""
        http = await self._http_session()
        url = (transcoder or self.service_uri).rstrip("/") + "/payment"
        headers = {"Livepeer-Payment": payment_b64, "Livepeer-Segment": seg_b64}
        async with http.post(url, headers=headers, data=b"",
                             timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as r:
            raw = await bounded.read_reply(r, PAYMENT_ANSWER_BYTES)  # the orchestrator is untrusted: bounded
            status = r.status
        if status != 200:
            return PaymentReply(status, message=raw[:4096].decode("utf-8", "replace").strip())
        if len(raw) > PAYMENT_ANSWER_BYTES:
            raise BadPaymentAnswer(f"/payment answer larger than {PAYMENT_ANSWER_BYTES} bytes")
        res = pb.PaymentResult()
        try:
            res.ParseFromString(raw)
        except DecodeError as exc:
            raise BadPaymentAnswer(f"/payment answer is not a PaymentResult: {exc}") from None
        return PaymentReply(200, info=res.info if res.HasField("info") else None)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
