"""The orchestrator's side of ticket params (docs/tickets.md#ticket-params, docs/orchestrator.md#getorchestrator).

Face value and win prob from the configured ticket EV and the gas price, recipientRand as an HMAC that
binds every param to the orchestrator's secret, auth tokens, and the price auto-adjustment.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sim.pm.crypto import hmac_sha256, keccak
from sim.pm.ticket import MAX_WIN_PROB, ZERO_HASH, aux_data, minbytes, u256

__all__ = [
    "RecipientConfig", "InsufficientSenderReserve", "face_value", "win_prob", "recipient_rand",
    "recipient_rand_hash", "TicketParams", "tx_cost_multiplier", "price_with_overhead", "auth_token",
    "PARAMS_EXPIRATION_BLOCK", "EV_MULTIPLIER", "AVG_GAS_PRICE", "DEFAULT_TICKET_EV", "DEFAULT_REDEEM_GAS",
    "DEFAULT_TX_COST_MULTIPLIER", "AUTH_TOKEN_VALIDITY_S", "ARBITRUM_REDEEM_GAS",
]

DEFAULT_TICKET_EV = 8_000_000_000
DEFAULT_REDEEM_GAS = 350_000  # -ticketEV's redemption estimate on L1 networks / unknown
ARBITRUM_REDEEM_GAS = 1_200_000  # the same estimate on arbitrum-one-* (go-livepeer starter.go)
DEFAULT_TX_COST_MULTIPLIER = 100
EV_MULTIPLIER = 100
AVG_GAS_PRICE = 3_000_000_000
PARAMS_EXPIRATION_BLOCK = 40
AUTH_TOKEN_VALIDITY_S = 30 * 60


class InsufficientSenderReserve(Exception):
    def __init__(self) -> None:
        super().__init__("insufficient sender reserve")


@dataclass(frozen=True)
class RecipientConfig:
    ev: int = DEFAULT_TICKET_EV
    redeem_gas: int = DEFAULT_REDEEM_GAS
    tx_cost_multiplier: int = DEFAULT_TX_COST_MULTIPLIER
    max_face_value: int = 0  # 0 = no cap (-maxFaceValue)


def face_value(cfg: RecipientConfig, gas_price: int, max_float: int) -> int:
    """Face value for a positive price: steps 2–4 of docs/tickets.md#expected-value-face-value-and-win-probability."""
    tx_cost = cfg.redeem_gas * gas_price
    fv = tx_cost * cfg.tx_cost_multiplier
    if fv < cfg.ev:
        fv = cfg.ev * EV_MULTIPLIER
    fv = min(fv, max_float)
    if cfg.max_face_value > 0:
        fv = min(fv, cfg.max_face_value)
    if fv < cfg.ev or (fv < tx_cost and fv < cfg.redeem_gas * AVG_GAS_PRICE):
        raise InsufficientSenderReserve()
    return fv


def win_prob(ev: int, fv: int) -> int:
    """Win prob (step 5 of docs/tickets.md#expected-value-face-value-and-win-probability), including Go's low-64-bit
    remainder test."""
    if fv == 0:
        return 0
    if fv == ev:
        return MAX_WIN_PROB
    x, m = divmod(MAX_WIN_PROB, fv)
    return ev * (x + 1) if (m & (2**64 - 1)) != 0 else ev * x


def tx_cost_multiplier(cfg: RecipientConfig, gas_price: int, max_float: int) -> Fraction:
    """``faceValue / txCost`` (0 when the gas price is 0) — used for the price overhead."""
    tx_cost = cfg.redeem_gas * gas_price
    if tx_cost == 0:
        return Fraction(0)
    return Fraction(face_value(cfg, gas_price, max_float), tx_cost)


def price_with_overhead(price: Fraction, multiplier: Fraction) -> Fraction:
    """``-autoAdjustPrice``: ``price × (1 + 1/multiplier)`` truncated to 3 decimals (multiplier 0: unchanged)."""
    if multiplier == 0:
        return Fraction(price)
    adjusted = Fraction(price) * (1 + 1 / Fraction(multiplier))
    milli = int(adjusted * 1000)  # toward zero
    return Fraction(milli, 1000)


def recipient_rand(secret: bytes, seed: int, sender: bytes, face_value_: int, win_prob_: int,
                   expiration_block: int, price: Fraction, creation_round: int,
                   creation_round_block_hash: bytes) -> int:
    """HMAC-SHA256 over the params, keyed by the orchestrator's secret (docs/tickets.md#ticket-params)."""
    price = Fraction(price)
    msg = (
        minbytes(seed)
        + bytes(sender).rjust(20, b"\x00")[-20:]
        + minbytes(face_value_)
        + minbytes(win_prob_)
        + minbytes(expiration_block)
        + minbytes(price.numerator)
        + minbytes(price.denominator)
        + aux_data(creation_round, creation_round_block_hash)
    )
    return int.from_bytes(hmac_sha256(secret, msg), "big")


def recipient_rand_hash(rand: int) -> bytes:
    return keccak(u256(rand))


def auth_token(secret: bytes, session_id: str, expiration: int) -> bytes:
    """``HMAC-SHA256(secret, utf8(sessionID) ‖ minbytes(expiration))`` (docs/orchestrator.md#getorchestrator)."""
    return hmac_sha256(secret, session_id.encode() + minbytes(expiration))


@dataclass(frozen=True)
class TicketParams:
    """What an orchestrator hands a sender (``net.TicketParams`` + expiration params + price)."""

    recipient: bytes
    face_value: int
    win_prob: int
    recipient_rand_hash: bytes
    seed: int
    expiration_block: int
    creation_round: int
    creation_round_block_hash: bytes
    price_per_pixel: Fraction

    @property
    def ev(self) -> Fraction:
        return Fraction(self.face_value * self.win_prob, MAX_WIN_PROB)

    @property
    def aux_data(self) -> bytes:
        return aux_data(self.creation_round, self.creation_round_block_hash)

    @classmethod
    def issue(cls, *, secret: bytes, cfg: RecipientConfig, recipient: bytes, sender: bytes, price: Fraction,
              gas_price: int, max_float: int, seed: int, last_block: int, creation_round: int,
              creation_round_block_hash: bytes) -> tuple["TicketParams", int]:
        """docs/tickets.md#expected-value-face-value-and-win-probability end to end; returns the params and their
        recipientRand (which the orchestrator never stores)."""
        price = Fraction(price)
        if price.numerator <= 0:
            fv, wp = 0, 0
        else:
            fv = face_value(cfg, gas_price, max_float)
            wp = win_prob(cfg.ev, fv)
        expiration_block = last_block + PARAMS_EXPIRATION_BLOCK
        rand = recipient_rand(secret, seed, sender, fv, wp, expiration_block, price, creation_round,
                              creation_round_block_hash)
        params = cls(recipient=bytes(recipient), face_value=fv, win_prob=wp,
                     recipient_rand_hash=recipient_rand_hash(rand), seed=seed,
                     expiration_block=expiration_block, creation_round=creation_round,
                     creation_round_block_hash=bytes(creation_round_block_hash or ZERO_HASH),
                     price_per_pixel=price)
        return params, rand
