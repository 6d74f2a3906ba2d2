// SPDX-License-Identifier: MIT
// lpdev devnet contracts — rounds measured in blocks; initializeRound stores the round's block hash, which
// tickets carry in their auxData (docs/chain.md#rounds, docs/tickets.md#the-ticket-hash-and-the-signatures).
pragma solidity ^0.8.9;

import "./Manager.sol";

// Runs behind a ManagerProxy registered as "RoundsManager" (target "RoundsManagerTarget"), as on Arbitrum One.
contract RoundsManager is ManagerProxyTarget {
    // the deployed layout: slots 2-6, then the two mappings
    uint256 public roundLength; // blocks per round
    uint256 public roundLockAmount; // share of a round (over 1e6) at its end during which transcoder() is blocked
    uint256 public lastInitializedRound;
    uint256 public lastRoundLengthUpdateRound;
    uint256 public lastRoundLengthUpdateStartBlock;
    mapping(uint256 => bytes32) internal _blockHashForRound;
    mapping(uint256 => uint256) public lipUpgradeRound; // LIP number -> the round it took effect

    event NewRound(uint256 indexed round, bytes32 blockHash);

    constructor(address _controller) Manager(_controller) {}

    // The first call makes rounds block.number / roundLength (docs/chain.md#rounds); later calls keep the round
    // number continuous.
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

    function setLIPUpgradeRound(uint256 _lip, uint256 _round) external onlyControllerOwner {
        require(lipUpgradeRound[_lip] == 0, "LIP upgrade round already set");
        lipUpgradeRound[_lip] = _round;
    }

    function initializeRound() external whenSystemNotPaused {
        uint256 currRound = currentRound();
        require(lastInitializedRound < currRound, "round already initialized");
        lastInitializedRound = currRound;
        bytes32 hash = blockHash(blockNum() - 1);
        _blockHashForRound[currRound] = hash;
        bondingManager().setCurrentRoundTotalActiveStake();
        minter().setCurrentRewardTokens();
        emit NewRound(currRound, hash);
    }

    function blockNum() public view returns (uint256) {
        return block.number;
    }

    function blockHash(uint256 _block) public view returns (bytes32) {
        uint256 current = blockNum();
        require(_block < current, "can only retrieve past block hashes");
        require(current < 256 || _block >= current - 256, "can only retrieve hashes for last 256 blocks");
        return blockhash(_block);
    }

    function blockHashForRound(uint256 _round) public view returns (bytes32) {
        return _blockHashForRound[_round];
    }

    function currentRound() public view returns (uint256) {
        if (roundLength == 0) {
            return 0;
        }
        return lastRoundLengthUpdateRound + (blockNum() - lastRoundLengthUpdateStartBlock) / roundLength;
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
        return blockNum() - currentRoundStartBlock() >= roundLength - lockedBlocks;
    }
}
