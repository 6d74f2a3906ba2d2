// SPDX-License-Identifier: MIT
// lpdev devnet contracts — base of every registered contract: the Controller link and the shared modifiers
// with the protocol's revert strings (ticketbroker.md §1 "Shared modifiers from Manager").
pragma solidity ^0.8.9;

import "./Interfaces.sol";

abstract contract Manager {
    IController public controller;

    event SetController(address controller);

    modifier onlyController() {
        require(msg.sender == address(controller), "caller must be Controller");
        _;
    }

    modifier onlyControllerOwner() {
        require(msg.sender == controller.owner(), "caller must be Controller owner");
        _;
    }

    modifier whenSystemNotPaused() {
        require(!controller.paused(), "system is paused");
        _;
    }

    constructor(address _controller) {
        controller = IController(_controller);
    }

    function setController(address _controller) external onlyController {
        controller = IController(_controller);
        emit SetController(_controller);
    }

    // Contracts are looked up by keccak256(name) on every call, like the protocol's managers.
    function _lookup(string memory _name) internal view returns (address) {
        return controller.getContract(keccak256(bytes(_name)));
    }

    function roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(_lookup("RoundsManager"));
    }

    function bondingManager() internal view returns (IBondingManager) {
        return IBondingManager(_lookup("BondingManager"));
    }

    function minter() internal view returns (IMinter) {
        return IMinter(_lookup("Minter"));
    }
}
