// SPDX-License-Identifier: MIT
// lpdev devnet contracts — holds every ETH the TicketBroker takes in and pays it out (ticketbroker.md §1, §9).
// No LPT inflation in this devnet.
pragma solidity ^0.8.9;

import "./Manager.sol";

contract Minter is Manager {
    constructor(address _controller) Manager(_controller) {}

    function depositETH() external payable returns (bool) {
        require(
            msg.sender == _lookup("Minter") || msg.sender == _lookup("JobsManager"),
            "msg.sender not Minter or JobsManager"
        );
        return true;
    }

    // Pays with transfer (2300 gas stipend), like the protocol.
    // Check order as in the protocol: caller first, then the pause.
    function trustedWithdrawETH(address payable _to, uint256 _amount) external {
        require(
            msg.sender == _lookup("BondingManager") || msg.sender == _lookup("JobsManager"),
            "msg.sender not BondingManager or JobsManager"
        );
        require(!controller.paused(), "system is paused");
        _to.transfer(_amount);
    }

    // Called by RoundsManager.initializeRound; no reward tokens in this devnet.
    function setCurrentRewardTokens() external {
        require(msg.sender == _lookup("RoundsManager"), "caller must be RoundsManager");
    }
}
