"""Run the fake orchestrator: Hypercorn on one port (TLS with ALPN h2 + http/1.1, or cleartext h2c + HTTP/1.1
for an ``http://`` service address), a block poll that refreshes the chain view and drives redemptions.

In-process use (tests, ``lpdev up``)::

    async with OrchestratorServer(chain, eth_key=key, data_dir=d) as o:
        o.url        # "https://127.0.0.1:<port>"
        o.orch       # the protocol core (sim.orchestrator.node.Orchestrator)
        o.app.mount("/ai/trickle/", trickle_app)

The certificate is regenerated on every start (like go-livepeer, the SDK's trust-on-first-use copes), or kept
in ``data_dir`` with ``keep_cert=True``.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from sim import tls
from sim.orchestrator import lv2v
from sim.orchestrator.app import OrchestratorApp
from sim.orchestrator.node import Orchestrator, OrchestratorConfig
from sim.orchestrator.redeemer import Redeemer
from sim.serving import ServerLimits, serve

__all__ = ["OrchestratorServer", "parse_service_addr"]

log = logging.getLogger("lpdev.orchestrator")


def parse_service_addr(addr: str) -> tuple[str, str, int]:
    """``https://host:port`` / ``http://host:port`` / ``host:port`` (https) → (scheme, host, port)."""
    url = addr if "://" in addr else f"https://{addr}"
    u = urlparse(url)
    if u.scheme not in ("http", "https"):
        raise ValueError(f"service address {addr!r}: scheme must be http or https")
    if not u.hostname:
        raise ValueError(f"service address {addr!r}: missing host")
    if u.path not in ("", "/"):
        raise ValueError(f"service address {addr!r}: must not have a path")
    try:
        port = u.port if u.port is not None else 8935
    except ValueError:
        raise ValueError(f"service address {addr!r}: bad port") from None
    return u.scheme, u.hostname, port


class OrchestratorServer:
    def __init__(self, chain, *, eth_key: bytes, data_dir: str | Path | None = None,
                 service_addr: str = "https://127.0.0.1:0", keep_cert: bool = False,
                 block_poll_s: float | None = 1.0, bus=None, clock=None, rng=None, secret: bytes | None = None,
                 faults: dict | None = None, limits: ServerLimits | None = None, **config) -> None:
        """``block_poll_s=None``: no wall-clock chain poll; the caller drives :meth:`refresh` / :meth:`redeem_now`
        (deterministic scenarios). ``secret``: the HMAC secret for recipientRand and auth tokens (default: 32
        random bytes per process, like go-livepeer; a seeded stack passes one so wins and losses replay).
        ``limits``: header/body/idle timeouts and the connection cap (:class:`sim.serving.ServerLimits`)."""
        self.scheme, self.host, self.port = parse_service_addr(service_addr)
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lpdev-orch-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.keep_cert = keep_cert
        self.block_poll_s = block_poll_s
        self.limits = limits or ServerLimits()
        self.config = OrchestratorConfig(eth_key=bytes(eth_key), data_dir=self.data_dir, **config)
        self.orch = Orchestrator(self.config, chain, bus=bus, clock=clock, rng=rng, secret=secret)
        if faults:
            self.orch.faults.update(faults)
        self.redeemer = Redeemer(self.orch)
        self.ssl_ctx = None
        self.cert: tls.CertPair | None = None
        self.app = OrchestratorApp(self.orch, on_rotate_certificate=self.rotate_certificate if self.scheme == "https"
                                   else None, on_redeem=self.redeem_now)
        self.lv2v = lv2v.attach(self)  # /live-video-to-video + noop Live Runner + trickle (sim.orchestrator.lv2v)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._redeem_lock = asyncio.Lock()
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "OrchestratorServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{self.scheme}://{host}:{self.port}"
        self.config.service_uri = self.url
        if self.scheme == "https":
            self.cert = tls.load_or_make(self.data_dir, self.host, keep=self.keep_cert)
            self.ssl_ctx = tls.server_context(self.cert)
        await asyncio.to_thread(self.orch.on_chain)
        await asyncio.to_thread(self.redeemer.recover)
        self._tasks.append(asyncio.create_task(
            serve(self.app, [sock], ssl_context=self.ssl_ctx, limits=self.limits, shutdown_trigger=self._stop.wait,
                  errorlog=log)))
        if self.block_poll_s is not None:
            self._tasks.append(asyncio.create_task(self._poll()))
        self.orch.emit("orch.started", url=self.url, address=self.orch.address, data_dir=str(self.data_dir),
                       tls=self.ssl_ctx is not None,
                       cert_sha256=self.cert.fingerprint_sha256 if self.cert else None)
        await asyncio.sleep(0)

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            if t.get_coro().__name__ == "_poll":
                t.cancel()
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, 5)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                pass
            except Exception as exc:  # pragma: no cover - logged, shutdown continues
                log.warning("orchestrator task ended with %r", exc)
        self._tasks.clear()
        await self.lv2v.aclose()
        self.orch.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def serve_forever(self) -> None:
        await self._stop.wait()

    # ------------------------------------------------------------------ chain + redemption
    async def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.orch.on_chain)
                await self.redeem_now()
                self.orch.cleanup()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.orch.watch.last_error = str(exc)
                log.warning("chain poll failed: %s", exc)
            try:
                await asyncio.wait_for(self._stop.wait(), self.block_poll_s)
            except asyncio.TimeoutError:
                pass

    async def redeem_now(self) -> dict:
        """Refresh the chain view and run one redemption pass (the admin ``POST /admin/redeem``)."""
        async with self._redeem_lock:
            await asyncio.to_thread(self.orch.on_chain)
            return await asyncio.to_thread(self.redeemer.run_once)

    async def refresh(self) -> None:
        await asyncio.to_thread(self.orch.on_chain)

    # ------------------------------------------------------------------ TLS
    def rotate_certificate(self) -> dict:
        """Replace the certificate in the live SSL context: new connections see the new one."""
        if self.ssl_ctx is None:
            raise RuntimeError("no TLS on an http:// service address")
        self.cert = tls.make_self_signed(self.host)
        with tempfile.TemporaryDirectory() as d:
            c, k = self.cert.write(Path(d))
            self.ssl_ctx.load_cert_chain(str(c), str(k))
        if self.keep_cert:
            self.cert.write(self.data_dir)
        self.orch.emit("orch.cert_rotated", cert_sha256=self.cert.fingerprint_sha256)
        return {"sha256": self.cert.fingerprint_sha256}
