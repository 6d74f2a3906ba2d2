"""The live stack behind ``lpdev up``: chain, remote signer(s), fake orchestrator(s) and a scripted gateway, all
in ONE asyncio process on loopback, on wall-clock time (design.md §2).

Why not :class:`sim.stack.Stack`: that one is built for scenarios (virtual clock, orchestrators driven step by
step, random ports, plain-HTTP signers). ``lpdev up`` needs wall time, fixed well-known ports, the orchestrators'
own block poll, HTTPS signers (the SDK turns a bare ``host:port`` into ``https://``, ecosystem.md §1a.1) and signer
discovery. It composes the same public pieces: ``devnet`` backends, ``SignerCore``/``SignerServer``,
``OrchestratorServer`` and ``GatewaySession``.

Order: port check -> chain (anvil is spawned first so its start overlaps our imports; deploy, register and fund)
-> orchestrators (each registered and active on chain) -> signers (HTTPS on the fixed port + plain HTTP on a free
port, same core) -> readiness probes (chain RPC, signer sign-orchestrator-info, orchestrator GetOrchestrator over
TLS gRPC) -> gateway session(s). Then a block ticker mines one block every ``block_time`` seconds (and initializes
each new round, as the network's round initializer would), so ticket params expire and winners get redeemed.
``stop()`` reverses it and stops anvil (no orphan process).
"""
from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from lpdev.upconfig import UpConfig

__all__ = ["UpStack", "UpStackThread", "SignerInfo", "OrchInfo", "StartupError", "check_ports"]


class StartupError(Exception):
    """The stack could not start; the message names the cause and the fix."""


@dataclass
class SignerInfo:
    name: str
    role: str
    address: str
    core: object
    server: object  # HTTPS
    http_server: object  # plain HTTP, same core
    url: str = ""
    http_url: str = ""


@dataclass
class OrchInfo:
    name: str
    role: str
    address: str
    server: object
    url: str = ""


@dataclass
class GatewayRun:
    session: object
    task: asyncio.Task | None = None
    paid: int = 0
    outcomes: dict = field(default_factory=dict)
    job: object = None  # job mode: the running sim.gateway.job.LV2VJob
    jobs: int = 0  # job mode: jobs started


def check_ports(host: str, wanted: list[tuple[str, int]]) -> None:
    """Fail early, naming the service and the flag, if a fixed port is taken (0 = any port: never checked)."""
    for what, port in wanted:
        if not port:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError as exc:
            flag = {"anvil": "--eth-port", "signer": "--signer-port", "orchestrator": "--orch-port"}[what.split()[0]]
            why = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StartupError(
                f"port {port} ({what}) is {why}: another `lpdev up`, go-livepeer or anvil is probably running "
                f"(find it with `lsof -i :{port}` or `ss -ltnp | grep {port}`); stop it, or choose another port "
                f"with {flag} N, or --any-port to let the OS pick free ports") from None
        finally:
            s.close()


def _anvil_hint(msg: str) -> str:
    return (f"{msg}\n  install it: `make bootstrap` (runs `npm install` in devnet/tools, which pins "
            "@foundry-rs/anvil 1.7.1),\n  or point LPDEV_ANVIL at an anvil binary, or run without it: "
            "`lpdev up --chain embedded` (py-evm in process, no RPC URL for outside tools)")


