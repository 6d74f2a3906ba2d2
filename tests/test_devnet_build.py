"""Contract artifacts: committed contracts_abi/ must equal a fresh compile with the pinned solc-js, and the ABI
must carry the protocol's selectors and event topics (docs/chain.md)."""
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
        assert art["bytecode"].startswith("0x6") and (len(art["abi"]) > 3 or name == "TranscoderPool")  # a library


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


# Every selector below was computed from the ABI of the contract deployed on Arbitrum One
# (livepeer/protocol deployments/arbitrumMainnet/*Target.json, Controller.json, Minter.json): lpdev's contracts
# must answer the same selectors for every function they share with it.
SELECTORS = {
    "TicketBroker": {
        "fundDeposit": "6caa736b", "fundReserve": "6f9c3c8f", "fundDepositAndReserve": "511f4073",
        "fundDepositAndReserveFor": "989f789c", "redeemWinningTicket": "ec8b3cb6",
        "batchRedeemWinningTickets": "d01b808e", "unlock": "a69df4b5", "cancelUnlock": "c2c4c2c8",
        "withdraw": "3ccfd60b", "getSenderInfo": "e1a589da", "getReserveInfo": "5b6333eb",
        "claimableReserve": "81779f38", "claimedReserve": "4ac826da", "usedTickets": "59a515ba",
        "isUnlockInProgress": "121cdcc2", "unlockPeriod": "20d3a0b4", "ticketValidityPeriod": "856a2cf8",
        "getTicketHash": "b03fa864", "setUnlockPeriod": "3d0ddf84", "setTicketValidityPeriod": "c9297808",
        "controller": "f77c4791", "setController": "92eefe9b", "targetContractId": "51720b41",
    },
    "Controller": {"getContract": "e16c7d98", "getContractInfo": "613e2de2", "setContractInfo": "d737c2b0",
                   "owner": "8da5cb5b", "paused": "5c975abb", "pause": "8456cb59", "unpause": "3f4ba83a",
                   "updateController": "eb5dd94f", "transferOwnership": "f2fde38b"},
    "RoundsManager": {"currentRoundInitialized": "219bc76c", "currentRound": "8a19c8bc",
                      "blockHashForRound": "3aa4add4", "initializeRound": "d4807fb2", "blockHash": "85df51fd",
                      "blockNum": "8ae63d6d", "currentRoundLocked": "6841f253", "currentRoundStartBlock": "8fa148f2",
                      "lastInitializedRound": "8807f36e", "lastRoundLengthUpdateRound": "0fe1dfa8",
                      "lastRoundLengthUpdateStartBlock": "668abff7", "roundLength": "8b649b94",
                      "roundLockAmount": "f5b490d5", "setRoundLength": "681312f5", "setRoundLockAmount": "0b1573b8",
                      "targetContractId": "51720b41"},
    "BondingManager": {
        "bond": "b78d27dc", "bondForWithHint": "ee4e804a", "bondWithHint": "6bd9add4",
        "checkpointBondingState": "d52bd62b", "claimEarnings": "24b1babf", "controller": "f77c4791",
        "currentRoundTotalActiveStake": "4196ee75", "delegatorStatus": "1544fc67", "getDelegator": "a64ad595",
        "getDelegatorUnbondingLock": "412f83b6", "getFirstTranscoderInPool": "88a6c749",
        "getNextTranscoderInPool": "235c9603", "getTotalBonded": "5c50c356", "getTranscoder": "5dce9948",
        "getTranscoderEarningsPoolForRound": "24454fc4", "getTranscoderPoolMaxSize": "5a2a75a9",
        "getTranscoderPoolSize": "2a4e0d55", "isActiveTranscoder": "08802374", "isRegisteredTranscoder": "68ba170c",
        "isValidUnbondingLock": "0fd02fc1", "nextRoundTotalActiveStake": "465501d3", "pendingFees": "f595f1cc",
        "pendingStake": "9d0b2c7a", "rebond": "eaffb3f9", "rebondFromUnbonded": "3a080e93",
        "rebondFromUnbondedWithHint": "0584a373", "rebondWithHint": "7fc4606f", "setController": "92eefe9b",
        "setCurrentRoundTotalActiveStake": "713f2216", "setNumActiveTranscoders": "673a456b",
        "setUnbondingPeriod": "f10d1de1", "targetContractId": "51720b41", "transcoder": "43d3461a",
        "transcoderStatus": "8b2f1652", "transcoderTotalStake": "9ef9df94", "transcoderWithHint": "3550aa10",
        "unbond": "27de9e32", "unbondWithHint": "9500ed9b", "unbondingPeriod": "6cf6d675",
        "updateTranscoderWithFees": "3aeb512c", "withdrawFees": "ad3b1b47", "withdrawStake": "25d5971f",
    },
    "BondingVotes": {"checkpointBondingState": "e35c3e43", "checkpointTotalActiveStake": "ef105c91",
                     "clock": "91ddadf4", "delegates": "587cde1e", "getTotalActiveStakeAt": "b782c2bd",
                     "getVotes": "9ab24eb0", "getVotesAndDelegateAtRoundStart": "db51a69f",
                     "hasCheckpoint": "c656a01e", "totalSupply": "18160ddd"},
    "Minter": {"depositETH": "f6326fb3", "trustedWithdrawETH": "20283da9", "setCurrentRewardTokens": "ece2064c",
               "trustedTransferTokens": "e7a49c2b", "getController": "3018205f"},
    "ServiceRegistry": {"getServiceURI": "214c2a4b", "setServiceURI": "5f11301b"},
    # ERC-20 and Chainlink's AggregatorV3Interface (go-livepeer's eth/contracts/chainlink binding)
    "LivepeerToken": {"approve": "095ea7b3", "transfer": "a9059cbb", "transferFrom": "23b872dd",
                      "balanceOf": "70a08231", "allowance": "dd62ed3e", "totalSupply": "18160ddd"},
    "EthUsdPriceFeed": {"latestRoundData": "feaf968c", "getRoundData": "9a6fc8f5", "decimals": "313ce567",
                        "description": "7284e416", "version": "54fd4d50"},
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
    # BondingManager / BondingVotes / Controller, from the Arbitrum One ABIs
    "Bond": "e5917769f276ddca9f2ee7c6b0b33e1d1e1b61008010ce622c632dd20d168a23",
    "EarningsClaimed": "d7eab0765b772ea6ea859d5633baf737502198012e930f257f90013d9b211094",
    "Rebond": "9f5b64cc71e1e26ff178caaa7877a04d8ce66fde989251870e80e6fbee690c17",
    "TranscoderActivated": "65d72d782835d64c3287844a829608d5abdc7e864cc9affe96d910ab3db665e9",
    "TranscoderDeactivated": "fee3e693fc72d0a0a673805f3e606c551f4c677b9072444b90dd2d0406bc995c",
    "TranscoderUpdate": "7346854431dbb3eb8e373c604abf89e90f4865b8447e1e2834d7b3e4677bf544",
    "Unbond": "2d5d98d189bee5496a08db2a5948cb7e5e786f09d17d0c3f228eb41776c24a06",
    "WithdrawFees": "4f1b51dd7a2fcb861aa2670f668be66835c4ee12b4bbbf037e4d0018f39819e4",
    "WithdrawStake": "1340f1a8f3d456a649e1a12071dfa15655e3d09252131d0f980c3b405cc8dd2e",
    "DelegateChanged": "3134e8a2e6d97e929a7e54011ea5485d7d196dd5f0ba4d4ef95803e8e3fc257f",
    "DelegateVotesChanged": "dec2bacdd2f05b59de34da9b523dff8be42e5e38e818c82fdb0bae774387a724",
    "DelegatorBondedAmountChanged": "1232f54fc2d34f79dc63b496ab493d834655fc2ea6d945ca547e9be242fd2b72",
    "SetCurrentRewardTokens": "39567a366345edf17f50c1967a31b597745186c4632f34c4f8ebe06b6890784d",
    "ServiceURIUpdate": "fbb63068732c85741c9f8e61caffaabe038d577bfafd2d2dcc0e352a4f653a4c",
    "OwnershipTransferred": "8be0079c531659141344cd1fd0a4f28419497f9722a3daafe3b4186f6b6457e0",
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
