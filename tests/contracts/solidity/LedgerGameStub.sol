// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title LedgerGameStub — a stand-in bisection game for the ledger's own tests (C1).
/// @notice Bound to the ledger as its game, it forwards any call anyone asks it to make (so a test
///         plays the game's role in beginGame / endGame and decides outcomes itself) and logs
///         each answer. It has the clockBlocks the ledger reads at binding. Never deployed outside
///         tests: on a real deployment the game is BisectionGame.
contract LedgerGameStub {
    uint256 public immutable clockBlocks;

    event Returned(bytes data);

    constructor(uint256 clock) {
        clockBlocks = clock;
    }

    /// @notice Call `target` with each of `calls` in order, in this one transaction; a revert
    ///         bubbles up with its data.
    function forward(address target, bytes[] calldata calls) external {
        for (uint256 i = 0; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = target.call(calls[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
            emit Returned(ret);
        }
    }
}
