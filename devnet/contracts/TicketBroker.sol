// SPDX-License-Identifier: MIT
// lpdev devnet contracts — the PM TicketBroker: sender deposits and reserves, winning-ticket redemption,
// unlock and withdraw. Same selectors, events, revert strings and check order as the deployed protocol
// contract (docs/chain.md); the step numbers in comments are those of
// docs/chain.md#what-the-ticketbroker-checks-in-order.
//
// Deployed as on Arbitrum One: this is the target ("TicketBrokerTarget"); a ManagerProxy registered as both
// "TicketBroker" and "JobsManager" delegates every call to it, so storage, ETH custody checks and events belong to
// the proxy's address. The Minter only accepts and pays ETH for the contract registered as JobsManager, and the
// BondingManager only accepts fees from "TicketBroker" (step 15): both are the proxy
// (docs/chain.md#how-the-contracts-find-each-other).
// Storage layout (the proxy's): slot 0 controller, 1 targetContractId, 2 reserves, 3 senders, 4 unlockPeriod,
// 5 usedTickets, 6 ticketValidityPeriod — the deployed contract's (livepeer/protocol contracts/pm/TicketBroker.sol).
pragma solidity ^0.8.9;

import "./Manager.sol";
import "./SigRecovery.sol";

contract TicketBroker is ManagerProxyTarget {
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue;
        uint256 winProb;
        uint256 senderNonce;
        bytes32 recipientRandHash;
        bytes auxData; // creationRound (uint256) ‖ creationRoundBlockHash (bytes32), exactly 64 bytes
    }

    struct Sender {
        uint256 deposit;
        uint256 withdrawRound;
    }

    struct Reserve {
        uint256 funds;
        mapping(uint256 => uint256) claimedForRound; // round -> total claimed
        mapping(uint256 => mapping(address => uint256)) claimedByAddress; // round -> claimant -> claimed
    }

    struct ReserveInfo {
        uint256 fundsRemaining;
        uint256 claimedInCurrentRound;
    }

    mapping(address => Reserve) internal reserves;
    mapping(address => Sender) internal senders;
    uint256 public unlockPeriod; // in rounds (docs/chain.md#unlock-and-withdraw)
    mapping(bytes32 => bool) public usedTickets;
    uint256 public ticketValidityPeriod; // in rounds (step 6)

    event DepositFunded(address indexed sender, uint256 amount);
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);

    modifier currentRoundInitialized() {
        require(roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    modifier checkDepositReserveETHValueSplit(uint256 _depositAmount, uint256 _reserveAmount) {
        require(
            msg.value == _depositAmount + _reserveAmount,
            "msg.value does not equal sum of deposit amount and reserve amount"
        );
        _;
    }

    // docs/chain.md#events and docs/chain.md#unlock-and-withdraw: the deposit is credited (and the sender's OWN
    // unlock cancelled) before the body; DepositFunded is emitted after it.
    modifier processDeposit(address _sender, uint256 _amount) {
        Sender storage sender = senders[_sender];
        sender.deposit += _amount;
        if (_sender == msg.sender && _isUnlockInProgress(sender)) {
            _cancelUnlock(sender, _sender);
        }
        _;
        emit DepositFunded(_sender, _amount);
    }

    // docs/chain.md#events: ReserveFunded is emitted before the body, then the sender's own unlock is cancelled.
    modifier processReserve(address _sender, uint256 _amount) {
        Sender storage sender = senders[_sender];
        _addReserve(_sender, _amount);
        if (_sender == msg.sender && _isUnlockInProgress(sender)) {
            _cancelUnlock(sender, _sender);
        }
        _;
    }

    constructor(address _controller) Manager(_controller) {}

    // ---------------------------------------------------------------- parameters
    function setUnlockPeriod(uint256 _unlockPeriod) external onlyControllerOwner {
        unlockPeriod = _unlockPeriod;
        emit ParameterUpdate("unlockPeriod");
    }

    function setTicketValidityPeriod(uint256 _ticketValidityPeriod) external onlyControllerOwner {
        require(_ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0");
        ticketValidityPeriod = _ticketValidityPeriod;
        emit ParameterUpdate("ticketValidityPeriod");
    }

    // ---------------------------------------------------------------- funding (docs/chain.md#unlock-and-withdraw)
    function fundDeposit() external payable whenSystemNotPaused processDeposit(msg.sender, msg.value) {
        _processFunding(msg.value);
    }

    function fundReserve() external payable whenSystemNotPaused processReserve(msg.sender, msg.value) {
        _processFunding(msg.value);
    }

    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable {
        fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount);
    }

    function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount)
        public
        payable
        whenSystemNotPaused
        checkDepositReserveETHValueSplit(_depositAmount, _reserveAmount)
        processDeposit(_addr, _depositAmount)
        processReserve(_addr, _reserveAmount)
    {
        _processFunding(msg.value);
    }

    // ---------------------------------------------------------------- redemption
    // docs/chain.md#what-the-ticketbroker-checks-in-order
    function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        bytes32 ticketHash = getTicketHash(_ticket); // step 3
        _requireValidWinningTicket(_ticket, ticketHash, _sig, _recipientRand); // steps 4-10

        Sender storage sender = senders[_ticket.sender];
        require(_isLocked(sender), "sender is unlocked"); // step 11
        require(sender.deposit > 0 || reserves[_ticket.sender].funds > 0, "sender deposit and reserve are zero");

        usedTickets[ticketHash] = true; // step 13: consumed even if it pays 0

        // step 14: deposit first, then the recipient's share of the reserve
        uint256 amountToTransfer;
        if (_ticket.faceValue > sender.deposit) {
            amountToTransfer =
                sender.deposit +
                _claimFromReserve(_ticket.sender, _ticket.recipient, _ticket.faceValue - sender.deposit);
            sender.deposit = 0;
        } else {
            amountToTransfer = _ticket.faceValue;
            sender.deposit -= _ticket.faceValue;
        }

        if (amountToTransfer > 0) {
            // step 15: no ETH moves; the recipient's fees are credited in the BondingManager
            (uint256 creationRound, ) = _creationRoundAndBlockHash(_ticket.auxData);
            bondingManager().updateTranscoderWithFees(_ticket.recipient, amountToTransfer, creationRound);
            emit WinningTicketTransfer(_ticket.sender, _ticket.recipient, amountToTransfer);
        }

        emit WinningTicketRedeemed(
            _ticket.sender,
            _ticket.recipient,
            _ticket.faceValue,
            _ticket.winProb,
            _ticket.senderNonce,
            _recipientRand,
            _ticket.auxData
        );
    }

    // Each ticket goes through a self-call; failures are ignored. Array lengths are not compared: a short
    // _sigs or _recipientRands gives an out-of-bounds panic, as in the protocol.
    function batchRedeemWinningTickets(
        Ticket[] memory _tickets,
        bytes[] memory _sigs,
        uint256[] memory _recipientRands
    ) public whenSystemNotPaused currentRoundInitialized {
        for (uint256 i = 0; i < _tickets.length; i++) {
            (bool ok, ) = address(this).call(
                abi.encodeWithSignature(
                    "redeemWinningTicket((address,address,uint256,uint256,uint256,bytes32,bytes),bytes,uint256)",
                    _tickets[i],
                    _sigs[i],
                    _recipientRands[i]
                )
            );
            ok; // failures ignored on purpose
        }
    }

    // ---------------------------------------------------------------- unlock / withdraw
    // docs/chain.md#unlock-and-withdraw
    function unlock() public whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        require(sender.deposit > 0 || reserves[msg.sender].funds > 0, "sender deposit and reserve are zero");
        require(!_isUnlockInProgress(sender), "unlock already initiated");
        uint256 currentRound = roundsManager().currentRound();
        sender.withdrawRound = currentRound + unlockPeriod;
        emit Unlock(msg.sender, currentRound, sender.withdrawRound);
    }

    function cancelUnlock() public whenSystemNotPaused {
        _cancelUnlock(senders[msg.sender], msg.sender);
    }

    function withdraw() public whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        uint256 deposit = sender.deposit;
        uint256 reserve = reserves[msg.sender].funds;
        require(deposit > 0 || reserve > 0, "sender deposit and reserve are zero");
        require(_isUnlockInProgress(sender), "no unlock request in progress");
        require(!_isLocked(sender), "account is locked");

        sender.deposit = 0;
        // Only `funds` is cleared; the per-round claim mappings survive. withdrawRound is NOT reset.
        reserves[msg.sender].funds = 0;
        minter().trustedWithdrawETH(payable(msg.sender), deposit + reserve);
        emit Withdrawal(msg.sender, deposit, reserve);
    }

    // ---------------------------------------------------------------- views
    function getSenderInfo(address _sender) public view returns (Sender memory sender, ReserveInfo memory reserve) {
        sender = senders[_sender];
        reserve = getReserveInfo(_sender);
    }

    function getReserveInfo(address _reserveHolder) public view returns (ReserveInfo memory info) {
        Reserve storage r = reserves[_reserveHolder];
        info.fundsRemaining = r.funds;
        info.claimedInCurrentRound = r.claimedForRound[roundsManager().currentRound()];
    }

    // Equal share per pool member of the reserve as it stood at the round's start, minus what the claimant
    // already took this round. Reverts with Panic(0x11) if the pool grew after a larger claim (docs/chain.md).
    function claimableReserve(address _reserveHolder, address _claimant) public view returns (uint256) {
        Reserve storage r = reserves[_reserveHolder];
        uint256 currentRound = roundsManager().currentRound();
        if (!bondingManager().isActiveTranscoder(_claimant)) {
            return 0;
        }
        uint256 poolSize = bondingManager().getTranscoderPoolSize();
        if (poolSize == 0) {
            return 0;
        }
        uint256 totalClaimable = (r.funds + r.claimedForRound[currentRound]) / poolSize;
        return totalClaimable - r.claimedByAddress[currentRound][_claimant];
    }

    function claimedReserve(address _reserveHolder, address _claimant) public view returns (uint256) {
        return reserves[_reserveHolder].claimedByAddress[roundsManager().currentRound()][_claimant];
    }

    function isUnlockInProgress(address _sender) public view returns (bool) {
        return _isUnlockInProgress(senders[_sender]);
    }

    // keccak256 over the 232 tightly packed bytes (docs/tickets.md#the-ticket-hash-and-the-signatures)
    function getTicketHash(Ticket memory _ticket) public pure returns (bytes32) {
        return
            keccak256(
                abi.encodePacked(
                    _ticket.recipient,
                    _ticket.sender,
                    _ticket.faceValue,
                    _ticket.winProb,
                    _ticket.senderNonce,
                    _ticket.recipientRandHash,
                    _ticket.auxData
                )
            );
    }

    // ---------------------------------------------------------------- internals
    // Steps 4-10, in this order.
    function _requireValidWinningTicket(
        Ticket memory _ticket,
        bytes32 _ticketHash,
        bytes memory _sig,
        uint256 _recipientRand
    ) internal view {
        require(_ticket.recipient != address(0), "ticket recipient is null address");
        require(_ticket.sender != address(0), "ticket sender is null address");
        _requireValidTicketAuxData(_ticket.auxData);
        require(
            keccak256(abi.encodePacked(_recipientRand)) == _ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        );
        require(!usedTickets[_ticketHash], "ticket is used");
        require(_isValidTicketSig(_ticket.sender, _sig, _ticketHash), "invalid signature over ticket hash");
        require(
            uint256(keccak256(abi.encodePacked(_sig, _recipientRand))) < _ticket.winProb,
            "ticket did not win"
        );
    }

    function _requireValidTicketAuxData(bytes memory _auxData) internal view {
        (uint256 creationRound, bytes32 creationRoundBlockHash) = _creationRoundAndBlockHash(_auxData);
        bytes32 blockHash = roundsManager().blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash");
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound");
        require(creationRound + ticketValidityPeriod > roundsManager().currentRound(), "ticket is expired");
    }

    function _creationRoundAndBlockHash(bytes memory _auxData)
        internal
        pure
        returns (uint256 creationRound, bytes32 creationRoundBlockHash)
    {
        require(_auxData.length == 64, "invalid length for ticket auxData: must be 64 bytes");
        assembly {
            creationRound := mload(add(_auxData, 32))
            creationRoundBlockHash := mload(add(_auxData, 64))
        }
    }

    function _isValidTicketSig(address _sender, bytes memory _sig, bytes32 _ticketHash) internal pure returns (bool) {
        require(_sig.length == 65, "INVALID_SIGNATURE_LENGTH");
        address signer = SigRecovery.recover(SigRecovery.ethSignedHash(_ticketHash), _sig);
        return signer != address(0) && _sender == signer;
    }

    function _claimFromReserve(address _reserveHolder, address _claimant, uint256 _amount) internal returns (uint256) {
        uint256 claimable = claimableReserve(_reserveHolder, _claimant);
        if (claimable == 0) {
            return 0;
        }
        uint256 currentRound = roundsManager().currentRound();
        Reserve storage r = reserves[_reserveHolder];
        uint256 claimAmount = _amount > claimable ? claimable : _amount;
        r.claimedForRound[currentRound] += claimAmount;
        r.claimedByAddress[currentRound][_claimant] += claimAmount;
        r.funds -= claimAmount;
        emit ReserveClaimed(_reserveHolder, _claimant, claimAmount);
        return claimAmount;
    }

    function _addReserve(address _reserveHolder, uint256 _amount) internal {
        reserves[_reserveHolder].funds += _amount;
        emit ReserveFunded(_reserveHolder, _amount);
    }

    function _processFunding(uint256 _amount) internal {
        minter().depositETH{value: _amount}();
    }

    function _cancelUnlock(Sender storage _sender, address _senderAddress) internal {
        require(_isUnlockInProgress(_sender), "no unlock request in progress");
        _sender.withdrawRound = 0;
        emit UnlockCancelled(_senderAddress);
    }

    function _isUnlockInProgress(Sender memory _sender) internal pure returns (bool) {
        return _sender.withdrawRound > 0;
    }

    // "locked" = no unlock requested, or the unlock period has not ended (docs/chain.md#unlock-and-withdraw)
    function _isLocked(Sender memory _sender) internal view returns (bool) {
        return _sender.withdrawRound == 0 || roundsManager().currentRound() < _sender.withdrawRound;
    }
}
