"""The one stack: chain + remote signer(s) + orchestrator(s) + gateway(s) on loopback, in ONE asyncio process with
ONE :class:`~sim.events.EventBus`, one clock and one seeded :class:`~sim.clock.Rng`.

Every door builds it the same way -- ``lpdev up``, ``lpdev up --scenario``, ``lpdev scenario run``, the walkthrough
tours, ``lpdev tui --demo``, the benches -- from a :class:`~stack.spec.StackSpec` (what runs) and a
:class:`~stack.policy.Policy` (how: clock, ports, transports, block production, redemption pacing, trace
normalisation). ``async with Stack(spec, LIVE) as st: await st.run()`` is ``lpdev up``;
``async with Stack(spec) as st: ...steps...`` is a deterministic scenario.

Order: port check (fixed ports) -> the data dir claimed (when there is one) -> chain (``devnet.open_chain``; setup
funds the senders and activates the transcoders) -> orchestrators (one TLS port each, plus a plain-HTTP entry for
Live Runners) -> dev runners (registered over heartbeats) -> scripted auth webhooks -> signers (plain HTTP, plus HTTPS on
the well-known port when the policy serves the SDK) -> readiness probes -> gateways (clients). :meth:`run` adds
the live loops the policy asks for (:mod:`stack.live`). :meth:`stop` reverses it all and stops a managed anvil.

Determinism (virtual clock): every actor reads the same :class:`VirtualClock`; ids, seeds and the orchestrators'
HMAC secrets come from ``Rng(seed).child(actor)``; orchestrators do not poll the chain on wall time --
:meth:`Stack.sync` (after every scenario step and every mined block) lets each orchestrator see the chain and run
one redemption pass, in a fixed order. URLs, ports, data dirs and certificate fingerprints differ per run: they
appear only in ``orch.started``-style events, and :meth:`normalise` rewrites them to actor names.
"""
from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from sim.clock import RealClock, Rng, ScaledClock, VirtualClock
from sim.events import Event, EventBus, register_kinds
from stack.gate import StepGate
from stack.policy import SCENARIO, Policy
from stack.spec import GatewaySpec, OrchestratorSpec, SignerSpec, StackSpec, devnet_config

__all__ = ["Stack", "StartupError", "SignerHandle", "OrchestratorHandle", "check_ports"]

register_kinds({
    "stack.chain": "a chain operation of the stack (mine, initialize_round, advance_round, fund, unlock, withdraw, "
                   "expire_auth_token)",
    "stack.actor": "an actor was killed or restarted",
    "stack.webhook": "the scripted auth webhook answered a signer",
    "stack.runner": "the stack drove a dev runner: heartbeat now (re-registered after a 401), silence, health, "
                    "a static runner registered",
})


class StartupError(Exception):
    """The stack could not start; the message names the cause and the fix."""


class _Named:
    """An actor handle's name and dev-account role, from its spec."""

    spec: SignerSpec | OrchestratorSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def role(self) -> str:
        return self.spec.account


@dataclass
class SignerHandle(_Named):
    spec: SignerSpec
    core: object
    http: object  # SignerServer on plain HTTP (what gateways and go-livepeer-style clients use)
    https: object | None = None  # SignerServer on HTTPS, the well-known port (live policy: the SDK's default)
    webhook: object | None = None
    address: str = ""

    @property
    def http_url(self) -> str:
        return self.http.url

    @property
    def url(self) -> str:
        """The URL to hand to the SDK: HTTPS when served, else plain HTTP."""
        return (self.https or self.http).url


@dataclass
class OrchestratorHandle(_Named):
    spec: OrchestratorSpec
    data_dir: Path
    server: object | None = None
    port: int = 0
    url: str = ""
    alive: bool = False
    restarts: int = 0
    address: str = ""
    http_port: int | None = None  # the plain-HTTP entry's port (0 = free; None = no entry)
    http_url: str | None = None

    @property
    def node(self):
        return self.server.orch if self.server is not None else None


def check_ports(host: str, wanted: list[tuple[str, int]]) -> None:
    """Fail early, naming the service and the flag, if a fixed port is taken (0 = any port: never checked).
    ``SO_REUSEADDR`` as the servers themselves bind: a port in TIME-WAIT after a stack stopped is free."""
    for what, port in wanted:
        if not port:
            continue
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError as exc:
            flag = ("--orch-http-port" if what.endswith("HTTP entry") else
                    {"anvil": "--eth-port", "signer": "--signer-port", "orchestrator": "--orch-port"}[what.split()[0]])
            why = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StartupError(
                f"port {port} ({what}) is {why}: another `lpdev up`, go-livepeer or anvil is probably running "
                f"(`lpdev ps` lists lpdev stacks; `ss -ltnp | grep {port}` finds the rest); stop it, or choose "
                f"another port with {flag} N, or --any-port to let the OS pick free ports") from None
        finally:
            s.close()


def anvil_hint(msg: str) -> str:
    return (f"{msg}\n  install it: `make bootstrap` (runs `npm ci` in devnet/tools, which pins "
            "@foundry-rs/anvil 1.7.1),\n  or point LPDEV_ANVIL at an anvil binary, or run without it: "
            "`lpdev up --chain embedded` (py-evm in process, no RPC URL for outside tools)")


