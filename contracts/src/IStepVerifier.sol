// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IStepVerifier — the one-step verifier as the dispute game calls it (SPEC §7.5).
/// @notice The ABI of `StepVerifier.step` and of its record checks (contracts/src/StepVerifier.sol): the same struct
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

    /// @notice Whether `path` proves the 28-byte `record` as leaf `index` under `merkleRoot` of a
    ///         dataset of `datasetLen` records (SPEC §10.2), as `step` checks a private sample.
    function recordProven(
        uint32 datasetLen,
        bytes32 merkleRoot,
        uint256 index,
        bytes calldata record,
        bytes32[] calldata path
    ) external pure returns (bool);

    /// @notice Whether `record` is a valid 28-byte board record (SPEC §2.3), i.e. one `step` accepts.
    function recordValid(bytes calldata record) external pure returns (bool);
}
