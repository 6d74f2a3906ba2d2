// SPDX-License-Identifier: MIT
// lpdev devnet contracts — the protocol's upgradeable deployment (docs/chain.md#how-the-contracts-find-each-other):
// every call is forwarded with DELEGATECALL to the target the Controller has registered under targetContractId, so
// storage, ETH and events belong to the proxy's address, and revert data comes back unchanged. Registering a new
// target in the Controller upgrades the contract without moving its address or its state.
pragma solidity ^0.8.9;

import "./Manager.sol";

contract ManagerProxy is ManagerProxyTarget {
    constructor(address _controller, bytes32 _targetContractId) Manager(_controller) {
        targetContractId = _targetContractId;
    }

    receive() external payable {
        _forward();
    }

    fallback() external payable {
        _forward();
    }

    function _forward() private {
        address target = controller.getContract(targetContractId);
        require(target != address(0), "target contract must be registered");
        assembly {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), target, ptr, calldatasize(), 0, 0)
            let size := returndatasize()
            returndatacopy(ptr, 0, size)
            switch ok
            case 0 {
                revert(ptr, size)
            }
            default {
                return(ptr, size)
            }
        }
    }
}
