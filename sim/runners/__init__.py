"""lpdev's built-in dev Live Runners: small aiohttp apps that register with an orchestrator over heartbeats
exactly as an SDK runner does (:mod:`sim.runners.registration`), so a stack has runners to discover, reserve, pay
and proxy to before its user has written one (:mod:`sim.runners.apps` describes each kind).

    runner = await start_dev_runner("echo", "https://127.0.0.1:8935", "abcdef")            # free
    runner = await start_dev_runner("noop", orch.http_url, "abcdef", price="0.36")           # USD per hour
    runner.url, runner.runner_id, runner.registration.session_ids
    await runner.aclose()                                                                   # unregisters

    served = await serve_dev_runner("noop")      # serving only, for a static runner (runners.json): no registration
    served.set_healthy(False)                    # its GET /healthz answers 503 from now on

``price`` is USD per ``unit`` (``hour``, ``720p`` or ``fixed``), as go-livepeer registrations are priced; the
orchestrator converts it to wei through its chain's ETH/USD feed. ``price=0`` is a free runner.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sim.runners.apps import KINDS, make_app, set_healthy
from sim.runners.registration import RegistrationError, RunnerRegistration

__all__ = ["DevRunner", "KINDS", "RegistrationError", "RunnerRegistration", "serve_dev_runner", "start_dev_runner",
           "parse_runner_spec"]


@dataclass
class DevRunner:
    kind: str
    url: str
    registration: RunnerRegistration | None  # None: served only (a static runner)
    _runner: web.AppRunner

    @property
    def runner_id(self) -> str:
        return self.registration.runner_id if self.registration is not None else ""

    @property
    def app(self) -> web.Application:
        return self._runner.app

    def set_healthy(self, ok: bool) -> None:
        """What ``GET /healthz`` answers from now on: 200 or 503 (a static runner's health check reads it)."""
        set_healthy(self.app, ok)

    async def aclose(self, *, unregister: bool = True) -> None:
        """Stop heartbeating (and unregister unless ``unregister=False``, which lets it expire), then stop serving."""
        try:
            if self.registration is not None:
                await self.registration.close(unregister=unregister)
        finally:
            await self._runner.cleanup()


async def serve_dev_runner(kind: str, *, host: str = "127.0.0.1", port: int = 0) -> DevRunner:
    """Serve a dev runner of ``kind`` on ``host:port`` (0 = free) without registering it anywhere (a static runner
    that a runners.json names). ValueError for an unknown kind."""
    runner = web.AppRunner(make_app(kind), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return DevRunner(kind, f"http://{host}:{bound}", None, runner)


async def start_dev_runner(kind: str, orchestrator_url: str, secret: str, *, price: str | int = 0,
                           unit: str = "hour", capacity: int | None = None, app: str | None = None,
                           mode: str | None = None, host: str = "127.0.0.1", port: int = 0, runner_id: str = "",
                           heartbeat_interval_s: float | None = None, background: bool = True) -> DevRunner:
    """Serve a dev runner of ``kind`` (noop, echo, text) on ``host:port`` (0 = free) and register it with the
    orchestrator at ``orchestrator_url`` using its orchestrator ``secret``. Raises :class:`RegistrationError`
    (the orchestrator's status and message) or ValueError (unknown kind). ``background=False``: no heartbeat loop
    and no O2R reader; the owner calls ``registration.heartbeat()`` and ``registration.read_o2r()``."""
    served = await serve_dev_runner(kind, host=host, port=port)  # ValueError for an unknown kind
    _, default_app, default_mode, default_capacity = KINDS[kind]
    try:
        reg = RunnerRegistration(orchestrator_url=orchestrator_url, secret=secret, runner_url=served.url,
                                 app=app or default_app, mode=mode or default_mode,
                                 capacity=capacity or default_capacity, price=price, unit=unit, runner_id=runner_id,
                                 version="lpdev-" + kind, background=background)
        if heartbeat_interval_s is not None:
            reg.heartbeat_interval_s = heartbeat_interval_s
        await reg.start()
        if heartbeat_interval_s is not None:  # keep the override over the orchestrator's interval
            reg.heartbeat_interval_s = heartbeat_interval_s
    except BaseException:
        await served.aclose()
        raise
    served.registration = reg
    return served


def parse_runner_spec(text: str) -> tuple[str, str, str]:
    """``KIND[:PRICE[/UNIT]]`` (``echo``, ``noop:0.36``, ``text:0.01/fixed``) → (kind, price USD, unit).
    Raises ValueError naming the problem."""
    kind, _, rest = text.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown dev runner {kind!r} in {text!r}: choose one of {', '.join(sorted(KINDS))}")
    price, _, unit = rest.partition("/")
    price = price.strip() or "0"
    unit = unit.strip() or "hour"
    from sim.wire.bounded import BoundedInputError, parse_fraction

    try:  # bounded: a price like 1e999999999 must not be expanded
        parse_fraction(price, what="price", min=0, max=10**12)
    except BoundedInputError:
        raise ValueError(f"bad price {price[:40]!r} in {text[:80]!r}: a USD amount such as 0.36 (0 to 10^12)") \
            from None
    if unit not in ("hour", "720p", "fixed"):
        raise ValueError(f"bad unit {unit!r} in {text!r}: hour, 720p or fixed")
    return kind, price, unit
