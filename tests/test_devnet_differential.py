"""Differential test: ONE operation script run on the mock, the embedded py-evm chain and anvil.

Every operation's outcome (ok / revert string / mined or not / block / decoded events in order) and the chain
state after it (sender info of two senders, claimable and claimed reserve for every sender × orchestrator pair,
pending fees, pool and activity, round state, pause flag, the Minter's ETH and every actor's ETH change with
gas fees added back; for bonding: every account's delegator record, pending stake and fees, LPT balance, each
transcoder's record and earnings pool of the round, the pool's order, the total active stake; the ETH/USD feed)
must be the same on the three backends; and on each backend money is conserved after every operation
(``test_money_is_conserved``). Each test is named ``<NN>-<operation>-<backend>``:
it checks that backend against the operation's expectation from docs/chain.md (when it has one) and, for
embedded and anvil, against the mock.

Tickets are signed per backend with the same dev keys (devnet/config.py), so addresses are equal; their
auxData carries each backend's own round block hash, so block hashes are compared symbolically
(``<H5>`` = the hash RoundsManager stored for round 5). Winners use ``winProb = MAX_WIN_PROB`` and losers 0 or
1, so the win test does not depend on the (backend-specific) signature bytes.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
from dataclasses import dataclass, replace
from typing import Callable

import pytest

import devnet
from devnet.config import ETHER, LPT, DevnetConfig
from sim.pm.crypto import SECP256K1_N, keccak
from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

E = ETHER
L = LPT
BACKENDS = ("mock", "embedded", "anvil")
# the pool holds 2: a third transcoder evicts the one with the least stake
CONFIG = dict(round_length=30, unlock_period=2, ticket_validity_period=2, sender_deposit=100 * E,
              sender_reserve=100 * E, transcoders=("orchestrator",), senders=("sender",), num_active_transcoders=2,
              unbonding_period=2)
ACTORS = ("sender", "sender2", "orchestrator", "orchestrator2", "gateway", "delegator", "delegator2")
BONDERS = ("orchestrator", "orchestrator2", "gateway", "delegator", "delegator2")  # accounts that bond LPT
PAIRS = [(s, o) for s in ("sender", "sender2") for o in ("orchestrator", "orchestrator2")]


# ====================================================================================== script machinery
@dataclass
class Op:
    name: str
    fn: Callable  # (Env) -> observation dict
    reason: str | None = None  # expected revert string (None: expect success)
    events: list[str] | None = None  # expected event names, in order
    expect_ok: bool = True  # checked when reason is None and fn returns a "tx"


OPS: list[Op] = []


def op(name: str, *, reason: str | None = None, events: list[str] | None = None, tx: bool = True):
    def deco(fn):
        OPS.append(Op(name, fn, reason, events, expect_ok=tx))
        return fn
    return deco


class Env:
    """One backend's run: the chain, tickets made so far, gas fees paid per actor."""

    def __init__(self, chain) -> None:
        self.chain = chain
        self.nonce = 0
        self.tickets: dict[str, tuple] = {}
        self.fees: dict[str, int] = {r: 0 for r in ACTORS}

    def a(self, role: str) -> bytes:
        return bytes.fromhex(self.chain.address(role)[2:])

    def k(self, role: str) -> bytes:
        return self.chain.key(role)

    def send(self, role: str, method: str, *args, **kw):
        fn = getattr(self.chain, method)
        r = fn(*args, from_key=self.k(role), **kw) if method.startswith(("redeem", "batch")) else \
            fn(self.k(role), *args, **kw)
        if role in self.fees:
            self.fees[role] += fee_paid(self.chain, r)
        return r

    def ticket(self, *, sender="sender", recipient="orchestrator", fv=E, wp=MAX_WIN_PROB, rand=None,
               creation_round=None, block_hash=None, signer=None):
        """(ticket, sig, rand); nonces are the same sequence on every backend."""
        self.nonce += 1
        rand = 1000 + self.nonce if rand is None else rand
        rnd = self.chain.last_initialized_round() if creation_round is None else creation_round
        h = self.chain.block_hash_for_round(rnd) if block_hash is None else block_hash
        t = Ticket(recipient=self.a(recipient), sender=self.a(sender), face_value=fv, win_prob=wp,
                   sender_nonce=self.nonce, recipient_rand_hash=keccak(u256(rand)), creation_round=rnd,
                   creation_round_block_hash=h)
        return t, t.sign(self.k(signer or sender)), rand

    def redeem(self, t, sig, rand, by="orchestrator"):
        return {"tx": self.send(by, "redeem_winning_ticket", t, sig, rand)}


class RawTicket:
    """A ticket with raw auxData bytes (to send a malformed one)."""

    def __init__(self, t: Ticket, aux: bytes) -> None:
        for f in ("recipient", "sender", "face_value", "win_prob", "sender_nonce", "recipient_rand_hash"):
            setattr(self, f, getattr(t, f))
        self.aux_data = aux


