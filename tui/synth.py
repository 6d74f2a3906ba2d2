"""A small in-process stack built on the real PM core, for `lpdev tui --demo`, `bench tui` and test traces
(the walkthrough tours run library scenarios on the real actors instead).

This is *not* the signer or the orchestrator: those live in ``sim/signer`` and ``sim/orchestrator`` and
speak the real wire. This driver calls the same sans-IO functions they do (``sim.pm``: ticket params issuance
§2.7, billable units §3.8, fee → tickets → balance §3.9, ticket batches and nonces §2.9, the win test §2.5)
and emits events shaped like theirs, so the TUI can be shown and tested with this run's real numbers when no
stack is running. It also implements :class:`tui.control.StackControl`, so the time-travel keys work on it.

Keys are throwaway dev keys (anvil's well-known accounts).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterator

from sim.clock import Rng, VirtualClock
from sim.events import Event, EventBus
from sim.pm.accounting import MAX_TICKETS_PER_CALL, balance_update, billable_units
from sim.pm.crypto import keccak, private_key_to_address
from sim.pm.params import AUTH_TOKEN_VALIDITY_S, RecipientConfig, TicketParams
from sim.pm.sender import create_ticket_batch
from sim.pm.ticket import is_winning_ticket

__all__ = ["DemoConfig", "DemoStack", "DemoBus", "synthetic_trace", "SENDER_KEY", "ORCH_KEY"]

# anvil's well-known dev accounts 0 and 1 (throwaway keys, public knowledge).
SENDER_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
ORCH_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")

REFRESH_WINDOW_S = 180  # §5: 480 in the last 180 s of the token's 30-min validity
REDEEM_GAS_USED = 92_000  # what a redeemWinningTicket typically costs on the dev chain (display only)


class DemoBus(EventBus):
    """An :class:`EventBus` for the demo stack: its kinds are the demo's own, so they are not registered
    globally (registering ``signer.*`` names from here could hide a typo in the real signer)."""

    def __init__(self, clock=None, **kw: Any) -> None:
        super().__init__(clock, strict=False, **kw)


@dataclass
class DemoConfig:
    job_type: str = "lv2v"
    interval_s: float = 5.0
    # O's price: 1200 wei per 7 pixels — a rational price, so balances are fractions (§3.9).
    price_per_unit: int = 1200
    pixels_per_unit: int = 7
    ticket_ev: int = 8_000_000_000
    max_face_value: int = 0  # 0 = none; a small cap raises the win probability (winner walkthrough)
    gas_price: int = 1
    deposit: int = 10**18
    reserve: int = 10**18
    start_block: int = 100
    blocks_per_payment: int = 1
    round_length: int = 50
    max_price: Fraction | None = None  # signer's configured maximum price per unit
    seed: int = 7
    manifest_id: str = ""


@dataclass
class _Session:
    params: TicketParams | None = None
    rand: int = 0
    state: dict = field(default_factory=dict)
    auth_expiration: int = 0
    manifest_id: str = ""
    seq: int = 0


class DemoStack:
    """Gateway + signer + orchestrator + chain, in one object, stepping on a virtual clock."""

    def __init__(self, cfg: DemoConfig | None = None, *, bus: EventBus | None = None) -> None:
        self.cfg = cfg or DemoConfig()
        self.clock = VirtualClock()
        self.bus = bus if bus is not None else DemoBus(self.clock)
        if getattr(self.bus, "_clock", None) is None:
            self.bus._clock = self.clock
        self.rng = Rng(self.cfg.seed)
        self.sender = private_key_to_address(SENDER_KEY)
        self.orch = private_key_to_address(ORCH_KEY)
        self.secret = self.rng.child("orch").bytes(32)
        self.block = self.cfg.start_block
        self.round = 10
        self.price = Fraction(self.cfg.price_per_unit, self.cfg.pixels_per_unit)
        self.recipient_cfg = RecipientConfig(ev=self.cfg.ticket_ev, max_face_value=self.cfg.max_face_value)
        self.deposit = self.cfg.deposit
        self.reserve = self.cfg.reserve
        self.signer_balance = Fraction(0)
        self.orch_balance: dict[str, Fraction] = {}
        self.orch_fees = 0
        self.nonces: dict[str, int] = {}
        self.winners: list[dict] = []  # stored, not yet redeemed
        self.orch_alive = True
        self.s = _Session()
        self.payments = 0

    # -- helpers ---------------------------------------------------------------------------------------
    def emit(self, actor: str, kind: str, **data: Any) -> Event:
        return self.bus.emit(actor, kind, **data)

    def _issue_params(self) -> None:
        seed = self.rng.child(f"seed{self.block}:{self.payments}").int(128)
        params, rand = TicketParams.issue(
            secret=self.secret, cfg=self.recipient_cfg, recipient=self.orch, sender=self.sender,
            price=self.price, gas_price=self.cfg.gas_price, max_float=self.reserve, seed=seed,
            last_block=self.block, creation_round=self.round, creation_round_block_hash=keccak(b"round%d" % self.round))
        self.s.params, self.s.rand = params, rand
        self.s.auth_expiration = int(self.clock.now()) + AUTH_TOKEN_VALIDITY_S
        self.emit("orch", "orch.params.issued", recipient_rand_hash=params.recipient_rand_hash,
                  face_value=params.face_value, win_prob=params.win_prob, ev=params.ev,
                  expiration_block=params.expiration_block, creation_round=params.creation_round,
                  price=self.price, auth_expiration=self.s.auth_expiration, seed=params.seed, block=self.block)

    def facts(self) -> dict:
        p = self.s.params
        return {
            "last_block": self.block, "current_round": self.round, "round_length": self.cfg.round_length,
            "expiration_block": p.expiration_block if p else None,
            "auth_expiration": self.s.auth_expiration or None, "now": self.clock.now(),
            "price": self.price, "initial_price": _initial_price(self.s.state),
            "max_price": self.cfg.max_price, "orchestrator_alive": self.orch_alive,
            "pending_winners": len(self.winners), "signer_balance": self.signer_balance,
            "expire_moves_clock": False,
        }

    # -- the gateway's payment loop (§3.14) -----------------------------------------------------------
    def start(self) -> None:
        self.emit("gateway", "gateway.session.start", job_type=self.cfg.job_type)
        self._issue_params()
        self.emit("chain", "chain.sender", deposit=self.deposit, reserve=self.reserve, block=self.block)

    def pay(self) -> int:
        """One RequestPayment + /payment. Returns the signer's status (200, 480, 481 or 482)."""
        if self.s.params is None:
            self.start()
        if self.payments:
            self.clock.advance(self.cfg.interval_s)
            self.mine(self.cfg.blocks_per_payment, quiet=True)
        self.payments += 1
        for _ in range(4):  # go-livepeer retries a 480 after refreshing, at most 3 times in a row
            status = self._sign_once()
            if status != 480:
                return status
            if not self.orch_alive:
                return status
            self.emit("gateway", "gateway.session.refresh", reason="signer answered 480", to="orch")
            self._issue_params()
        return 480

    def _sign_once(self) -> int:
        st, p, cfg = self.s.state, self.s.params, self.cfg
        call = self.payments
        self.emit("gateway", "gateway.payment.request", to="signer", call=call, manifest_id=self.s.manifest_id,
                  job_type=cfg.job_type, has_state=bool(st))
        now = self.clock.now()
        # §5: auth token in its last 180 s, or params expired (expiration − last block ≤ 1) -> 480
        if now > self.s.auth_expiration - REFRESH_WINDOW_S:
            self.emit("signer", "signer.payment", call=call, status=480, error="refresh session for remote signer",
                      reason="auth token expires within 180 s", auth_expiration=self.s.auth_expiration)
            return 480
        if p.expiration_block - self.block <= 1:
            self.emit("signer", "signer.payment", call=call, status=480, error="refresh session for remote signer",
                      reason=f"ticket params expired (expiration block {p.expiration_block}, last block {self.block})",
                      expiration_block=p.expiration_block, last_block=self.block)
            return 480
        new_state = not st
        prev = {k: v for k, v in st.items() if not k.startswith("_")} if st else None
        if new_state:
            st = {"StateID": self.rng.hex_id(), "PMSessionID": "", "LastUpdate": "0001-01-01T00:00:00Z",
                  "OrchestratorAddress": "0x" + self.orch.hex(), "App": "", "AuthExpiry": 0, "SenderNonce": 0,
                  "Balance": "0", "InitialPricePerUnit": cfg.price_per_unit,
                  "InitialPixelsPerUnit": cfg.pixels_per_unit, "Type": cfg.job_type, "SequenceNumber": 0,
                  "AuthID": ""}
            billable = 0.0
        else:
            st = dict(st)
            st["SequenceNumber"] += 1
            billable = now - st["_last"]
        initial = Fraction(st["InitialPricePerUnit"], st["InitialPixelsPerUnit"])
        ceilings = [("initial session price", initial)] if not new_state else []
        if cfg.max_price is not None:
            ceilings.insert(0, ("configured maximum price", Fraction(cfg.max_price)))
        ceiling = min(ceilings, key=lambda c: c[1]) if ceilings else None
        units = billable_units(cfg.job_type, billable, 0)
        fee = units * initial
        if ceiling is not None and self.price > ceiling[1]:
            self.emit("signer", "signer.payment", call=call, status=481, billable_secs=billable, units=units,
                      fee=fee, price=self.price, initial_price=initial, ceiling_price=ceiling[1], ceiling=ceiling[0],
                      error=f"orchestrator price exceeds {ceiling[0]} ceiling")
            return 481
        session = "0x" + p.recipient_rand_hash.hex()
        start_nonce = st["SenderNonce"] if st["PMSessionID"] == session else 0
        existing = Fraction(st["Balance"])
        upd = balance_update(fee, p.ev, existing)
        if upd.num_tickets > MAX_TICKETS_PER_CALL:
            self.emit("signer", "signer.payment", call=call, status=400, billable_secs=billable, units=units, fee=fee,
                      ev=p.ev, error=f"numTickets {upd.num_tickets} exceeds maximum of {MAX_TICKETS_PER_CALL}")
            return 400
        if upd.num_tickets <= 0:
            self.emit("signer", "signer.payment", call=call, status=482, error="no tickets", billable_secs=billable,
                      units=units, fee=fee, ev=p.ev, balance_before=existing)
            return 482
        nonces = range(start_nonce + 1, start_nonce + upd.num_tickets + 1)
        tickets = create_ticket_batch(SENDER_KEY, self.sender, p, nonces)
        st.update(Balance=_rat(upd.balance_after), PMSessionID=session, SenderNonce=nonces[-1],
                  LastUpdate=_rfc3339(now), _last=now)
        if not self.s.manifest_id:
            self.s.manifest_id = cfg.manifest_id or self.rng.hex_id()
        self.s.state = st
        self.signer_balance = upd.balance_after
        shown = {k: v for k, v in st.items() if not k.startswith("_")}
        self.emit("signer", "signer.payment", call=call, status=200, job_type=cfg.job_type, billable_secs=billable,
                  units=units, fee=fee, initial_price=initial, price=self.price, ev=p.ev, face_value=p.face_value,
                  win_prob=p.win_prob, num_tickets=upd.num_tickets, nonce_start=nonces[0], nonce_end=nonces[-1],
                  balance_before=existing, balance_after=upd.balance_after, new_credit=upd.new_credit,
                  ceiling_price=ceiling[1] if ceiling else None, ceiling=ceiling[0] if ceiling else "",
                  recipient_rand_hash=p.recipient_rand_hash, manifest_id=self.s.manifest_id,
                  state=shown, previous_state=prev, state_blob=base64.b64encode(_go_json(shown)).decode())
        self.emit("gateway", "gateway.payment.sent", to="orch", call=call, manifest_id=self.s.manifest_id,
                  num_tickets=upd.num_tickets)
        if not self.orch_alive:
            self.emit("gateway", "gateway.payment.failed", call=call, error="connection refused")
            return 200
        self._receive(call, p, tickets, units)
        return 200

    def _receive(self, call: int, p: TicketParams, tickets, units: int) -> None:
        mid = self.s.manifest_id
        credited = Fraction(0)
        for t in tickets:
            h = t.ticket.hash()
            win = is_winning_ticket(t.sig, self.s.rand, p.win_prob)
            self.emit("orch", "orch.ticket.received", call=call, nonce=t.nonce, ticket_hash=h, winning=win,
                      ev=p.ev, face_value=p.face_value, recipient_rand_hash=p.recipient_rand_hash,
                      expiration_block=p.expiration_block)
            credited += p.ev
            if win:
                w = {"ticket_hash": h, "nonce": t.nonce, "face_value": p.face_value,
                     "expiration_block": p.expiration_block}
                self.winners.append(w)
                self.emit("orch", "orch.winner.stored", **w)
        before = self.orch_balance.get(mid, Fraction(0))
        self.orch_balance[mid] = before + credited
        self.emit("orch", "orch.payment", call=call, status=200, manifest_id=mid, credit=credited,
                  balance_before=before, balance=self.orch_balance[mid])
        # The O debits the segment time it served at the stream's initial price (§4.7).
        fee = units * Fraction(self.s.state["InitialPricePerUnit"], self.s.state["InitialPixelsPerUnit"])
        self.orch_balance[mid] -= fee
        self.emit("orch", "orch.debit", manifest_id=mid, units=units, fee=fee, balance=self.orch_balance[mid])

    # -- chain and time travel (StackControl) -------------------------------------------------------------
    def mine(self, n: int = 1, *, quiet: bool = False) -> None:
        old_round = self.block // self.cfg.round_length
        self.block += n
        if self.block // self.cfg.round_length != old_round:
            self.round += self.block // self.cfg.round_length - old_round
            self.emit("chain", "chain.round", round=self.round, block=self.block)
        if not quiet or n > 1:
            self.emit("chain", "chain.block", block=self.block, mined=n)
        self._redeem_ready()

    def _redeem_ready(self) -> None:
        # §4.6: redeem a stored winner once its params' expiration block has passed
        if not self.orch_alive:
            return
        keep = []
        for w in self.winners:
            if w["expiration_block"] > self.block:
                keep.append(w)
                continue
            fv = w["face_value"]
            if self.deposit + self.reserve < fv and self.deposit < fv:
                self.emit("chain", "chain.redeem", ticket_hash=w["ticket_hash"], nonce=w["nonce"], ok=False,
                          reason="insufficient funds", block=self.block)
                continue
            from_deposit = min(self.deposit, fv)
            self.deposit -= from_deposit
            self.reserve -= fv - from_deposit
            self.orch_fees += fv
            tx = keccak(b"tx" + w["ticket_hash"])
            self.emit("chain", "chain.redeem", ticket_hash=w["ticket_hash"], nonce=w["nonce"], ok=True,
                      tx_hash=tx, gas_used=REDEEM_GAS_USED, face_value=fv, block=self.block)
            self.emit("chain", "chain.sender", deposit=self.deposit, reserve=self.reserve, block=self.block,
                      orchestrator_fees=self.orch_fees)
        self.winners = keep

    def mine_blocks(self, n: int = 40) -> None:
        self.mine(n)

    def advance_round(self) -> None:
        to_next = self.cfg.round_length - self.block % self.cfg.round_length
        self.mine(to_next)

    def expire_auth_token(self) -> None:
        # The token, not the clock, moves: as if the orchestrator had issued it 1,621 s ago, so it is now in its
        # last 180 s (§5). Moving the clock instead would also bill those seconds (§3.8).
        self.s.auth_expiration = int(self.clock.now()) + REFRESH_WINDOW_S - 1
        self.emit("orch", "orch.auth_token", auth_expiration=self.s.auth_expiration,
                  note="the gateway's auth token is now within its last 180 s")

    def set_price(self, price_per_unit: int, pixels_per_unit: int) -> None:
        self.price = Fraction(price_per_unit, pixels_per_unit)
        self.emit("orch", "orch.price", price=self.price, price_per_unit=price_per_unit,
                  pixels_per_unit=pixels_per_unit)
        self._issue_params()

    def raise_price(self, factor: Fraction = Fraction(5, 2)) -> None:
        p = self.price * Fraction(factor)
        self.set_price(p.numerator, p.denominator)

    def kill_orchestrator(self) -> None:
        self.orch_alive = False
        self.emit("orch", "orch.stopped", pending_winners=len(self.winners))

    def restart_orchestrator(self) -> None:
        self.orch_alive = False
        self.emit("orch", "orch.stopped", pending_winners=len(self.winners))
        self.orch_alive = True
        # In-memory balances are gone; stored winners survive (SQLite, §4.6).
        self.orch_balance = {}
        self.emit("orch", "orch.started", pending_winners=len(self.winners))
        self._redeem_ready()


