"""The in-process stack: chain + remote signer(s) + orchestrator(s) + scripted gateway(s) on loopback, in ONE
asyncio process with ONE :class:`~sim.events.EventBus`, one clock and one seeded :class:`~sim.clock.Rng`
(design.md §2 "what `lpdev up` starts, in what order"). Scenarios drive it step by step; ``lpdev up`` can run it.

Order: chain (``devnet.open_chain``; setup funds the senders and activates the transcoders) -> scripted auth
webhook (if any signer has one) -> signers (HTTP) -> orchestrators (one TLS port each) -> gateways (clients).
``stop()`` reverses it and closes the chain (a managed anvil is stopped: no orphan).

Determinism (design.md §3): with ``virtual_clock`` every actor reads the same :class:`VirtualClock`; ids, seeds
and the orchestrators' HMAC secrets come from ``Rng(seed).child(actor)``; the orchestrators' block poll is not
run on wall time — :meth:`Stack.sync` (after every scenario step) lets each orchestrator see the chain and run
one redemption pass, in a fixed order. URLs, ports, data dirs and certificate fingerprints differ per run: they
appear only in ``orch.started``-style events, and :meth:`Stack.normalise` rewrites them to actor names.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from aiohttp import web

from sim.clock import RealClock, Rng, VirtualClock
from sim.events import Event, EventBus, register_kinds
from sim.gateway.session import GatewayConfig, GatewaySession

__all__ = ["StackConfig", "SignerSpec", "OrchestratorSpec", "GatewaySpec", "Stack", "DEFAULT_START_TIME"]

DEFAULT_START_TIME = 1_780_000_000  # virtual clock start (2026-05-28), seconds since the epoch
ETHER = 10**18

register_kinds({
    "stack.chain": "a chain operation of the stack (mine, advance round, fund, unlock, withdraw)",
    "stack.actor": "an actor was killed or restarted",
    "stack.webhook": "the scripted auth webhook answered a signer",
})


@dataclass
class SignerSpec:
    name: str = "signer"
    account: str = "sender"  # devnet role whose key the signer holds (two stateless signers may share one)
    max_price: str | None = None  # -maxPricePerUnit/-pixelsPerUnit as a rational, None = accept any
    # The bench's defaults, not go-livepeer's (3e12 / 2e13 wei): with EVs big enough that faceValue = 100 x EV on
    # every chain's gas price, Go's limits would refuse every ticket. Scenarios about the limits set them.
    max_ticket_ev: int | None = 10**17
    max_total_ev: int | None = 10**20
    deposit_multiplier: int | None = None
    webhook: list[dict] | None = None  # scripted auth webhook replies (the last one repeats)
    replay_protection: bool = True
    max_price_per_capability: str = ""


@dataclass
class OrchestratorSpec:
    name: str = "orch"
    account: str = "orchestrator"
    price_per_unit: int = 10**7  # wei per pixel: a 5 s LV2V payment (138 240 000 px) is ~1.4 tickets
    pixels_per_unit: int = 1
    ticket_ev: int = 10**15  # high enough that faceValue = 100 x EV on every chain's gas price (§2.7 step 3)
    max_face_value: int = 0
    auto_adjust_price: bool = False  # go-livepeer's default is true; off keeps prices chain-independent
    # go-livepeer's 350 000 makes faceValue = 100 x txCost, i.e. depend on the chain's gas price; 1 000 keeps
    # faceValue = 100 x ticket EV on every backend (§2.7 step 3), so outcomes agree across chains.
    redeem_gas: int | None = 1000
    faults: dict = field(default_factory=dict)
    tls: bool = True


@dataclass
class GatewaySpec:
    name: str = "gw"
    signers: list[str] = field(default_factory=lambda: ["signer"])
    orchestrator: str = "orch"
    type: str = "lv2v"
    manifest_id: str = "auto"
    in_pixels: int = 0
    app: str = ""
    max_price: dict | None = None
    interval_s: float = 5.0
    headers: dict = field(default_factory=dict)
    adopt_payment_info: bool = True  # False: keep the old params after /payment like the SDK does


@dataclass
class StackConfig:
    chain: str = "mock"
    seed: int | None = 1
    virtual_clock: bool = True
    start_time: int = DEFAULT_START_TIME
    deposit: int = 100 * ETHER
    reserve: int = 100 * ETHER
    round_length: int = 100  # blocks; > 2 x 40 so params expiry (40 blocks) fits inside the ticket validity
    signers: list[SignerSpec] = field(default_factory=lambda: [SignerSpec()])
    orchestrators: list[OrchestratorSpec] = field(default_factory=lambda: [OrchestratorSpec()])
    gateways: list[GatewaySpec] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict, *, chain: str | None = None, seed: int | None = None) -> "StackConfig":
        """From a scenario's validated ``stack:`` mapping; ``chain``/``seed`` override the file."""
        def spec(kind, raw, defaults=None):
            kw = {k: v for k, v in raw.items() if not str(k).startswith("_")}
            return kind(**{**(defaults or {}), **kw})

        signers = [spec(SignerSpec, s) for s in d.get("signers", [])] or [SignerSpec()]
        orchs = []
        for i, o in enumerate(d.get("orchestrators", [])):
            orchs.append(spec(OrchestratorSpec, o, {"account": "orchestrator" if i == 0 else f"orchestrator{i + 1}"}))
        gws = []
        for g in d.get("gateways", []):
            raw = dict(g)
            if isinstance(raw.get("signers"), str):
                raw["signers"] = [raw["signers"]]
            raw.setdefault("signers", [signers[0].name])
            raw.setdefault("orchestrator", orchs[0].name if orchs else "orch")
            gws.append(spec(GatewaySpec, raw))
        return cls(chain=chain or d.get("chain", "mock"),
                   seed=seed if seed is not None else d.get("seed", 1),
                   start_time=int(d.get("start_time", DEFAULT_START_TIME)),
                   deposit=int(d.get("deposit", 100 * ETHER)), reserve=int(d.get("reserve", 100 * ETHER)),
                   round_length=int(d.get("round_length", 100)),
                   signers=signers, orchestrators=orchs or [OrchestratorSpec()], gateways=gws)


