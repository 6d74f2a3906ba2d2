"""Mainnet-like reference figures the economics uses, in one place, each with where it comes from.

The gas figures are the same fact `lpdev bench chain` holds lpdev's own contracts to (bench/chain.py imports
:data:`PROTOCOL_GAS` from here).
"""
from __future__ import annotations

__all__ = ["PROTOCOL_GAS", "REDEMPTION_GAS", "REDEMPTION_GAS_FIRST_IN_ROUND", "ARBITRUM_MIN_GAS_PRICE",
           "L1_BLOCK_TIME_S", "ROUND_LENGTH_BLOCKS", "NONCE_REFRESH_AT"]

# Gas used by livepeer/protocol's own contracts for these operations, each behind its ManagerProxy, on anvil 1.7.1
# (prague), in `lpdev bench chain`'s reference scenario (bench/chain.py gas_scenario). Provenance: measured for
# issue 17 in a scratch directory outside this repository (nothing of it is in the repo): livepeer/protocol at
# f225b10 (branch delta), the creation bytecode of each contract deployed on Arbitrum One from its
# deployments/arbitrumMainnet records (Controller, Minter, ManagerProxy, the TicketBroker, RoundsManager,
# BondingManager v9 and BondingVotes targets, the BondingManager linked to its SortedDoublyLL library placed at the
# mainnet library address) and LivepeerToken compiled from the same repository with solc-js 0.8.9; a dummy
# L2LPTDataCache. Repeated runs differ by a few dozen gas (the zero bytes of each ticket signature). The issue's
# three figures, "201k ordinary redemption, 315k first in round, 327k withdrawFees", are these, rounded.
PROTOCOL_GAS = {
    "redeem_first_in_round": 314_810,  # issue 17: 315k (it also initialises the round's earnings pool)
    "redeem": 200_594,  # issue 17: 201k
    "batch_redeem_5": 538_058,
    "redeem_partly_from_reserve": 279_654,
    "withdraw_fees": 327_222,  # issue 17: 327k
    "unlock": 88_919,
    "withdraw": 88_570,
}

# What one `redeemWinningTicket` costs an orchestrator on the real contracts: an ordinary redemption, and the first
# one of a round. lpdev's own contracts use 0.95-0.99 of these (README's gas table, `lpdev bench chain`); the
# economics charges the real figures.
REDEMPTION_GAS = PROTOCOL_GAS["redeem"]
REDEMPTION_GAS_FIRST_IN_ROUND = PROTOCOL_GAS["redeem_first_in_round"]

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