def _initial_price(st: dict) -> Fraction | None:
    if not st:
        return None
    return Fraction(st["InitialPricePerUnit"], st["InitialPixelsPerUnit"])


def _rat(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _rfc3339(t: float) -> str:
    import datetime as dt

    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + (f".{d.microsecond:06d}".rstrip("0").rstrip(".")) + "Z"


def _go_json(d: dict) -> bytes:
    import json

    return json.dumps(d, separators=(",", ":")).encode()


def run_demo(stack: DemoStack, payments: int, *, mine_every: int = 0, step: Callable[[str], None] | None = None
             ) -> Iterator[Event]:
    """Drive ``payments`` payments; ``mine_every`` mines a batch of 40 blocks every N payments."""
    stack.start()
    for i in range(1, payments + 1):
        if step:
            step(f"payment {i}")
        stack.pay()
        if mine_every and i % mine_every == 0:
            stack.mine(40)
    stack.mine(41)
    return iter(stack.bus.recent)


def synthetic_trace(path, payments: int = 1000, *, cfg: DemoConfig | None = None, mine_every: int = 50) -> int:
    """Write a trace of ``payments`` payments made with the real PM core. Returns the number of events."""
    from sim.events import TraceWriter

    cfg = cfg or DemoConfig()
    w = TraceWriter(path, source="tui.synth", payments=payments, seed=cfg.seed)
    bus = DemoBus(None, keep=16)
    stack = DemoStack(cfg, bus=bus)
    n = 0

    def write(ev: Event) -> None:
        nonlocal n
        n += 1
        w(ev)

    bus.subscribe(write)
    try:
        run_demo(stack, payments, mine_every=mine_every)
    finally:
        w.close()
    return n


class DemoLive:
    """The demo stack paying on its own in a thread (a stand-in for ``lpdev up`` in live mode).

    Before each payment the gateway waits on a :class:`tui.control.LocalGate` (step mode); time-travel calls
    take the same lock as the payment loop, so they land between payments.
    """

    def __init__(self, cfg: DemoConfig | None = None, *, period_s: float = 0.5, paused: bool = False) -> None:
        import threading

        from tui.control import LocalGate

        self.stack = DemoStack(cfg)
        self.bus = self.stack.bus
        self.gate = LocalGate(paused=paused)
        self.period_s = period_s
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "DemoLive":
        import threading

        with self.lock:
            self.stack.start()
        self._thread = threading.Thread(target=self._loop, name="lpdev-demo-gateway", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            self.gate.wait(f"payment {n}")
            if self._stop.is_set():
                break
            with self.lock:
                self.stack.pay()
            self._stop.wait(self.period_s)

    def stop(self) -> None:
        self._stop.set()
        self.gate.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # StackControl
    def facts(self) -> dict:
        with self.lock:
            return self.stack.facts()

    def mine_blocks(self, n: int = 40) -> None:
        with self.lock:
            self.stack.mine_blocks(n)

    def advance_round(self) -> None:
        with self.lock:
            self.stack.advance_round()

    def expire_auth_token(self) -> None:
        with self.lock:
            self.stack.expire_auth_token()

    def raise_price(self, factor: Fraction = Fraction(5, 2)) -> None:
        with self.lock:
            self.stack.raise_price(factor)

    def restart_orchestrator(self) -> None:
        with self.lock:
            self.stack.restart_orchestrator()
