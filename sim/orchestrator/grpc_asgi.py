"""Unary gRPC over ASGI (HTTP/2), so gRPC and HTTP share one port (docs/wire.md#transport).

A gRPC unary call is an HTTP/2 POST to ``/<package>.<Service>/<Method>`` whose body is one message framed as
``flag(1) ‖ length(4, big-endian) ‖ protobuf``; the reply is ``200``, ``content-type: application/grpc``, one
framed message, then trailers ``grpc-status`` / ``grpc-message`` (sent with the ASGI
``http.response.trailers`` extension, which Hypercorn implements for HTTP/2).
"""
from __future__ import annotations

import struct
from typing import Awaitable, Callable
from urllib.parse import quote

from google.protobuf.message import DecodeError, Message

from sim.serving import BodyTimeout, read_body

__all__ = ["GrpcMethod", "serve_unary", "frame", "unframe", "GrpcStatus", "OK", "UNKNOWN", "INTERNAL",
           "UNIMPLEMENTED"]

OK, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNIMPLEMENTED = 0, 2, 4, 8, 13, 12
MAX_MESSAGE = 4 * 1024 * 1024  # grpc-go's default max receive size


class GrpcStatus(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


GrpcMethod = tuple[type[Message], Callable[[Message], Awaitable[Message]]]


def frame(msg: bytes) -> bytes:
    return struct.pack(">BI", 0, len(msg)) + msg


def unframe(body: bytes) -> bytes:
    """The single message of a unary request; raises :class:`GrpcStatus` for a malformed frame."""
    if len(body) < 5:
        raise GrpcStatus(INTERNAL, "grpc: received message is shorter than the 5-byte frame header")
    flag, n = struct.unpack(">BI", body[:5])
    if flag != 0:
        raise GrpcStatus(INTERNAL, "grpc: compressed messages are not supported (no grpc-encoding)")
    if n > MAX_MESSAGE:
        raise GrpcStatus(RESOURCE_EXHAUSTED, f"grpc: received message larger than max ({n} vs. {MAX_MESSAGE})")
    if len(body) != 5 + n:
        raise GrpcStatus(INTERNAL, f"grpc: frame says {n} bytes, body has {len(body) - 5}")
    return body[5:]


def _grpc_message(text: str) -> bytes:
    """Percent-encode as the gRPC spec requires (printable ASCII except '%' stays)."""
    return quote(text, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~").encode("ascii")


async def _read_body(receive, limit: int) -> bytes:
    """The request body (the server's body timeout applies: a stalled client gets DEADLINE_EXCEEDED)."""
    try:
        body = await read_body(receive, limit + 5)
    except BodyTimeout as exc:
        raise GrpcStatus(DEADLINE_EXCEEDED, f"grpc: {exc}") from None
    if body is None:
        raise GrpcStatus(RESOURCE_EXHAUSTED, f"grpc: received message larger than max (> {limit} bytes)")
    return body


async def serve_unary(scope, receive, send, methods: dict[str, GrpcMethod]) -> None:
    """Answer one unary call. Errors become trailers; the HTTP status is always 200 (gRPC's rule)."""
    payload = b""
    code, message = OK, ""
    try:
        body = await _read_body(receive, MAX_MESSAGE)
        method = methods.get(scope["path"])
        if method is None:
            raise GrpcStatus(UNIMPLEMENTED, f"unknown method {scope['path']}")
        req_cls, handler = method
        req = req_cls()
        try:
            req.ParseFromString(unframe(body))
        except DecodeError as exc:
            raise GrpcStatus(INTERNAL, f"grpc: error unmarshalling request: {exc}") from None
        resp = await handler(req)
        payload = frame(resp.SerializeToString())
    except GrpcStatus as exc:
        code, message = exc.code, str(exc)
    except ConnectionError:
        return
    await send({"type": "http.response.start", "status": 200, "trailers": True,
                "headers": [(b"content-type", b"application/grpc")]})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
    trailers = [(b"grpc-status", str(code).encode())]
    if message:
        trailers.append((b"grpc-message", _grpc_message(message)))
    await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})
