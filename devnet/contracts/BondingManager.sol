// SPDX-License-Identifier: MIT
// lpdev devnet contracts — a MINIMAL BondingManager: just what the payment path needs (ticketbroker.md §9).
// No LPT, no delegation, no rewards: transcoder() registers the caller with a nominal stake of 1; it joins the
// pool at once and is active from the next round. Fees credited by TicketBroker are paid out by the Minter.
pragma solidity ^0.8.9;

import "./Manager.sol";

contract BondingManager is Manager {
    struct Transcoder {
        uint256 activationRound; // 0 = not registered
        uint256 stake;
        uint256 fees; // pending, withdrawable
    }

    mapping(address => Transcoder) public transcoders;
    address[] internal pool;

    event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    event TranscoderActivated(address indexed transcoder, uint256 activationRound);
    event WithdrawFees(address indexed delegator, address recipient, uint256 amount);

    modifier currentRoundInitialized() {
        require(IRoundsManager(_lookup("RoundsManager")).currentRoundInitialized(), "current round is not initialized");
        _;
    }

    constructor(address _controller) Manager(_controller) {}

    // Registers the caller (rewardCut and feeShare are recorded in the event only). Idempotent.
    function transcoder(uint256 _rewardCut, uint256 _feeShare) external whenSystemNotPaused currentRoundInitialized {
        Transcoder storage t = transcoders[msg.sender];
        if (t.activationRound == 0) {
            t.activationRound = roundsManager().currentRound() + 1;
            t.stake = 1;
            pool.push(msg.sender);
            emit TranscoderActivated(msg.sender, t.activationRound);
        }
        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
    }

    // §5 step 15: only the contract registered as "TicketBroker"; fees go to the current round (LIP-36).
    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256) external whenSystemNotPaused {
        require(msg.sender == _lookup("TicketBroker"), "caller must be TicketBroker");
        Transcoder storage t = transcoders[_transcoder];
        require(t.activationRound > 0, "transcoder must be registered");
        // The protocol divides by the transcoder's active stake for the current round, which is 0 before its
        // activation round: a registered but not yet active recipient reverts with Panic(0x12) (§9).
        uint256 activeStake = isActiveTranscoder(_transcoder) ? t.stake : 0;
        t.fees += (_fees * t.stake) / activeStake;
    }

    function withdrawFees(address payable _recipient, uint256 _amount) external whenSystemNotPaused currentRoundInitialized {
        Transcoder storage t = transcoders[msg.sender];
        require(t.fees >= _amount, "insufficient fees to withdraw");
        t.fees -= _amount;
        minter().trustedWithdrawETH(_recipient, _amount);
        emit WithdrawFees(msg.sender, _recipient, _amount);
    }

    // Called by RoundsManager.initializeRound; nothing to snapshot in this minimal model.
    function setCurrentRoundTotalActiveStake() external {
        require(msg.sender == _lookup("RoundsManager"), "caller must be RoundsManager");
    }

    function pendingFees(address _delegator, uint256) external view returns (uint256) {
        return transcoders[_delegator].fees;
    }

    function isRegisteredTranscoder(address _transcoder) public view returns (bool) {
        return transcoders[_transcoder].activationRound > 0;
    }

    function isActiveTranscoder(address _transcoder) public view returns (bool) {
        uint256 activation = transcoders[_transcoder].activationRound;
        return activation > 0 && activation <= roundsManager().currentRound();
    }

    // Includes transcoders that only become active next round (§6).
    function getTranscoderPoolSize() external view returns (uint256) {
        return pool.length;
    }

    function transcoderTotalStake(address _transcoder) external view returns (uint256) {
        return transcoders[_transcoder].stake;
    }
}