def fee_paid(chain, r) -> int:
    """Gas fee of a TxResult (0 if it was not mined): the mock's modelled price, the EVM's receipt."""
    if not r.tx_hash:
        return 0
    if chain.backend == "mock":
        return r.gas_used * chain.gas_price()
    rc = chain.w3.eth.get_transaction_receipt(r.tx_hash)
    return int(rc["gasUsed"]) * int(rc["effectiveGasPrice"])


def tx(fn):
    """Wrap a one-transaction op: ``fn(env)`` returns a TxResult."""
    return lambda env: {"tx": fn(env)}


# ====================================================================================== the script
op("setup-state", tx=False)(lambda env: {"contracts": dict(env.chain.contracts),
                                         "unlock_period": env.chain.unlock_period(),
                                         "validity": env.chain.ticket_validity_period()})
op("fund-sender2-deposit-and-reserve", events=["ReserveFunded", "DepositFunded"])(
    tx(lambda env: env.send("sender2", "fund_deposit_and_reserve", 1 * E, 4 * E)))
op("fund-value-mismatch", reason="msg.value does not equal sum of deposit amount and reserve amount")(
    tx(lambda env: env.send("sender2", "fund_deposit_and_reserve", E, E, value=3 * E)))
op("fund-zero-deposit", events=["DepositFunded"])(tx(lambda env: env.send("gateway", "fund_deposit", 0)))


@op("redeem-deposit-then-reserve", events=["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"])
def _(env):
    # sender2: deposit 1, reserve 4, pool 1 -> 1 from the deposit + 3 from the reserve
    return env.redeem(*env.ticket(sender="sender2", fv=4 * E))


SELF_BOND = ["EarningsClaimed", "TranscoderActivated", "Transfer", "Approval", "Bond", "DelegateChanged",
             "DelegateVotesChanged", "DelegatorBondedAmountChanged"]
op("register-unbonded-orchestrator2", reason="transcoder must be registered")(
    tx(lambda env: env.send("orchestrator2", "register_transcoder")))
op("bond-without-approval", reason="ERC20: transfer amount exceeds allowance")(
    tx(lambda env: env.send("orchestrator2", "bond", 100 * L, env.a("orchestrator2"))))
op("approve-orchestrator2", events=["Approval"])(tx(lambda env: env.send("orchestrator2", "lpt_approve", 1000 * L)))
# a self-bond joins the pool at once (active next round), before transcoder()
# (docs/chain.md#registered-and-active-orchestrators)
op("bond-orchestrator2-self", events=SELF_BOND)(
    tx(lambda env: env.send("orchestrator2", "bond", 1000 * L, env.a("orchestrator2"))))
op("register-orchestrator2", events=["TranscoderUpdate"])(
    tx(lambda env: env.send("orchestrator2", "register_transcoder", 200_000, 100_000)))
op("register-orchestrator2-again", events=["TranscoderUpdate"])(
    tx(lambda env: env.send("orchestrator2", "register_transcoder")))
op("register-bad-fee-share", reason="invalid feeShare percentage")(
    tx(lambda env: env.send("orchestrator2", "register_transcoder", 0, 1_000_001)))


@op("claimable-panics-after-pool-growth", tx=False)
def _(env):
    # pool grew to 2 mid-round: (1 + 3) / 2 - 3 underflows (docs/chain.md)
    try:
        return {"claimable": env.chain.claimable_reserve(env.a("sender2"), env.a("orchestrator"))}
    except devnet.ChainError as exc:
        return {"view_reverted": getattr(exc, "reason", str(exc))}


op("redeem-reserve-after-pool-growth", reason="Panic(0x11)")(
    lambda env: env.redeem(*env.ticket(sender="sender2", fv=E)))
op("redeem-to-not-yet-active-transcoder", reason="Panic(0x12)")(
    lambda env: env.redeem(*env.ticket(recipient="orchestrator2"), by="orchestrator2"))
op("redeem-to-unregistered-recipient", reason="transcoder must be registered")(
    lambda env: env.redeem(*env.ticket(recipient="gateway"), by="gateway"))
