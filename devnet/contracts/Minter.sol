// SPDX-License-Identifier: MIT
// lpdev devnet contracts — holds every ETH the TicketBroker takes in and every bonded LPT, and pays them out
// (docs/chain.md#how-the-contracts-find-each-other). Not behind a proxy, as on Arbitrum One. No LPT inflation in
// this devnet: the reward tokens of a round are 0 (setCurrentRewardTokens only checks its caller).
pragma solidity ^0.8.9;

import "./Manager.sol";

contract Minter is Manager {
    event SetCurrentRewardTokens(uint256 currentMintableTokens, uint256 currentInflation);

    modifier onlyBondingManager() {
        require(msg.sender == _lookup(keccak256("BondingManager")), "msg.sender not BondingManager");
        _;
    }

    constructor(address _controller) Manager(_controller) {}

    // Check order as in the protocol: caller first, then the pause.
    function depositETH() external payable returns (bool) {
        require(
            msg.sender == _lookup(keccak256("Minter")) || msg.sender == _lookup(keccak256("JobsManager")),
            "msg.sender not Minter or JobsManager"
        );
        return true;
    }

    // Pays with transfer (2300 gas stipend), like the protocol.
    function trustedWithdrawETH(address payable _to, uint256 _amount) external {
        require(
            msg.sender == _lookup(keccak256("BondingManager")) || msg.sender == _lookup(keccak256("JobsManager")),
            "msg.sender not BondingManager or JobsManager"
        );
        require(!controller.paused(), "system is paused");
        _to.transfer(_amount);
    }

    // Bonded LPT is held here; the BondingManager pays out withdrawn stake through this.
    function trustedTransferTokens(address _to, uint256 _amount) external onlyBondingManager whenSystemNotPaused {
        ILivepeerToken(_lookup(keccak256("LivepeerToken"))).transfer(_to, _amount);
    }

    // Called by RoundsManager.initializeRound.
    function setCurrentRewardTokens() external {
        require(msg.sender == _lookup(keccak256("RoundsManager")), "msg.sender not RoundsManager");
        require(!controller.paused(), "system is paused");
        emit SetCurrentRewardTokens(0, 0);
    }

    function getController() external view returns (IController) {
        return controller;
    }
}
