// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

// The one home of the checkpoint word's layout and of the window size in Solidity (the Python
// home is kernel/payload.py; docs/SPEC.md §7 is normative). The word is a big-endian uint256,
// exactly the `bytes32` a commit carries:
//
//   bit 255             128 127      96 95            32 31    24 23    16 15     0
//      +-------------------+----------+----------------+--------+--------+--------+
//      |       h128        |globalStep|   energyBurn   | active | lrShift| flags  |
//      |    (128 bits)     |  (u32)   |     (u64)      |Mask u8 |   u8   |  u16   |
//      +-------------------+----------+----------------+--------+--------+--------+
//
// Each field has an OFFSET (its lowest bit) and a MASK (its all-ones value once shifted down):
// field = (word >> OFFSET) & MASK, or uintN(word >> OFFSET) for the N-bit field. The fields tile
// bits 0..255. The values are file-level constants written as number literals because inline
// assembly reads only such constants (not library members, not computed ones), and because
// Solidity inlines a constant's expression at every use (a computed one would cost gas there):
// import them by name. tests/contracts/test_checkpoint_word.py checks every literal against
// kernel.payload and against the others.
//
// Contracts read a field inline with its constants rather than through a helper function:
// solc's legacy optimizer leaves a jump around an internal call, 10 to 60 gas per read on the
// finalize and dispute paths (measured with bench/gas.py).

/// @dev Micro-steps per window (spec version 1; SeasonRegistry param WindowSteps is fixed to it).
uint256 constant STEPS_PER_WINDOW = 128;
/// @dev log2(STEPS_PER_WINDOW): a window's steps as a shift.
uint256 constant STEPS_PER_WINDOW_LOG2 = 7;
/// @dev STEPS_PER_WINDOW - 1: step & STEP_IN_WINDOW_MASK == step % STEPS_PER_WINDOW.
uint256 constant STEP_IN_WINDOW_MASK = 0x7f;

/// @dev h128: the lineage hash after the window (bits 128..255).
uint256 constant H128_OFFSET = 128;
uint256 constant H128_MASK = 0xffffffffffffffffffffffffffffffff;
/// @dev globalStep: micro-steps since genesis after the window, mod 2^32 (bits 96..127).
uint256 constant GLOBAL_STEP_OFFSET = 96;
uint256 constant GLOBAL_STEP_MASK = 0xffffffff;
/// @dev energyBurn: ENERGY wei the window burns (bits 32..95).
uint256 constant ENERGY_BURN_OFFSET = 32;
uint256 constant ENERGY_BURN_MASK = 0xffffffffffffffff;
/// @dev activeMask: one bit per hidden slot (bits 24..31).
uint256 constant ACTIVE_MASK_OFFSET = 24;
uint256 constant ACTIVE_MASK_MASK = 0xff;
/// @dev lrShift: the learning rate as a right shift (bits 16..23).
uint256 constant LR_SHIFT_OFFSET = 16;
uint256 constant LR_SHIFT_MASK = 0xff;
/// @dev flags: the FLAG_* bits of kernel/payload.py (bits 0..15).
uint256 constant FLAGS_OFFSET = 0;
uint256 constant FLAGS_MASK = 0xffff;

/// @dev The activeMask of every genesis state: slots 0 and 1 (docs/SPEC.md §6.4, a protocol
///      constant; kernel.state.DEFAULT_MASK). Window 0's previous mask.
uint256 constant GENESIS_ACTIVE_MASK = 0x03;

// A field in place: FIELD = MASK << OFFSET, so word & FIELD keeps the field where it lies. The
// legacy optimizer does not fold `shl(OFFSET, MASK)` in inline assembly (6 gas at each use), so
// the commit loop's hot path reads these literals instead.
uint256 constant GLOBAL_STEP_FIELD = 0xffffffff000000000000000000000000;
uint256 constant ENERGY_BURN_FIELD = 0xffffffffffffffff00000000;
uint256 constant ACTIVE_MASK_FIELD = 0xff000000;
/// @dev STEP_IN_WINDOW_MASK << GLOBAL_STEP_OFFSET: word & STEP_IN_WINDOW_FIELD == 0 <=>
///      globalStep % STEPS_PER_WINDOW == 0.
uint256 constant STEP_IN_WINDOW_FIELD = 0x7f000000000000000000000000;
/// @dev GENESIS_ACTIVE_MASK << ACTIVE_MASK_OFFSET.
uint256 constant GENESIS_ACTIVE_MASK_FIELD = 0x03000000;

/// @dev Window k (0, 1, 2, ...) of a beast carries globalStep = STEPS_PER_WINDOW (k + 1) mod 2^32
///      (CheckpointWord.stepOfWindow), so k = ((globalStep - STEPS_PER_WINDOW) mod 2^32) >>
///      STEPS_PER_WINDOW_LOG2: the 25 bits of the word from WINDOW_INDEX_OFFSET = GLOBAL_STEP_OFFSET
///      + STEPS_PER_WINDOW_LOG2 on, once STEPS_PER_WINDOW was subtracted at GLOBAL_STEP_OFFSET.
///      WINDOW_INDEX_MASK = GLOBAL_STEP_MASK >> STEPS_PER_WINDOW_LOG2 (a beast's 2^25 windows).
uint256 constant WINDOW_INDEX_OFFSET = 103;
uint256 constant WINDOW_INDEX_MASK = 0x1ffffff;

/// @title CheckpointWord — the rules of the word that are more than a field read.
/// @dev Internal functions only, so the library is never deployed.
library CheckpointWord {
    /// @dev The globalStep that window `index` (0, 1, 2, ...) of a beast carries:
    ///      STEPS_PER_WINDOW (index + 1) mod 2^32.
    function stepOfWindow(uint256 index) internal pure returns (uint32) {
        // unchecked: the arithmetic wraps mod 2^256, a multiple of 2^32, so the u32 result is
        // STEPS_PER_WINDOW (index + 1) mod 2^32 for every index (callers pass index <= 2^25).
        unchecked {
            return uint32((index + 1) * STEPS_PER_WINDOW);
        }
    }
}
