// SPDX-License-Identifier: MIT
// lpdev devnet contracts — bonding, the active transcoder set and fee sharing, written for lpdev with the
// protocol's selectors, events, revert strings and accounting (docs/chain.md#registered-and-active-orchestrators):
//
// - LPT is bonded (transferred to the Minter) to a delegate; an account bonded to itself is a registered
//   transcoder. transcoder(rewardCut, feeShare) sets its commission and puts it in the pool, sorted by total
//   stake; the pool's members become active from the next round (the top numActiveTranscoders).
// - Fees credited by the TicketBroker go to the CURRENT round's earnings pool of the recipient (LIP-36): the
//   transcoder keeps (1 - feeShare) as commission, feeShare is shared by stake among its delegators (itself
//   included) through a cumulative fee factor per round, so each delegator's share is computed when it claims
//   (claimEarnings, or automatically on bond / unbond / rebond / withdrawFees) from the factors at its last claim
//   round and now. Rounding is the protocol's: rates over 1e6, cumulative factors over 1e27, floors.
// - unbond creates an unbonding lock that can be withdrawn after unbondingPeriod rounds, or rebonded.
// - Every change to an account's bond is checkpointed in BondingVotes (the protocol's governance checkpoints).
//
// Not modelled: reward() and LPT inflation (no reward is ever minted, so the cumulative reward factor stays at
// its neutral value and a delegator's stake only changes by bonding), slashing, transferBond, the treasury.
//
// Runs behind a ManagerProxy registered as "BondingManager" (target "BondingManagerTarget"). Storage layout as
// deployed: slot 2 unbondingPeriod, 3 delegators, 4 transcoders, 5/6 current/next round total active stake,
// 7-11 the transcoder pool.
pragma solidity ^0.8.9;

import "./Manager.sol";
import "./TranscoderPool.sol";

