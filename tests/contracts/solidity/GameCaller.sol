// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title GameCaller — a contract account playing the bisection game, compiled only by the tests.
/// @notice Forwards arbitrary calldata (so a test can send the game odd ABI encodings from a
///         contract) and can commit and reveal a challenge in one transaction (one block), which
///         the game must refuse. Also the code an EIP-7702-delegated account runs in the tests.
contract GameCaller {
    /// @notice Forward `data` to `target`; bubbles a revert up unchanged.
    function forward(address target, bytes calldata data) external returns (bytes memory out) {
        bool ok;
        (ok, out) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(out, 0x20), mload(out))
            }
        }
    }

    /// @notice Approve `spender` for `amount` of `token` (the caller's bond allowance).
    function approve(address token, address spender, uint256 amount) external {
        (bool ok,) = token.call(abi.encodeWithSignature("approve(address,uint256)", spender, amount));
        require(ok, "approve");
    }

    /// @notice commitChallenge then challenge in the same transaction.
    function commitAndChallenge(address game, uint256 beastId, uint256 index, bytes32 salt) external {
        bytes32 c = keccak256(abi.encode(address(this), beastId, index, salt));
        (bool ok, bytes memory out) = game.call(abi.encodeWithSignature("commitChallenge(bytes32)", c));
        require(ok, "commit");
        (ok, out) = game.call(abi.encodeWithSignature("challenge(uint256,uint256,bytes32)", beastId, index, salt));
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(out, 0x20), mload(out))
            }
        }
    }
}
