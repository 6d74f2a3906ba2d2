// SPDX-License-Identifier: MIT
// lpdev devnet contracts — where an orchestrator publishes its service URI (go-livepeer reads and sets it at
// start-up). Runs behind a ManagerProxy registered as "ServiceRegistry", as on Arbitrum One.
pragma solidity ^0.8.9;

import "./Manager.sol";

contract ServiceRegistry is ManagerProxyTarget {
    mapping(address => string) internal serviceURIs;

    event ServiceURIUpdate(address indexed addr, string serviceURI);

    constructor(address _controller) Manager(_controller) {}

    function setServiceURI(string calldata _serviceURI) external {
        serviceURIs[msg.sender] = _serviceURI;
        emit ServiceURIUpdate(msg.sender, _serviceURI);
    }

    function getServiceURI(address _addr) public view returns (string memory) {
        return serviceURIs[_addr];
    }
}
