// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title GenesisState — the h128 of a spec-version-2 beast's genesis state, rebuilt on chain.
/// @notice docs/SPEC.md §6.3-6.4 (version 2) with the default network shape of
///         `kernel.params.KernelParams.for_season` (d_in 64, slot_width 16, n_slots 4, n_out 6):
///         the 9,273 canonical bytes from seedCore, recordsRoot and the season's epochSteps,
///         baseCost and spurtCost, the weights drawn with splitMix64 from
///         fold64(keccak256("chainbeasts/genesis/v1" || seedCore)). The chain stores no genesis
///         hash; the bisection game needs one only when a one-step runs at step 0 of a beast's
///         first window, and then rebuilds it here (about 1.3M gas). The shape is not a season
///         constant the registry could vary: only SlabParams is derived from it, and the game
///         refuses a registry whose SlabParams is not SLAB_PARAMS.
/// @dev Internal functions only (inlined into the game, never deployed).
library GenesisState {
    uint256 internal constant D_IN = 64;
    uint256 internal constant SLOT_WIDTH = 16;
    uint256 internal constant N_SLOTS = 4;
    uint256 internal constant N_OUT = 6;
    uint256 internal constant HIDDEN = 64; // SLOT_WIDTH * N_SLOTS
    /// @notice Parameters of one slot of this shape, SLOT_WIDTH * (D_IN + 1) + SLOT_WIDTH * N_OUT
    ///         (kernel.params.KernelParams.slab_params): the season's SlabParams must equal it for
    ///         this library's genesis to be the season's (BisectionGame's constructor checks).
    uint256 internal constant SLAB_PARAMS = 1136;
    /// @dev 173 header bytes + 2 (hidden (d_in + 1) + n_out (hidden + 1)).
    uint256 internal constant LENGTH = 9273;
    uint256 internal constant HEADER = 173;

    /// @notice The genesis h128 (keccak256 of the canonical bytes, first 16 bytes).
    function h128(bytes32 seedCore, bytes32 recordsRoot, uint256 epochSteps, uint256 baseCost, uint256 spurtCost)
        internal
        pure
        returns (bytes16)
    {
        bytes memory g = bytes_(seedCore, recordsRoot, epochSteps, baseCost, spurtCost);
        return bytes16(keccak256(g));
    }

    /// @notice The genesis canonical bytes (SPEC §6.3 version 2).
    function bytes_(bytes32 seedCore, bytes32 recordsRoot, uint256 epochSteps, uint256 baseCost, uint256 spurtCost)
        internal
        pure
        returns (bytes memory g)
    {
        g = new bytes(LENGTH); // zeroed
        uint256 seed = uint256(keccak256(abi.encodePacked("chainbeasts/genesis/v1", seedCore)));
        // fold64: XOR of the four big-endian 64-bit words.
        seed = (seed ^ (seed >> 64) ^ (seed >> 128) ^ (seed >> 192)) & 0xffffffffffffffff;
        assembly ("memory-safe") {
            let p := add(g, 0x20)
            // little-endian writer: `n` bytes of `v` at `at`
            function le(ptr, v, n) {
                for { let i := 0 } lt(i, n) { i := add(i, 1) } { mstore8(add(ptr, i), and(shr(mul(8, i), v), 0xff)) }
            }
            mstore(p, shl(224, 0x43424b53)) // "CBKS"
            le(add(p, 4), 2, 2) // spec_version
            le(add(p, 6), 64, 2) // d_in
            le(add(p, 8), 16, 2) // slot_width
            mstore8(add(p, 10), 4) // n_slots
            mstore8(add(p, 11), 6) // n_out
            le(add(p, 12), epochSteps, 4)
            le(add(p, 16), baseCost, 8)
            le(add(p, 24), spurtCost, 8)
            mstore(add(p, 32), seedCore)
            mstore(add(p, 64), recordsRoot)
            // 96..111 parent_h128 = 0 (already zero)
            mstore(add(p, 112), seedCore) // epoch_seed
            // 144 global_step, 148 window: 0
            mstore8(add(p, 152), 3) // active_mask 0b0011
            mstore8(add(p, 153), 6) // lr_shift
            // 154 loss_sum_prev, 162 step, 163 flags, 165 loss_acc: 0
            let m := 0xffffffffffffffff
            let state := seed
            // W1 (hidden x d_in) from offset 173, then b1 zeros, then W2 (n_out x hidden), b2 zeros.
            let q := add(p, 173)
            for { let i := 0 } lt(i, 4480) { i := add(i, 1) } {
                if eq(i, 4096) { q := add(q, 128) } // skip b1 (64 zero i16)
                state := and(add(state, 0x9E3779B97F4A7C15), m)
                let z := state
                z := and(mul(xor(z, shr(30, z)), 0xBF58476D1CE4E5B9), m)
                z := and(mul(xor(z, shr(27, z)), 0x94D049BB133111EB), m)
                z := xor(z, shr(31, z))
                // ((z >> 53) & 0x7FF) - 1024 as i16 little-endian
                let v := and(sub(and(shr(53, z), 0x7ff), 1024), 0xffff)
                mstore8(q, and(v, 0xff))
                mstore8(add(q, 1), shr(8, v))
                q := add(q, 2)
            }
        }
    }
}
