"""A runner's side of the Live Runner heartbeat protocol (go-livepeer ``doc/live-runner.md`` "Dynamic runner
protocol"), as the livepeer-gateway SDK's ``LiveRunnerRegistration`` speaks it, in lpdev's own code:

1. ``POST {orchestrator}/runners/heartbeat`` with ``Authorization: <orch secret>``: the answer gives the
   ``runner_id``, the runner-facing ``orchestrator`` URL (used from then on), ``heartbeat_interval`` /
   ``heartbeat_ttl`` (Go durations), the ``heartbeat_secret`` and the O2R channel;
2. a heartbeat every interval with ``Authorization: <heartbeat_secret>``; a **401** means the orchestrator forgot
   the runner (it expired): register again with the bootstrap secret and the same id; other failures are retried
   on the next tick;
3. the O2R channel is read from seq 0: ``{"keep":"alive"}`` and ``reserved`` / ``released`` session events keep
   :attr:`RunnerRegistration.session_ids`, which every heartbeat reports back;
4. :meth:`RunnerRegistration.close` → ``POST /runners/{id}/unregister`` (204).

With ``background=False`` (a stepped scenario stack) nothing runs on wall time: the owner calls :meth:`heartbeat`
when one is due and :meth:`read_o2r` to read what the orchestrator wrote, so every request happens at a known step.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field

import aiohttp

from sim.trickle.client import TrickleError, TrickleSubscriber
from sim.wire import bounded

__all__ = ["RegistrationError", "RunnerRegistration", "parse_go_duration"]

log = logging.getLogger("lpdev.runners")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SCALE = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text, default: float) -> float:
    """Go ``time.Duration`` text ("5s", "1m30s", "500ms") in seconds; ``default`` when it does not parse."""
    if not isinstance(text, str) or not text:
        return default
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return default
    return sum(float(n) * _SCALE[u] for n, u in parts)


class RegistrationError(Exception):
    """The orchestrator refused the registration: ``status`` and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


