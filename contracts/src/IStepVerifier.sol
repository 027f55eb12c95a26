// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IStepVerifier — the one-step verifier as the dispute game calls it (SPEC §7.5).
/// @notice The ABI of `StepVerifier.step` (contracts/src/StepVerifier.sol): the same struct
///         layouts, so the game can call any deployment of it by address. Stateless and pure: the
///         caller checks `preHash` against the agreed hash and `keccak256(sOwner)` against the
///         beast's secret commitment.
interface IStepVerifier {
    /// @notice The window start (read only when the pre-state is a checkpoint, step == 0).
    struct WindowStart {
        uint8 activeMask;
        uint8 lrShift;
        bytes32 epochSeed;
    }

    /// @notice A private curriculum's owner secret and record sampleIdx(g) with its Merkle path.
    struct PrivateSample {
        bytes32 sOwner;
        uint32 datasetLen;
        bytes32 merkleRoot;
        bytes record;
        bytes32[] path;
    }

    /// @notice preHash = keccak256(pre)[0:16]; postHash = h128(micro_step(pre, w)), or 0 when the
    ///         transition is ILLEGAL. Reverts on a malformed pre-state or a bad private sample.
    function step(bytes calldata pre, WindowStart calldata w, PrivateSample calldata s)
        external
        pure
        returns (bytes16 preHash, bytes16 postHash);
}
