"""HTTP client for the remote signer, as the go-livepeer gateway calls it (docs/remote-signer.md#endpoints).

The request body is exactly what ``server/live_payment.go`` ``RequestPayment`` sends (docs/wire.md#json-the-go-way):
``{"state":{"State":…,"Sig":…},"orchestrator":…,"ManifestID":…,"inPixels":…,"type":…,"capabilities":…}``
plus the optional ``app`` / ``maxPrice`` the SDK adds. Several signer URLs rotate round-robin per request
(stateless signers: the state blob carries everything, docs/remote-signer.md#the-state-blob).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import aiohttp

from sim.wire import bounded
from sim.wire.gojson import b64encode

__all__ = ["SignerReply", "SignerClient", "OrchestratorInfoSig", "error_message"]


@dataclass(frozen=True)
class OrchestratorInfoSig:
    """``/sign-orchestrator-info``: the gateway's identity (``RemoteEthAddr``) and GetOrchestrator sig."""

    address: bytes
    signature: bytes


@dataclass
class SignerReply:
    """One ``/generate-live-payment`` answer. ``body`` is the parsed JSON (or None); ``message`` is the error envelope's
    message — go-livepeer's ``{"error":{"message":…}}`` (docs/remote-signer.md#endpoints) or livepeer-node's flat
    ``{"error":"…"}`` — when present, else the raw text."""

    status: int
    signer: str  # actor name of the signer that answered
    body: dict | None = None
    message: str = ""
    headers: dict = field(default_factory=dict)

    @property
    def payment(self) -> str:
        return (self.body or {}).get("payment", "")

    @property
    def seg_creds(self) -> str:
        return (self.body or {}).get("segCreds", "")

    @property
    def state(self) -> dict | None:
        return (self.body or {}).get("state")


def error_message(doc, raw: bytes) -> str:
    """The message of a signer's error reply: ``error.message`` (go-livepeer), ``error`` (livepeer-node's flat
    envelope), else the raw text."""
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return err["message"]
    if isinstance(err, str):
        return err
    return raw[:4096].decode("utf-8", "replace").strip()


def _hex(s: str) -> bytes:
    s = s.strip()
    if s.startswith("0x"):
        s = s[2:]
    return bytes.fromhex(s)


class SignerClient:
    """``urls`` and ``names`` are parallel: names appear in events, URLs never do (they vary per run)."""

    def __init__(self, urls: list[str], names: list[str] | None = None, *, headers: dict | None = None,
                 http: aiohttp.ClientSession | None = None, timeout_s: float = 60.0) -> None:
        if not urls:
            raise ValueError("a gateway needs at least one signer URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.names = list(names) if names else [f"signer{i}" if i else "signer" for i in range(len(urls))]
        self.headers = dict(headers or {})
        self._http = http
        self._own_http = http is None
        self._next = 0
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        return self._http

    async def close(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _pick(self) -> int:
        i = self._next % len(self.urls)
        self._next += 1
        return i

    async def sign_orchestrator_info(self) -> OrchestratorInfoSig:
        """``/sign-orchestrator-info`` (docs/remote-signer.md#endpoints). Go's ``GetOrchInfoSig``: non-200 -> ``remote
        signer returned status <code>: <body>``."""
        http = await self._session()
        i = self._pick()
        async with http.post(self.urls[i] + "/sign-orchestrator-info", data=b"{}", timeout=self.timeout,
                             headers={"Content-Type": "application/json", **self.headers}) as r:
            raw = await bounded.read_reply(r)  # a signer is another service: untrusted
            if r.status != 200:
                raise RuntimeError(f"remote signer returned status {r.status}: "
                                   f"{raw[:4096].decode('utf-8', 'replace').strip()}")
        doc = bounded.loads_json(raw, what="/sign-orchestrator-info answer")
        try:
            return OrchestratorInfoSig(_hex(doc["address"]), _hex(doc["signature"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise bounded.BoundedInputError("/sign-orchestrator-info answer",
                                            "want {\"address\": hex, \"signature\": hex}") from None

    async def generate_live_payment(self, *, orchestrator: bytes, state: dict | None, manifest_id: str | None,
                                    job_type: str, in_pixels: int = 0, app: str = "",
                                    max_price: dict | None = None, capabilities: bytes | None = None,
                                    extra_headers: dict | None = None, signer_index: int | None = None
                                    ) -> SignerReply:
        """``/generate-live-payment``. ``manifest_id=None`` omits nothing (Go always sends the key; empty string when
        unknown)."""
        body: dict = {
            "state": state if state is not None else {"State": None, "Sig": None},
            "orchestrator": b64encode(orchestrator),
            "ManifestID": manifest_id or "",
            "inPixels": int(in_pixels),
            "type": job_type,
            "capabilities": b64encode(capabilities) if capabilities else None,
        }
        if app:
            body["app"] = app
        if max_price is not None:
            body["maxPrice"] = max_price
        i = self._pick() if signer_index is None else signer_index % len(self.urls)
        http = await self._session()
        headers = {"Content-Type": "application/json", **self.headers, **(extra_headers or {})}
        async with http.post(self.urls[i] + "/generate-live-payment", data=json.dumps(body).encode(),
                             headers=headers, timeout=self.timeout) as r:
            raw = await bounded.read_reply(r)  # a signer is another service: untrusted
            reply = SignerReply(r.status, self.names[i], headers={k: v for k, v in r.headers.items()})
        try:
            doc = bounded.loads_json(raw, what="/generate-live-payment answer")
        except ValueError:
            doc = None
        if reply.status == 200 and isinstance(doc, dict):
            reply.body = doc
        else:
            reply.message = error_message(doc, raw)
        return reply
