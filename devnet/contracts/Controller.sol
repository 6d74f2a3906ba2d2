// SPDX-License-Identifier: MIT
// lpdev devnet contracts — the registry: name hash -> contract, an owner, and a system-wide pause
// (docs/chain.md#how-the-contracts-find-each-other). Starts PAUSED: the owner must call unpause() before anything
// works.
pragma solidity ^0.8.9;

interface ISetController {
    function setController(address _controller) external;
}

contract Controller {
    struct ContractInfo {
        address contractAddress;
        bytes20 gitCommitHash;
    }

    address public owner;
    bool public paused;
    mapping(bytes32 => ContractInfo) private registry;

    // No indexed fields: go-livepeer's devtool finds the Controller by this topic.
    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);
    event Pause();
    event Unpause();
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // Bare requires, like the protocol's Ownable/Pausable.
    modifier onlyOwner() {
        require(msg.sender == owner);
        _;
    }

    constructor() {
        owner = msg.sender;
        paused = true;
    }

    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external onlyOwner {
        registry[_id] = ContractInfo(_contractAddress, _gitCommitHash);
        emit SetContractInfo(_id, _contractAddress, _gitCommitHash);
    }

    function updateController(bytes32 _id, address _controller) external onlyOwner {
        ISetController(registry[_id].contractAddress).setController(_controller);
    }

    function getContractInfo(bytes32 _id) public view returns (address, bytes20) {
        ContractInfo storage info = registry[_id];
        return (info.contractAddress, info.gitCommitHash);
    }

    // Unknown ids give the zero address.
    function getContract(bytes32 _id) public view returns (address) {
        return registry[_id].contractAddress;
    }

    function pause() external onlyOwner {
        require(!paused);
        paused = true;
        emit Pause();
    }

    function unpause() external onlyOwner {
        require(paused);
        paused = false;
        emit Unpause();
    }

    function transferOwnership(address _newOwner) external onlyOwner {
        require(_newOwner != address(0));
        emit OwnershipTransferred(owner, _newOwner);
        owner = _newOwner;
    }
}
