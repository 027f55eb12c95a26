// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IStepVerifier} from "./IStepVerifier.sol";

/// @title ToyStepVerifier — a stand-in one-step verifier, compiled only by the bisection tests.
/// @notice NOT the kernel: a "state" is any byte string and its successor is the 32 bytes
///         keccak256(abi.encode(keccak256(pre), activeMask, lrShift, epochSeed, sOwner)). It has
///         the ABI of StepVerifier (SPEC §7.5), so the game's bisection, clocks, bonds and the
///         checks it makes before calling the verifier (pre hash, genesis, window start from the
///         word and the ledger, owner secret) are tested against a transition the Python players
///         compute exactly. activeMask 0 is ILLEGAL (post hash 0), as an illegal window start is.
contract ToyStepVerifier is IStepVerifier {
    /// @notice The toy has no records: the game's invalid-dataset proof is tested against the real verifier.
    error ToyHasNoRecords();

    function step(bytes calldata pre, WindowStart calldata w, PrivateSample calldata s)
        external
        pure
        returns (bytes16 preHash, bytes16 postHash)
    {
        preHash = bytes16(keccak256(pre));
        if (w.activeMask == 0) return (preHash, bytes16(0));
        bytes32 post = keccak256(abi.encode(keccak256(pre), w.activeMask, w.lrShift, w.epochSeed, s.sOwner));
        postHash = bytes16(keccak256(abi.encodePacked(post)));
    }

    function recordProven(uint32, bytes32, uint256, bytes calldata, bytes32[] calldata) external pure returns (bool) {
        revert ToyHasNoRecords();
    }

    function recordValid(bytes calldata) external pure returns (bool) {
        revert ToyHasNoRecords();
    }
}
