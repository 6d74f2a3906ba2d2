"""Run the fake orchestrator: Hypercorn on one port (TLS with ALPN h2 + http/1.1, or cleartext h2c + HTTP/1.1
for an ``http://`` service address), a block poll that refreshes the chain view and drives redemptions.

In-process use (tests, ``lpdev up``)::

    async with OrchestratorServer(chain, eth_key=key, data_dir=d, orch_secret="abcdef", http_port=0,
                                  live_runner_config="runners.json") as o:
        o.url        # "https://127.0.0.1:<port>" (gRPC + HTTP, TLS)
        o.http_url   # "http://127.0.0.1:<port>"  (the plain-HTTP entry: HTTP routes, Live Runners, trickle)
        o.orch       # the protocol core (sim.orchestrator.node.Orchestrator)
        o.runners    # the Live Runner routes (sim.orchestrator.live_runner; .registry holds the runners)
        o.app.mount("/ai/trickle/", trickle_app)

The plain-HTTP entry (``http_port``, 0 = a free port) serves the same app in cleartext HTTP/1.1 on a second port of
the same host, for clients that cannot take a self-signed certificate (the SDK's Live Runner examples default to
``http://localhost:8935``; aiohttp WebSockets verify TLS); gRPC stays on the TLS port. It runs on aiohttp's server
(:mod:`sim.orchestrator.aiohttp_asgi`), twice Hypercorn's request rate, for the Live Runner proxy.

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
from sim.orchestrator import aiohttp_asgi, live_runner, lv2v
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
                 faults: dict | None = None, limits: ServerLimits | None = None, http_port: int | None = None,
                 orch_secret: str | None = None, live_runner_config=None, live_runner_addr: str | None = None,
                 runner_config: live_runner.LiveRunnerConfig | None = None, **config) -> None:
        """``block_poll_s=None``: no wall-clock chain poll; the caller drives :meth:`refresh` / :meth:`redeem_now`
        (deterministic scenarios). ``secret``: the HMAC secret for recipientRand and auth tokens (default: 32
        random bytes per process, like go-livepeer; a seeded stack passes one so wins and losses replay).
        ``limits``: header/body/idle timeouts and the connection cap (:class:`sim.serving.ServerLimits`).

        Live Runners (go-livepeer's flags): ``orch_secret`` (-orchSecret: dynamic registration; None = off),
        ``live_runner_config`` (-liveRunnerConfig: a runners.json path, bytes or dict), ``live_runner_addr``
        (-liveRunnerAddr); ``runner_config`` (a :class:`~sim.orchestrator.live_runner.LiveRunnerConfig`) for the
        other knobs (intervals, offchain, free runners). ``http_port``: also serve cleartext HTTP on this port
        (0 = free) of the same host."""
        self.scheme, self.host, self.port = parse_service_addr(service_addr)
        self.http_port = http_port
        self.http_url: str | None = None
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
        self.lv2v = lv2v.attach(self)  # /live-video-to-video + trickle (sim.orchestrator.lv2v)
        rc = runner_config or live_runner.LiveRunnerConfig()
        if orch_secret is not None:
            rc.orch_secret = orch_secret
        if live_runner_config is not None:
            rc.static_config = live_runner_config
        if live_runner_addr is not None:
            rc.live_runner_addr = live_runner_addr
        self.runners = live_runner.attach(self, rc, hub=lambda: self.lv2v.hub)  # sim.orchestrator.live_runner
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._http_entry = None  # the aiohttp runner serving the plain-HTTP entry
        self._redeem_lock = asyncio.Lock()
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "OrchestratorServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
            sock.bind((self.host, port))
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    async def start(self) -> None:
        """Bind both ports, start the Live Runners and the plain-HTTP entry, read the chain, then serve. A failure on
        the way (a port in use, a bad runners.json, the chain unreachable) releases what was already started: the
        listeners are closed, so a retry (or the next stack) can bind them."""
        sock = hsock = None
        try:
            sock = self._listen(self.port)
            self.port = sock.getsockname()[1]
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.url = f"{self.scheme}://{host}:{self.port}"
            self.config.service_uri = self.url
            if self.scheme == "https":
                self.cert = tls.load_or_make(self.data_dir, self.host, keep=self.keep_cert)
                self.ssl_ctx = tls.server_context(self.cert)
            if self.http_port is not None:
                hsock = self._listen(self.http_port)
                self.http_url = f"http://{host}:{hsock.getsockname()[1]}"
                self.runners.http_url = self.http_url
            await self.runners.start()  # static runners (runners.json), expiry sweep, health polling
            if hsock is not None:  # the plain-HTTP entry: HTTP/1.1 on aiohttp (sim.orchestrator.aiohttp_asgi)
                self._http_entry = await aiohttp_asgi.serve(self.app, hsock, limits=self.limits)
            await asyncio.to_thread(self.orch.on_chain)
            await asyncio.to_thread(self.redeemer.recover)
        except BaseException:
            await self._abandon_start(sock, hsock)
            raise
        self._tasks.append(asyncio.create_task(
            serve(self.app, [sock], ssl_context=self.ssl_ctx, limits=self.limits, shutdown_trigger=self._stop.wait,
                  errorlog=log)))
        if self.block_poll_s is not None:
            self._tasks.append(asyncio.create_task(self._poll()))
        self.orch.emit("orch.started", url=self.url, address=self.orch.address, data_dir=str(self.data_dir),
                       tls=self.ssl_ctx is not None, http_url=self.http_url,
                       cert_sha256=self.cert.fingerprint_sha256 if self.cert else None)
        await asyncio.sleep(0)

    async def _abandon_start(self, *socks: socket.socket | None) -> None:
        """Undo a start that failed half-way: the plain-HTTP entry, the Live Runners' tasks, both listeners."""
        try:
            if self._http_entry is not None:
                await self._http_entry.cleanup()
                self._http_entry = None
            await self.runners.aclose()
        finally:
            for s in socks:
                if s is not None:
                    s.close()

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
        if self._http_entry is not None:
            await self._http_entry.cleanup()
            self._http_entry = None
        await self.runners.aclose()
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