# ====================================================================================== scripted webhook
class ScriptedWebhook:
    """The signer's auth webhook (protocol.md §3.11) answering from a script: reply i for call i, the last reply
    repeats. A reply is the JSON body, plus optional ``http_status`` (transport status, default 200) and
    ``expiry_in`` (seconds from now on the stack's clock, becomes ``expiry``)."""

    def __init__(self, name: str, replies: list[dict], bus: EventBus, clock) -> None:
        self.name, self.replies, self.bus, self.clock = name, list(replies), bus, clock
        self.calls = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        i = min(self.calls, len(self.replies) - 1)
        self.calls += 1
        reply = dict(self.replies[i]) if self.replies else {"status": 200}
        http_status = int(reply.pop("http_status", 200))
        if "expiry_in" in reply:
            reply["expiry"] = int(self.clock.now()) + int(reply.pop("expiry_in"))
        try:
            state = json.loads(body).get("state", {})
        except ValueError:
            state = {}
        self.bus.emit(self.name, "stack.webhook", call=self.calls, reply=reply, http_status=http_status,
                      state_seq=state.get("SequenceNumber"))
        return web.Response(status=http_status, body=json.dumps(reply).encode(),
                            content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}/webhook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


# ====================================================================================== handles
@dataclass
class SignerHandle:
    spec: SignerSpec
    core: object
    server: object
    webhook: ScriptedWebhook | None = None

    @property
    def url(self) -> str:
        return self.server.url


@dataclass
class OrchestratorHandle:
    spec: OrchestratorSpec
    data_dir: Path
    server: object | None = None
    port: int = 0
    url: str = ""
    alive: bool = False
    restarts: int = 0

    @property
    def node(self):
        return self.server.orch if self.server is not None else None


