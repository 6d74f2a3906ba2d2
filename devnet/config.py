"""Devnet parameters and the well-known throwaway dev accounts (docs/chain.md#the-devnets-parameters).

The ten keys below are anvil's/hardhat's PUBLIC dev keys, derived from the well-known mnemonic
``"test test test test test test test test test test test junk"`` (BIP-44 m/44'/60'/0'/0/i). They guard
nothing: never send real funds to them. They are hard-coded (not derived at import) to keep start-up fast;
``tests/test_devnet_config.py`` checks that each key matches its address.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from fractions import Fraction

from sim.wire.bounded import BoundedInputError, parse_fraction

__all__ = ["DEV_MNEMONIC", "DEV_KEYS", "DEV_ADDRESSES", "ROLES", "DevnetConfig", "ETHER", "LPT", "USD_DECIMALS",
           "eth_usd_answer"]

ETHER = 10**18
LPT = 10**18  # LPT has 18 decimals: 1 LPT = 10**18 base units
USD_DECIMALS = 8  # the ETH/USD feed's answer has 8 decimals, like Chainlink's USD feeds


def eth_usd_answer(usd_per_eth) -> int:
    """USD per ETH (int, Fraction, or a decimal string like "3000.5") -> the feed's integer answer (8 decimals),
    for every backend (the mock too, without importing web3). Read by the bounded parser (at most 100 digits, a
    bounded exponent: ``1e99999999`` is refused at once); ValueError: one line naming the problem."""
    shown = repr(usd_per_eth) if len(str(usd_per_eth)) <= 40 else f"a value of {len(str(usd_per_eth))} characters"
    try:
        value = parse_fraction(str(usd_per_eth) if isinstance(usd_per_eth, float) else usd_per_eth,
                               what="ETH/USD price")
    except BoundedInputError as exc:
        if "not a number" in exc.problem or "divides by zero" in exc.problem:
            raise ValueError(f"bad ETH/USD price {shown}: give USD per ETH, e.g. 3000 or 2999.5") from None
        raise ValueError(f"bad ETH/USD price: {exc.problem}") from None
    answer = value * 10**USD_DECIMALS
    if answer <= 0:
        raise ValueError(f"ETH/USD price must be positive, got {shown}")
    if answer.denominator != 1:
        raise ValueError(f"ETH/USD price {shown} has more than {USD_DECIMALS} decimals")
    if answer >= 2**255:
        raise ValueError(f"ETH/USD price {shown} is too large: the feed's answer is an int256 with {USD_DECIMALS} "
                         f"decimals, so at most {float(Fraction(2**255 - 1, 10**USD_DECIMALS)):.3g} USD per ETH")
    return int(answer)

DEV_MNEMONIC = "test test test test test test test test test test test junk"

# Public throwaway dev keys (anvil accounts 0..9). NOT SECRET.
DEV_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
DEV_ADDRESSES: tuple[str, ...] = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
)

# role -> anvil dev account index (DevnetConfig.key / .address)
ROLES: dict[str, int] = {
    "deployer": 0,
    "orchestrator": 1,
    "sender": 2,  # the remote signer's ETH account (go-livepeer "broadcaster")
    "gateway": 3,
    "orchestrator2": 4,
    "sender2": 5,
    "delegator": 6,  # bonds LPT to an orchestrator (DevnetConfig.delegators)
    "delegator2": 7,
}


@dataclass
class DevnetConfig:
    """What ``open_chain(..., setup=True)`` builds.

    Rounds are counted in blocks (RoundsManager.roundLength); unlock and ticket validity periods are counted
    in rounds (docs/chain.md#unlock-and-withdraw, docs/chain.md#what-the-ticketbroker-checks-in-order). Money is in
    wei (int).
    """

    round_length: int = 20  # blocks per round
    unlock_period: int = 2  # rounds
    ticket_validity_period: int = 2  # rounds
    sender_deposit: int = 100 * ETHER
    sender_reserve: int = 100 * ETHER
    # roles that bond transcoder_stake to themselves, register as transcoders (BondingManager.transcoder with
    # reward_cut / fee_share) and are active after setup
    transcoders: tuple[str, ...] = ("orchestrator",)
    # roles funded with sender_deposit / sender_reserve during setup
    senders: tuple[str, ...] = ("sender",)
    # (delegator role, transcoder role, LPT amount in base units) bonded during setup, before the transcoders
    # become active; none by default, so a transcoder's pending fees are all the fees its tickets earned
    delegators: tuple[tuple[str, str, int], ...] = ()
    roles: dict[str, int] = field(default_factory=lambda: dict(ROLES))
    chain_id: int = 31337  # anvil's default; the embedded backend reports its own
    transcoder_stake: int = 1000 * LPT  # self-bond of each transcoder (a power of ten: exact fee shares)
    reward_cut: int = 100_000  # 10 % over 1e6 (go-livepeer's cmd/devtool value)
    fee_share: int = 50_000  # 5 % of fees to delegators (itself included), over 1e6
    lpt_per_account: int = 10_000 * LPT  # minted to every dev account when LPT is deployed
    unbonding_period: int = 7  # rounds
    num_active_transcoders: int = 100
    round_lock_amount: int = 100_000  # last 10 % of a round: transcoder() is refused (over 1e6)
    eth_usd: str = "3000"  # USD per ETH, the feed's first answer

    def key(self, role: str) -> bytes:
        """32-byte private key of ``role`` (a throwaway dev key)."""
        try:
            return bytes.fromhex(DEV_KEYS[self.roles[role]][2:])
        except KeyError:
            raise KeyError(f"unknown role {role!r}; known roles: {', '.join(self.roles)}") from None

    def address(self, role: str) -> str:
        """Checksum address of ``role``."""
        try:
            return DEV_ADDRESSES[self.roles[role]]
        except KeyError:
            raise KeyError(f"unknown role {role!r}; known roles: {', '.join(self.roles)}") from None

    def accounts(self) -> list[dict]:
        """``[{role, address, private_key}]`` for every role (keys are public dev keys)."""
        return [
            {"role": r, "address": DEV_ADDRESSES[i], "private_key": DEV_KEYS[i]}
            for r, i in sorted(self.roles.items(), key=lambda kv: kv[1])
        ]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["transcoders"] = list(self.transcoders)
        d["senders"] = list(self.senders)
        d["delegators"] = [list(x) for x in self.delegators]
        return d