# sender2 now has deposit 0 and only reserve: an inactive claimant's allocation is 0, so it pays 0 (no fee call)
op("redeem-unregistered-recipient-reserve-only-pays-0", events=["WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(sender="sender2", recipient="gateway", fv=E), by="gateway"))


@op("make-tickets-for-later", tx=False)
def _(env):
    env.tickets["expiring"] = env.ticket(fv=E)
    env.tickets["valid-next-round"] = env.ticket(fv=E)
    return {"round": env.chain.last_initialized_round()}


@op("advance-round-1", tx=False)
def _(env):
    r = env.chain.advance_round()
    return {k: r[k] for k in ("from_block", "to_block", "from_round", "to_round")}


op("redeem-ticket-of-previous-round", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.tickets["valid-next-round"]))


@op("redeem-winning-from-deposit", events=["WinningTicketTransfer", "WinningTicketRedeemed"])
def _(env):
    env.tickets["won"] = env.ticket(fv=2 * E)
    return env.redeem(*env.tickets["won"])


op("redeem-replayed", reason="ticket is used")(lambda env: env.redeem(*env.tickets["won"]))
op("redeem-replayed-wrong-rand", reason="recipientRand does not match recipientRandHash")(  # step 7 before 8
    lambda env: env.redeem(env.tickets["won"][0], env.tickets["won"][1], env.tickets["won"][2] + 1))
op("redeem-replayed-with-bad-sig", reason="ticket is used")(
    lambda env: env.redeem(env.tickets["won"][0], env.tickets["won"][1][:64], env.tickets["won"][2]))
op("redeem-losing-winprob-0", reason="ticket did not win")(lambda env: env.redeem(*env.ticket(wp=0)))
op("redeem-losing-winprob-1", reason="ticket did not win")(lambda env: env.redeem(*env.ticket(wp=1)))
op("redeem-wrongly-signed", reason="invalid signature over ticket hash")(
    lambda env: env.redeem(*env.ticket(signer="gateway")))


@op("redeem-wrong-recipient-rand", reason="recipientRand does not match recipientRandHash")
def _(env):
    t, sig, rand = env.ticket()
    return env.redeem(t, sig, rand + 1)


_P = 2**256 - 2**32 - 977  # secp256k1 field prime
# the smallest x with no curve point (x^3 + 7 is not a square mod p): ecrecover returns 0 for r = x
_R_OFF_CURVE = next(x for x in range(1, 100) if pow(x**3 + 7, (_P - 1) // 2, _P) == _P - 1)


def _sig_variant(kind: str):
    def fn(env):
        t, sig, rand = env.ticket()
        if kind == "short":
            sig = sig[:64]
        elif kind == "long":
            sig = sig + b"\x00"
        elif kind == "high-s":
            s = SECP256K1_N - int.from_bytes(sig[32:64], "big")
            sig = sig[:32] + s.to_bytes(32, "big") + bytes([55 - sig[64]])
        elif kind == "bad-v":
            sig = sig[:64] + b"\x01"
        elif kind == "zero-r":
            sig = b"\x00" * 32 + sig[32:]
        elif kind == "r-not-on-curve":
            sig = _R_OFF_CURVE.to_bytes(32, "big") + sig[32:]
        elif kind == "r-above-n":
            sig = (SECP256K1_N + 1).to_bytes(32, "big") + sig[32:]
        return env.redeem(t, sig, rand)
    return fn


op("redeem-sig-64-bytes", reason="INVALID_SIGNATURE_LENGTH")(_sig_variant("short"))
op("redeem-sig-66-bytes", reason="INVALID_SIGNATURE_LENGTH")(_sig_variant("long"))
op("redeem-sig-high-s", reason="ECDSA: invalid signature 's' value")(_sig_variant("high-s"))
op("redeem-sig-bad-v", reason="ECDSA: invalid signature 'v' value")(_sig_variant("bad-v"))
op("redeem-sig-zero-r", reason="ECDSA: invalid signature")(_sig_variant("zero-r"))
op("redeem-sig-r-not-on-curve", reason="ECDSA: invalid signature")(_sig_variant("r-not-on-curve"))
op("redeem-sig-r-above-n", reason="ECDSA: invalid signature")(_sig_variant("r-above-n"))


def _field_variant(**changes):
    def fn(env):
        t, sig, rand = env.ticket()
        return env.redeem(replace(t, **changes), sig, rand)
    return fn


op("redeem-null-recipient", reason="ticket recipient is null address")(_field_variant(recipient=b"\x00" * 20))
op("redeem-null-sender", reason="ticket sender is null address")(_field_variant(sender=b"\x00" * 20))


@op("redeem-auxdata-63-bytes", reason="invalid length for ticket auxData: must be 64 bytes")
def _(env):
    t, sig, rand = env.ticket()
    return env.redeem(RawTicket(t, t.aux_data[:63]), sig, rand)


op("redeem-creation-round-without-hash", reason="ticket creationRound does not have a block hash")(
    lambda env: env.redeem(*env.ticket(creation_round=env.chain.current_round() + 3, block_hash=b"\x07" * 32)))
op("redeem-wrong-creation-round-hash", reason="ticket creationRoundBlockHash invalid for creationRound")(
    lambda env: env.redeem(*env.ticket(block_hash=b"\x07" * 32)))
op("redeem-zero-face-value", events=["WinningTicketRedeemed"])(lambda env: env.redeem(*env.ticket(fv=0)))

# reserve draining by two active transcoders: sender2 has deposit 0, funds 1 ETH, pool 2 -> 0.5 ETH each
op("drain-reserve-orch-capped", events=["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(sender="sender2", fv=2 * E)))
op("drain-reserve-orch-again-pays-0", events=["WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(sender="sender2", fv=2 * E)))
op("drain-reserve-orch2", events=["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(sender="sender2", recipient="orchestrator2", fv=2 * E), by="orchestrator2"))
op("drained-sender-redeem", reason="sender deposit and reserve are zero")(
    lambda env: env.redeem(*env.ticket(sender="sender2", fv=E)))
op("drained-sender-losing-ticket", reason="ticket did not win")(  # the win test comes first
    lambda env: env.redeem(*env.ticket(sender="sender2", wp=0)))
op("refund-sender2-deposit", events=["DepositFunded"])(tx(lambda env: env.send("sender2", "fund_deposit", E // 3)))
op("deposit-smaller-than-face-value", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(sender="sender2", fv=E)))


@op("batch-good-losing-good", events=["WinningTicketTransfer", "WinningTicketRedeemed"] * 2)
def _(env):
    a, b, c = env.ticket(fv=E), env.ticket(wp=0), env.ticket(fv=3 * E)
    ts, sigs, rands = zip(a, b, c)
    return {"tx": env.send("orchestrator", "batch_redeem_winning_tickets", list(ts), list(sigs), list(rands)),
            "used": [env.chain.is_used_ticket(x[0].hash()) for x in (a, b, c)]}


@op("batch-short-arrays", reason="Panic(0x32)")
def _(env):
    a, b = env.ticket(), env.ticket()
    return {"tx": env.send("orchestrator", "batch_redeem_winning_tickets", [a[0], b[0]], [a[1]], [a[2], b[2]])}


@op("ticket-hash-view", tx=False)
def _(env):
    t, _, _ = env.ticket()
    return {"equal": env.chain.get_ticket_hash(t) == t.hash(), "used": env.chain.is_used_ticket(t.hash())}


@op("advance-round-2", tx=False)
def _(env):
    r = env.chain.advance_round()
    return {k: r[k] for k in ("from_block", "to_block", "from_round", "to_round")}


op("redeem-expired", reason="ticket is expired")(lambda env: env.redeem(*env.tickets["expiring"]))
op("redeem-expired-wrong-rand", reason="ticket is expired")(  # auxData (6) before recipientRand (7)
    lambda env: env.redeem(env.tickets["expiring"][0], env.tickets["expiring"][1], 1))

# unlock / cancel / withdraw (docs/chain.md#unlock-and-withdraw)
op("withdraw-without-unlock", reason="no unlock request in progress")(tx(lambda env: env.send("sender", "withdraw")))
op("cancel-without-unlock", reason="no unlock request in progress")(tx(lambda env: env.send("sender", "cancel_unlock")))
op("unlock", events=["Unlock"])(tx(lambda env: env.send("sender", "unlock")))
op("unlock-again", reason="unlock already initiated")(tx(lambda env: env.send("sender", "unlock")))
op("withdraw-while-locked", reason="account is locked")(tx(lambda env: env.send("sender", "withdraw")))
op("cancel-unlock", events=["UnlockCancelled"])(tx(lambda env: env.send("sender", "cancel_unlock")))
op("unlock-2", events=["Unlock"])(tx(lambda env: env.send("sender", "unlock")))
op("self-fund-reserve-cancels-unlock", events=["ReserveFunded", "UnlockCancelled"])(
    tx(lambda env: env.send("sender", "fund_reserve", E)))
op("unlock-3", events=["Unlock"])(tx(lambda env: env.send("sender", "unlock")))
op("self-fund-deposit-cancels-unlock", events=["UnlockCancelled", "DepositFunded"])(
    tx(lambda env: env.send("sender", "fund_deposit", E)))
op("unlock-4", events=["Unlock"])(tx(lambda env: env.send("sender", "unlock")))
op("third-party-funding-keeps-unlock", events=["ReserveFunded", "DepositFunded"])(
    tx(lambda env: env.send("gateway", "fund_deposit_and_reserve_for", env.a("sender"), E, E)))
op("self-fund-both-cancels-unlock", events=["UnlockCancelled", "ReserveFunded", "DepositFunded"])(
    tx(lambda env: env.send("sender", "fund_deposit_and_reserve", E, 2 * E)))
op("unlock-5", events=["Unlock"])(tx(lambda env: env.send("sender", "unlock")))


@op("advance-round-3", tx=False)
def _(env):
    r = env.chain.advance_round()
    return {k: r[k] for k in ("from_block", "to_block", "from_round", "to_round")}


op("redeem-during-unlock-period", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(fv=E)))


@op("advance-round-4", tx=False)
def _(env):
    r = env.chain.advance_round()
    return {k: r[k] for k in ("from_block", "to_block", "from_round", "to_round")}


op("redeem-losing-when-unlocked", reason="ticket did not win")(lambda env: env.redeem(*env.ticket(wp=0)))
op("redeem-when-unlocked", reason="sender is unlocked")(lambda env: env.redeem(*env.ticket(fv=E)))
op("withdraw", events=["Withdrawal"])(tx(lambda env: env.send("sender", "withdraw")))
op("withdraw-again", reason="sender deposit and reserve are zero")(tx(lambda env: env.send("sender", "withdraw")))
op("third-party-refund-after-withdraw", events=["ReserveFunded", "DepositFunded"])(
    tx(lambda env: env.send("gateway", "fund_deposit_and_reserve_for", env.a("sender"), 2 * E, E)))
op("redeem-still-unlocked-after-withdraw", reason="sender is unlocked")(lambda env: env.redeem(*env.ticket(fv=E)))
op("self-fund-cancels-stale-unlock", events=["UnlockCancelled", "DepositFunded"])(
    tx(lambda env: env.send("sender", "fund_deposit", E)))
op("redeem-after-stale-unlock-cancelled", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(fv=E)))
op("withdraw-fees", events=["EarningsClaimed", "WithdrawFees", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("orchestrator", "withdraw_fees")))

# pause
op("pause-by-non-owner", reason="")(tx(lambda env: env.send("gateway", "pause")))
op("pause", events=["Pause"])(tx(lambda env: env.chain.pause(env.k("deployer"))))
op("fund-while-paused", reason="system is paused")(tx(lambda env: env.send("sender", "fund_deposit", E)))
op("redeem-while-paused", reason="system is paused")(lambda env: env.redeem(*env.ticket(fv=E)))
op("withdraw-fees-while-paused", reason="system is paused")(tx(lambda env: env.send("orchestrator2", "withdraw_fees")))
op("unpause", events=["Unpause"])(tx(lambda env: env.chain.unpause(env.k("deployer"))))


# rounds
@op("mine-to-last-block-of-round", tx=False)
def _(env):
    L = env.chain.config.round_length
    r = env.chain.mine(L - 1 - env.chain.last_block() % L)
    return {k: r[k] for k in ("from_block", "to_block", "from_round", "to_round")}


# the view still says the old (initialized) round, but the transaction runs in the next block = next round
op("redeem-sent-at-last-block-of-round", reason="current round is not initialized")(
    lambda env: env.redeem(*env.ticket(fv=E)))


@op("mine-into-uninitialized-round", tx=False)
def _(env):
    L = env.chain.config.round_length
    r = env.chain.mine(L - env.chain.last_block() % L)
    return {k: r[k] for k in ("from_block", "to_block")}


op("redeem-round-not-initialized", reason="current round is not initialized")(
    lambda env: env.redeem(*env.ticket(fv=E)))
op("register-round-not-initialized", reason="current round is not initialized")(
    tx(lambda env: env.send("gateway", "register_transcoder")))
op("initialize-round", events=["SetCurrentRewardTokens", "NewRound"])(
    tx(lambda env: env.send("gateway", "initialize_round")))
op("initialize-round-again", reason="round already initialized")(
    tx(lambda env: env.send("gateway", "initialize_round")))
op("redeem-orch2-after-rounds", events=["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(sender="sender", recipient="orchestrator2", fv=500 * E), by="orchestrator2"))
op("withdraw-fees-orch2", events=["EarningsClaimed", "WithdrawFees", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("orchestrator2", "withdraw_fees")))


# snapshot / revert: everything in between is undone, a ticket redeemed there can be redeemed again
@op("snapshot", tx=False)
def _(env):
    env.tickets["snap"] = (env.chain.snapshot(), dict(env.fees))
    return {}


op("fund-inside-snapshot", events=["DepositFunded"])(tx(lambda env: env.send("sender", "fund_deposit", 5 * E)))


@op("redeem-inside-snapshot", events=["WinningTicketTransfer", "WinningTicketRedeemed"])
def _(env):
    env.tickets["in-snapshot"] = env.ticket(fv=E)
    return env.redeem(*env.tickets["in-snapshot"])


op("unlock-inside-snapshot", events=["Unlock"])(tx(lambda env: env.send("sender", "unlock")))


@op("revert-to-snapshot", tx=False)
def _(env):
    sid, fees = env.tickets["snap"]
    r = env.chain.revert(sid)
    env.fees = fees  # the gas paid inside the snapshot is undone too
    return {"from_block": r["from_block"], "to_block": r["to_block"],
            "used": env.chain.is_used_ticket(env.tickets["in-snapshot"][0].hash())}


# the deposit funded inside the snapshot is gone: the sender has only the rest of its reserve
op("redeem-same-ticket-after-revert", events=["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.tickets["in-snapshot"]))


# ====================================================================================== bonding and fee sharing
def _advance(env):
    r = env.chain.advance_round()
    return {k: r[k] for k in ("from_block", "to_block", "from_round", "to_round")}


op("bonding-advance-round", tx=False)(_advance)
op("fund-sender-for-bonding", events=["DepositFunded"])(tx(lambda env: env.send("sender", "fund_deposit", 50 * E)))
for role in ("delegator", "delegator2", "gateway"):
    op(f"approve-{role}", events=["Approval"])(tx(lambda env, role=role: env.send(role, "lpt_approve", 10_000 * L)))
DELEGATE = ["EarningsClaimed", "DelegateVotesChanged", "Transfer", "Approval", "Bond", "DelegateChanged",
            "DelegatorBondedAmountChanged"]
op("delegate-500-to-orchestrator", events=DELEGATE)(
    tx(lambda env: env.send("delegator", "bond", 500 * L, env.a("orchestrator"))))
op("delegate-300-to-orchestrator2", events=DELEGATE)(
    tx(lambda env: env.send("delegator2", "bond", 300 * L, env.a("orchestrator2"))))
op("delegate-zero-from-unbonded", reason="delegation amount must be greater than 0")(
    tx(lambda env: env.send("gateway", "bond", 0, env.a("orchestrator"))))
op("transcoder-delegates-elsewhere", reason="registered transcoders can't delegate towards other addresses")(
    tx(lambda env: env.send("orchestrator2", "bond", 0, env.a("orchestrator"))))
op("unbond-while-pending", reason="caller must be bonded")(tx(lambda env: env.send("delegator", "unbond", L)))
# redeemed this round: the delegators' stake counts from the next round, so only the transcoders share these fees
op("redeem-orch-before-delegation-counts", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(fv=3 * E)))
# a full pool (2): a third transcoder with less stake than the last stays out, one with more evicts it
op("bond-gateway-small", events=SELF_BOND[:1] + SELF_BOND[2:])(
    tx(lambda env: env.send("gateway", "bond", 10 * L, env.a("gateway"))))
op("register-gateway-pool-full", events=["TranscoderUpdate"])(
    tx(lambda env: env.send("gateway", "register_transcoder")))
# same round as its first bond: nothing to claim, same delegate; orchestrator2 (1000 + 300) is the pool's last
op("bond-gateway-more-evicts", events=["TranscoderDeactivated", "TranscoderActivated", "Transfer", "Approval", "Bond",
                                       "DelegateVotesChanged", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("gateway", "bond", 2000 * L, env.a("gateway"))))
op("bonding-advance-round-2", tx=False)(_advance)
op("redeem-orch-shared-with-delegator", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(fv=7 * E)))
op("redeem-orch-shared-again", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(fv=E + 12345)))
# evicted, so not active (no reserve share, go-livepeer would not redeem), but still registered with stake in this
# round's pool: fees paid from the deposit are credited
op("redeem-to-evicted-orch2-still-credited", events=["WinningTicketTransfer", "WinningTicketRedeemed"])(
    lambda env: env.redeem(*env.ticket(recipient="orchestrator2", fv=E), by="orchestrator2"))
op("claim-earnings-delegator", events=["EarningsClaimed", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("delegator", "claim_earnings")))
op("claim-earnings-again-same-round", events=[])(tx(lambda env: env.send("delegator", "claim_earnings")))
op("unbond-zero", reason="unbond amount must be greater than 0")(tx(lambda env: env.send("delegator", "unbond", 0)))
op("unbond-too-much", reason="amount is greater than bonded amount")(
    tx(lambda env: env.send("delegator", "unbond", 501 * L)))
op("unbond-200", events=["DelegateVotesChanged", "Unbond", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("delegator", "unbond", 200 * L)))
op("rebond-bad-lock", reason="invalid unbonding lock ID")(tx(lambda env: env.send("delegator", "rebond", 7)))
op("rebond-lock-0", events=["DelegateVotesChanged", "Rebond", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("delegator", "rebond", 0)))
op("unbond-all", events=["DelegateVotesChanged", "Unbond", "DelegateChanged", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("delegator", "unbond", 500 * L)))
op("rebond-when-unbonded", reason="caller must be bonded")(tx(lambda env: env.send("delegator", "rebond", 1)))
op("withdraw-stake-too-early", reason="withdraw round must be before or equal to the current round")(
    tx(lambda env: env.send("delegator", "withdraw_stake", 1)))
# orchestrator2 (1300 + 500) rejoins the full pool and evicts orchestrator (1000 + 500 - 500)
op("rebond-from-unbonded-to-orchestrator2", events=["TranscoderDeactivated", "TranscoderActivated",
                                                    "DelegateVotesChanged", "Rebond", "DelegateChanged",
                                                    "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("delegator", "rebond_from_unbonded", env.a("orchestrator2"), 1)))
op("transcoder-unbonds-everything-resigns", events=["EarningsClaimed", "TranscoderDeactivated", "Unbond",
                                                    "DelegateChanged", "DelegateVotesChanged",
                                                    "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("gateway", "unbond", 2010 * L)))
op("withdraw-fees-delegator-too-much", reason="insufficient fees to withdraw")(
    tx(lambda env: env.send("delegator", "withdraw_fees", 10**30)))
op("withdraw-fees-to-zero", reason="invalid recipient")(
    tx(lambda env: env.send("delegator", "withdraw_fees", 1, b"\x00" * 20)))
op("bonding-advance-round-3", tx=False)(_advance)
op("bonding-advance-round-4", tx=False)(_advance)
op("withdraw-stake", events=["Transfer", "WithdrawStake"])(tx(lambda env: env.send("gateway", "withdraw_stake", 0)))
op("withdraw-stake-again", reason="invalid unbonding lock ID")(
    tx(lambda env: env.send("gateway", "withdraw_stake", 0)))
op("withdraw-fees-delegator", events=["EarningsClaimed", "WithdrawFees", "DelegatorBondedAmountChanged"])(
    tx(lambda env: env.send("delegator", "withdraw_fees")))


@op("mine-into-round-lock", tx=False)
def _(env):
    L_ = env.chain.config.round_length
    r = env.chain.mine(L_ - 2 - env.chain.last_block() % L_)  # the next tx runs in the round's last block
    return {k: r[k] for k in ("from_block", "to_block")}


op("register-during-round-lock", reason="can't update transcoder params, current round is locked")(
    tx(lambda env: env.send("orchestrator", "register_transcoder")))
op("bonding-advance-round-5", tx=False)(_advance)

# ====================================================================================== ETH/USD feed
op("eth-usd-set", events=["AnswerUpdated"])(
    tx(lambda env: env.chain.set_eth_usd("2500.12345678", updated_at=1_700_000_000)))
op("eth-usd-stale", events=["AnswerUpdated"])(tx(lambda env: env.chain.set_eth_usd(2400, updated_at=1_600_000_000)))
op("eth-usd-not-owner", reason="only owner")(
    tx(lambda env: env.chain.set_eth_usd(2400, updated_at=1_600_000_001, key=env.k("gateway"))))


# ====================================================================================== observation
class Hashes:
    """Backend block hashes -> symbolic ``<H{round}>`` tokens."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}

    def refresh(self, chain) -> None:
        for r in range(chain.current_round() + 1):
            if f"<H{r}>" in self.known.values():
                continue
            h = chain.block_hash_for_round(r)
            if h != b"\x00" * 32:
                self.known[h.hex()] = f"<H{r}>"

    def norm(self, v):
        if isinstance(v, str):
            for h, tok in self.known.items():
                v = v.replace(h, tok)
            return v
        if isinstance(v, dict):
            return {k: self.norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self.norm(x) for x in v]
        return v


def observe_result(res: dict, hashes: Hashes) -> dict:
    out = {}
    for k, v in res.items():
        if k == "tx":
            out["tx"] = {"ok": v.ok, "revert_reason": v.revert_reason, "mined": v.tx_hash is not None,
                         "block": v.block, "events": hashes.norm(v.events)}
        else:
            out[k] = hashes.norm(v)
    return out


# Events of transactions that cannot change bonding state (TicketBroker funding / unlock, the pause): after such a
# transaction the bonding part of the state is not re-read (it is after everything else, so a change would
# still show at the next full observation).
NOT_BONDING = {"DepositFunded", "ReserveFunded", "ReserveClaimed", "Unlock", "UnlockCancelled", "Withdrawal",
               "WinningTicketRedeemed", "Pause", "Unpause", "ParameterUpdate", "AnswerUpdated"}


def observe_state(env: Env, eth0: dict, bonding: bool = True) -> dict:
    c = env.chain
    st: dict = {"last_block": c.last_block(), "current_round": c.current_round(),
                "last_initialized_round": c.last_initialized_round(), "paused": c.paused(),
                "pool_size": c.transcoder_pool_size()}
    for s in ("sender", "sender2"):
        st[f"sender_info[{s}]"] = dataclasses.asdict(c.sender_info(env.a(s)))
        st[f"unlock_in_progress[{s}]"] = c.is_unlock_in_progress(env.a(s))
    for s, o in PAIRS:
        try:
            st[f"claimable[{s},{o}]"] = c.claimable_reserve(env.a(s), env.a(o))
        except devnet.ChainError as exc:
            st[f"claimable[{s},{o}]"] = f"reverted: {getattr(exc, 'reason', exc)}"
        st[f"claimed[{s},{o}]"] = c.claimed_reserve(env.a(s), env.a(o))
    minter = bytes.fromhex(c.contracts["Minter"][2:])
    st["eth[Minter]"] = c.eth_balance(minter)
    for r in ACTORS:  # ETH change since the script started, gas fees added back
        st[f"eth_delta[{r}]"] = c.eth_balance(env.a(r)) + env.fees[r] - eth0[r]
    for o in ("orchestrator", "orchestrator2"):
        st[f"pending_fees[{o}]"] = c.pending_fees(env.a(o))
    if not bonding:
        return st
    # bonding: every bonder's record, pending stake and fees (its share of every earnings pool), LPT
    st["lpt[Minter]"] = c.lpt_balance(minter)
    rnd = c.current_round()
    for r in BONDERS:
        a = env.a(r)
        st[f"delegator[{r}]"] = dataclasses.asdict(c.delegator_info(a))
        st[f"pending[{r}]"] = (c.pending_stake(a), c.pending_fees(a))
        st[f"lpt[{r}]"] = c.lpt_balance(a)
        st[f"locks[{r}]"] = [c.unbonding_lock(a, i) for i in range(st[f"delegator[{r}]"]["next_unbonding_lock_id"])]
    for r in ("orchestrator", "orchestrator2", "gateway"):
        st[f"transcoder[{r}]"] = dataclasses.asdict(c.transcoder_info(env.a(r)))
        st[f"earnings_pool[{r},current]"] = dataclasses.asdict(c.earnings_pool(env.a(r), rnd))
    st["pool"] = c.transcoder_pool()
    st["total_bonded"] = c.total_bonded()
    feed = c.eth_usd()  # updatedAt of the deploy-time round is each backend's clock: compared from the script's own
    st["eth_usd"] = (str(feed.usd_per_eth), feed.round_id, feed.decimals,
                     feed.updated_at if feed.round_id > 1 else "deploy time")
    return st


_RUNS: dict[str, list[dict]] = {}


def run_script(backend: str) -> list[dict]:
    """Run the whole script on a fresh chain of ``backend``; close the chain afterwards. The observations are
    returned as JSON-shaped data (so every backend's are compared in the same types)."""
    chain = devnet.open_chain(backend, config=DevnetConfig(**CONFIG))
    out: list[dict] = []
    try:
        env = Env(chain)
        hashes = Hashes()
        eth0 = {r: chain.eth_balance(env.a(r)) for r in ACTORS}
        for o in OPS:
            try:
                res = o.fn(env)
            except Exception as exc:  # recorded, compared, and the script goes on
                res = {"exception": f"{type(exc).__name__}: {exc}"}
            hashes.refresh(chain)
            unmined = "tx" in res and res["tx"].tx_hash is None
            # a transaction that was not mined cannot have changed anything on an EVM (a mock bug that did
            # would still show in the next full observation): only the block number then, to save time
            bonding = "tx" not in res or any(e["event"] not in NOT_BONDING for e in res["tx"].events)
            state = {"last_block": chain.last_block()} if unmined else observe_state(env, eth0, bonding)
            out.append({"result": observe_result(res, hashes), "state": state})
    finally:
        chain.close()
    return json.loads(json.dumps(out))


@pytest.fixture(scope="session")
def differential_runs(tmp_path_factory, worker_id):
    """``get(backend)`` -> that backend's observations, computed ONCE per test session: under pytest-xdist the
    first worker to ask runs the script and the others read its JSON (a file lock in the shared temp dir)."""
    shared = None if worker_id == "master" else tmp_path_factory.getbasetemp().parent

    def get(backend: str) -> list[dict]:
        if backend not in _RUNS:
            if shared is None:
                _RUNS[backend] = run_script(backend)
            else:
                path = shared / f"devnet-differential-{backend}.json"
                with open(shared / f"devnet-differential-{backend}.lock", "w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if not path.exists():
                        path.write_text(json.dumps(run_script(backend)))
                    _RUNS[backend] = json.loads(path.read_text())
        return _RUNS[backend]
    return get


# ====================================================================================== tests
def _ids():
    return [f"{i:02d}-{o.name}-{b}" for i, o in enumerate(OPS) for b in BACKENDS]


def _params():
    return [(i, b) for i, _ in enumerate(OPS) for b in BACKENDS]


def test_script_has_unique_names():
    names = [o.name for o in OPS]
    assert len(names) == len(set(names))


@pytest.mark.slow
@pytest.mark.parametrize(("index", "backend"), _params(), ids=_ids())
def test_operation(index: int, backend: str, differential_runs):
    o = OPS[index]
    got = differential_runs(backend)[index]
    res = got["result"]
    assert "exception" not in res, f"{o.name} on {backend} raised {res['exception']}"
    # 1. the doc's expectation for this operation
    if "tx" in res:
        t = res["tx"]
        if o.reason is not None:
            assert (t["ok"], t["revert_reason"]) == (False, o.reason), f"{o.name} on {backend}"
        elif o.expect_ok:
            assert t["ok"], f"{o.name} on {backend} reverted: {t['revert_reason']!r}"
        if o.events is not None:
            assert [e["event"] for e in t["events"]] == o.events, f"{o.name} on {backend}"
    # 2. the same outcome and state as the mock
    if backend != "mock":
        ref = differential_runs("mock")[index]
        assert res == ref["result"], f"{o.name}: {backend} result differs from mock"
        diff = {k: (ref["state"][k], got["state"][k]) for k in ref["state"] if ref["state"][k] != got["state"].get(k)}
        assert not diff, f"{o.name}: {backend} state differs from mock (mock, {backend}): {diff}"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_money_is_conserved(backend: str, differential_runs):
    """After every operation: the Minter holds exactly the senders' deposits and reserves plus every delegator's
    pending fees (the transcoders' commission and every delegator's share), less at most one wei per delegator and
    fee credit lost to the protocol's floors — never more than was credited; and it holds exactly the bonded LPT
    plus the unbonding locks, while LPT is neither created nor destroyed."""
    credits = 0
    checked = 0
    for index, (o, got) in enumerate(zip(OPS, differential_runs(backend))):
        tx_ = got["result"].get("tx")
        if tx_ is not None:
            credits += sum(e["event"] == "WinningTicketTransfer" for e in tx_["events"])
        st = got["state"]
        if "lpt[Minter]" not in st:
            continue  # an operation that could not move money (not mined, or TicketBroker-only: checked above)
        checked += 1
        escrow = sum(st[f"sender_info[{s}]"]["deposit"] + st[f"sender_info[{s}]"]["reserve"]
                     for s in ("sender", "sender2"))
        fees = sum(st[f"pending[{b}]"][1] for b in BONDERS)
        dust = st["eth[Minter]"] - escrow - fees
        assert 0 <= dust <= credits * len(BONDERS), f"{index:02d}-{o.name} on {backend}: Minter ETH off by {dust} wei"
        bonded = sum(st[f"delegator[{b}]"]["bonded_amount"] + sum(a for a, _ in st[f"locks[{b}]"]) for b in BONDERS)
        assert st["lpt[Minter]"] == bonded, f"{index:02d}-{o.name} on {backend}: Minter LPT != bonded + locked"
        assert st["lpt[Minter]"] + sum(st[f"lpt[{b}]"] for b in BONDERS) == len(BONDERS) * 10_000 * L
    assert checked > 40 and credits > 10
