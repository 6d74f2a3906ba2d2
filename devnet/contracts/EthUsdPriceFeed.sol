// SPDX-License-Identifier: MIT
// lpdev devnet contracts — an ETH/USD price feed with Chainlink's aggregator interface (AggregatorV3Interface:
// decimals, description, version, getRoundData, latestRoundData), the kind go-livepeer reads through
// -priceFeedAddr to convert USD prices. Its owner (the devnet's deployer) sets the answer and, to model a feed that
// stopped updating, the round's updatedAt. Answers have 8 decimals, like Chainlink's USD feeds.
pragma solidity ^0.8.9;

contract EthUsdPriceFeed {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
    }

    address public owner;
    uint8 public decimals;
    string public description;
    uint80 public latestRound;
    mapping(uint80 => Round) internal rounds;

    // Chainlink's AggregatorInterface event
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 _decimals, string memory _description) {
        owner = msg.sender;
        decimals = _decimals;
        description = _description;
    }

    function version() external pure returns (uint256) {
        return 4;
    }

    // A new round with this answer, updated now.
    function updateAnswer(int256 _answer) external {
        _update(latestRound + 1, _answer, block.timestamp, block.timestamp);
    }

    // A new round with this answer and these times (an updatedAt in the past makes the feed stale).
    function updateRoundData(uint80 _roundId, int256 _answer, uint256 _updatedAt, uint256 _startedAt) external {
        require(_roundId > latestRound, "round id must increase");
        _update(_roundId, _answer, _updatedAt, _startedAt);
    }

    function getRoundData(uint80 _roundId)
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round storage r = rounds[_roundId];
        require(r.updatedAt > 0, "No data present");
        return (_roundId, r.answer, r.startedAt, r.updatedAt, _roundId);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(latestRound);
    }

    function latestAnswer() external view returns (int256) {
        return rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return rounds[latestRound].updatedAt;
    }

    function transferOwnership(address _newOwner) external {
        require(msg.sender == owner, "only owner");
        owner = _newOwner;
    }

    function _update(uint80 _roundId, int256 _answer, uint256 _updatedAt, uint256 _startedAt) internal {
        require(msg.sender == owner, "only owner");
        require(_answer > 0, "answer must be positive");
        require(_updatedAt > 0, "updatedAt must be positive");
        rounds[_roundId] = Round(_answer, _startedAt, _updatedAt);
        latestRound = _roundId;
        emit AnswerUpdated(_answer, _roundId, _updatedAt);
    }
}
