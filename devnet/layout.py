"""What the devnet deploys and registers, in order — shared by the EVM backends and the mock, so contract addresses
(CREATE addresses of the deployer's nonces) and block numbers are the same on every backend.

As on Arbitrum One (docs/chain.md#how-the-contracts-find-each-other): the upgradeable contracts are ManagerProxy
contracts registered under the contract's name, delegating to a target registered as ``<name>Target``; the
TicketBroker proxy is also registered as "JobsManager"; the Minter, the Controller and LPT are plain contracts.
``TranscoderPool`` is the BondingManager's linked library (not registered).
"""
from __future__ import annotations

__all__ = ["DEPLOY_ORDER", "REGISTRY", "LIBRARY", "ETH_USD_DESCRIPTION", "ARBITRUM_ONE"]

LIBRARY = "TranscoderPool"
ETH_USD_DESCRIPTION = "ETH / USD"  # go-livepeer reads base/quote currencies from the feed's description

# (name in chain.contracts, artifact, constructor): "controller" = (controller,), "proxy" = (controller,
# keccak(name + "Target")), "holders" = (dev accounts, LPT per account), "feed" = (decimals, description)
DEPLOY_ORDER: tuple[tuple[str, str, str | None], ...] = (
    ("Controller", "Controller", None),
    (LIBRARY, "TranscoderPool", None),
    ("LivepeerToken", "LivepeerToken", "holders"),
    ("Minter", "Minter", "controller"),
    ("BondingManagerTarget", "BondingManager", "controller"),
    ("BondingManager", "ManagerProxy", "proxy"),
    ("BondingVotesTarget", "BondingVotes", "controller"),
    ("BondingVotes", "ManagerProxy", "proxy"),
    ("RoundsManagerTarget", "RoundsManager", "controller"),
    ("RoundsManager", "ManagerProxy", "proxy"),
    ("TicketBrokerTarget", "TicketBroker", "controller"),
    ("TicketBroker", "ManagerProxy", "proxy"),
    ("ServiceRegistryTarget", "ServiceRegistry", "controller"),
    ("ServiceRegistry", "ManagerProxy", "proxy"),
    ("EthUsdPriceFeed", "EthUsdPriceFeed", "feed"),
)

# Controller registrations, in order: (registered name, name of the deployed contract it points at).
REGISTRY: tuple[tuple[str, str], ...] = (
    ("LivepeerToken", "LivepeerToken"),
    ("Minter", "Minter"),
    ("BondingManagerTarget", "BondingManagerTarget"),
    ("BondingManager", "BondingManager"),
    ("BondingVotesTarget", "BondingVotesTarget"),
    ("BondingVotes", "BondingVotes"),
    ("RoundsManagerTarget", "RoundsManagerTarget"),
    ("RoundsManager", "RoundsManager"),
    ("TicketBrokerTarget", "TicketBrokerTarget"),
    ("TicketBroker", "TicketBroker"),
    ("JobsManager", "TicketBroker"),
    ("ServiceRegistryTarget", "ServiceRegistryTarget"),
    ("ServiceRegistry", "ServiceRegistry"),
    ("EthUsdPriceFeed", "EthUsdPriceFeed"),
)

# Arbitrum One (chain id 42161), from livepeer/protocol deployments/arbitrumMainnet and go-livepeer's default
# -priceFeedAddr: the Controller a fork resolves everything through by default, and the proxies' and Minter's
# addresses (tests place lpdev's contracts there to play an Arbitrum One fork).
ARBITRUM_ONE = {
    "chain_id": 42161,
    "Controller": "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
    "TicketBroker": "0xa8bB618B1520E284046F3dFc448851A1Ff26e41B",
    "RoundsManager": "0xdd6f56DcC28D3F5f27084381fE8Df634985cc39f",
    "BondingManager": "0x35Bcf3c30594191d53231E4FF333E8A770453e40",
    "BondingVotes": "0x0B9C254837E72Ebe9Fe04960C43B69782E68169A",
    "ServiceRegistry": "0xC92d3A360b8f9e083bA64DE15d95Cf8180897431",
    "Minter": "0xc20DE37170B45774e6CD3d2304017fc962f27252",
    "EthUsdChainlinkFeed": "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612",
}
