"""Static Live Runners: a ``runners.json`` (go-livepeer ``-liveRunnerConfig``, CLI ``POST /registerLiveRunners``)
and their health polling (``ai/runner/live_runner.go`` ``RegisterStaticRunners`` / ``checkStaticRunnerHealth``).

A batch is validated atomically, in go's order and words (each message prefixed ``runners[i]: ``): ``routing``
(``runner-id`` default, or ``label``), ``health_url`` (absolute, or ``/path`` resolved against ``runner_url``),
``label is required and must be trimmed``, ``health_url is required``, ``invalid health_url``,
``healthy_status_code must be a valid HTTP status code`` (default 200), then the heartbeat rules (runner URL, app,
metadata, mode, capacity, price), a duplicate label, a label containing ``/`` with label routing. Each entry's
health is checked once during registration; a label already registered keeps its runner id and sessions.

Health: ``GET health_url`` every 5 s with a 3 s timeout; healthy iff the status is exactly ``healthy_status_code``.
An unhealthy runner is ``unavailable``: hidden from discovery, refusing sessions, its sessions released. Static
runners never expire and cannot heartbeat or unregister.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import aiohttp

from sim.orchestrator.gourl import parse_url
from sim.orchestrator.runner_registry import LiveRunnerRegistry, Runner, RunnerError, _go_trim, valid_http_url
from sim.orchestrator.runner_wire import MAX_CONFIG, DecodeError, HeartbeatRequest, StaticEntry, decode_static_config
from sim.orchestrator.tasks import cancel_and_wait
from sim.wire import bounded

__all__ = ["HEALTH_INTERVAL_S", "HEALTH_TIMEOUT_S", "StaticRunners", "load_config"]

log = logging.getLogger("lpdev.orchestrator.runners")

HEALTH_INTERVAL_S = 5.0  # defaultLiveRunnerHealthInterval
HEALTH_TIMEOUT_S = 3.0  # defaultLiveRunnerHealthTimeout


def load_config(source: str | Path | bytes | dict) -> bytes:
    """The JSON bytes of a static config given as a path (at most 8 MiB, read through :mod:`sim.wire.bounded`),
    bytes or an already-built dict. ValueError naming the file and the problem."""
    if isinstance(source, dict):
        import json

        return json.dumps(source).encode()
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    try:
        return bounded.read_bytes(source, what=f"live runner config {source}", max_bytes=MAX_CONFIG)
    except bounded.BoundedInputError as exc:
        raise ValueError(str(exc)) from None


def _health_url(runner_url: str, health_url: str) -> str:
    """go ``staticRunnerHealthURL``: a ``/path`` is resolved against ``runner_url``; anything else is kept."""
    u = parse_url(health_url)
    if u is None:
        raise ValueError("invalid health_url")
    if u.scheme or not u.path.startswith("/") or u.host:
        return health_url
    if not valid_http_url(runner_url):
        raise ValueError("invalid runner_url")
    return runner_url.rstrip("/") + health_url


class StaticRunners:
    """Registers static runners into a :class:`LiveRunnerRegistry` and polls their health."""

    def __init__(self, registry: LiveRunnerRegistry, *, interval_s: float = HEALTH_INTERVAL_S,
                 timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        self.registry = registry
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._http

    async def healthy(self, url: str, status: int) -> bool:
        try:
            async with self._session().get(url, allow_redirects=True) as resp:
                return resp.status == status
        except Exception:  # noqa: BLE001 - unreachable, timeout, bad URL: unhealthy
            return False

    # ------------------------------------------------------------------------------------------- registration
    def validate(self, entries: list[StaticEntry]) -> list[tuple[StaticEntry, HeartbeatRequest]]:
        """``normalizeStaticLiveRunnerConfig`` + ``buildStaticRunner`` for the whole batch (RunnerError 400)."""
        normalized = []
        for i, e in enumerate(entries):  # normalizeStaticLiveRunnerConfig: the whole batch first
            routing = _go_trim(e.routing) or "runner-id"
            if routing not in ("runner-id", "label"):
                raise RunnerError(400, f'runners[{i}]: routing must be "runner-id" or "label"')
            e = replace(e, routing=routing, healthy_status_code=e.healthy_status_code or 200)
            try:
                e.health_url = _health_url(e.runner_url, e.health_url)
            except ValueError as exc:
                raise RunnerError(400, f"runners[{i}]: {exc}") from None
            normalized.append(e)
        out = []
        seen: set[str] = set()
        for i, e in enumerate(normalized):
            try:
                req = self._build(e)
            except RunnerError as exc:
                raise RunnerError(400, f"runners[{i}]: {exc.message}") from None
            if e.label in seen:
                raise RunnerError(400, f'runners[{i}]: duplicate label "{e.label}"')
            if e.routing == "label" and "/" in e.label:
                raise RunnerError(400, f'runners[{i}]: label cannot contain / when routing is "label"')
            seen.add(e.label)
            out.append((e, req))
        return out

    def _build(self, e: StaticEntry) -> HeartbeatRequest:
        if not e.label or e.label != _go_trim(e.label):
            raise RunnerError(400, "label is required and must be trimmed")
        if not e.health_url:
            raise RunnerError(400, "health_url is required")
        if not valid_http_url(e.health_url):
            raise RunnerError(400, "invalid health_url")
        if not 100 <= e.healthy_status_code <= 599:
            raise RunnerError(400, "healthy_status_code must be a valid HTTP status code")
        req = HeartbeatRequest(label=e.label, proxy=e.proxy, runner_url=e.runner_url, version=e.version,
                               metadata=e.metadata, mode=e.mode, gpu=e.gpu, app=e.app, capacity=e.capacity,
                               price_info=e.price_info)
        return self.registry.normalize(req, "static")

    async def register_json(self, data: bytes) -> dict:
        """``RegisterStaticRunnersJSON``: the registration response, or RunnerError 400 (nothing registered)."""
        try:
            entries = decode_static_config(data)
        except DecodeError as exc:
            raise RunnerError(400, str(exc)) from None
        return await self.register(entries)

    async def register(self, entries: list[StaticEntry]) -> dict:
        batch = self.validate(entries)
        health = [await self.healthy(e.health_url, e.healthy_status_code) for e, _ in batch]
        reg = self.registry
        async with self._lock:
            existing = {r.req.label: r for r in reg.runners.values() if r.static and not r.removed and r.req.label}
            out = []
            for (e, req), ok in zip(batch, health):
                r = existing.get(e.label)
                new = r is None
                if new:
                    rid = "runner_" + reg._random(5)
                    while rid in reg.runners:
                        rid = "runner_" + reg._random(5)
                    r = Runner(runner_id=rid, route=rid, seed=reg.rng.bytes(32), heartbeat_secret="", static=True,
                               req=req, last_heartbeat=reg.clock.now())
                req = replace(req, runner_id=r.runner_id, status="ready" if ok else "unavailable")
                if not ok:
                    for sid in list(r.sessions):
                        reg.release(r, sid, "runner unhealthy")
                r.req, r.removed = req, False
                r.last_heartbeat = reg.clock.now()
                r.health_url, r.healthy_status = e.health_url, e.healthy_status_code
                route = e.label if e.routing == "label" else r.runner_id
                for key in [k for k, v in reg.runners.items() if v is r and k != route]:
                    del reg.runners[key]
                r.route = route
                reg.runners[route] = r
                if new:
                    reg.emit("runner.registered", runner_id=r.runner_id, app=req.app, mode=req.mode,
                             capacity=req.capacity, runner_url=req.runner_url, price_info=req.price_info.to_json(),
                             static=True, label=e.label, route=route, healthy=ok, health_url=e.health_url)
                item = {"runner_id": r.runner_id}
                if e.label:
                    item["label"] = e.label
                item["app"] = req.app
                if e.proxy:
                    item["proxy"] = True
                item["runner_url"] = req.runner_url
                if req.mode:
                    item["mode"] = req.mode
                item.update(health_url=e.health_url, healthy_status_code=e.healthy_status_code, healthy=ok)
                out.append(item)
        return {"runners": out}

    # ------------------------------------------------------------------------------------------- health loop
    async def check(self) -> None:
        """go ``checkStaticRunnerHealth``: one pass over every static runner."""
        reg = self.registry
        targets = [r for r in list(reg.runners.values()) if r.static and not r.removed]
        results = await asyncio.gather(*(self.healthy(r.health_url, r.healthy_status) for r in targets))
        for r, ok in zip(targets, results):
            if r.removed:
                continue
            before = r.req.status
            r.req.status = "ready" if ok else "unavailable"
            if not ok:
                for sid in list(r.sessions):
                    reg.release(r, sid, "runner unhealthy")
            if r.req.status != before:
                reg.emit("runner.health", runner_id=r.runner_id, label=r.req.label, status=r.req.status,
                         healthy=ok, health_url=r.health_url)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="runner-health")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - the poller never dies
                log.exception("static live runner health check failed")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