class UpStack:
    def __init__(self, config: UpConfig, *, bus=None, log=None, anvil_process=None) -> None:
        from sim.clock import RealClock, Rng
        from sim.events import EventBus

        self.config = config.validate()
        self.clock = RealClock()  # time travel moves the chain and the token, never the clock
        self.rng = Rng(config.seed)
        self.bus = bus or EventBus(self.clock)
        from sim.scenario.gate import StepGate

        # Step mode (the TUI's pause / next / run): off by default, so the gateway pays at its cadence; when a
        # viewer pauses it, each gateway waits here before its next payment.
        self.gate = StepGate(enabled=False)
        self.log = log or (lambda msg: None)
        self.chain = None
        self.signers: list[SignerInfo] = []
        self.orchestrators: list[OrchInfo] = []
        self.gateways: list[GatewayRun] = []
        self._tasks: list[asyncio.Task] = []
        self._round_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tmp: str | None = None
        self._anvil = anvil_process  # an AnvilProcess spawned early by the CLI (its start overlaps our imports)
        self.timings: dict[str, float] = {}
        self.t0 = time.monotonic()

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "UpStack":
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
        cfg = self.config
        wanted = []
        if cfg.chain == "anvil" and self._anvil is None:
            wanted.append(("anvil JSON-RPC", cfg.eth_port))
        wanted += [(f"orchestrator {i + 1}", cfg.orch_port + i) for i in range(cfg.orchestrators) if cfg.orch_port]
        wanted += [(f"signer {i + 1}", cfg.signer_port + i) for i in range(cfg.signers) if cfg.signer_port]
        check_ports(cfg.host, wanted)
        await self._start_chain()
        self._tmp = tempfile.mkdtemp(prefix="lpdev-up-")
        for i, role in enumerate(cfg.orch_roles()):
            await self._start_orchestrator(i, role)
        self._mark("orchestrators")
        for i, role in enumerate(cfg.sender_roles()):
            await self._start_signer(i, role)
        self._mark("signers")
        await self.probe()
        self._mark("ready")
        self.bus.emit("stack", "stack.ready", chain=cfg.chain, signers=[s.name for s in self.signers],
                      orchestrators=[o.name for o in self.orchestrators],
                      gateways=["gateway" if i == 0 else f"gateway{i + 1}" for i in range(self._n_gateways())]
                      if cfg.gateway else [])

    async def start_gateways(self) -> None:
        """The scripted gateway session(s) (gateway i: orchestrator i and signer i, round-robin):
        sign-orchestrator-info and GetOrchestrator. Separate from :meth:`start`: the gateway is a client, not a
        service that must answer before the cast is written."""
        if self.config.gateway and not self.gateways:
            for i in range(self._n_gateways()):
                await self._start_gateway(i, self.orchestrators[i % len(self.orchestrators)])

    def _n_gateways(self) -> int:
        """One gateway per orchestrator or per signer, whichever is more: every actor takes part."""
        return max(self.config.orchestrators, self.config.signers)

    async def _start_chain(self) -> None:
        from devnet.base import AnvilMissing, ChainError
        from devnet.config import DevnetConfig
        from lpdev.upconfig import ORCH_ROLES, SENDER_ROLES

        cfg = self.config
        dc = DevnetConfig(round_length=cfg.round_length, sender_deposit=cfg.deposit, sender_reserve=cfg.reserve)
        roles = dict(dc.roles)
        roles.update(dict(ORCH_ROLES))
        roles.update(dict(SENDER_ROLES))
        dc.roles = roles
        dc.transcoders = tuple(cfg.orch_roles())
        dc.senders = tuple(cfg.sender_roles())
        try:
            if cfg.chain == "anvil":
                from devnet.backends.anvil import AnvilProcess

                if self._anvil is None:
                    # stopped by stop() even if we are cancelled while it deploys
                    self._anvil = AnvilProcess.spawn(port=cfg.eth_port or None, chain_id=dc.chain_id)
                from devnet.backends import evm

                opening = asyncio.create_task(asyncio.to_thread(evm.open_anvil, config=dc, process=self._anvil))
            else:
                from devnet.backends import evm

                opening = asyncio.create_task(asyncio.to_thread(evm.open_embedded, config=dc))
            # while the chain deploys (mostly waiting on RPCs), import the servers' modules (~1 s of CPU)
            import sim.gateway.session  # noqa: F401
            import sim.orchestrator.server  # noqa: F401
            import sim.signer.core  # noqa: F401
            import sim.signer.http  # noqa: F401
            self.chain = await opening
        except AnvilMissing as exc:
            raise StartupError(_anvil_hint(str(exc))) from None
        except ChainError as exc:
            raise StartupError(f"the chain did not start: {exc}") from None
        self._mark("chain")

    async def _start_orchestrator(self, i: int, role: str) -> None:
        from sim.orchestrator.recipient import Recipient
        from sim.orchestrator.server import OrchestratorServer
        from sim.pm.crypto import to_checksum_address

        cfg = self.config
        name = "orch" if i == 0 else f"orch{i + 1}"
        port = cfg.orch_port + i if cfg.orch_port else 0
        data_dir = Path(self._tmp) / name
        data_dir.mkdir(parents=True, exist_ok=True)
        rng = self.rng.child(name)
        server = OrchestratorServer(
            self.chain, eth_key=self.chain.key(role), data_dir=data_dir, service_addr=f"https://{cfg.host}:{port}",
            block_poll_s=min(1.0, cfg.block_time or 1.0), bus=self.bus, clock=self.clock, rng=rng, name=name,
            ticket_ev=cfg.ticket_ev, max_face_value=cfg.max_face_value, price_per_unit=cfg.price_per_unit,
            pixels_per_unit=cfg.pixels_per_unit, auto_adjust_price=False)
        if cfg.seed is not None:  # reproducible HMAC secret (go-livepeer draws it from crypto/rand per process)
            server.orch.secret = rng.bytes(32)
            server.orch.recipient = Recipient(server.orch.address, server.orch.secret)
        try:
            await server.start()
        except OSError as exc:
            raise StartupError(f"orchestrator {name} cannot listen on port {port}: {exc.strerror or exc}") from None
        self.orchestrators.append(OrchInfo(name, role, to_checksum_address(server.orch.address), server, server.url))

    async def _start_signer(self, i: int, role: str) -> None:
        from sim.pm.sender import SenderLimits
        from sim.signer.config import SignerConfig
        from sim.signer.core import SignerCore
        from sim.signer.discovery import Discovery, GrpcDiscoverySource
        from sim.signer.http import SignerServer

        cfg = self.config
        name = "signer" if i == 0 else f"signer{i + 1}"
        key = self.chain.key(role)
        scfg = SignerConfig(limits=SenderLimits(max_ticket_ev=Fraction(cfg.max_ticket_ev),
                                                max_total_ev=Fraction(cfg.max_total_ev)),
                            remote_discovery=cfg.remote_discovery,
                            orch_addrs=tuple(o.url for o in self.orchestrators))
        core = SignerCore(key=key, chain=self.chain, config=scfg, clock=self.clock, rng=self.rng.child(name),
                          events=self.bus, actor=name)
        await asyncio.to_thread(core.chain.get)  # warm the chain cache: a broken chain fails now
        discovery = None
        if cfg.remote_discovery:
            discovery = Discovery(GrpcDiscoverySource(scfg.orch_addrs, key), scfg, self.clock)
        port = cfg.signer_port + i if cfg.signer_port else 0
        https = SignerServer(core, host=cfg.host, port=port, tls=True, discovery=discovery)
        http = SignerServer(core, host=cfg.host, port=0, tls=False, discovery=discovery)
        try:
            await https.start()
            await http.start()
        except OSError as exc:
            await https.stop()
            raise StartupError(f"signer {name} cannot listen on port {port}: {exc.strerror or exc}") from None
        self.signers.append(SignerInfo(name, role, core.address_hex if hasattr(core, "address_hex")
                                       else self.chain.address(role), core, https, http, https.url, http.url))

    async def _start_gateway(self, i: int, o: OrchInfo) -> None:
        from sim.gateway.session import GatewayConfig, GatewaySession

        s = self.signers[i % len(self.signers)]
        name = "gateway" if i == 0 else f"gateway{i + 1}"
        gcfg = GatewayConfig(name=name, job_type=self.config.job_type, interval_s=self.config.interval)
        if self.config.lv2v_job:
            from sim.gateway.job import lv2v_capabilities

            gcfg.capabilities = lv2v_capabilities("noop")  # what the SDK sends for a noop job
        g = GatewaySession(gcfg, signer_urls=[s.http_url], signer_names=[s.name], orchestrator_url=o.url,
                           orchestrator_name=o.name, bus=self.bus, clock=self.clock)
        self.gateways.append(GatewayRun(g))
        await g.start()

    async def probe(self, timeout: float = 10.0) -> None:
        """Every service answers: chain RPC, each signer (HTTPS and HTTP) signs its orchestrator-info, each
        orchestrator answers GetOrchestrator over TLS gRPC with the first signer's identity."""
        from sim.gateway.orch_client import OrchestratorClient
        from sim.gateway.signer_client import SignerClient

        await asyncio.to_thread(self.chain.last_block)
        ident = None
        for s in self.signers:
            for url in (s.url, s.http_url):
                c = SignerClient([url], [s.name])
                try:
                    got = await asyncio.wait_for(c.sign_orchestrator_info(), timeout)
                except Exception as exc:  # noqa: BLE001
                    raise StartupError(f"signer {s.name} at {url} does not answer: {type(exc).__name__}: {exc}") \
                        from None
                finally:
                    await c.close()
                ident = ident or got
        for o in self.orchestrators:
            c = OrchestratorClient(o.url)
            try:
                await asyncio.wait_for(c.get_orchestrator(ident.address, ident.signature, ignore_capacity_check=True),
                                       timeout)
            except Exception as exc:  # noqa: BLE001
                raise StartupError(f"orchestrator {o.name} at {o.url} does not answer GetOrchestrator: "
                                   f"{type(exc).__name__}: {exc}") from None
            finally:
                await c.close()

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Block ticker + gateway payment loops until :meth:`request_stop`."""
        try:
            await self.start_gateways()
        except Exception as exc:  # noqa: BLE001 - the services keep running; say why there are no payments
            self.log(f"the scripted gateway could not start: {type(exc).__name__}: {exc}")
        self._tasks.append(asyncio.create_task(self._round_initializer(), name="round-initializer"))
        if self.config.block_time > 0:
            self._tasks.append(asyncio.create_task(self._block_ticker(), name="block-ticker"))
        for i, g in enumerate(self.gateways):
            loop = self._job_loop(g, i) if self.config.lv2v_job else self._pay_loop(g, i)
            g.task = asyncio.create_task(loop, name=f"pay-{g.session.name}")
            self._tasks.append(g.task)
        await self._stop.wait()
        if self.config.lv2v_job:  # let each job close its input and see the orchestrator stop it
            self.gate.continue_all()  # a job waiting for a step must see the stop
            tasks = [g.task for g in self.gateways if g.task is not None and not g.task.done()]
            if tasks:
                await asyncio.wait(tasks, timeout=5)

    def request_stop(self) -> None:
        self._stop.set()

    async def _block_ticker(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.config.block_time)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.mine_blocks(1, quiet=True)
            except Exception as exc:  # noqa: BLE001 - keep ticking; a dead anvil is caught by the watchdog
                self.log(f"block ticker: {type(exc).__name__}: {exc}")
                if self.chain_dead():
                    self._stop.set()
                    return

    def chain_dead(self) -> bool:
        proc = getattr(self.chain, "_process", None)
        return proc is not None and not proc.alive()

    async def _pay_loop(self, g: GatewayRun, i: int) -> None:
        # stagger several gateways so their payments interleave
        first = True
        while not self._stop.is_set():
            delay = (i * 0.7) if first else self.config.interval
            first = False
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass
            if g.session.stopped:
                return
            await self.gate.wait(g.paid, f"{g.session.name}: next payment")
            if self._stop.is_set():
                return
            try:
                out = await g.session.pay_once()
            except Exception as exc:  # noqa: BLE001 - a failed cycle is logged; the demo goes on
                self.log(f"{g.session.name}: payment cycle failed: {type(exc).__name__}: {exc}")
                continue
            g.outcomes[out.status] = g.outcomes.get(out.status, 0) + 1
            if out.status == "paid":
                g.paid += 1

    async def _job_loop(self, g: GatewayRun, i: int) -> None:
        """Job mode: run a paid noop LV2V job (sim.gateway.job) until the stack stops; a job that ends early
        (refused, insufficient balance, orchestrator restart) is followed by a new one after ``interval``."""
        from sim.gateway.job import JobConfig, JobError, LV2VJob

        delay = i * 0.7  # stagger several gateways
        name = g.session.name

        def count(status: str) -> None:
            g.outcomes[status] = g.outcomes.get(status, 0) + 1
            if status == "paid":
                g.paid += 1

        while not self._stop.is_set() and not g.session.stopped:
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass
            delay = self.config.interval
            await self.gate.wait(g.paid, f"{name}: start a live-video-to-video job")
            if self._stop.is_set():
                return
            job = g.job = LV2VJob(g.session, JobConfig(segment_s=self.config.segment_s,
                                                       payment_interval_s=self.config.interval),
                                  before_payment=lambda: self.gate.wait(g.paid, f"{name}: next payment"),
                                  on_payment=lambda out: count(out.status))
            try:
                await job.start()
                g.jobs += 1
                count("paid")  # the upfront payment that started the job
                await job.run(stop=self._stop)
            except JobError as exc:
                self.log(f"{name}: live-video-to-video job refused: {exc}")
                if exc.stage == "orchestrator":  # e.g. a restarted orchestrator: fresh ticket params first
                    try:
                        await g.session.refresh()
                    except Exception:  # noqa: BLE001 - the next attempt reports it
                        pass
            except Exception as exc:  # noqa: BLE001 - a failed job is logged; the demo goes on
                self.log(f"{name}: live-video-to-video job failed: {type(exc).__name__}: {exc}")
            finally:
                await job.close()

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
        for g in self.gateways:
            try:
                await g.session.close()
            except Exception:  # noqa: BLE001
                pass
        for s in self.signers:
            for srv in (s.server, s.http_server):
                try:
                    await srv.stop()
                except Exception:  # noqa: BLE001
                    pass
        for o in self.orchestrators:
            try:
                await o.server.stop()
            except Exception:  # noqa: BLE001
                pass
        if self._anvil is not None:
            await asyncio.to_thread(self._anvil.stop)  # idempotent; chain.close() stops it too
        if self.chain is not None:
            chain, self.chain = self.chain, None
            await asyncio.to_thread(chain.close)
            try:
                self.bus.emit("stack", "stack.stopped")
            except Exception:  # noqa: BLE001
                pass
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # ------------------------------------------------------------------ time travel (tui.control.StackControl)
    async def mine_blocks(self, n: int, *, quiet: bool = False) -> dict:
        """Mine ``n`` blocks; initialize a new round if that entered one (the network's round initializer)."""
        chain = self.chain
        out = await asyncio.to_thread(chain.mine, n)
        if not quiet or out.get("to_round") != out.get("from_round"):
            self.bus.emit("chain", "chain.mined", blocks=n, to_block=out.get("to_block"), round=out.get("to_round"))
        await self.ensure_round_initialized()
        for o in self.orchestrators:
            await o.server.refresh()
        for s in self.signers:  # the signers' block watchers see the new block now, not up to 0.5 s later
            await asyncio.to_thread(s.core.chain.get, force=True)
        return out

    async def ensure_round_initialized(self) -> bool:
        """``initializeRound()`` if the current round is not initialized yet (go-livepeer's ``-initializeRound``
        round initializer). Blocks are not only mined by the ticker and time travel: every transaction (a
        redemption, a deposit) mines one on an automining chain, so a round boundary can be crossed by any of
        them. Returns whether a round was initialized."""
        async with self._round_lock:
            chain = self.chain
            if chain is None:
                return False
            cur, last = await asyncio.to_thread(lambda: (chain.current_round(), chain.last_initialized_round()))
            res = await asyncio.to_thread(chain.initialize_round, chain.key("deployer"))
            if cur == last and not res.ok:
                # The usual case: nothing to do. The call was still needed: transactions are simulated in the
                # pending block, so when the chain is parked on a round's last block every redemption reverts with
                # "current round is not initialized" and is not sent -- no block is mined, and on an automining
                # chain nothing else would ever start the next round. initializeRound succeeds exactly then (it
                # is mined as the new round's first block).
                return False
            self.bus.emit("chain", "chain.round_initialized", ok=res.ok, round=chain.last_initialized_round(),
                          block=chain.last_block(), **({} if res.ok else {"reason": res.revert_reason}))
            return res.ok

    async def _round_initializer(self) -> None:
        """Watch the chain and initialize each new round, however the boundary was crossed."""
        period = min(1.0, self.config.block_time) if self.config.block_time > 0 else 0.5
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), period)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.ensure_round_initialized()
            except Exception as exc:  # noqa: BLE001 - keep watching; a dead anvil is caught by the watchdog
                self.log(f"round initializer: {type(exc).__name__}: {exc}")
                if self.chain_dead():
                    return

    async def advance_round(self) -> dict:
        rl = self.chain.round_length()
        b = self.chain.last_block()
        return await self.mine_blocks(rl - b % rl)

    async def expire_auth_token(self) -> dict:
        """Put each scripted gateway's auth token into its last 180 s (§5): its next payment gets 480 and it
        refreshes. The gateway's copy of the token gets an earlier expiration (the signer reads it from the
        OrchestratorInfo the gateway sends and answers 480 before any ticket is made). The clocks are not moved:
        jumping ~27 min would bill a live-video session for 27 unpaid minutes, > 100 tickets, which the signer
        refuses with 400 on every later call (§3.7 step 23) -- a stalled stack, not the lesson of this key."""
        from sim.signer.core import AUTH_TOKEN_REFRESH_MARGIN_S

        sessions = [g.session for g in self.gateways if g.session.info is not None]
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
        for o in self.orchestrators:
            node = o.server.orch
            cur = node.faults.price_per_unit if node.faults.price_per_unit is not None else node.config.price_per_unit
            new = -(-cur * Fraction(factor).numerator // Fraction(factor).denominator)  # ceil, integer wei
            changed = node.faults.update({"price_per_unit": int(new)})
            node.emit("orch.faults", changed=changed, faults=node.faults.to_dict())
            out[o.name] = int(new)
        return out

    async def restart_orchestrator(self, name: str | None = None) -> str:
        """Stop an orchestrator and start it again on the same port and data dir: a new certificate (the SDK's
        TOFU retry copes) and a new secret, like a restarted go-livepeer; stored winners are recovered."""
        from sim.orchestrator.server import OrchestratorServer

        o = next((x for x in self.orchestrators if name in (None, x.name)), None)
        if o is None:
            raise KeyError(f"no orchestrator {name!r}")
        old = o.server
        await old.stop()
        cfg = self.config
        server = OrchestratorServer(
            self.chain, eth_key=self.chain.key(o.role), data_dir=old.data_dir, service_addr=o.url,
            block_poll_s=old.block_poll_s, bus=self.bus, clock=self.clock, rng=self.rng.child(o.name + "#restart"),
            name=o.name, ticket_ev=cfg.ticket_ev, max_face_value=cfg.max_face_value,
            price_per_unit=cfg.price_per_unit, pixels_per_unit=cfg.pixels_per_unit, auto_adjust_price=False)
        await server.start()
        o.server = server
        self.bus.emit("stack", "stack.actor", name=o.name, action="restart")
        return o.name

    def facts(self) -> dict:
        chain = self.chain
        if chain is None:
            return {}
        out = {"last_block": chain.last_block(), "current_round": chain.current_round(),
               "round_length": chain.round_length(), "now": self.clock.now(),
               "orchestrator_alive": bool(self.orchestrators), "expire_moves_clock": False}
        if self.orchestrators:
            counts = [o.server.orch.store.counts() for o in self.orchestrators]
            out["pending_winners"] = sum(c.get("queued", 0) + c.get("sending", 0) for c in counts)
        if self.gateways and self.gateways[0].session.info is not None:
            from sim.pm.ticket import from_minbytes

            info = self.gateways[0].session.info
            out["expiration_block"] = from_minbytes(info.ticket_params.expiration_block)
            out["auth_expiration"] = info.auth_token.expiration
            if info.price_info.pixelsPerUnit:
                out["price"] = Fraction(info.price_info.pricePerUnit, info.price_info.pixelsPerUnit)
        return out

    def summary(self) -> dict:
        """Counts for the shutdown line and tests."""
        out = {"payments": sum(g.paid for g in self.gateways), "outcomes": {}}
        for g in self.gateways:
            for k, v in g.outcomes.items():
                out["outcomes"][k] = out["outcomes"].get(k, 0) + v
        kinds = {}
        for e in list(self.bus.recent):
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        out["winners"] = kinds.get("orch.winner_stored", 0)
        out["redeemed"] = kinds.get("orch.redemption_mined", 0)
        return out


def _register_kinds() -> None:
    from sim.events import register_kinds

    register_kinds({
        "chain.mined": "lpdev up mined blocks (block ticker or time travel)",
        "chain.round_initialized": "lpdev up initialized a new round (as the network's round initializer does)",
        # same kinds (and meanings) as sim.stack, which lpdev up does not import
        "stack.chain": "a chain operation of the stack (mine, advance round, fund, unlock, withdraw)",
        "stack.actor": "an actor was killed or restarted",
    })


_register_kinds()


class UpStackThread:
    """An :class:`UpStack` on its own event loop in a background thread, for synchronous callers (the SDK is
    blocking: urllib + sync gRPC) — tests, notebooks. ``with UpStackThread(cfg) as t: t.stack ...``; ``t.call(coro)``
    runs a coroutine on the stack's loop."""

    def __init__(self, config: UpConfig, *, run_loops: bool = True) -> None:
        import threading

        self.config = config
        self.run_loops = run_loops
        self.loop = asyncio.new_event_loop()
        self.stack: UpStack | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="lpdev-up", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        finally:
            self.loop.close()

    async def _run(self) -> None:
        self.stack = UpStack(self.config)
        try:
            await self.stack.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of start()
            self.error = exc
            self._ready.set()
            await self.stack.stop()
            return
        self._ready.set()
        try:
            if self.run_loops:
                await self.stack.run()
            else:
                await self.stack._stop.wait()
        finally:
            await self.stack.stop()

    def start(self, timeout: float = 120.0) -> "UpStackThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise StartupError(f"the stack did not start within {timeout:.0f} s")
        if self.error is not None:
            self._thread.join(30)
            raise self.error
        return self

    def call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread.is_alive() and self.stack is not None:
            self.loop.call_soon_threadsafe(self.stack.request_stop)
        self._thread.join(timeout)

    def __enter__(self) -> "UpStackThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