class Stack:
    def __init__(self, spec: StackSpec, policy: Policy = SCENARIO, *, bus: EventBus | None = None,
                 workdir: str | Path | None = None, chain=None, anvil_process=None, log=None,
                 data_dir: str | Path | None = None, resume: bool = False) -> None:
        """``chain``: an already open chain set up with :func:`stack.spec.devnet_config` (borrowed: not closed by
        :meth:`stop`; tests reuse one py-evm chain through snapshot/revert). ``anvil_process``: an
        ``AnvilProcess`` spawned early by the CLI so its start overlaps the imports. ``log``: one line per
        problem the live loops meet (a failed payment cycle, a dead chain).

        ``data_dir``: keep the stack's state there instead of a temp dir -- the orchestrators' SQLite winners and
        certificates, and (anvil) the chain's state, saved as it changes -- so ``resume=True`` after a crash (a
        ``kill -9`` of the whole process group) comes back on the same chain and redeems every queued winner."""
        self.spec = spec
        self.policy = policy
        if not policy.virtual:
            self.clock = RealClock()
        elif policy.speed:
            self.clock = ScaledClock(spec.start_time, policy.speed)
        else:
            self.clock = VirtualClock(spec.start_time)
        self.rng = Rng(spec.seed)
        self.bus = bus or EventBus(self.clock)
        # whole-run counts for the shutdown line: the bus keeps only its recent events
        self.kind_counts: dict[str, int] = {}
        self.bus.subscribe(self._count_kind)
        # Step mode (the TUI's pause / next / run): off by default, so live gateways pay at their cadence; when a
        # viewer pauses it, each gateway waits here before its next payment.
        self.gate = StepGate(enabled=False)
        self.log = log or (lambda msg: None)
        self._borrowed_chain = chain
        self._anvil = anvil_process
        self.chain = None
        self.signers: dict[str, SignerHandle] = {}
        self.orchestrators: dict[str, OrchestratorHandle] = {}
        self.gateways: dict = {}  # name -> sim.gateway.session.GatewaySession
        self.runners: dict = {}  # name -> sim.runners.DevRunner (registered over heartbeats)
        self.runner_beats: dict[str, float] = {}  # name -> stack time of its last heartbeat (stepped stacks)
        self.silenced: set[str] = set()  # dev runners whose heartbeats stopped (stepped stacks)
        self.static_runners: dict[str, str] = {}  # name -> orchestrator it is registered with (runners.json)
        self.loops: dict = {}  # name -> stack.live.GatewayLoop (live gateways)
        self._tmp = None
        self._data_lock: int | None = None  # the data dir claim (an flock), held while the stack runs
        self.data_dir = Path(data_dir) if data_dir else None
        self.resume = resume
        self.workdir = Path(workdir) if workdir else self.data_dir
        self._names: dict[str, str] = {}  # text seen in events -> stable replacement
        self.withdrawn: dict[str, int] = {}  # role -> wei paid out by withdraw()
        self.funded: dict[str, int] = {}  # role -> wei added by fund steps
        self.initial_money: dict | None = None
        self._synced_block = -1
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._round_lock = asyncio.Lock()
        self.timings: dict[str, float] = {}
        self.t0 = time.monotonic()

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "Stack":
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def _mark(self, what: str) -> None:
        self.timings[what] = round(time.monotonic() - self.t0, 3)

    async def start(self) -> None:
        spec, pol = self.spec, self.policy
        if pol.fixed_ports:
            wanted = []
            if spec.chain in ("anvil", "fork") and self._anvil is None and self._borrowed_chain is None:
                wanted.append(("anvil JSON-RPC", spec.eth_port))
            wanted += [(f"orchestrator {i + 1}", spec.orch_port + i)
                       for i in range(len(spec.orchestrators)) if spec.orch_port]
            wanted += [(f"orchestrator {i + 1} HTTP entry", spec.orch_http_port + i)
                       for i, o in enumerate(spec.orchestrators) if o.http_entry and spec.orch_http_port]
            if pol.signer_https:
                wanted += [(f"signer {i + 1}", spec.signer_port + i) for i in range(len(spec.signers))
                           if spec.signer_port]
            check_ports(spec.host, wanted)
        if self.workdir is None:
            self._tmp = tempfile.mkdtemp(prefix="lpdev-stack-")
            self.workdir = Path(self._tmp)
        if self.data_dir is not None:
            self._prepare_data_dir()
        self._names[str(self.workdir)] = "<workdir>"
        await self._open_chain()
        self._mark("chain")
        for i, o in enumerate(spec.orchestrators):
            h = OrchestratorHandle(o, self.workdir / o.name)
            h.data_dir.mkdir(parents=True, exist_ok=True)
            h.port = spec.orch_port + i if pol.fixed_ports and spec.orch_port else 0
            if o.http_entry:
                h.http_port = spec.orch_http_port + i if pol.fixed_ports and spec.orch_http_port else 0
            self.orchestrators[o.name] = h
            await self._start_orchestrator(h)
        for r in spec.runners:
            await self._start_runner(r)
        self._mark("orchestrators")
        for i, s in enumerate(spec.signers):
            await self._start_signer(i, s)
        self._mark("signers")
        if pol.probe:
            await self.probe()
        self._mark("ready")
        for g in spec.gateways:
            self._make_gateway(g)
        self.initial_money = await asyncio.to_thread(self.money)
        self.bus.emit("stack", "stack.ready", chain=spec.chain, policy=pol.name, signers=list(self.signers),
                      orchestrators=list(self.orchestrators), gateways=list(self.gateways))

    CHAIN_STATE = "chain-state.json"

    def _prepare_data_dir(self) -> None:
        """Claim the data dir, then: a fresh start empties it (it is this stack's, named after it); a resume needs
        its saved chain state, and only anvil can load one.

        The claim is an exclusive lock on the dir's marker file, held until the stack stops, so a second stack
        (the same name, the same --data-dir, a --resume while the first still runs) is refused before anything in
        the dir is touched. Only a dir that is empty, or that carries the marker, is ever emptied: a mistyped
        --data-dir never loses someone's files."""
        import fcntl

        d = self.data_dir
        marker = d / self.DATA_MARKER
        if d.exists() and not d.is_dir():
            raise StartupError(f"data dir {d} is a file, not a folder: choose another --data-dir")
        if d.is_dir() and not marker.is_file() and any(d.iterdir()):
            raise StartupError(f"data dir {d} is not empty and was not made by lpdev up (no {self.DATA_MARKER}); "
                               "lpdev empties its data dir on a fresh start, so choose an empty or new --data-dir")
        if self.resume:
            if self.spec.chain != "anvil":
                raise StartupError(f"--resume needs --chain anvil: the {self.spec.chain} chain keeps its state in "
                                   "the process that died, so there is nothing to come back to")
            if not (d / self.CHAIN_STATE).is_file():
                raise StartupError(f"--resume: {d} holds no saved chain state ({self.CHAIN_STATE}): start the stack "
                                   "without --resume, or point --data-dir at the data dir its cast names")
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd = os.open(marker, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StartupError(f"data dir {d}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            owner = marker.read_text(encoding="utf-8", errors="replace").strip()[:200]
            raise StartupError(f"data dir {d} is in use by a running stack ({owner or 'pid unknown'}): stop it "
                               "first, or give this one another --name or --data-dir") from None
        self._data_lock = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"lpdev up data dir, pid {os.getpid()}; emptied on a fresh start\n".encode())
        if not self.resume:
            for child in d.iterdir():
                if child.name == self.DATA_MARKER:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    DATA_MARKER = ".lpdev-data"

    def _release_data_dir(self) -> None:
        fd, self._data_lock = getattr(self, "_data_lock", None), None
        if fd is not None:
            os.close(fd)  # closing drops the lock

    def save_chain_state(self) -> bool:
        """Write the chain's state to the data dir (atomically, fsynced); False where it cannot be saved."""
        chain = self.chain
        if self.data_dir is None or chain is None or getattr(chain, "backend", "") != "anvil":
            return False
        from stack.files import write_atomic

        write_atomic(self.data_dir / self.CHAIN_STATE, chain.dump_state(), fsync=True)
        return True

    async def _open_chain(self) -> None:
        from devnet import open_chain
        from devnet.base import AnvilMissing, ChainError

        if self._borrowed_chain is not None:
            self.chain = self._borrowed_chain
            return
        load_state = str(self.data_dir / self.CHAIN_STATE) if self.resume else None
        spec, dc = self.spec, devnet_config(self.spec)
        # on a virtual clock, py-evm stamps blocks from the clock's start, not the wall clock: same block hashes,
        # hence the same recipientRandHash and ticket hashes, every run (README.md#scenarios-lpdev-scenario-and-lpdev-bench-scenario)
        genesis = spec.start_time if self.policy.virtual else None
        try:
            if spec.chain == "fork":  # anvil forking a live chain, prepared (devnet/backends/fork.py)
                f = spec.fork or {}
                opening = asyncio.create_task(asyncio.to_thread(
                    open_chain, "fork", config=dc, fork_url=f.get("fork_url"), fork_block=f.get("fork_block"),
                    controller=f.get("controller"), orchestrator_address=f.get("orchestrator_address"),
                    port=spec.eth_port if self.policy.fixed_ports and spec.eth_port else None))
            elif spec.chain == "anvil" and (self._anvil is not None or self.policy.fixed_ports):
                from devnet.backends import evm
                from devnet.backends.anvil import AnvilProcess

                if self._anvil is None:  # stopped by stop() even if we are cancelled while it deploys
                    self._anvil = AnvilProcess.spawn(port=spec.eth_port or None, chain_id=dc.chain_id)
                opening = asyncio.create_task(asyncio.to_thread(evm.open_anvil, config=dc, process=self._anvil,
                                                                load_state=load_state))
            else:
                opening = asyncio.create_task(asyncio.to_thread(open_chain, spec.chain, config=dc,
                                                                genesis_timestamp=genesis, load_state=load_state))
            # while the chain deploys (mostly waiting on RPCs), import the servers' modules (~1 s of CPU)
            import sim.gateway.session  # noqa: F401
            import sim.orchestrator.server  # noqa: F401
            import sim.signer.core  # noqa: F401
            import sim.signer.http  # noqa: F401
            self.chain = await opening
        except AnvilMissing as exc:
            raise StartupError(anvil_hint(str(exc))) from None
        except ChainError as exc:
            raise StartupError(f"the chain did not start: {exc}") from None
        if getattr(self.chain, "eth_url", None):
            self._names[self.chain.eth_url] = "<chain>"
        fork = getattr(self.chain, "fork", None)
        if fork:  # lpdev's orchestrator signs with its own key: an impersonated one must be a dev account
            for i, o in enumerate(fork.get("orchestrators", [])):
                if o.get("dev_role") is None:
                    raise StartupError(
                        f"--orchestrator-address {o['address']}: lpdev's orchestrator issues ticket params and "
                        "redeems with its own key, and this account is not one of the dev accounts; omit the flag "
                        "to make a dev orchestrator active on the fork instead")
                if o.get("impersonated") and i < len(spec.orchestrators):
                    spec.orchestrators[i].account = o["dev_role"]  # the account the fork made payable

    async def probe(self, timeout: float = 10.0) -> None:
        """Every service answers: chain RPC, each signer (every transport) signs its orchestrator-info, each
        orchestrator answers GetOrchestrator over TLS gRPC with the first signer's identity."""
        from sim.gateway.orch_client import OrchestratorClient
        from sim.gateway.signer_client import SignerClient

        await asyncio.to_thread(self.chain.last_block)
        ident = None
        for s in self.signers.values():
            for url in dict.fromkeys((s.url, s.http_url)):
                c = SignerClient([url], [s.name])
                try:
                    got = await asyncio.wait_for(c.sign_orchestrator_info(), timeout)
                except Exception as exc:  # noqa: BLE001
                    raise StartupError(f"signer {s.name} at {url} does not answer: {type(exc).__name__}: {exc}") \
                        from None
                finally:
                    await c.close()
                ident = ident or got
        for o in self.orchestrators.values():
            c = OrchestratorClient(o.url)
            try:
                await asyncio.wait_for(c.get_orchestrator(ident.address, ident.signature, ignore_capacity_check=True),
                                       timeout)
            except Exception as exc:  # noqa: BLE001
                raise StartupError(f"orchestrator {o.name} at {o.url} does not answer GetOrchestrator: "
                                   f"{type(exc).__name__}: {exc}") from None
            finally:
                await c.close()

    async def run(self) -> None:
        """The live loops the policy asks for (block ticker, round initializer, gateway loops) until
        :meth:`request_stop`; returns at once when the policy has none."""
        from stack.live import run_live

        await run_live(self)

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` of stack time (a live loop's cadence); True if the stack was asked to stop meanwhile."""
        wall = seconds / (self.clock.speed if isinstance(self.clock, ScaledClock) else 1.0)
        try:
            await asyncio.wait_for(self._stop.wait(), max(0.0, wall))
            return True
        except asyncio.TimeoutError:
            return False

    async def stop(self) -> None:
        self._stop.set()
        self.gate.continue_all()  # a gateway waiting for a step must see the stop
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await asyncio.wait_for(t, 5)
            except (asyncio.CancelledError, asyncio.TimeoutError, Exception):
                pass
        self._tasks.clear()
        for g in list(self.gateways.values()):
            try:
                await g.close()
            except Exception:  # noqa: BLE001
                pass
        for r in list(self.runners.values()):
            try:
                await r.aclose()
            except Exception:  # noqa: BLE001
                pass
        self.runners.clear()
        for h in self.orchestrators.values():
            if h.alive:
                try:
                    await self._stop_orchestrator(h)
                except Exception:  # noqa: BLE001
                    pass
        for s in self.signers.values():
            for srv in (s.http, s.https, s.webhook):
                if srv is not None:
                    try:
                        await srv.stop()
                    except Exception:  # noqa: BLE001
                        pass
        if self.chain is not None and self.data_dir is not None and self._borrowed_chain is None:
            try:  # a clean stop saves the last state too: --resume works after Ctrl-C as after a crash
                await asyncio.to_thread(self.save_chain_state)
            except Exception:  # noqa: BLE001 - a dead anvil has nothing to save
                pass
        if self._anvil is not None:
            await asyncio.to_thread(self._anvil.stop)  # idempotent; chain.close() stops it too
        if self.chain is not None:
            chain, self.chain = self.chain, None
            if self._borrowed_chain is None:
                await asyncio.to_thread(chain.close)
            try:
                self.bus.emit("stack", "stack.stopped")
            except Exception:  # noqa: BLE001
                pass
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._release_data_dir()

    # ------------------------------------------------------------------ actors
    async def _start_signer(self, i: int, spec: SignerSpec) -> None:
        from sim.pm.money import parse_rat
        from sim.pm.sender import SenderLimits
        from sim.signer.config import SignerConfig, parse_capability_max_prices
        from sim.signer.core import SignerCore
        from sim.signer.http import SignerServer
        from stack.webhook import ScriptedWebhook

        kw = {}
        if spec.max_ticket_ev is not None:
            kw["max_ticket_ev"] = Fraction(spec.max_ticket_ev)
        if spec.max_total_ev is not None:
            kw["max_total_ev"] = Fraction(spec.max_total_ev)
        if spec.deposit_multiplier is not None:
            kw["deposit_multiplier"] = spec.deposit_multiplier
        limits = replace(SenderLimits(), **kw)
        max_price = parse_rat(str(spec.max_price)) if spec.max_price not in (None, "", "0", 0) else None
        webhook = None
        if spec.webhook is not None:
            webhook = ScriptedWebhook(f"{spec.name}-webhook", spec.webhook, self.bus, self.clock)
            await webhook.start()
            self._names[webhook.url] = f"<{spec.name}-webhook>"
        stepped = self.policy.virtual and not self.policy.speed
        usd = {k: parse_rat(getattr(spec, k)) for k in ("max_hourly_price_usd", "max_fixed_price_usd", "wei_per_usd")
               if getattr(spec, k) is not None}
        cfg = SignerConfig(max_price=max_price, limits=limits, webhook_url=webhook.url if webhook else None,
                           replay_protection=spec.replay_protection, remote_discovery=spec.remote_discovery,
                           orch_addrs=tuple(o.url for o in self.orchestrators.values()),
                           # stepped virtual time: re-read only when the stack says the chain moved (sync)
                           chain_max_age_s=1e12 if stepped else 0.5, profile=spec.profile, **usd)
        if spec.max_price_per_capability:
            cfg.capability_max_prices = parse_capability_max_prices(
                spec.max_price_per_capability, pixels_per_unit=Fraction(1), max_price_per_unit=Fraction(0))
        key = self.chain.key(spec.account)
        core = SignerCore(key=key, chain=self.chain, config=cfg, clock=self.clock, rng=self.rng.child(spec.name),
                          events=self.bus, actor=spec.name)
        if core.profile.requires_price_feed:
            from sim.signer.usd import feed_problem

            problem = await asyncio.to_thread(feed_problem, self.chain)
            if problem:
                raise StartupError(f"signer {spec.name} ({spec.profile}) needs the chain's ETH/USD price feed, as "
                                   f"go-livepeer v0.9.3 does (#4095): {problem}")
        if self.policy.probe:
            await asyncio.to_thread(core.chain.get)  # warm the chain cache: a broken chain fails now
        discovery = None
        if spec.remote_discovery:
            from sim.signer.discovery import Discovery, GrpcDiscoverySource

            discovery = Discovery(GrpcDiscoverySource(cfg.orch_addrs, key), cfg, self.clock)
        # one server announces the signer (signer.started: its profile, for the TUI header) and serves a
        # livepeer-node profile's health endpoints on their own port
        https = self.policy.signer_https
        h = SignerHandle(spec, core, SignerServer(core, host=self.spec.host, port=0, tls=False, discovery=discovery,
                                                  announce=not https, metrics_port=False if https else 0),
                         webhook=webhook, address=self.chain.address(spec.account))
        self.signers[spec.name] = h
        port = self.spec.signer_port + i if self.policy.fixed_ports and self.spec.signer_port else 0
        if https:
            h.https = SignerServer(core, host=self.spec.host, port=port, tls=True, discovery=discovery,
                                   announce=True, metrics_port=0)
        try:
            for srv in (h.https, h.http):
                if srv is not None:
                    await srv.start()
        except OSError as exc:
            raise StartupError(f"signer {spec.name} cannot listen on port {port}: {exc.strerror or exc}") from None
        for srv in (h.https, h.http):
            if srv is not None:
                self._names[srv.url] = f"<{spec.name}>"

    async def _start_orchestrator(self, h: OrchestratorHandle) -> None:
        from sim.orchestrator.server import OrchestratorServer
        from sim.pm.crypto import to_checksum_address

        spec = h.spec
        scheme = "https" if spec.tls else "http"
        rng = self.rng.child(f"{spec.name}#{h.restarts}")
        # go-livepeer draws the HMAC secret per process from crypto/rand; under a seed it comes from the Rng so
        # that win/lose outcomes replay.
        secret = rng.bytes(32) if self.spec.seed is not None else None
        poll = min(1.0, self.spec.block_time or 1.0) if self.policy.chain_poll else None
        server = OrchestratorServer(
            self.chain, eth_key=self.chain.key(spec.account), data_dir=h.data_dir, keep_cert=self.data_dir is not None,
            service_addr=f"{scheme}://{self.spec.host}:{h.port}", bus=self.bus, clock=self.clock, rng=rng,
            secret=secret, block_poll_s=poll, faults=dict(spec.faults) if h.restarts == 0 else None,
            name=spec.name, ticket_ev=spec.ticket_ev, price_per_unit=spec.price_per_unit,
            pixels_per_unit=spec.pixels_per_unit, max_face_value=spec.max_face_value,
            auto_adjust_price=spec.auto_adjust_price, redeem_gas=spec.redeem_gas, orch_secret=spec.orch_secret,
            live_runner_config=spec.live_runner_config, http_port=h.http_port, runner_config=self._runner_config())
        try:
            await server.start()
        except OSError as exc:
            raise StartupError(f"orchestrator {spec.name} cannot listen on port {h.port}"
                               f"{'' if h.http_port is None else f' or {h.http_port}'}: {exc.strerror or exc}") from None
        except ValueError as exc:  # a runners.json the orchestrator refused
            raise StartupError(f"orchestrator {spec.name}: {exc}") from None
        h.server, h.port, h.url, h.alive = server, server.port, server.url, True
        if self.resume and h.restarts == 0:  # the chain came back from its saved state: trust it, not the store
            n = await asyncio.to_thread(server.redeemer.reconcile_redeemed)
            if n:
                self.log(f"{spec.name}: {n} winner(s) redeemed after the last saved chain state go back in the queue")
        if server.http_url:
            h.http_port, h.http_url = int(server.http_url.rsplit(":", 1)[1]), server.http_url
            self._names[server.http_url] = f"<{spec.name}-http>"
        h.address = to_checksum_address(server.orch.address)
        self._names[server.url] = f"<{spec.name}>"
        self._names[str(h.data_dir)] = f"<{spec.name}-data>"
        if server.cert is not None:
            self._names[server.cert.fingerprint_sha256] = f"<{spec.name}-cert>"

    async def _start_runner(self, spec) -> None:
        from sim.runners import RegistrationError, start_dev_runner

        o = self.orchestrators[spec.orchestrator]
        try:
            r = await start_dev_runner(spec.kind, o.http_url or o.url, o.spec.orch_secret, price=spec.price,
                                       unit=spec.unit, capacity=spec.capacity, host=self.spec.host,
                                       background=not self.stepped)
        except RegistrationError as exc:
            raise StartupError(f"dev runner {spec.name} ({spec.kind}) could not register with {o.name}: {exc}") \
                from None
        self.runners[spec.name] = r
        self.runner_beats[spec.name] = self.clock.now()
        self._names[r.url] = f"<{spec.name}-runner>"

    async def _stop_orchestrator(self, h: OrchestratorHandle) -> None:
        # Drop the gateways' connections first (a dead process drops them too); the server then stops at once
        # instead of waiting for keep-alive HTTP/2 connections. The clients reconnect lazily.
        for g in self.gateways.values():
            if g.orchestrator_name == h.spec.name:
                await g.orch.close()
        if h.server is not None:
            await h.server.stop()
        h.alive = False

    def _make_gateway(self, spec: GatewaySpec):
        from sim.gateway.session import GatewayConfig, GatewaySession

        cfg = GatewayConfig(name=spec.name, job_type=spec.type, in_pixels=spec.in_pixels, manifest_id=spec.manifest_id,
                            app=spec.app, max_price=spec.max_price, interval_s=spec.interval_s,
                            signer_headers=dict(spec.headers), adopt_payment_info=spec.adopt_payment_info,
                            identity_url=self.signers[spec.identity].http_url if spec.identity else "")
        if spec.lv2v_job:
            from sim.gateway.job import lv2v_capabilities

            cfg.capabilities = lv2v_capabilities("noop")  # what the SDK sends for a noop job
        o = self.orchestrators[spec.orchestrator]
        g = GatewaySession(cfg, signer_urls=[self.signers[s].http_url for s in spec.signers],
                           signer_names=list(spec.signers), orchestrator_url=o.url,
                           orchestrator_name=spec.orchestrator, bus=self.bus, clock=self.clock)
        self.gateways[spec.name] = g
        return g

    def _orchestrator(self, name: str | None) -> OrchestratorHandle:
        if name is None:
            return next(iter(self.orchestrators.values()))
        try:
            return self.orchestrators[name]
        except KeyError:
            raise KeyError(f"no orchestrator {name!r}; the stack has {', '.join(self.orchestrators)}") from None

    async def kill(self, name: str) -> None:
        """Stop an orchestrator at once; its SQLite data dir (winning tickets) survives."""
        h = self._orchestrator(name)
        await self._stop_orchestrator(h)
        self.bus.emit("stack", "stack.actor", name=h.name, action="kill")

    async def restart(self, name: str | None = None) -> str:
        """Start a killed (or running) orchestrator again on the same port and data dir: a new process secret and
        a new certificate, like a restarted go-livepeer; stored winners are recovered and redeemed."""
        h = self._orchestrator(name)
        if h.alive:
            await self._stop_orchestrator(h)
        h.restarts += 1
        await self._start_orchestrator(h)
        self.bus.emit("stack", "stack.actor", name=h.name, action="restart", restarts=h.restarts)
        await self.sync(force=True)
        return h.name

    def set_faults(self, name: str, faults: dict) -> list[str]:
        node = self._orchestrator(name).node
        changed = node.faults.update(faults)
        node.emit("orch.faults", changed=changed, faults=node.faults.to_dict())
        return changed

    # ------------------------------------------------------------------ chain
    async def sync(self, *, force: bool = False) -> None:
        """If the chain moved (or ``force``): every live orchestrator sees it and runs one redemption pass, in
        a fixed order, then the signers re-read it. Chain reads are slow on py-evm, so nothing is re-read while
        the block number stands still (every chain change goes through the stack and mines a block)."""
        await self.sync_runners()
        block = await asyncio.to_thread(self.chain.last_block)
        if block == self._synced_block and not force:
            return
        for h in self.orchestrators.values():
            if h.alive:
                await h.server.redeem_now()
        for s in self.signers.values():
            await asyncio.to_thread(s.core.chain.get, force=True)
        self._synced_block = await asyncio.to_thread(self.chain.last_block)

    async def _chain(self, fn, *args, **kw):
        return await asyncio.to_thread(fn, *args, **kw)

    async def mine(self, n: int, *, initialize_round: bool = True, quiet: bool = False) -> dict:
        """Mine ``n`` blocks; if that enters a new round, initialize it (the network's round initializer does this
        on a live chain; without it every redemption reverts with "current round is not initialized"). Then the
        orchestrators and signers see the new block. ``quiet``: a block ticker's tick (one event per block)."""
        out = await self._chain(self.chain.mine, n)
        self.bus.emit("stack", "stack.chain", op="mine", blocks=n, to_block=out.get("to_block"),
                      round=out.get("to_round"), **({"tick": True} if quiet else {}))
        if initialize_round:
            await self.ensure_round_initialized()
        await self.sync()
        return out

    mine_blocks = mine  # tui.control.StackControl

    async def ensure_round_initialized(self) -> bool:
        """``initializeRound()`` if the current round is not initialized yet (go-livepeer's ``-initializeRound``).
        Blocks are not only mined by steps and tickers: every transaction (a redemption, a deposit) mines one on an
        automining chain, so a round boundary can be crossed by any of them. Returns whether one was initialized."""
        async with self._round_lock:
            chain = self.chain
            if chain is None:
                return False
            cur, last = await self._chain(lambda: (chain.current_round(), chain.last_initialized_round()))
            if cur == last and not self.policy.round_initializer:
                return False
            res = await self._chain(chain.initialize_round, chain.key("deployer"))
            if cur == last and not res.ok:
                # The usual case: nothing to do. The call was still needed on a live chain: transactions are
                # simulated in the pending block, so when the chain is parked on a round's last block every
                # redemption reverts with "current round is not initialized" and is not sent -- no block is mined,
                # and on an automining chain nothing else would ever start the next round. initializeRound
                # succeeds exactly then (it is mined as the new round's first block).
                return False
            self.bus.emit("stack", "stack.chain", op="initialize_round", ok=res.ok,
                          round=chain.last_initialized_round(), block=chain.last_block(),
                          **({} if res.ok else {"reason": res.revert_reason}))
            return res.ok

    async def advance_round(self, n: int = 1) -> dict:
        """Mine to the next round boundary and initialize the round, ``n`` times."""
        out = {}
        for _ in range(n):
            async with self._round_lock:  # the chain's advance_round initializes the round itself
                out = await self._chain(self.chain.advance_round)
            self.bus.emit("stack", "stack.chain", op="advance_round", to_round=out.get("to_round"),
                          to_block=out.get("to_block"))
            await self.sync()
        return out

    async def _tx(self, op: str, role: str, fn, *args):
        res = await self._chain(fn, self.chain.key(role), *args)
        self.bus.emit("stack", "stack.chain", op=op, account=role, ok=res.ok, revert_reason=res.revert_reason,
                      events=[e["event"] for e in res.events])
        await self.sync()
        return res

    async def fund(self, role: str, deposit: int = 0, reserve: int = 0):
        res = await self._tx("fund", role, self.chain.fund_deposit_and_reserve, deposit, reserve)
        if res.ok:
            self.funded[role] = self.funded.get(role, 0) + deposit + reserve
        return res

    async def unlock(self, role: str):
        return await self._tx("unlock", role, self.chain.unlock)

    async def cancel_unlock(self, role: str):
        return await self._tx("cancel_unlock", role, self.chain.cancel_unlock)

    async def withdraw(self, role: str):
        info = await self._chain(self.chain.sender_info, bytes.fromhex(self.chain.address(role)[2:]))
        res = await self._tx("withdraw", role, self.chain.withdraw)
        if res.ok:
            self.withdrawn[role] = self.withdrawn.get(role, 0) + info.deposit + info.reserve
        return res

    async def settle(self, max_rounds: int = 3) -> None:
        """Let every redeemable winner be redeemed: mine past the params' expiration block (40 + 1), then
        redeem; repeat while something is still queued and progress is made."""
        for _ in range(max_rounds):
            await self.mine(41)
            if not any(self.queued(n) for n in self.orchestrators):
                break

    def queued(self, name: str) -> int:
        h = self.orchestrators[name]
        if not h.alive:
            return 0
        from sim.orchestrator.winners import QUEUED

        return len(h.node.store.with_status(QUEUED))

    # ------------------------------------------------------------------ time travel (tui.control.StackControl)
    async def expire_auth_token(self) -> dict:
        """Put each gateway's auth token into its last 180 s (docs/refreshes.md#480-refresh-the-session): its next payment gets 480 and it refreshes.
        The gateway's copy of the token gets an earlier expiration (the signer reads it from the OrchestratorInfo
        the gateway sends and answers 480 before any ticket is made). The clocks are not moved: jumping ~27 min
        would bill a live-video session for 27 unpaid minutes, > 100 tickets, which the signer refuses with 400
        on every later call (docs/remote-signer.md#billing-fee-tickets-balance) -- a stalled stack, not the lesson of this key."""
        from sim.signer.core import AUTH_TOKEN_REFRESH_MARGIN_S

        sessions = [g for g in self.gateways.values() if g.info is not None]
        if not sessions:
            raise RuntimeError("no gateway session holds an auth token yet")
        exp = int(self.clock.now()) + int(AUTH_TOKEN_REFRESH_MARGIN_S) - 1
        for sess in sessions:
            sess.info.auth_token.expiration = min(sess.info.auth_token.expiration, exp)
        self.bus.emit("stack", "stack.chain", op="expire_auth_token", auth_expiration=exp, gateways=len(sessions))
        return {"auth_expiration": exp, "gateways": len(sessions)}

    def raise_price(self, factor: Fraction = Fraction(5, 2)) -> dict:
        """Every orchestrator quotes ``factor`` x its price from now on (the price fault knob)."""
        out = {}
        f = Fraction(factor)
        for h in self.orchestrators.values():
            if not h.alive:
                continue
            node = h.node
            cur = node.faults.price_per_unit if node.faults.price_per_unit is not None else node.config.price_per_unit
            new = -(-cur * f.numerator // f.denominator)  # ceil, integer wei
            out[h.name] = int(new)
            self.set_faults(h.name, {"price_per_unit": int(new)})
        return out

    async def restart_orchestrator(self, name: str | None = None) -> str:
        """Kill and restart an orchestrator (the first by default): same port and data dir, a new certificate (the
        SDK's TOFU retry copes) and a new secret, like a restarted go-livepeer; stored winners are recovered."""
        return await self.restart(name)

    def facts(self) -> dict:
        chain = self.chain
        if chain is None:
            return {}
        out = {"last_block": chain.last_block(), "current_round": chain.current_round(),
               "round_length": chain.round_length(), "now": self.clock.now(),
               "orchestrator_alive": any(h.alive for h in self.orchestrators.values()),
               "expire_moves_clock": False}
        counts = [h.node.store.counts() for h in self.orchestrators.values() if h.alive]
        out["pending_winners"] = sum(c.get("queued", 0) + c.get("sending", 0) for c in counts)
        g = next((g for g in self.gateways.values() if g.info is not None), None)
        if g is not None:
            from sim.pm.ticket import from_minbytes

            out["expiration_block"] = from_minbytes(g.info.ticket_params.expiration_block)
            out["auth_expiration"] = g.info.auth_token.expiration
            if g.info.price_info.pixelsPerUnit:
                out["price"] = Fraction(g.info.price_info.pricePerUnit, g.info.price_info.pixelsPerUnit)
        s = next(iter(self.signers.values()), None)
        if s is not None and s.core.config.max_price is not None:
            out["max_price"] = s.core.config.max_price
        return out

    # ------------------------------------------------------------------ money and counts
    def sender_roles(self) -> list[str]:
        return self.spec.sender_roles()

    def money(self) -> dict:
        """Deposit + reserve per sender role and pending fees per orchestrator (wei)."""
        out = {"senders": {}, "orchestrators": {}}
        for role in self.sender_roles():
            info = self.chain.sender_info(bytes.fromhex(self.chain.address(role)[2:]))
            out["senders"][role] = {"deposit": info.deposit, "reserve": info.reserve}
        for name, h in self.orchestrators.items():
            out["orchestrators"][name] = self.chain.pending_fees(bytes.fromhex(self.chain.address(h.spec.account)[2:]))
        return out

    def summary(self) -> dict:
        """Counts for the shutdown line and tests: payments (accepted by an orchestrator), outcomes by status,
        winners stored and redeemed."""
        out = {"payments": 0, "outcomes": {}}
        for name, g in self.gateways.items():
            loop = self.loops.get(name)
            outcomes = loop.outcomes if loop is not None else {}
            if loop is None:
                for o in g.outcomes:
                    outcomes[o.status] = outcomes.get(o.status, 0) + 1
            for k, v in outcomes.items():
                out["outcomes"][k] = out["outcomes"].get(k, 0) + v
        out["payments"] = out["outcomes"].get("paid", 0)
        out["winners"] = self.kind_counts.get("orch.winner_stored", 0)
        out["redeemed"] = self.kind_counts.get("orch.redemption_mined", 0)
        return out

    def _count_kind(self, ev: Event) -> None:
        self.kind_counts[ev.kind] = self.kind_counts.get(ev.kind, 0) + 1

    # ------------------------------------------------------------------ traces
    def normalise(self, ev: Event) -> Event:
        """Replace per-run text (URLs, ports, temp dirs, certificate fingerprints) by stable actor names."""
        if not self.policy.normalise:
            return ev
        s = ev.to_json()
        if not any(k in s for k in self._names):
            return ev
        for k in sorted(self._names, key=len, reverse=True):
            s = s.replace(json.dumps(k)[1:-1], self._names[k])
        d = json.loads(s)
        return Event(d["seq"], d["t"], d["actor"], d["kind"], d["data"])

    # ------------------------------------------------------------------ Live Runner control
    # A stepped stack (a virtual clock that moves only when a step moves it) runs nothing of the Live Runners on wall
    # time, so a seeded scenario with runners writes the same trace every run: sync_runners() (called by sync after
    # every step) heartbeats each dev runner whose interval has passed on the stack's clock (unless silenced), then
    # lets each orchestrator expire, health-check, meter and write O2R events (LiveRunners.tick), then lets each dev
    # runner read its O2R channel -- in that fixed order. On a wall clock the runners and orchestrators do all of
    # this themselves and sync_runners() does nothing.

    @property
    def stepped(self) -> bool:
        """True when the clock is virtual and moved only by the stack (the scenario policy)."""
        return self.policy.virtual and not self.policy.speed

    def _runner_config(self):
        from sim.orchestrator.live_runner import LiveRunnerConfig

        return LiveRunnerConfig(background=not self.stepped)

    def dev_runner(self, name: str):
        try:
            return self.runners[name]
        except KeyError:
            raise KeyError(f"no runner {name!r}; the stack has {', '.join(self.runners) or 'none'}") from None

    def runner_orchestrator(self, name: str) -> OrchestratorHandle:
        """The orchestrator a dev runner (or a static one) is registered with."""
        self.dev_runner(name)
        o = self.static_runners.get(name) or next(r.orchestrator for r in self.spec.runners if r.name == name)
        return self.orchestrators[o]

    def runner_record(self, name: str):
        """The orchestrator's record of runner ``name`` (sim.orchestrator.runner_registry.Runner), None when it does
        not know it (expired, unregistered, its orchestrator down or restarted and not re-registered yet)."""
        h = self.runner_orchestrator(name)
        if not h.alive:
            return None
        reg = h.server.runners.registry
        r = self.dev_runner(name)
        if r.registration is not None:
            rec = reg.runners.get(r.runner_id)
            return rec if rec is not None and not rec.removed else None
        return next((x for x in reg.runners.values() if x.static and x.req.runner_url == r.url and not x.removed),
                    None)

    def runner_route(self, name: str) -> str:
        """What a client addresses runner ``name`` by (``/apps/{route}/…``): its runner id, or a static runner's
        label when it routes by label."""
        rec = self.runner_record(name)
        if rec is not None:
            return rec.route
        return self.dev_runner(name).runner_id

    def runner_info(self, name: str) -> dict:
        """Runner ``name`` as its orchestrator and the runner itself see it: registered, status, listed in
        /discovery, sessions, heartbeats, re-registrations, silenced."""
        r, h = self.dev_runner(name), self.runner_orchestrator(name)
        rec = self.runner_record(name)
        listed = False
        if rec is not None:  # what /discovery lists: the ready, unexpired runners
            from sim.orchestrator.runner_registry import RunnerError

            try:
                listed = h.server.runners.registry.ready(rec.route) is rec
            except RunnerError:
                listed = False
        reg_c = r.registration
        return {"runner_id": rec.runner_id if rec is not None else r.runner_id, "registered": rec is not None,
                "status": "gone" if rec is None else (rec.req.status or "ready"), "listed": listed,
                "sessions": len(rec.sessions) if rec is not None else 0,
                "heartbeats": rec.heartbeats if rec is not None else 0,
                "reregistrations": reg_c.reregistrations if reg_c is not None else 0,
                "silenced": name in self.silenced, "static": reg_c is None}

    async def runner_heartbeat(self, name: str, *, price: str | None = None, unit: str | None = None,
                               capacity: int | None = None) -> dict:
        """Dev runner ``name`` heartbeats now (re-registering with its orchestrator secret on a 401, as the SDK
        does), carrying a new ``price`` / ``unit`` / ``capacity`` when given (go takes the heartbeat's fields as the
        runner's from then on); a silenced runner heartbeats again from now on. Raises RegistrationError (the
        orchestrator's refusal) or a transport error."""
        r = self.dev_runner(name)
        reg = r.registration
        if reg is None:
            raise ValueError(f"runner {name!r} is a static runner (runners.json): it does not heartbeat")
        changes = {k: v for k, v in (("price", price), ("unit", unit), ("capacity", capacity)) if v is not None}
        for k, v in changes.items():
            setattr(reg, k, v)
        self.silenced.discard(name)
        self.bus.emit("stack", "stack.runner", name=name, action="heartbeat", **changes)
        data = await self._heartbeat(name)
        reg.resume()  # on a wall clock its own loop goes on from here (a stepped stack drives it instead)
        return data

    async def _heartbeat(self, name: str) -> dict:
        reg = self.dev_runner(name).registration
        before = reg.reregistrations
        self.runner_beats[name] = self.clock.now()
        data = await reg.heartbeat()
        if reg.reregistrations > before:
            self.bus.emit("stack", "stack.runner", name=name, action="reregistered", runner_id=reg.runner_id)
        return data

    def runner_silence(self, name: str) -> None:
        """Dev runner ``name`` stops heartbeating (a hung or partitioned runner): once the TTL passes on the stack's
        clock its orchestrator expires it and releases its sessions."""
        r = self.dev_runner(name)
        if r.registration is None:
            raise ValueError(f"runner {name!r} is a static runner (runners.json): it does not heartbeat")
        self.silenced.add(name)
        r.registration.pause()  # on a wall clock: its own heartbeat loop stops too
        self.bus.emit("stack", "stack.runner", name=name, action="silence", runner_id=r.runner_id)

    async def runner_health(self, name: str, ok: bool) -> None:
        """Static runner ``name``'s ``GET /healthz`` answers 200 (``ok``) or 503 from now on; its orchestrator
        checks every static runner's health now (an unhealthy one is hidden from discovery, its sessions released)."""
        r = self.dev_runner(name)
        if name not in self.static_runners:
            raise ValueError(f"runner {name!r} registers over heartbeats; only static runners (runners.json) have "
                             "a health check")
        r.set_healthy(ok)
        self.bus.emit("stack", "stack.runner", name=name, action="health", ok=bool(ok))
        h = self.runner_orchestrator(name)
        if h.alive:
            await h.server.runners.static.check()

    async def add_static_runner(self, name: str, kind: str = "noop", orchestrator: str | None = None, *,
                                label: str | None = None, routing: str = "runner-id", price: str = "0",
                                unit: str = "hour", capacity: int | None = None) -> dict:
        """Serve dev runner ``kind`` as ``name`` and register it with ``orchestrator`` as a static runner, the way a
        ``runners.json`` entry (go's ``-liveRunnerConfig`` / ``/registerLiveRunners``) does: ``label``, ``routing``,
        ``runner_url``, ``health_url: /healthz``, the app and mode of its kind, ``capacity``, a USD ``price_info``.
        Returns the registration's entry; raises ValueError with the orchestrator's refusal."""
        from sim.orchestrator.runner_registry import RunnerError
        from sim.runners import KINDS, serve_dev_runner

        if name in self.runners:
            raise ValueError(f"runner {name!r} exists already")
        h = self._orchestrator(orchestrator)
        _, app, mode, default_capacity = KINDS[kind]
        r = await serve_dev_runner(kind, host=self.spec.host)
        entry = {"label": label or name, "routing": routing, "runner_url": r.url, "health_url": "/healthz",
                 "app": app, "mode": mode, "capacity": capacity or default_capacity, "version": "lpdev-" + kind,
                 "price_info": {"price": str(price), "currency": "usd", "unit": unit}}
        self._names[r.url] = f"<{name}-runner>"
        try:
            got = await h.server.runners.static.register_json(json.dumps({"runners": [entry]}).encode())
        except RunnerError as exc:
            await r.aclose()
            raise ValueError(f"{h.name} refused static runner {name!r}: {exc.message}") from None
        self.runners[name] = r
        self.static_runners[name] = h.name
        out = got["runners"][0]
        self.bus.emit("stack", "stack.runner", name=name, action="static", runner_id=out["runner_id"],
                      label=entry["label"], orchestrator=h.name)
        return out

    def _beating(self) -> list[str]:
        """The dev runners that heartbeat by themselves now: registered over heartbeats, not silenced, their
        orchestrator up."""
        return [n for n, r in self.runners.items() if r.registration is not None and n not in self.silenced
                and self.runner_orchestrator(n).alive]

    async def advance(self, seconds: float) -> None:
        """Move the stack's clock ``seconds`` forward (a ``wait``, a gateway's payment cadence). On a stepped stack
        with dev runners the clock moves in slices that end where a heartbeat falls due, and the Live Runner pass runs
        at each, so runners heartbeat every interval on the stack's clock as they would on a wall clock (and a
        metered session is debited, and a silent runner expired, at the right instant)."""
        if not self.stepped or not self.runners:
            await self.clock.sleep(seconds)
            return
        end = self.clock.now() + seconds
        while True:
            due = [self.runner_beats.get(n, end) + self.runners[n].registration.heartbeat_interval_s
                   for n in self._beating()]
            nxt = min((t for t in due if t < end), default=None)
            if nxt is None:
                break
            self.clock.set(max(self.clock.now(), nxt))
            await self.sync_runners()
        self.clock.set(end)

    async def sync_runners(self) -> None:
        """A stepped stack's Live Runner pass (see above); nothing on a wall clock."""
        if not self.stepped or not self.runners:
            return
        now = self.clock.now()
        for name in self._beating():
            reg = self.runners[name].registration
            if now - self.runner_beats.get(name, now) >= reg.heartbeat_interval_s:
                try:
                    await self._heartbeat(name)
                except Exception as exc:  # noqa: BLE001 - as the SDK's loop: kept, tried again next time
                    reg.last_error = f"{type(exc).__name__}: {exc}"
                    self.log(f"runner {name} heartbeat failed: {reg.last_error}")
        for h in self.orchestrators.values():
            if h.alive:
                await h.server.runners.tick()
        for name, r in self.runners.items():
            if r.registration is not None and self.runner_orchestrator(name).alive:
                try:
                    await r.registration.read_o2r()
                except Exception as exc:  # noqa: BLE001 - a channel gone mid-read: read again next time
                    self.log(f"runner {name} O2R read failed: {type(exc).__name__}: {exc}")
