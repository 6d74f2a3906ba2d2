// SPDX-License-Identifier: MIT
// lpdev devnet contracts — rounds measured in blocks; initializeRound stores the round's block hash, which
// tickets carry in their auxData (ticketbroker.md §8, §4).
pragma solidity ^0.8.9;

import "./Manager.sol";

contract RoundsManager is Manager {
    uint256 public roundLength; // blocks per round
    uint256 public roundLockAmount; // share of a round (over 1e6) at its end during which transcoder() is blocked
    uint256 public lastRoundLengthUpdateRound;
    uint256 public lastRoundLengthUpdateStartBlock;
    uint256 public lastInitializedRound;
    mapping(uint256 => bytes32) internal _blockHashForRound;

    event NewRound(uint256 indexed round, bytes32 blockHash);
    event ParameterUpdate(string param);

    constructor(address _controller) Manager(_controller) {}

    // The first call makes rounds block.number / roundLength (§8); later calls keep the round number continuous.
    function setRoundLength(uint256 _roundLength) external onlyControllerOwner {
        require(_roundLength > 0, "round length cannot be 0");
        if (roundLength == 0) {
            roundLength = _roundLength;
            lastRoundLengthUpdateRound = currentRound();
            lastRoundLengthUpdateStartBlock = currentRoundStartBlock();
        } else {
            lastRoundLengthUpdateRound = currentRound();
            lastRoundLengthUpdateStartBlock = currentRoundStartBlock();
            roundLength = _roundLength;
        }
        emit ParameterUpdate("roundLength");
    }

    function setRoundLockAmount(uint256 _roundLockAmount) external onlyControllerOwner {
        require(_roundLockAmount <= 1000000, "round lock amount must be a valid percentage");
        roundLockAmount = _roundLockAmount;
        emit ParameterUpdate("roundLockAmount");
    }

    function initializeRound() external whenSystemNotPaused {
        uint256 currRound = currentRound();
        require(lastInitializedRound < currRound, "round already initialized");
        lastInitializedRound = currRound;
        bytes32 hash = blockhash(block.number - 1);
        _blockHashForRound[currRound] = hash;
        bondingManager().setCurrentRoundTotalActiveStake();
        minter().setCurrentRewardTokens();
        emit NewRound(currRound, hash);
    }

    function blockNum() public view returns (uint256) {
        return block.number;
    }

    function blockHash(uint256 _block) public view returns (bytes32) {
        require(_block < block.number && block.number - _block <= 256, "can only retrieve past 256 blocks");
        return blockhash(_block);
    }

    function blockHashForRound(uint256 _round) public view returns (bytes32) {
        return _blockHashForRound[_round];
    }

    function currentRound() public view returns (uint256) {
        if (roundLength == 0) {
            return 0;
        }
        return lastRoundLengthUpdateRound + (block.number - lastRoundLengthUpdateStartBlock) / roundLength;
    }

    function currentRoundStartBlock() public view returns (uint256) {
        if (roundLength == 0) {
            return 0;
        }
        return lastRoundLengthUpdateStartBlock + (currentRound() - lastRoundLengthUpdateRound) * roundLength;
    }

    function currentRoundBlockHash() public view returns (bytes32) {
        return _blockHashForRound[currentRound()];
    }

    function currentRoundInitialized() public view returns (bool) {
        return lastInitializedRound == currentRound();
    }

    function currentRoundLocked() public view returns (bool) {
        uint256 lockedBlocks = (roundLength * roundLockAmount) / 1000000;
        return block.number - currentRoundStartBlock() >= roundLength - lockedBlocks;
    }
}
