// SPDX-License-Identifier: MIT
// lpdev devnet contracts — checkpoints of every account's bond, by round, for governance voting power: the
// BondingManager records an account's bonded amount, delegate, delegated amount and claim round whenever they
// change (from the next round on), and the total active stake at each round's initialization. Same hooks,
// events and custom errors as the protocol's BondingVotes. Runs behind a ManagerProxy ("BondingVotes").
//
// Voting power (getVotes): a registered transcoder's total delegated stake; a delegator's bonded stake (no reward
// is ever minted on this devnet, so a delegator's stake is its bonded amount).
pragma solidity ^0.8.9;

import "./Manager.sol";

contract BondingVotes is ManagerProxyTarget {
    struct BondingCheckpoint {
        uint256 bondedAmount;
        address delegateAddress;
        uint256 delegatedAmount;
        uint256 lastClaimRound;
        uint256 lastRewardRound;
    }

    struct AccountCheckpoints {
        uint256[] startRounds; // increasing
        mapping(uint256 => BondingCheckpoint) data; // start round -> state from that round on
    }

    struct TotalStakeCheckpoints {
        uint256[] rounds; // increasing
        mapping(uint256 => uint256) data;
    }

    mapping(address => AccountCheckpoints) internal bondingCheckpoints;
    TotalStakeCheckpoints internal totalStakeCheckpoints;

    error InvalidCaller(address caller, address required);
    error InvalidStartRound(uint256 checkpointRound, uint256 requiredRound);
    error FutureLastClaimRound(uint256 lastClaimRound, uint256 maxAllowed);
    error InvalidTotalStakeCheckpointRound(uint256 checkpointRound, uint256 requiredRound);
    error FutureLookup(uint256 queryRound, uint256 maxAllowed);
    error DecreasingValues(uint256 newValue, uint256 lastValue);

    event DelegateChanged(address indexed delegator, address indexed fromDelegate, address indexed toDelegate);
    event DelegateVotesChanged(address indexed delegate, uint256 previousBalance, uint256 newBalance);
    event DelegatorBondedAmountChanged(
        address indexed delegate,
        uint256 previousBondedAmount,
        uint256 previousLastClaimRound,
        uint256 newBondedAmount,
        uint256 newLastClaimRound
    );

    modifier onlyBondingManager() {
        address bm = _lookup(keccak256("BondingManager"));
        if (msg.sender != bm) {
            revert InvalidCaller(msg.sender, bm);
        }
        _;
    }

    constructor(address _controller) Manager(_controller) {}

    function clock() public view returns (uint48) {
        return uint48(roundsManager().currentRound());
    }

    // ------------------------------------------------------------------------------------------ hooks
    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external onlyBondingManager {
        uint256 next = uint256(clock()) + 1;
        if (_startRound != next) {
            revert InvalidStartRound(_startRound, next);
        } else if (_lastClaimRound >= _startRound) {
            revert FutureLastClaimRound(_lastClaimRound, _startRound - 1);
        }
        AccountCheckpoints storage cps = bondingCheckpoints[_account];
        BondingCheckpoint memory previous;
        if (cps.startRounds.length > 0) {
            previous = _checkpointAt(cps, _startRound);
        }
        BondingCheckpoint memory current = BondingCheckpoint({
            bondedAmount: _bondedAmount,
            delegateAddress: _delegateAddress,
            delegatedAmount: _delegatedAmount,
            lastClaimRound: _lastClaimRound,
            lastRewardRound: _lastRewardRound
        });
        cps.data[_startRound] = current;
        _pushSorted(cps.startRounds, _startRound);
        _announce(_account, previous, current);
    }

    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external onlyBondingManager {
        uint256 round = clock();
        if (_round != round) {
            revert InvalidTotalStakeCheckpointRound(_round, round);
        }
        totalStakeCheckpoints.data[_round] = _totalStake;
        _pushSorted(totalStakeCheckpoints.rounds, _round);
    }

    // ------------------------------------------------------------------------------------------ views
    function hasCheckpoint(address _account) public view returns (bool) {
        return bondingCheckpoints[_account].startRounds.length > 0;
    }

    // The account's checkpointed state at the START of _round (at most the next round).
    function getBondingCheckpointAt(address _account, uint256 _round)
        public
        view
        returns (
            uint256 bondedAmount,
            address delegateAddress,
            uint256 delegatedAmount,
            uint256 lastClaimRound,
            uint256 lastRewardRound
        )
    {
        _requireNotFuture(_round);
        BondingCheckpoint memory c = _checkpointAt(bondingCheckpoints[_account], _round);
        return (c.bondedAmount, c.delegateAddress, c.delegatedAmount, c.lastClaimRound, c.lastRewardRound);
    }

    function getVotesAndDelegateAtRoundStart(address _account, uint256 _round)
        public
        view
        returns (uint256 votes, address delegateAddress)
    {
        _requireNotFuture(_round);
        BondingCheckpoint memory c = _checkpointAt(bondingCheckpoints[_account], _round);
        delegateAddress = c.delegateAddress;
        if (c.bondedAmount == 0) {
            votes = 0;
        } else if (c.delegateAddress == _account) {
            votes = c.delegatedAmount;
        } else {
            BondingCheckpoint memory d = _checkpointAt(bondingCheckpoints[c.delegateAddress], _round);
            votes = d.delegateAddress == c.delegateAddress && d.bondedAmount > 0 ? c.bondedAmount : 0;
        }
    }

    function getVotes(address _account) external view returns (uint256 votes) {
        (votes, ) = getVotesAndDelegateAtRoundStart(_account, uint256(clock()) + 1);
    }

    function delegates(address _account) external view returns (address delegateAddress) {
        (, delegateAddress) = getVotesAndDelegateAtRoundStart(_account, uint256(clock()) + 1);
    }

    function getTotalActiveStakeAt(uint256 _round) public view returns (uint256) {
        _requireNotFuture(_round);
        TotalStakeCheckpoints storage t = totalStakeCheckpoints;
        uint256 exact = t.data[_round];
        if (exact > 0) {
            return exact;
        }
        uint256 len = t.rounds.length;
        uint256 i = 0;
        while (i < len && t.rounds[i] <= _round) {
            i++;
        }
        if (i == 0) {
            return 0; // before the first checkpoint
        }
        if (i < len) {
            return t.data[t.rounds[i]];
        }
        return IBondingManager(_lookup(keccak256("BondingManager"))).nextRoundTotalActiveStake();
    }

    function totalSupply() external view returns (uint256) {
        return getTotalActiveStakeAt(uint256(clock()) + 1);
    }

    // ------------------------------------------------------------------------------------------ internals
    function _requireNotFuture(uint256 _round) internal view {
        uint256 max = uint256(clock()) + 1;
        if (_round > max) {
            revert FutureLookup(_round, max);
        }
    }

    // The checkpoint with the largest start round <= _round (zero if none).
    function _checkpointAt(AccountCheckpoints storage _cps, uint256 _round)
        internal
        view
        returns (BondingCheckpoint memory)
    {
        BondingCheckpoint storage exact = _cps.data[_round];
        if (exact.bondedAmount > 0) {
            return exact;
        }
        uint256[] storage rounds = _cps.startRounds;
        uint256 lo = 0;
        uint256 hi = rounds.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (rounds[mid] <= _round) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo == 0) {
            return exact; // no checkpoint at or before _round: all zero
        }
        return _cps.data[rounds[lo - 1]];
    }

    function _pushSorted(uint256[] storage _array, uint256 _value) internal {
        uint256 len = _array.length;
        if (len == 0) {
            _array.push(_value);
            return;
        }
        uint256 last = _array[len - 1];
        if (_value < last) {
            revert DecreasingValues(_value, last);
        }
        if (_value != last) {
            _array.push(_value);
        }
    }

    function _announce(address _account, BondingCheckpoint memory _prev, BondingCheckpoint memory _curr) internal {
        if (_prev.delegateAddress != _curr.delegateAddress) {
            emit DelegateChanged(_account, _prev.delegateAddress, _curr.delegateAddress);
        }
        bool wasTranscoder = _prev.delegateAddress == _account && _prev.bondedAmount > 0;
        bool isTranscoder = _curr.delegateAddress == _account && _curr.bondedAmount > 0;
        uint256 prevVotes = wasTranscoder ? _prev.delegatedAmount : 0;
        uint256 currVotes = isTranscoder ? _curr.delegatedAmount : 0;
        if (prevVotes != currVotes) {
            emit DelegateVotesChanged(_account, prevVotes, currVotes);
        }
        if (_prev.bondedAmount != _curr.bondedAmount || _prev.lastClaimRound != _curr.lastClaimRound) {
            emit DelegatorBondedAmountChanged(
                _account,
                _prev.bondedAmount,
                _prev.lastClaimRound,
                _curr.bondedAmount,
                _curr.lastClaimRound
            );
        }
    }
}
