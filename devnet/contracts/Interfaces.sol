// SPDX-License-Identifier: MIT
// lpdev devnet contracts — written for lpdev; interfaces the contracts use to reach each other through the
// Controller registry (docs/chain.md#how-the-contracts-find-each-other). Selectors match the Livepeer protocol's.
pragma solidity ^0.8.9;

interface IController {
    function owner() external view returns (address);

    function paused() external view returns (bool);

    function getContract(bytes32 _id) external view returns (address);
}

interface IRoundsManager {
    function currentRound() external view returns (uint256);

    function currentRoundInitialized() external view returns (bool);

    function currentRoundLocked() external view returns (bool);

    function blockHashForRound(uint256 _round) external view returns (bytes32);
}

interface IBondingManager {
    function isActiveTranscoder(address _transcoder) external view returns (bool);

    function getTranscoderPoolSize() external view returns (uint256);

    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256 _round) external;

    function setCurrentRoundTotalActiveStake() external;

    function getTotalBonded() external view returns (uint256);

    function nextRoundTotalActiveStake() external view returns (uint256);
}

interface IBondingVotes {
    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external;

    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external;
}

interface IMinter {
    function depositETH() external payable returns (bool);

    function trustedWithdrawETH(address payable _to, uint256 _amount) external;

    function trustedTransferTokens(address _to, uint256 _amount) external;

    function setCurrentRewardTokens() external;
}

interface ILivepeerToken {
    function totalSupply() external view returns (uint256);

    function balanceOf(address _account) external view returns (uint256);

    function transfer(address _to, uint256 _amount) external returns (bool);

    function transferFrom(address _from, address _to, uint256 _amount) external returns (bool);
}