contract BondingManager is ManagerProxyTarget {
    using TranscoderPool for TranscoderPool.List;

    uint256 internal constant PERC_DIVISOR = 1000000; // rewardCut and feeShare
    uint256 internal constant FACTOR_DIVISOR = 10**27; // cumulative reward and fee factors
    uint256 internal constant MAX_FUTURE_ROUND = type(uint256).max;

    struct EarningsPool {
        uint256 totalStake; // the transcoder's total stake in the round
        uint256 transcoderRewardCut;
        uint256 transcoderFeeShare;
        uint256 cumulativeRewardFactor;
        uint256 cumulativeFeeFactor;
    }

    struct Transcoder {
        uint256 lastRewardRound;
        uint256 rewardCut;
        uint256 feeShare; // share of fees paid to delegators, over 1e6
        mapping(uint256 => EarningsPool) earningsPoolPerRound;
        uint256 lastActiveStakeUpdateRound;
        uint256 activationRound;
        uint256 deactivationRound;
        uint256 activeCumulativeRewards;
        uint256 cumulativeRewards;
        uint256 cumulativeFees; // the transcoder's own commission, not yet claimed
        uint256 lastFeeRound;
    }

    struct UnbondingLock {
        uint256 amount;
        uint256 withdrawRound;
    }

    struct Delegator {
        uint256 bondedAmount;
        uint256 fees; // claimed, withdrawable with withdrawFees
        address delegateAddress;
        uint256 delegatedAmount; // stake delegated to this account (a transcoder's total stake)
        uint256 startRound;
        uint256 lastClaimRound;
        uint256 nextUnbondingLockId;
        mapping(uint256 => UnbondingLock) unbondingLocks;
    }

    enum TranscoderStatus {
        NotRegistered,
        Registered
    }

    enum DelegatorStatus {
        Pending,
        Bonded,
        Unbonded
    }

    uint64 public unbondingPeriod; // rounds between unbond and withdrawStake
    mapping(address => Delegator) internal delegators;
    mapping(address => Transcoder) internal transcoders;
    uint256 public currentRoundTotalActiveStake;
    uint256 public nextRoundTotalActiveStake;
    TranscoderPool.List internal transcoderPool;

    event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    event TranscoderActivated(address indexed transcoder, uint256 activationRound);
    event TranscoderDeactivated(address indexed transcoder, uint256 deactivationRound);
    event Bond(
        address indexed newDelegate,
        address indexed oldDelegate,
        address indexed delegator,
        uint256 additionalAmount,
        uint256 bondedAmount
    );
    event Unbond(
        address indexed delegate,
        address indexed delegator,
        uint256 unbondingLockId,
        uint256 amount,
        uint256 withdrawRound
    );
    event Rebond(address indexed delegate, address indexed delegator, uint256 unbondingLockId, uint256 amount);
    event WithdrawStake(address indexed delegator, uint256 unbondingLockId, uint256 amount, uint256 withdrawRound);
    event WithdrawFees(address indexed delegator, address recipient, uint256 amount);
    event EarningsClaimed(
        address indexed delegate,
        address indexed delegator,
        uint256 rewards,
        uint256 fees,
        uint256 startRound,
        uint256 endRound
    );

    modifier currentRoundInitialized() {
        require(roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    modifier autoClaimEarnings(address _delegator) {
        _autoClaimEarnings(_delegator);
        _;
    }

    modifier autoCheckpoint(address _account) {
        _;
        _checkpoint(_account);
    }

    constructor(address _controller) Manager(_controller) {}

    // ------------------------------------------------------------------------------------------ parameters
    function setUnbondingPeriod(uint64 _unbondingPeriod) external onlyControllerOwner {
        unbondingPeriod = _unbondingPeriod;
        emit ParameterUpdate("unbondingPeriod");
    }

    function setNumActiveTranscoders(uint256 _numActiveTranscoders) external onlyControllerOwner {
        transcoderPool.setMaxSize(_numActiveTranscoders);
        emit ParameterUpdate("numActiveTranscoders");
    }

    // ------------------------------------------------------------------------------------------ transcoders
    function transcoder(uint256 _rewardCut, uint256 _feeShare) external {
        transcoderWithHint(_rewardCut, _feeShare, address(0), address(0));
    }

    // Sets the caller's commission; a registered transcoder not in the pool tries to join it (active from the
    // next round). Not during the round's lock period, and an active transcoder only after reward() this round.
    function transcoderWithHint(uint256 _rewardCut, uint256 _feeShare, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        IRoundsManager rm = roundsManager();
        require(!rm.currentRoundLocked(), "can't update transcoder params, current round is locked");
        require(_rewardCut <= PERC_DIVISOR, "invalid rewardCut percentage");
        require(_feeShare <= PERC_DIVISOR, "invalid feeShare percentage");
        require(isRegisteredTranscoder(msg.sender), "transcoder must be registered");
        Transcoder storage t = transcoders[msg.sender];
        uint256 round = rm.currentRound();
        require(
            !isActiveTranscoder(msg.sender) || t.lastRewardRound == round,
            "caller can't be active or must have already called reward for the current round"
        );
        t.rewardCut = _rewardCut;
        t.feeShare = _feeShare;
        if (!transcoderPool.contains(msg.sender)) {
            _tryToJoinActiveSet(msg.sender, delegators[msg.sender].delegatedAmount, round + 1, _newPosPrev, _newPosNext);
        }
        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
    }

    // ------------------------------------------------------------------------------------------ bonding
    function bond(uint256 _amount, address _to) external {
        bondForWithHint(_amount, msg.sender, _to, address(0), address(0), address(0), address(0));
    }

    function bondWithHint(
        uint256 _amount,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) external {
        bondForWithHint(
            _amount,
            msg.sender,
            _to,
            _oldDelegateNewPosPrev,
            _oldDelegateNewPosNext,
            _currDelegateNewPosPrev,
            _currDelegateNewPosNext
        );
    }

    // Bond _amount of the CALLER's LPT for _owner towards _to (the caller pays; _owner owns the bond). A third
    // party may only add to an existing delegation, or start a new one that is not a self-delegation.
    function bondForWithHint(
        uint256 _amount,
        address _owner,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) public whenSystemNotPaused currentRoundInitialized {
        _authorizeClaimEarnings(_owner);
        _autoClaimEarnings(_owner);
        Delegator storage del = delegators[_owner];
        uint256 round = roundsManager().currentRound();
        uint256 delegationAmount = _amount;
        address currentDelegate = del.delegateAddress;
        uint256 currentBondedAmount = del.bondedAmount;

        if (msg.sender != _owner) {
            require(_owner != address(0), "INVALID_DELEGATOR");
            if (delegatorStatus(_owner) == DelegatorStatus.Unbonded) {
                require(_to != _owner, "INVALID_DELEGATE");
            } else {
                require(currentDelegate == _to, "INVALID_DELEGATE_CHANGE");
            }
        }

        if (delegatorStatus(_owner) == DelegatorStatus.Unbonded) {
            del.startRound = round + 1; // the new delegation counts from the next round
        } else if (currentBondedAmount > 0 && currentDelegate != _to) {
            require(!isRegisteredTranscoder(_owner), "registered transcoders can't delegate towards other addresses");
            del.startRound = round + 1;
            delegationAmount += currentBondedAmount; // the whole bond moves to the new delegate
            _decreaseTotalStake(currentDelegate, currentBondedAmount, _oldDelegateNewPosPrev, _oldDelegateNewPosNext);
            _checkpoint(currentDelegate);
        }

        _ensureCumulativeFactors(_to, round);
        require(delegationAmount > 0, "delegation amount must be greater than 0");
        del.delegateAddress = _to;
        del.bondedAmount = currentBondedAmount + _amount;

        _increaseTotalStake(_to, delegationAmount, _currDelegateNewPosPrev, _currDelegateNewPosNext);
        if (_to != _owner) {
            _checkpoint(_to);
        }
        if (_amount > 0) {
            ILivepeerToken(_lookup(keccak256("LivepeerToken"))).transferFrom(msg.sender, address(minter()), _amount);
        }
        emit Bond(_to, currentDelegate, _owner, _amount, del.bondedAmount);
        _checkpoint(_owner);
    }

    function unbond(uint256 _amount) external {
        unbondWithHint(_amount, address(0), address(0));
    }

    function unbondWithHint(uint256 _amount, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
        autoClaimEarnings(msg.sender)
        autoCheckpoint(msg.sender)
    {
        require(delegatorStatus(msg.sender) == DelegatorStatus.Bonded, "caller must be bonded");
        Delegator storage del = delegators[msg.sender];
        require(_amount > 0, "unbond amount must be greater than 0");
        require(_amount <= del.bondedAmount, "amount is greater than bonded amount");

        address currentDelegate = del.delegateAddress;
        uint256 withdrawRound = roundsManager().currentRound() + unbondingPeriod;
        uint256 lockId = del.nextUnbondingLockId;
        del.unbondingLocks[lockId] = UnbondingLock({ amount: _amount, withdrawRound: withdrawRound });
        del.nextUnbondingLockId = lockId + 1;
        del.bondedAmount -= _amount;

        if (del.bondedAmount == 0) {
            del.delegateAddress = address(0);
            del.startRound = 0;
            if (transcoderPool.contains(msg.sender)) {
                _resignTranscoder(msg.sender);
            }
        }

        _decreaseTotalStake(currentDelegate, _amount, _newPosPrev, _newPosNext);
        if (currentDelegate != msg.sender) {
            _checkpoint(currentDelegate);
        }
        emit Unbond(currentDelegate, msg.sender, lockId, _amount, withdrawRound);
    }

    function rebond(uint256 _unbondingLockId) external {
        rebondWithHint(_unbondingLockId, address(0), address(0));
    }

    function rebondWithHint(uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
        autoClaimEarnings(msg.sender)
    {
        require(delegatorStatus(msg.sender) != DelegatorStatus.Unbonded, "caller must be bonded");
        _processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext);
    }

    function rebondFromUnbonded(address _to, uint256 _unbondingLockId) external {
        rebondFromUnbondedWithHint(_to, _unbondingLockId, address(0), address(0));
    }

    function rebondFromUnbondedWithHint(address _to, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
        autoClaimEarnings(msg.sender)
    {
        require(delegatorStatus(msg.sender) == DelegatorStatus.Unbonded, "caller must be unbonded");
        uint256 round = roundsManager().currentRound();
        _ensureCumulativeFactors(_to, round);
        delegators[msg.sender].startRound = round + 1;
        delegators[msg.sender].delegateAddress = _to;
        _processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext);
    }

    function withdrawStake(uint256 _unbondingLockId) external whenSystemNotPaused currentRoundInitialized {
        Delegator storage del = delegators[msg.sender];
        UnbondingLock storage lock = del.unbondingLocks[_unbondingLockId];
        require(isValidUnbondingLock(msg.sender, _unbondingLockId), "invalid unbonding lock ID");
        require(
            lock.withdrawRound <= roundsManager().currentRound(),
            "withdraw round must be before or equal to the current round"
        );
        uint256 amount = lock.amount;
        uint256 withdrawRound = lock.withdrawRound;
        delete del.unbondingLocks[_unbondingLockId];
        minter().trustedTransferTokens(msg.sender, amount);
        emit WithdrawStake(msg.sender, _unbondingLockId, amount, withdrawRound);
    }

    // ------------------------------------------------------------------------------------------ earnings
    function claimEarnings(uint256) external whenSystemNotPaused currentRoundInitialized autoCheckpoint(msg.sender) {
        _autoClaimEarnings(msg.sender);
    }

    function withdrawFees(address payable _recipient, uint256 _amount)
        external
        whenSystemNotPaused
        currentRoundInitialized
        autoClaimEarnings(msg.sender)
        autoCheckpoint(msg.sender)
    {
        require(_recipient != address(0), "invalid recipient");
        uint256 fees = delegators[msg.sender].fees;
        require(fees >= _amount, "insufficient fees to withdraw");
        delegators[msg.sender].fees = fees - _amount;
        minter().trustedWithdrawETH(_recipient, _amount);
        emit WithdrawFees(msg.sender, _recipient, _amount);
    }

    // Step 15 of a redemption (docs/chain.md#what-the-ticketbroker-checks-in-order): only the contract registered
    // as "TicketBroker"; the fees go to the CURRENT round's earnings pool
    // (the round argument is ignored, LIP-36). A registered transcoder with no stake in this round (not yet active)
    // divides by zero: Panic(0x12), as deployed.
    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256) external whenSystemNotPaused {
        require(msg.sender == _lookup(keccak256("TicketBroker")), "caller must be TicketBroker");
        require(isRegisteredTranscoder(_transcoder), "transcoder must be registered");

        uint256 round = roundsManager().currentRound();
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[round];
        EarningsPool memory prev = _latestCumulativeFactors(t, round - 1);
        uint256 activeCumulativeRewards = t.activeCumulativeRewards;

        if (round > t.lastRewardRound) {
            // first fees of the round (no reward() yet): the pool takes the current commission and stake
            pool.transcoderRewardCut = t.rewardCut;
            pool.transcoderFeeShare = t.feeShare;
            uint256 lastUpdate = t.lastActiveStakeUpdateRound;
            if (lastUpdate < round) {
                pool.totalStake = t.earningsPoolPerRound[lastUpdate].totalStake;
            }
            activeCumulativeRewards = t.cumulativeRewards;
        }

        uint256 totalStake = pool.totalStake;
        uint256 delegatorsFees = (_fees * pool.transcoderFeeShare) / PERC_DIVISOR;
        uint256 commission = _fees - delegatorsFees;
        // fees earned by the stake the transcoder got as rewards (0 here: no rewards are minted)
        uint256 rewardStakeFees = _factorOf(delegatorsFees, activeCumulativeRewards, totalStake);
        t.cumulativeFees += rewardStakeFees + commission;

        uint256 prevRewardFactor = prev.cumulativeRewardFactor != 0 ? prev.cumulativeRewardFactor : FACTOR_DIVISOR;
        uint256 added = _factorOf(prevRewardFactor, delegatorsFees, totalStake);
        if (pool.cumulativeFeeFactor == 0) {
            pool.cumulativeFeeFactor = prev.cumulativeFeeFactor + added;
        } else {
            pool.cumulativeFeeFactor += added;
        }
        t.lastFeeRound = round;
    }

    // Called by RoundsManager.initializeRound: the stake of the active set for the new round.
    function setCurrentRoundTotalActiveStake() external {
        require(msg.sender == _lookup(keccak256("RoundsManager")), "caller must be RoundsManager");
        currentRoundTotalActiveStake = nextRoundTotalActiveStake;
        _bondingVotes().checkpointTotalActiveStake(currentRoundTotalActiveStake, roundsManager().currentRound());
    }

    // Re-checkpoint an account whose checkpoint disagrees with its state.
    function checkpointBondingState(address _account) external {
        _checkpoint(_account);
    }

    // ------------------------------------------------------------------------------------------ views
    function pendingStake(address _delegator, uint256) public view returns (uint256) {
        (uint256 stake, ) = _pendingStakeAndFees(_delegator, roundsManager().currentRound());
        return stake;
    }

    // Fees the delegator could withdraw after claiming up to the current round (its claimed fees included).
    function pendingFees(address _delegator, uint256) public view returns (uint256) {
        (, uint256 fees) = _pendingStakeAndFees(_delegator, roundsManager().currentRound());
        return fees;
    }

    function transcoderTotalStake(address _transcoder) public view returns (uint256) {
        return delegators[_transcoder].delegatedAmount;
    }

    function transcoderStatus(address _transcoder) public view returns (TranscoderStatus) {
        return isRegisteredTranscoder(_transcoder) ? TranscoderStatus.Registered : TranscoderStatus.NotRegistered;
    }

    function delegatorStatus(address _delegator) public view returns (DelegatorStatus) {
        Delegator storage del = delegators[_delegator];
        if (del.bondedAmount == 0) {
            return DelegatorStatus.Unbonded;
        } else if (del.startRound > roundsManager().currentRound()) {
            return DelegatorStatus.Pending;
        }
        return DelegatorStatus.Bonded;
    }

    function getTranscoder(address _transcoder)
        public
        view
        returns (
            uint256 lastRewardRound,
            uint256 rewardCut,
            uint256 feeShare,
            uint256 lastActiveStakeUpdateRound,
            uint256 activationRound,
            uint256 deactivationRound,
            uint256 activeCumulativeRewards,
            uint256 cumulativeRewards,
            uint256 cumulativeFees,
            uint256 lastFeeRound
        )
    {
        Transcoder storage t = transcoders[_transcoder];
        return (
            t.lastRewardRound,
            t.rewardCut,
            t.feeShare,
            t.lastActiveStakeUpdateRound,
            t.activationRound,
            t.deactivationRound,
            t.activeCumulativeRewards,
            t.cumulativeRewards,
            t.cumulativeFees,
            t.lastFeeRound
        );
    }

    function getTranscoderEarningsPoolForRound(address _transcoder, uint256 _round)
        public
        view
        returns (
            uint256 totalStake,
            uint256 transcoderRewardCut,
            uint256 transcoderFeeShare,
            uint256 cumulativeRewardFactor,
            uint256 cumulativeFeeFactor
        )
    {
        EarningsPool storage p = transcoders[_transcoder].earningsPoolPerRound[_round];
        return (p.totalStake, p.transcoderRewardCut, p.transcoderFeeShare, p.cumulativeRewardFactor, p.cumulativeFeeFactor);
    }

    function getDelegator(address _delegator)
        public
        view
        returns (
            uint256 bondedAmount,
            uint256 fees,
            address delegateAddress,
            uint256 delegatedAmount,
            uint256 startRound,
            uint256 lastClaimRound,
            uint256 nextUnbondingLockId
        )
    {
        Delegator storage d = delegators[_delegator];
        return (d.bondedAmount, d.fees, d.delegateAddress, d.delegatedAmount, d.startRound, d.lastClaimRound, d.nextUnbondingLockId);
    }

    function getDelegatorUnbondingLock(address _delegator, uint256 _unbondingLockId)
        public
        view
        returns (uint256 amount, uint256 withdrawRound)
    {
        UnbondingLock storage lock = delegators[_delegator].unbondingLocks[_unbondingLockId];
        return (lock.amount, lock.withdrawRound);
    }

    function getTranscoderPoolMaxSize() public view returns (uint256) {
        return transcoderPool.getMaxSize();
    }

    // Includes transcoders that only become active next round (docs/chain.md#registered-and-active-orchestrators).
    function getTranscoderPoolSize() public view returns (uint256) {
        return transcoderPool.getSize();
    }

    function getFirstTranscoderInPool() public view returns (address) {
        return transcoderPool.getFirst();
    }

    function getNextTranscoderInPool(address _transcoder) public view returns (address) {
        return transcoderPool.getNext(_transcoder);
    }

    function getTotalBonded() public view returns (uint256) {
        return currentRoundTotalActiveStake;
    }

    function isActiveTranscoder(address _transcoder) public view returns (bool) {
        Transcoder storage t = transcoders[_transcoder];
        uint256 round = roundsManager().currentRound();
        return t.activationRound <= round && round < t.deactivationRound;
    }

    // Registered = bonded to itself with a bonded amount above 0.
    function isRegisteredTranscoder(address _transcoder) public view returns (bool) {
        Delegator storage d = delegators[_transcoder];
        return d.delegateAddress == _transcoder && d.bondedAmount > 0;
    }

    function isValidUnbondingLock(address _delegator, uint256 _unbondingLockId) public view returns (bool) {
        return delegators[_delegator].unbondingLocks[_unbondingLockId].withdrawRound > 0;
    }

    // ------------------------------------------------------------------------------------------ internals
    // amount × (num / den), through a 1e27-precision fraction and two floors, exactly as the protocol rounds.
    function _factorOf(uint256 _amount, uint256 _num, uint256 _den) internal pure returns (uint256) {
        return (_amount * ((_num * FACTOR_DIVISOR) / _den)) / FACTOR_DIVISOR;
    }

    function _bondingVotes() internal view returns (IBondingVotes) {
        return IBondingVotes(_lookup(keccak256("BondingVotes")));
    }

    function _checkpoint(address _account) internal {
        Delegator storage d = delegators[_account];
        _bondingVotes().checkpointBondingState(
            _account,
            roundsManager().currentRound() + 1,
            d.bondedAmount,
            d.delegateAddress,
            d.delegatedAmount,
            d.lastClaimRound,
            transcoders[_account].lastRewardRound
        );
    }

    // A third party may not claim for a delegator of an active transcoder before that transcoder's reward().
    function _authorizeClaimEarnings(address _owner) internal view {
        if (msg.sender == _owner || delegatorStatus(_owner) == DelegatorStatus.Unbonded) {
            return;
        }
        Delegator storage del = delegators[_owner];
        if (!isActiveTranscoder(del.delegateAddress)) {
            return;
        }
        uint256 round = roundsManager().currentRound();
        require(
            transcoders[del.delegateAddress].lastRewardRound == round || del.lastClaimRound == round,
            "ILLEGAL_CLAIM_EARNINGS"
        );
    }

    function _autoClaimEarnings(address _delegator) internal {
        uint256 round = roundsManager().currentRound();
        uint256 lastClaimRound = delegators[_delegator].lastClaimRound;
        if (lastClaimRound < round) {
            _claim(_delegator, round, lastClaimRound);
        }
    }

    // Moves the delegator's earnings since lastClaimRound into bondedAmount / fees.
    function _claim(address _delegator, uint256 _endRound, uint256 _lastClaimRound) internal {
        Delegator storage del = delegators[_delegator];
        uint256 stake = del.bondedAmount;
        uint256 fees = del.fees;
        address delegate = del.delegateAddress;
        if (delegate != address(0)) {
            (stake, fees) = _pendingStakeAndFees(_delegator, _endRound);
            _ensureCumulativeFactors(delegate, _endRound);
            if (delegate == _delegator) {
                Transcoder storage t = transcoders[delegate];
                t.cumulativeFees = 0; // the commission is in `fees` now
                t.cumulativeRewards = 0;
            }
        }
        emit EarningsClaimed(delegate, _delegator, stake - del.bondedAmount, fees - del.fees, _lastClaimRound + 1, _endRound);
        del.lastClaimRound = _endRound;
        del.bondedAmount = stake;
        del.fees = fees;
    }

    function _pendingStakeAndFees(address _delegator, uint256 _endRound)
        internal
        view
        returns (uint256 stake, uint256 fees)
    {
        Delegator storage del = delegators[_delegator];
        address delegate = del.delegateAddress;
        Transcoder storage t = transcoders[delegate];
        stake = del.bondedAmount;
        fees = del.fees;
        uint256 lastClaimRound = del.lastClaimRound;
        if (lastClaimRound < _endRound) {
            EarningsPool storage start = t.earningsPoolPerRound[lastClaimRound];
            EarningsPool memory end = _latestCumulativeFactors(t, _endRound);
            uint256 startRewardFactor = start.cumulativeRewardFactor != 0 ? start.cumulativeRewardFactor : FACTOR_DIVISOR;
            uint256 endRewardFactor = end.cumulativeRewardFactor != 0 ? end.cumulativeRewardFactor : FACTOR_DIVISOR;
            uint256 startFeeFactor = start.cumulativeFeeFactor;
            fees += _factorOf(stake, end.cumulativeFeeFactor - startFeeFactor, startRewardFactor);
            stake = _factorOf(stake, endRewardFactor, startRewardFactor);
        }
        if (_delegator == delegate) {
            // the transcoder's own commission and reward cut are tracked outside the factors
            stake += t.cumulativeRewards;
            fees += t.cumulativeFees;
        }
    }

    // The round's factors; a factor never set in that round is the one of the last round that set it.
    function _latestCumulativeFactors(Transcoder storage _t, uint256 _round)
        internal
        view
        returns (EarningsPool memory pool)
    {
        EarningsPool storage p = _t.earningsPoolPerRound[_round];
        pool.cumulativeRewardFactor = p.cumulativeRewardFactor;
        pool.cumulativeFeeFactor = p.cumulativeFeeFactor;
        uint256 lastRewardRound = _t.lastRewardRound;
        if (pool.cumulativeRewardFactor == 0 && lastRewardRound < _round) {
            pool.cumulativeRewardFactor = _t.earningsPoolPerRound[lastRewardRound].cumulativeRewardFactor;
        }
        uint256 lastFeeRound = _t.lastFeeRound;
        if (pool.cumulativeFeeFactor == 0 && lastFeeRound < _round) {
            pool.cumulativeFeeFactor = _t.earningsPoolPerRound[lastFeeRound].cumulativeFeeFactor;
        }
    }

    // Store the latest factors in the round's pool, so a later claim can start from this round.
    function _ensureCumulativeFactors(address _transcoder, uint256 _round) internal {
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        if (pool.cumulativeRewardFactor == 0) {
            uint256 lastRewardRound = t.lastRewardRound;
            if (lastRewardRound < _round) {
                pool.cumulativeRewardFactor = t.earningsPoolPerRound[lastRewardRound].cumulativeRewardFactor;
            }
        }
        if (pool.cumulativeFeeFactor == 0) {
            uint256 lastFeeRound = t.lastFeeRound;
            if (lastFeeRound < _round) {
                pool.cumulativeFeeFactor = t.earningsPoolPerRound[lastFeeRound].cumulativeFeeFactor;
            }
        }
    }

    function _processRebond(address _delegator, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        internal
        autoCheckpoint(_delegator)
    {
        Delegator storage del = delegators[_delegator];
        require(isValidUnbondingLock(_delegator, _unbondingLockId), "invalid unbonding lock ID");
        uint256 amount = del.unbondingLocks[_unbondingLockId].amount;
        del.bondedAmount += amount;
        delete del.unbondingLocks[_unbondingLockId];
        address delegate = del.delegateAddress;
        _increaseTotalStake(delegate, amount, _newPosPrev, _newPosNext);
        if (delegate != _delegator) {
            _checkpoint(delegate);
        }
        emit Rebond(delegate, _delegator, _unbondingLockId, amount);
    }

    // The delegate's stake grows from the next round; a registered transcoder in the pool moves up, one outside
    // it tries to join. The current round's pool keeps the stake it had (fees this round are shared by that).
    function _increaseTotalStake(address _delegate, uint256 _amount, address _newPosPrev, address _newPosNext) internal {
        uint256 currStake = delegators[_delegate].delegatedAmount;
        uint256 newStake = currStake + _amount;
        if (isRegisteredTranscoder(_delegate)) {
            uint256 round = roundsManager().currentRound();
            uint256 nextRound = round + 1;
            if (transcoderPool.contains(_delegate)) {
                transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
                nextRoundTotalActiveStake += _amount;
                Transcoder storage t = transcoders[_delegate];
                if (t.lastActiveStakeUpdateRound < round) {
                    t.earningsPoolPerRound[round].totalStake = currStake;
                }
                t.earningsPoolPerRound[nextRound].totalStake = newStake;
                t.lastActiveStakeUpdateRound = nextRound;
            } else {
                _tryToJoinActiveSet(_delegate, newStake, nextRound, _newPosPrev, _newPosNext);
            }
        }
        delegators[_delegate].delegatedAmount = newStake;
    }

    function _decreaseTotalStake(address _delegate, uint256 _amount, address _newPosPrev, address _newPosNext) internal {
        uint256 currStake = delegators[_delegate].delegatedAmount;
        uint256 newStake = currStake - _amount;
        if (transcoderPool.contains(_delegate)) {
            uint256 round = roundsManager().currentRound();
            uint256 nextRound = round + 1;
            transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
            nextRoundTotalActiveStake -= _amount;
            Transcoder storage t = transcoders[_delegate];
            if (t.lastActiveStakeUpdateRound < round) {
                t.earningsPoolPerRound[round].totalStake = currStake;
            }
            t.lastActiveStakeUpdateRound = nextRound;
            t.earningsPoolPerRound[nextRound].totalStake = newStake;
        }
        delegators[_delegate].delegatedAmount = newStake;
    }

    // Join the pool from _activationRound; when it is full, only with more stake than its last member, which
    // is evicted (deactivated from the same round).
    function _tryToJoinActiveSet(
        address _transcoder,
        uint256 _totalStake,
        uint256 _activationRound,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        uint256 pendingNextRoundTotalActiveStake = nextRoundTotalActiveStake;
        if (transcoderPool.isFull()) {
            address last = transcoderPool.getLast();
            uint256 lastStake = delegators[last].delegatedAmount;
            if (_totalStake <= lastStake) {
                return;
            }
            transcoderPool.remove(last);
            transcoders[last].deactivationRound = _activationRound;
            pendingNextRoundTotalActiveStake -= lastStake;
            emit TranscoderDeactivated(last, _activationRound);
        }
        transcoderPool.insert(_transcoder, _totalStake, _newPosPrev, _newPosNext);
        pendingNextRoundTotalActiveStake += _totalStake;
        Transcoder storage t = transcoders[_transcoder];
        t.lastActiveStakeUpdateRound = _activationRound;
        t.activationRound = _activationRound;
        t.deactivationRound = MAX_FUTURE_ROUND;
        t.earningsPoolPerRound[_activationRound].totalStake = _totalStake;
        nextRoundTotalActiveStake = pendingNextRoundTotalActiveStake;
        emit TranscoderActivated(_transcoder, _activationRound);
    }

    // Leaves the pool; active until the end of the current round.
    function _resignTranscoder(address _transcoder) internal {
        transcoderPool.remove(_transcoder);
        nextRoundTotalActiveStake -= delegators[_transcoder].delegatedAmount;
        uint256 deactivationRound = roundsManager().currentRound() + 1;
        transcoders[_transcoder].deactivationRound = deactivationRound;
        emit TranscoderDeactivated(_transcoder, deactivationRound);
    }
}
