"""Mainnet-like reference figures the economics uses, in one place, each with where it comes from.

The lead will unify the gas figures with the chain branch (issue 17), which measures lpdev's own contracts
against the same reference.
"""
from __future__ import annotations

__all__ = ["REDEMPTION_GAS", "REDEMPTION_GAS_FIRST_IN_ROUND", "ARBITRUM_MIN_GAS_PRICE", "L1_BLOCK_TIME_S",
           "ROUND_LENGTH_BLOCKS", "NONCE_REFRESH_AT"]

# Gas one `redeemWinningTicket` really uses on the livepeer/protocol contracts deployed behind their proxies as
# on Arbitrum One (measured on anvil, issue 17 "Mainnet-faithful chain"): an ordinary redemption ~201k gas, the
# first redemption in a round ~315k (it also initialises the round's earnings pool). lpdev's own contracts use
# less (126k / 143k); the economics uses the real figures.
REDEMPTION_GAS = 201_000
REDEMPTION_GAS_FIRST_IN_ROUND = 315_000

# Arbitrum One's minimum L2 base fee (0.01 gwei). A floor, not a forecast: pass --gas-price for today's.
ARBITRUM_MIN_GAS_PRICE = 10_000_000

# Ticket params expire in L1 blocks (docs/chain.md#rounds): on Arbitrum those are Ethereum's 12 s slots.
L1_BLOCK_TIME_S = 12.0
# A Livepeer round on mainnet: 5760 L1 blocks (about 19 h at 12 s).
ROUND_LENGTH_BLOCKS = 5760

# go-livepeer v0.9.3 (#4028): the signer answers 480 once the carried nonce reaches 500
# (docs/refreshes.md#480-refresh-the-session), so one call's 100 tickets cannot run past the orchestrator's
# 600-nonce set.
NONCE_REFRESH_AT = 500

