// SPDX-License-Identifier: MIT
// lpdev devnet contracts — base of every registered contract: the Controller link and the shared modifiers
// with the protocol's revert strings ("system is paused", "caller must be Controller owner", "caller must be
// Controller"), and the base of every contract that runs behind a ManagerProxy.
pragma solidity ^0.8.9;

import "./Interfaces.sol";

abstract contract Manager {
    // slot 0 in every contract and every proxy
    IController public controller;

    event SetController(address controller);
    event ParameterUpdate(string param);

    modifier onlyController() {
        _onlyController();
        _;
    }

    modifier onlyControllerOwner() {
        _onlyControllerOwner();
        _;
    }

    modifier whenSystemNotPaused() {
        _whenSystemNotPaused();
        _;
    }

    constructor(address _controller) {
        controller = IController(_controller);
    }

    function setController(address _controller) external onlyController {
        controller = IController(_controller);
        emit SetController(_controller);
    }

    function _onlyController() private view {
        require(msg.sender == address(controller), "caller must be Controller");
    }

    function _onlyControllerOwner() private view {
        require(msg.sender == controller.owner(), "caller must be Controller owner");
    }

    function _whenSystemNotPaused() private view {
        require(!controller.paused(), "system is paused");
    }

    // Contracts are looked up by keccak256(name) on every call, like the protocol's managers: an upgrade
    // (a new target registered in the Controller) takes effect at once.
    function _lookup(bytes32 _id) internal view returns (address) {
        return controller.getContract(_id);
    }

    function roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(_lookup(keccak256("RoundsManager")));
    }

    function bondingManager() internal view returns (IBondingManager) {
        return IBondingManager(_lookup(keccak256("BondingManager")));
    }

    function minter() internal view returns (IMinter) {
        return IMinter(_lookup(keccak256("Minter")));
    }
}

// Base of every contract that runs behind a ManagerProxy: the proxy and its target share this layout
// (slot 0 controller, slot 1 targetContractId), so the target's own state starts at slot 2 in both.
abstract contract ManagerProxyTarget is Manager {
    bytes32 public targetContractId;
}
