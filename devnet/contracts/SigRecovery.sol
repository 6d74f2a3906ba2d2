// SPDX-License-Identifier: MIT
// lpdev devnet contracts — EIP-191 signature recovery that reverts with the same messages, in the same order,
// as OpenZeppelin 4.4.1 ECDSA, which the deployed TicketBroker links (step 9 of
// docs/chain.md#what-the-ticketbroker-checks-in-order).
pragma solidity ^0.8.9;

library SigRecovery {
    // Upper bound for a "low s" signature: secp256k1n / 2.
    uint256 internal constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    // keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)
    function ethSignedHash(bytes32 _hash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", _hash));
    }

    // _sig must be 65 bytes r ‖ s ‖ v (the caller checks the length first).
    function recover(bytes32 _digest, bytes memory _sig) internal pure returns (address) {
        require(_sig.length == 65, "ECDSA: invalid signature length");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(_sig, 0x20))
            s := mload(add(_sig, 0x40))
            v := byte(0, mload(add(_sig, 0x60)))
        }
        require(uint256(s) <= HALF_N, "ECDSA: invalid signature 's' value");
        require(v == 27 || v == 28, "ECDSA: invalid signature 'v' value");
        address signer = ecrecover(_digest, v, r, s);
        require(signer != address(0), "ECDSA: invalid signature");
        return signer;
    }
}