class Stack:
    def __init__(self, config: StackConfig, *, bus: EventBus | None = None, workdir: str | Path | None = None,
                 chain=None) -> None:
        """``chain``: an already open chain set up with :meth:`devnet_config` (borrowed: not closed by
        :meth:`stop`; tests reuse one py-evm chain through snapshot/revert)."""
        self.config = config
        self._borrowed_chain = chain
        self.clock = VirtualClock(config.start_time) if config.virtual_clock else RealClock()
        self.rng = Rng(config.seed)
        self.bus = bus or EventBus(self.clock)
        self.chain = None
        self.signers: dict[str, SignerHandle] = {}
        self.orchestrators: dict[str, OrchestratorHandle] = {}
        self.gateways: dict[str, GatewaySession] = {}
        self._tmp = None
        self.workdir = Path(workdir) if workdir else None
        self._names: dict[str, str] = {}  # text seen in events -> stable replacement
        self.withdrawn: dict[str, int] = {}  # role -> wei paid out by withdraw()
        self.funded: dict[str, int] = {}  # role -> wei added by fund steps
        self.initial_money: dict | None = None
        self._synced_block = -1

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

    def _devnet_config(self):
        return self.devnet_config(self.config)

    @staticmethod
    def devnet_config(config: StackConfig):
        """The chain setup a stack needs (transcoders, funded senders, deposit, reserve, round length)."""
        from devnet.config import DevnetConfig

        cfg = DevnetConfig(round_length=config.round_length, sender_deposit=config.deposit,
                           sender_reserve=config.reserve)
        cfg.transcoders = tuple(dict.fromkeys(o.account for o in config.orchestrators))
        cfg.senders = tuple(dict.fromkeys(s.account for s in config.signers))
        roles = dict(cfg.roles)
        for extra, idx in (("orchestrator3", 6), ("sender3", 7)):
            roles.setdefault(extra, idx)
        cfg.roles = roles
        return cfg

    async def start(self) -> None:
        from devnet import open_chain

        if self.workdir is None:
            self._tmp = tempfile.mkdtemp(prefix="lpdev-stack-")
            self.workdir = Path(self._tmp)
        self._names[str(self.workdir)] = "<workdir>"
        if self._borrowed_chain is not None:
            self.chain = self._borrowed_chain
        else:
            # on a virtual clock, py-evm stamps blocks from the clock's start, not the wall clock: same block
            # hashes, hence the same recipientRandHash and ticket hashes, every run (design.md §3)
            genesis = self.config.start_time if self.config.virtual_clock else None
            self.chain = await asyncio.to_thread(open_chain, self.config.chain, config=self._devnet_config(),
                                                 genesis_timestamp=genesis)
        if getattr(self.chain, "eth_url", None):
            self._names[self.chain.eth_url] = "<chain>"
        for spec in self.config.signers:
            await self._start_signer(spec)
        for spec in self.config.orchestrators:
            h = OrchestratorHandle(spec, self.workdir / spec.name)
            h.data_dir.mkdir(parents=True, exist_ok=True)
            self.orchestrators[spec.name] = h
            await self._start_orchestrator(h)
        for spec in self.config.gateways:
            self._make_gateway(spec)
        self.initial_money = self.money()
        self.bus.emit("stack", "stack.ready", chain=self.config.chain, signers=list(self.signers),
                      orchestrators=list(self.orchestrators), gateways=list(self.gateways))

    async def stop(self) -> None:
        for g in list(self.gateways.values()):
            try:
                await g.close()
            except Exception:
                pass
        for h in self.orchestrators.values():
            if h.alive:
                await self._stop_orchestrator(h)
        for s in self.signers.values():
            await s.server.stop()
            if s.webhook:
                await s.webhook.stop()
        if self.chain is not None:
            if self._borrowed_chain is None:
                await asyncio.to_thread(self.chain.close)
            self.chain = None
            self.bus.emit("stack", "stack.stopped")
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # ------------------------------------------------------------------ actors
    async def _start_signer(self, spec: SignerSpec) -> None:
        from sim.pm.money import parse_rat
        from sim.pm.sender import SenderLimits
        from sim.signer.config import SignerConfig, parse_capability_max_prices
        from sim.signer.core import SignerCore
        from sim.signer.http import SignerServer

        limits = SenderLimits()
        kw = {}
        if spec.max_ticket_ev is not None:
            kw["max_ticket_ev"] = Fraction(spec.max_ticket_ev)
        if spec.max_total_ev is not None:
            kw["max_total_ev"] = Fraction(spec.max_total_ev)
        if spec.deposit_multiplier is not None:
            kw["deposit_multiplier"] = spec.deposit_multiplier
        if kw:
            from dataclasses import replace

            limits = replace(limits, **kw)
        max_price = parse_rat(str(spec.max_price)) if spec.max_price not in (None, "", "0", 0) else None
        webhook = None
        if spec.webhook is not None:
            webhook = ScriptedWebhook(f"{spec.name}-webhook", spec.webhook, self.bus, self.clock)
            await webhook.start()
            self._names[webhook.url] = f"<{spec.name}-webhook>"
        cfg = SignerConfig(max_price=max_price, limits=limits, webhook_url=webhook.url if webhook else None,
                           replay_protection=spec.replay_protection,
                           # virtual time: re-read only when the stack says the chain moved (Stack.sync)
                           chain_max_age_s=1e12 if self.config.virtual_clock else 0.5)
        if spec.max_price_per_capability:
            cfg.capability_max_prices = parse_capability_max_prices(
                spec.max_price_per_capability, pixels_per_unit=Fraction(1), max_price_per_unit=Fraction(0))
        core = SignerCore(key=self.chain.key(spec.account), chain=self.chain, config=cfg, clock=self.clock,
                          rng=self.rng.child(spec.name), events=self.bus, actor=spec.name)
        server = SignerServer(core, host="127.0.0.1", port=0)
        await server.start()
        self._names[server.url] = f"<{spec.name}>"
        self.signers[spec.name] = SignerHandle(spec, core, server, webhook)

    async def _start_orchestrator(self, h: OrchestratorHandle) -> None:
        from sim.orchestrator.server import OrchestratorServer

        spec = h.spec
        scheme = "https" if spec.tls else "http"
        rng = self.rng.child(f"{spec.name}#{h.restarts}")
        cfg = dict(name=spec.name, ticket_ev=spec.ticket_ev, price_per_unit=spec.price_per_unit,
                   pixels_per_unit=spec.pixels_per_unit, max_face_value=spec.max_face_value,
                   auto_adjust_price=spec.auto_adjust_price)
        if spec.redeem_gas is not None:
            cfg["redeem_gas"] = spec.redeem_gas
        # go-livepeer draws the HMAC secret per process from crypto/rand; under a seed it comes from the Rng so
        # that win/lose outcomes replay. The stack drives chain refresh and redemption itself (no wall-clock poll).
        secret = rng.bytes(32) if self.config.seed is not None else None
        server = OrchestratorServer(self.chain, eth_key=self.chain.key(spec.account), data_dir=h.data_dir,
                                    service_addr=f"{scheme}://127.0.0.1:{h.port}", bus=self.bus, clock=self.clock,
                                    rng=rng, secret=secret, block_poll_s=None,
                                    faults=dict(spec.faults) if h.restarts == 0 else None, **cfg)
        await server.start()
        h.server, h.port, h.url, h.alive = server, server.port, server.url, True
        self._names[server.url] = f"<{spec.name}>"
        self._names[str(h.data_dir)] = f"<{spec.name}-data>"
        if server.cert is not None:
            self._names[server.cert.fingerprint_sha256] = f"<{spec.name}-cert>"

    async def _stop_orchestrator(self, h: OrchestratorHandle) -> None:
        # Drop the gateways' connections first (a dead process drops them too); the server then stops at once
        # instead of waiting for keep-alive HTTP/2 connections. The clients reconnect lazily.
        for g in self.gateways.values():
            if g.orchestrator_name == h.spec.name:
                await g.orch.close()
        if h.server is not None:
            await h.server.stop()
        h.alive = False

    def _make_gateway(self, spec: GatewaySpec) -> GatewaySession:
        cfg = GatewayConfig(name=spec.name, job_type=spec.type, in_pixels=spec.in_pixels, manifest_id=spec.manifest_id,
                            app=spec.app, max_price=spec.max_price, interval_s=spec.interval_s,
                            signer_headers=dict(spec.headers), adopt_payment_info=spec.adopt_payment_info)
        o = self.orchestrators[spec.orchestrator]
        g = GatewaySession(cfg, signer_urls=[self.signers[s].url for s in spec.signers], signer_names=spec.signers,
                           orchestrator_url=o.url, orchestrator_name=spec.orchestrator, bus=self.bus, clock=self.clock)
        self.gateways[spec.name] = g
        return g

    async def kill(self, name: str) -> None:
        """Stop an orchestrator at once; its SQLite data dir (winning tickets) survives."""
        h = self.orchestrators[name]
        await self._stop_orchestrator(h)
        self.bus.emit("stack", "stack.actor", name=name, action="kill")

    async def restart(self, name: str) -> None:
        """Start a killed (or running) orchestrator again on the same port and data dir: a new process secret and
        a new certificate, like a restarted go-livepeer; stored winners are recovered and redeemed."""
        h = self.orchestrators[name]
        if h.alive:
            await self._stop_orchestrator(h)
        h.restarts += 1
        await self._start_orchestrator(h)
        self.bus.emit("stack", "stack.actor", name=name, action="restart", restarts=h.restarts)
        await self.sync(force=True)

    def set_faults(self, name: str, faults: dict) -> list[str]:
        h = self.orchestrators[name]
        changed = h.node.faults.update(faults)
        h.node.emit("orch.faults", changed=changed, faults=h.node.faults.to_dict())
        return changed

    # ------------------------------------------------------------------ chain
    async def sync(self, *, force: bool = False) -> None:
        """If the chain moved (or ``force``): every live orchestrator sees it and runs one redemption pass, in
        a fixed order, then the signers re-read it. Chain reads are slow on py-evm, so nothing is re-read while
        the block number stands still (every chain change goes through the stack and mines a block)."""
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

    async def mine(self, n: int, *, initialize_round: bool = True) -> dict:
        """Mine ``n`` blocks; if that enters a new round, initialize it (the network's round initializer does this
        on a live chain; without it every redemption reverts with "current round is not initialized")."""
        out = await self._chain(self.chain.mine, n)
        self.bus.emit("stack", "stack.chain", op="mine", blocks=n, to_block=out.get("to_block"))
        if initialize_round and self.chain.current_round() != self.chain.last_initialized_round():
            res = await self._chain(self.chain.initialize_round, self.chain.key("deployer"))
            self.bus.emit("stack", "stack.chain", op="initialize_round", ok=res.ok,
                          round=self.chain.last_initialized_round())
        await self.sync()
        return out

    async def advance_round(self, n: int = 1) -> dict:
        out = {}
        for _ in range(n):
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

    # ------------------------------------------------------------------ money
    def sender_roles(self) -> list[str]:
        return list(dict.fromkeys(s.account for s in self.config.signers))

    def money(self) -> dict:
        """Deposit + reserve per sender role and pending fees per orchestrator (wei)."""
        out = {"senders": {}, "orchestrators": {}}
        for role in self.sender_roles():
            info = self.chain.sender_info(bytes.fromhex(self.chain.address(role)[2:]))
            out["senders"][role] = {"deposit": info.deposit, "reserve": info.reserve}
        for name, h in self.orchestrators.items():
            out["orchestrators"][name] = self.chain.pending_fees(bytes.fromhex(self.chain.address(h.spec.account)[2:]))
        return out

    # ------------------------------------------------------------------ traces
    def normalise(self, ev: Event) -> Event:
        """Replace per-run text (URLs, ports, temp dirs, certificate fingerprints) by stable actor names."""
        s = ev.to_json()
        if not any(k in s for k in self._names):
            return ev
        for k in sorted(self._names, key=len, reverse=True):
            s = s.replace(json.dumps(k)[1:-1], self._names[k])
        d = json.loads(s)
        return Event(d["seq"], d["t"], d["actor"], d["kind"], d["data"])

