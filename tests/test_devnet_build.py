"""Contract artifacts: committed contracts_abi/ must equal a fresh compile with the pinned solc-js, and the ABI
must carry the protocol's selectors and event topics (ticketbroker.md §1–§3, §8, §9)."""
from __future__ import annotations

import json

import pytest
from eth_utils import keccak

from devnet import build
from devnet.abi import EVENTS, functions, name_id


def test_artifact_source_hashes_match_sources():
    """Fast check: every artifact records the sha256 of the current sources and the pinned compiler."""
    import hashlib

    current = {p.name: hashlib.sha256(p.read_text().encode()).hexdigest()
               for p in sorted(build.SOURCES_DIR.glob("*.sol"))}
    for name in build.DEPLOYABLE:
        art = json.loads((build.ARTIFACTS_DIR / f"{name}.json").read_text())
        assert art["sources"] == current, f"{name}.json is stale: run `lpdev chain build-contracts`"
        assert art["compiler"]["version"].startswith(build.SOLC_VERSION + "+")
        assert art["bytecode"].startswith("0x60") and len(art["abi"]) > 3


@pytest.mark.slow
def test_artifacts_are_not_stale():
    """Recompiles devnet/contracts (a few seconds); fails if someone edited a .sol without
    `lpdev chain build-contracts`."""
    fresh = build.compile_contracts()
    assert build.stale_artifacts(fresh) == []
    for name, art in fresh.items():
        assert art["compiler"]["version"].startswith(build.SOLC_VERSION + "+")
        committed = json.loads((build.ARTIFACTS_DIR / f"{name}.json").read_text())
        assert committed["sources"] == art["sources"]


def test_stale_detection_works():
    art = json.loads((build.ARTIFACTS_DIR / "Minter.json").read_text())
    assert build.stale_artifacts({"Minter": art}) == []
    art["bytecode"] = art["bytecode"][:-2] + ("00" if art["bytecode"][-2:] != "00" else "01")
    assert build.stale_artifacts({"Minter": art}) == ["Minter"]


SELECTORS = {
    "TicketBroker": {
        "fundDeposit": "6caa736b", "fundReserve": "6f9c3c8f", "fundDepositAndReserve": "511f4073",
        "fundDepositAndReserveFor": "989f789c", "redeemWinningTicket": "ec8b3cb6",
        "batchRedeemWinningTickets": "d01b808e", "unlock": "a69df4b5", "cancelUnlock": "c2c4c2c8",
        "withdraw": "3ccfd60b", "getSenderInfo": "e1a589da", "getReserveInfo": "5b6333eb",
        "claimableReserve": "81779f38", "claimedReserve": "4ac826da", "usedTickets": "59a515ba",
        "isUnlockInProgress": "121cdcc2", "unlockPeriod": "20d3a0b4", "ticketValidityPeriod": "856a2cf8",
        "getTicketHash": "b03fa864", "setUnlockPeriod": "3d0ddf84", "setTicketValidityPeriod": "c9297808",
        "controller": "f77c4791", "setController": "92eefe9b",
    },
    "Controller": {"getContract": "e16c7d98", "getContractInfo": "613e2de2", "setContractInfo": "d737c2b0",
                   "owner": "8da5cb5b", "paused": "5c975abb", "pause": "8456cb59", "unpause": "3f4ba83a",
                   "updateController": "eb5dd94f"},
    "RoundsManager": {"currentRoundInitialized": "219bc76c", "currentRound": "8a19c8bc",
                      "blockHashForRound": "3aa4add4", "initializeRound": "d4807fb2"},
    "BondingManager": {"isActiveTranscoder": "08802374", "getTranscoderPoolSize": "2a4e0d55",
                       "updateTranscoderWithFees": "3aeb512c", "setCurrentRoundTotalActiveStake": "713f2216"},
    "Minter": {"depositETH": "f6326fb3", "trustedWithdrawETH": "20283da9", "setCurrentRewardTokens": "ece2064c"},
}

TOPICS = {
    "DepositFunded": "5159e237d952190e68d5215430f305831be7c9c8776d1377c76679ae4773413f",
    "ReserveFunded": "b52b99b9e83551fcbd069b559cc3e823e2a1a3bad8ece46561ea77524394c850",
    "ReserveClaimed": "5c2b394723f408a40a60335e24b71829642e35f350cebe2036a96a66e895ea98",
    "WinningTicketRedeemed": "c389eb51ed006dbf2528507f010efdf5225ea596e1e1741d74f550dab1925ee7",
    "WinningTicketTransfer": "8b87351a208c06e3ceee59d80725fd77a23b4129e1b51ca231fc89b40712649c",
    "Unlock": "f7870c5b224cbc19873599e46ccfc7103934650509b1af0c3ce90138377c2004",
    "UnlockCancelled": "fa044b7b93a40365dc68049797c2eb06918523d694e5d56e406cac3eb35578e5",
    "Withdrawal": "df273cb619d95419a9cd0ec88123a0538c85064229baa6363788f743fff90deb",
    "ParameterUpdate": "9f5033568d78ae30f29f01e944f97b2216493bd19d1b46d429673acff3dcd674",
    "SetController": "4ff638452bbf33c012645d18ae6f05515ff5f2d1dfb0cece8cbf018c60903f70",
    "NewRound": "22f2fc17c5daf07db2379b3a03a8ef20a183f761097a58fce219c8a14619e786",
    "SetContractInfo": "f9a6cf519167d81bc5cb3d26c60c0c9a19704aa908c148e82a861b570f4cd2d7",
}


@pytest.mark.parametrize("contract", sorted(SELECTORS))
def test_selectors(contract):
    fns = functions(contract)
    for name, sel in SELECTORS[contract].items():
        assert fns[name].selector.hex() == sel, name


def test_event_topics():
    by_name = {ev.name: topic.hex() for topic, ev in EVENTS.items()}
    for name, topic in TOPICS.items():
        assert by_name[name] == topic, name


def test_controller_ids():
    assert name_id("TicketBroker").hex() == "bd1aa3e8d2464256d7fd3dcf645c16418d5d8c51d971f1ad7d57e7b1b5eee239"
    assert name_id("JobsManager").hex() == "3d7456535a3155a46f15a2313c3915bd07137ffdc56464f4fc9a82bae7215c2d"
    assert name_id("Minter") == keccak(b"Minter")


def test_config_keys_match_addresses():
    from devnet.config import DEV_ADDRESSES, DEV_KEYS, DevnetConfig
    from sim.pm.crypto import private_key_to_address, to_checksum_address

    for k, a in zip(DEV_KEYS, DEV_ADDRESSES):
        assert to_checksum_address(private_key_to_address(bytes.fromhex(k[2:]))) == a
    cfg = DevnetConfig()
    assert cfg.address("sender") == DEV_ADDRESSES[2] and cfg.key("orchestrator") == bytes.fromhex(DEV_KEYS[1][2:])
    with pytest.raises(KeyError):
        cfg.key("nobody")