@dataclass
class RunnerRegistration:
    """Registers ``runner_url`` for ``app`` with the orchestrator at ``orchestrator_url`` and keeps it alive."""

    orchestrator_url: str
    secret: str
    runner_url: str
    app: str
    mode: str = "persistent"
    capacity: int = 1
    price: str | int = 0  # USD per ``unit`` (go registration prices are USD); 0 = free
    unit: str = "hour"
    runner_id: str = ""
    version: str = ""
    metadata: str = ""
    status: str = "ready"
    proxy: bool = False
    timeout_s: float = 5.0
    heartbeat_interval_s: float = 5.0
    heartbeat_ttl_s: float | None = None
    heartbeat_secret: str | None = None
    o2r: dict | None = None
    session_ids: list[str] = field(default_factory=list)
    heartbeats: int = 0
    reregistrations: int = 0
    last_error: str | None = None
    background: bool = True  # False: no heartbeat loop, no O2R reader task (the owner drives both)
    _o2r_seq: int = 0  # the next O2R segment read_o2r reads
    _http: aiohttp.ClientSession | None = field(default=None, repr=False)
    _task: asyncio.Task | None = field(default=None, repr=False)
    _o2r_task: asyncio.Task | None = field(default=None, repr=False)
    _closed: bool = False

    def payload(self) -> dict:
        body: dict = {"runner_url": self.runner_url, "app": self.app, "mode": self.mode, "capacity": self.capacity,
                      "price_info": {"price": self.price, "currency": "usd", "unit": self.unit},
                      "session_ids": list(self.session_ids)}
        if self.runner_id:
            body["runner_id"] = self.runner_id
        for k in ("version", "metadata", "status"):
            if getattr(self, k):
                body[k] = getattr(self, k)
        if self.proxy:
            body["proxy"] = True
        return body

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # the orchestrator's certificate is self-signed; the SDK does not verify it either
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False),
                                               timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._http

    async def _post(self, path: str, auth: str, body: dict | None) -> tuple[int, bytes]:
        url = self.orchestrator_url.rstrip("/") + path
        kwargs = {"json": body} if body is not None else {}
        async with self._session().post(url, headers={"Authorization": auth}, **kwargs) as r:
            try:
                return r.status, await bounded.read_reply(r, what=f"the orchestrator's answer to {path}")
            except bounded.BoundedInputError as exc:
                raise RegistrationError(r.status, str(exc)) from None

    async def start(self) -> "RunnerRegistration":
        """Register now (raises :class:`RegistrationError` if refused), then heartbeat in the background."""
        await self.heartbeat()
        if self.background:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"heartbeat-{self.runner_id}")
        return self

    async def heartbeat(self) -> dict:
        first = self.heartbeat_secret is None
        status, body = await self._post("/runners/heartbeat", self.heartbeat_secret or self.secret, self.payload())
        if status == 401 and not first:  # the orchestrator no longer knows us: register again, same id
            log.info("runner %s: heartbeat 401, registering again", self.runner_id)
            self.heartbeat_secret, first = None, True
            self.reregistrations += 1
            status, body = await self._post("/runners/heartbeat", self.secret, self.payload())
        if status != 200:
            raise RegistrationError(status, body.decode("utf-8", "replace").strip())
        try:
            data = bounded.loads_json(body, what="the orchestrator's heartbeat answer")
        except bounded.BoundedInputError as exc:
            raise RegistrationError(status, str(exc)) from None
        if not isinstance(data, dict) or not isinstance(data.get("runner_id"), str) or \
                (first and not isinstance(data.get("heartbeat_secret"), str)):
            raise RegistrationError(status, "the orchestrator's heartbeat answer has no runner_id/heartbeat_secret")
        self.runner_id = data["runner_id"]
        if data.get("orchestrator"):
            self.orchestrator_url = data["orchestrator"].rstrip("/")
        self.heartbeat_interval_s = parse_go_duration(data.get("heartbeat_interval"), self.heartbeat_interval_s)
        self.heartbeat_ttl_s = parse_go_duration(data.get("heartbeat_ttl"), 0.0) or None
        self.heartbeats += 1
        if first:
            self.heartbeat_secret = data["heartbeat_secret"]
            self.o2r = data.get("o2r")
            self._start_o2r()
        return data

    def pause(self) -> None:
        """Stop the heartbeat loop (a hung runner, for tests and scenarios): the orchestrator expires it after the
        TTL. :meth:`resume` starts it again."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def resume(self) -> None:
        """Start the heartbeat loop again after :meth:`pause` (nothing with ``background=False``)."""
        if self.background and not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"heartbeat-{self.runner_id}")

    async def _loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                await self.heartbeat()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried on the next tick, like the SDK
                self.last_error = str(exc)
                log.warning("runner %s heartbeat failed; retrying next interval: %s", self.runner_id, exc)

    def _start_o2r(self) -> None:
        if self._o2r_task is not None and not self._o2r_task.done():
            self._o2r_task.cancel()
        self._o2r_seq = 0  # a new registration has a new channel
        if not self.o2r or not self.o2r.get("url") or not self.background:
            return
        self._o2r_task = asyncio.get_running_loop().create_task(self._read_o2r(self.o2r["url"]),
                                                                 name=f"o2r-{self.runner_id}")

    async def _read_o2r(self, url: str) -> None:
        async with TrickleSubscriber(url, start_seq=0) as sub:
            while not self._closed:
                try:
                    got = await sub.next()
                except (TrickleError, aiohttp.ClientError, OSError) as exc:
                    log.debug("runner %s O2R read failed: %s", self.runner_id, exc)
                    return
                if got is None:
                    return
                self._on_o2r(got[1])

    def _on_o2r(self, body: bytes) -> None:
        """One O2R document: ``reserved`` / ``released`` keep :attr:`session_ids`; keep-alives and junk are ignored."""
        try:
            msg = bounded.loads_json(body, what="an O2R event")
        except bounded.BoundedInputError:
            return
        if not isinstance(msg, dict):
            return
        sid, event = msg.get("session"), msg.get("event")
        if event == "reserved" and sid and sid not in self.session_ids:
            self.session_ids.append(sid)
        elif event == "released" and sid in self.session_ids:
            self.session_ids.remove(sid)

    async def read_o2r(self) -> int:
        """Read the O2R segments written since the last call (``background=False``): ``GET {channel}/next`` for
        the write position, then each new segment in order. Returns how many were read."""
        if not self.o2r or not self.o2r.get("url"):
            return 0
        url = self.o2r["url"].rstrip("/")
        http = self._session()
        async with http.get(url + "/next") as r:
            if r.status != 200:  # the channel is gone (the runner expired, the orchestrator restarted)
                return 0
            latest = bounded.parse_int((await bounded.read_reply(r, max_bytes=64, what="O2R /next")).decode(
                "ascii", "replace").strip() or "0", what="O2R /next", min=0)
        sub = TrickleSubscriber(url, start_seq=self._o2r_seq, http=http)
        n = 0
        while sub.seq < latest:
            got = await sub.next()
            if got is None:
                break
            self._on_o2r(got[1])
            n += 1
        self._o2r_seq = sub.seq
        return n

    async def close(self, *, unregister: bool = True) -> None:
        self._closed = True
        for t in (self._task, self._o2r_task):
            if t is not None and not t.done():
                t.cancel()
                try:
                    await t
                except BaseException:  # noqa: BLE001
                    pass
        try:
            if unregister and self.heartbeat_secret:
                await self._post(f"/runners/{self.runner_id}/unregister", self.heartbeat_secret, None)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.debug("runner %s unregister failed: %s", self.runner_id, exc)
        finally:
            if self._http is not None:
                await self._http.close()
                self._http = None
