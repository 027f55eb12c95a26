// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IStepVerifier} from "./IStepVerifier.sol";

/// @title StepVerifier: one spec-version-2 micro-step of a ChainBeasts kernel, re-executed on chain
/// @notice Stateless. Given the agreed pre-state bytes (SPEC v2 "step state"), the window start
/// (read only at a checkpoint, step == 0) and, for a beast with a private curriculum, the owner's
/// secret and one dataset record with its Merkle proof, `step` returns h128(pre) and h128 of the
/// state after one micro-step, computed exactly as docs/SPEC.md (v2) and kernel.step.micro_step do:
/// board draw or private record, labels (BFS distance field, A* tie-break, attack and block labels),
/// observation, forward, heads (block head weighted by BLOCK_POS_WEIGHT), backward, SGD with
/// saturation, counters. The caller (the dispute game) checks preHash against the agreed hash and
/// keccak256(sOwner) against the beast's secret commitment. Its ABI and structs are IStepVerifier's.
/// @dev Memory plan: the pre-state is copied once into memory, hashed, updated in place (only the
/// header counters and the weights a step can change) and hashed again. A weight changes only where
/// its gradient is non-zero: W1[u][j] needs gh[u] != 0 and x[j] != 0, and x is sparse (at most 38 of
/// 64 features are non-zero), so forward and update visit only the non-zero features of each row.
contract StepVerifier is IStepVerifier {
    /// @notice The pre-state is not a parsable spec-version-2 state; `reason` says which rule failed
    /// (1 length, 2 magic, 3 version, 4 parameters (hidden units over 1536 included), 5 activeMask, 6 lrShift, 7 step, 8 flags, 9 lossAcc).
    error MalformedState(uint256 reason);
    /// @notice keccak256(u32_be(datasetLen) || merkleRoot) differs from the state's dataset_root.
    error DatasetRootMismatch();
    /// @notice datasetLen is 0 (a dataset has at least one record).
    error EmptyDataset();
    /// @notice The record is not 28 bytes or does not describe a valid board (SPEC §2.2, §2.3).
    error InvalidRecord();
    /// @notice The path does not prove the record at index sampleIdx(g) under merkleRoot (wrong length,
    /// wrong siblings, or a record of another index).
    error BadMerkleProof();

    string public constant version = "1.1.0";

    /// @dev SPEC v2 V2-5: the block head's weight on boards labelled "block" (kernel.heads.BLOCK_POS_WEIGHT).
    uint256 internal constant BLOCK_POS_WEIGHT = 8;

    // State byte offsets (SPEC v2 V2-1, little-endian fields).
    uint256 internal constant OFF_SEED = 32;
    uint256 internal constant OFF_DATASET = 64;
    uint256 internal constant OFF_PARENT = 96;
    uint256 internal constant OFF_EPOCH_SEED = 112;
    uint256 internal constant OFF_GLOBAL_STEP = 144;
    uint256 internal constant OFF_WINDOW = 148;
    uint256 internal constant OFF_MASK = 152;
    uint256 internal constant OFF_LR = 153;
    uint256 internal constant OFF_LOSS_PREV = 154;
    uint256 internal constant OFF_STEP = 162;
    uint256 internal constant OFF_FLAGS = 163;
    uint256 internal constant OFF_LOSS_ACC = 165;
    uint256 internal constant HEADER = 173;

    uint256 internal constant WINDOW_LAST = 127;
    /// @dev SPEC v2: at most 1536 hidden units (kernel.params.MAX_HIDDEN_V2), so the largest step fits 2^24 gas.
    uint256 internal constant MAX_HIDDEN = 1536;
    uint256 internal constant MAX_LR_SHIFT = 24;
    uint256 internal constant FLAG_LOSS_DROPPED = 1;
    uint256 internal constant FLAG_GROWTH_SPURT = 2;
    uint256 internal constant FLAG_PRIVATE = 4;
    uint256 internal constant NO_MOVE = 4;

    uint256 internal constant M64 = 0xFFFFFFFFFFFFFFFF;
    uint256 internal constant GOLDEN_GAMMA = 0x9E3779B97F4A7C15;
    uint256 internal constant NOT_X0 = 0xFEFEFEFEFEFEFEFE; // tiles with x != 0
    uint256 internal constant NOT_X7 = 0x7F7F7F7F7F7F7F7F; // tiles with x != 7
    // Wall and hazard bitboards (bit i = tile i) of templates 0-3 and 4-7, 64 bits each (SPEC §5.3).
    uint256 internal constant TPL_WALL_0 = 0x7b000000080808080008080800000018180000000000000000000000;
    uint256 internal constant TPL_WALL_1 = 0x42000000420000080808f70808080000000000000000;
    uint256 internal constant TPL_HAZARD_1 = 0x3c24243c00000000000000000000000000000000000000000000ff000000;

    // The feature table (memory at Ctx.feats): words 0-3 the lane masks of the features equal to 256 (the
    // "binary" ones) in each 32-byte word of a W1 row, words 4-7 32768 times their count, words 8-15 the
    // values of features 54, 55, 57, 58, 59, 60, 61 and 62 (never 256; all in row word 3), 0 when zero.
    uint256 internal constant FT_BIAS = 0x80;
    uint256 internal constant FT_OTHER = 0x100;
    uint256 internal constant FT_SIZE = 0x200;
    // SWAR constants: 16-bit lanes of a 256-bit word.
    uint256 internal constant LANE_LO = 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF;
    uint256 internal constant LANE_HI = 0xFF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00;
    uint256 internal constant LANE_ONES = 0x0001000100010001000100010001000100010001000100010001000100010001;
    uint256 internal constant LANE_SIGN = 0x0080008000800080008000800080008000800080008000800080008000800080;
    uint256 internal constant WIDE_LO = 0x0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF;
    uint256 internal constant WIDE_ONES = 0x0000000100000001000000010000000100000001000000010000000100000001;

    /// @dev Everything the step needs besides the board, kept in memory so no function runs out of stack.
    struct Ctx {
        uint256 buf; // memory pointer of the state bytes
        uint256 n; // their length
        uint256 sw; // slot_width
        uint256 nSlots;
        uint256 hidden;
        uint256 w1; // memory pointers of W1, b1, W2, b2
        uint256 b1;
        uint256 w2;
        uint256 b2;
        uint256 mask; // the window's activeMask M
        uint256 k; // the window's lrShift
        uint256 flags; // the window's flags so far
        uint256 j; // micro-step index in the window (= pre.step)
        uint256 g; // the pre-state's global_step
        uint256 first; // the window's first global_step
        uint256 lossAcc; // loss of the window's earlier steps
        uint256 heads; // 1 move, 2 attack, 4 block
        uint256 epochSteps;
        bytes32 parent; // the window's parent_h128 (left-aligned)
        bytes32 epochSeed; // the window's epoch seed E
        uint256 feats; // memory pointer of the feature lists
        uint256 hd; // memory pointer of h (one word per hidden unit, 16 zero words after them)
    }

    /// @dev One board (SPEC §2): tiles as wall/hazard bitboards, positions, both creatures.
    struct Board {
        uint256 wall;
        uint256 hazard;
        uint256 selfPos;
        uint256 enemyPos;
        uint256 sHp;
        uint256 sSta;
        uint256 sDef;
        uint256 sTdef;
        uint256 sCrit;
        uint256 eHp;
        uint256 eSta;
        uint256 eDef;
        uint256 eTdef;
        uint256 eCrit;
        uint256 eLast;
        uint256 sLast;
    }

    /// @notice Re-execute one micro-step. preHash = keccak256(pre)[0:16]; postHash = h128 of the state
    /// after the step, or bytes16(0) when `pre` is a checkpoint and `w` is not a legal window start.
    function step(bytes calldata pre, WindowStart calldata w, PrivateSample calldata s)
        external
        pure
        returns (bytes16 preHash, bytes16 postHash)
    {
        Ctx memory c;
        uint256 buf;
        uint256 n = pre.length;
        bytes32 h;
        assembly ("memory-safe") {
            buf := mload(0x40)
            // the state bytes, plus spare bytes so that word reads near their end stay in our area
            mstore(0x40, add(buf, and(add(n, 95), not(31))))
            calldatacopy(buf, pre.offset, n)
            h := keccak256(buf, n)
        }
        c.buf = buf;
        c.n = n;
        preHash = bytes16(h);
        _parse(c);
        if (!_execute(c, w, s, preHash)) return (preHash, bytes16(0));
        assembly ("memory-safe") {
            h := keccak256(buf, n)
        }
        postHash = bytes16(h);
    }

    /// @dev Everything after parsing; false when the window start is illegal.
    function _execute(Ctx memory c, WindowStart calldata w, PrivateSample calldata s, bytes16 preHash)
        private
        pure
        returns (bool)
    {
        if (!_context(c, w, preHash)) return false;
        Board memory b = _board(c, s);
        uint256[5] memory lab = _labels(b);
        _features(c, b, lab[3], lab[4]);
        _forward(c);
        int256[6] memory z = _logits(c);
        (int256[6] memory gz, uint256 loss) = _heads(z, c.heads, lab[0], lab[1], lab[2]);
        _backward(c, gz);
        _counters(c, loss);
        return true;
    }

    // ------------------------------------------------------------------ state bytes

    /// @dev Little-endian unsigned integer of `len` bytes at memory `p`.
    function _le(uint256 p, uint256 len) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            for { let i := len } i { } {
                i := sub(i, 1)
                v := or(shl(8, v), byte(0, mload(add(p, i))))
            }
        }
    }

    /// @dev Write `v` as `len` little-endian bytes at memory `p`.
    function _putLe(uint256 p, uint256 len, uint256 v) private pure {
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, len) { i := add(i, 1) } {
                mstore8(add(p, i), shr(shl(3, i), v))
            }
        }
    }

    /// @dev Check every rule of the v2 state parser (SPEC §6.3 + V2-1) and fill the shape fields.
    function _parse(Ctx memory c) private pure {
        uint256 p = c.buf;
        if (c.n < 32) revert MalformedState(1);
        if (_le(p, 4) != 0x534b4243) revert MalformedState(2); // "CBKS" read little-endian
        if (_le(p + 4, 2) != 2) revert MalformedState(3);
        uint256 sw = _le(p + 8, 2);
        uint256 nSlots = _le(p + 10, 1);
        uint256 epochSteps = _le(p + 12, 4);
        unchecked {
            if (
                _le(p + 6, 2) != 64 || _le(p + 11, 1) != 6 || sw == 0 || sw > 256 || nSlots < 2 || nSlots > 8
                    || epochSteps == 0 || epochSteps % 128 != 0
                    || 128 * _le(p + 16, 8) * nSlots + _le(p + 24, 8) >= 1 << 64 || sw * nSlots > MAX_HIDDEN
            ) revert MalformedState(4);
            uint256 hidden = sw * nSlots;
            if (c.n != HEADER + 2 * (hidden * 64 + hidden + 6 * hidden + 6)) revert MalformedState(1);
            uint256 mask = _le(p + OFF_MASK, 1);
            if (mask == 0 || mask >> nSlots != 0) revert MalformedState(5);
            if (_le(p + OFF_LR, 1) > MAX_LR_SHIFT) revert MalformedState(6);
            uint256 j = _le(p + OFF_STEP, 1);
            if (j > WINDOW_LAST) revert MalformedState(7);
            if (_le(p + OFF_FLAGS, 2) & ~uint256(7) != 0) revert MalformedState(8);
            if (j == 0 && _le(p + OFF_LOSS_ACC, 8) != 0) revert MalformedState(9);
            c.sw = sw;
            c.nSlots = nSlots;
            c.hidden = hidden;
            c.w1 = p + HEADER;
            c.b1 = c.w1 + 128 * hidden;
            c.w2 = c.b1 + 2 * hidden;
            c.b2 = c.w2 + 12 * hidden;
            c.j = j;
            c.g = _le(p + OFF_GLOBAL_STEP, 4);
            c.epochSteps = epochSteps;
        }
    }

    /// @dev The window context (V2-2). False when a checkpoint's window start is illegal (SPEC §7.1 step 1).
    function _context(Ctx memory c, WindowStart calldata w, bytes16 preHash) private pure returns (bool) {
        uint256 p = c.buf;
        if (c.j == 0) {
            uint256 old = _le(p + OFF_MASK, 1);
            uint256 m = w.activeMask;
            uint256 k = w.lrShift;
            if (k > MAX_LR_SHIFT || m == 0 || m >> c.nSlots != 0 || m & old != old) return false;
            uint256 added = m & ~old;
            unchecked {
                if (added & (added - 1) != 0) return false; // more than one new slot
            }
            c.mask = m;
            c.k = k;
            c.flags = (added != 0 ? FLAG_GROWTH_SPURT : 0) | (_datasetRoot(c) != 0 ? FLAG_PRIVATE : 0);
            c.parent = preHash;
            c.epochSeed = w.epochSeed;
            c.first = c.g;
            c.lossAcc = 0;
        } else {
            c.mask = _le(p + OFF_MASK, 1);
            c.k = _le(p + OFF_LR, 1);
            c.flags = _le(p + OFF_FLAGS, 2);
            bytes32 parent;
            bytes32 seed;
            assembly ("memory-safe") {
                parent := and(mload(add(p, OFF_PARENT)), not(sub(shl(128, 1), 1)))
                seed := mload(add(p, OFF_EPOCH_SEED))
            }
            c.parent = parent;
            c.epochSeed = seed;
            c.first = (c.g + (1 << 32) - c.j) & 0xFFFFFFFF;
            c.lossAcc = _le(p + OFF_LOSS_ACC, 8);
        }
        uint256 epoch = c.first / c.epochSteps;
        c.heads = epoch < 3 ? 1 : epoch < 6 ? 3 : 7;
        return true;
    }

    function _datasetRoot(Ctx memory c) private pure returns (bytes32 r) {
        uint256 p = c.buf;
        assembly ("memory-safe") {
            r := mload(add(p, OFF_DATASET))
        }
    }

    function _seedCore(Ctx memory c) private pure returns (bytes32 r) {
        uint256 p = c.buf;
        assembly ("memory-safe") {
            r := mload(add(p, OFF_SEED))
        }
    }

    // ------------------------------------------------------------------ the board (SPEC §4, §5.1, V2-4)

    function _board(Ctx memory c, PrivateSample calldata s) private pure returns (Board memory b) {
        bytes32 root = _datasetRoot(c);
        if (root == 0) return _publicBoard(c);
        return _privateBoard(c, s, root);
    }

    /// @dev The splitMix64 finalizer of a 64-bit value.
    function _mix64(uint256 z) private pure returns (uint256 r) {
        assembly {
            z := and(mul(xor(z, shr(30, z)), 0xBF58476D1CE4E5B9), M64)
            z := and(mul(xor(z, shr(27, z)), 0x94D049BB133111EB), M64)
            r := xor(z, shr(31, z))
        }
    }

    /// @dev Bit i set iff nibble i (bits 4i..4i+3) of the 64-bit word is zero: a SWAR zero test of all 16
    /// nibbles, then the 16 flags (every fourth bit) gathered into 16 adjacent bits, instead of a 64-step loop.
    function _zeroNibbles(uint256 w) private pure returns (uint256 x) {
        unchecked {
            uint256 z = ~w & M64;
            x = z & (z >> 1) & (z >> 2) & (z >> 3) & 0x1111111111111111;
            x = (x | (x >> 3)) & 0x0303030303030303;
            x = (x | (x >> 6)) & 0x000F000F000F000F;
            x = (x | (x >> 12)) & 0x000000FF000000FF;
            x = (x | (x >> 24)) & 0xFFFF;
        }
    }

    /// @dev XOR of the big-endian 64-bit words of a 32-byte value.
    function _fold64(bytes32 v) private pure returns (uint256) {
        uint256 x = uint256(v);
        return (x ^ (x >> 64) ^ (x >> 128) ^ (x >> 192)) & M64;
    }

    function _publicBoard(Ctx memory c) private pure returns (Board memory b) {
        unchecked {
            uint256 g = c.g;
            uint256 st = _fold64(_seedCore(c)) ^ ((uint256(c.parent) >> 128) ^ (uint256(c.parent) >> 192)) & M64
                ^ ((g * GOLDEN_GAMMA) & M64);
            uint256 wall;
            uint256 hazard;
            if (g & 3 == 3) {
                uint256 t = uint256(c.epochSeed) & 7;
                uint256 sh = (t & 3) * 64;
                wall = ((t < 4 ? TPL_WALL_0 : TPL_WALL_1) >> sh) & M64;
                hazard = t < 4 ? 0 : (TPL_HAZARD_1 >> sh) & M64;
                st = (st + 4 * GOLDEN_GAMMA) & M64; // the four tile words are drawn and ignored
            } else {
                for (uint256 q = 0; q < 4; q++) {
                    st = (st + GOLDEN_GAMMA) & M64;
                    uint256 word = _mix64(st);
                    wall |= _zeroNibbles(word) << (16 * q);
                    hazard |= _zeroNibbles(word ^ 0x1111111111111111) << (16 * q);
                }
            }
            st = (st + GOLDEN_GAMMA) & M64;
            uint256 r4 = _mix64(st);
            uint256 sp = r4 & 63;
            uint256 ep = (r4 >> 6) & 63;
            if (ep == sp) ep = (sp + 1 + ((r4 >> 12) % 63)) % 64;
            if ((r4 >> 20) & 3 == 0) {
                uint256 q = _neighbor(sp, (r4 >> 22) & 3);
                if (q < 64) ep = q;
            }
            uint256 clear = ~((1 << sp) | (1 << ep));
            b.wall = wall & clear;
            b.hazard = hazard & clear;
            b.selfPos = sp;
            b.enemyPos = ep;
            st = (st + GOLDEN_GAMMA) & M64;
            uint256 r = _mix64(st);
            b.sHp = 1 + (r & 0xFF) % 255;
            b.sSta = (r >> 8) & 15;
            b.sDef = (r >> 12) & 63;
            b.sTdef = ((r >> 18) & 3) * 32;
            b.sCrit = (r >> 20) & 1;
            st = (st + GOLDEN_GAMMA) & M64;
            r = _mix64(st);
            b.eHp = 1 + (r & 0xFF) % 255;
            b.eSta = (r >> 8) & 15;
            b.eDef = (r >> 12) & 63;
            b.eTdef = ((r >> 18) & 3) * 32;
            b.eCrit = (r >> 20) & 1;
        }
    }

    /// @notice Whether `path` proves the 28-byte `record` as leaf `index` of a dataset of `datasetLen`
    /// records with Merkle root `merkleRoot` (SPEC §10.2: 1 <= datasetLen, index < datasetLen,
    /// len(path) == D(datasetLen)). The game binds (datasetLen, merkleRoot) to the beast's records
    /// root itself. The same check `step` makes on a private sample.
    function recordProven(
        uint32 datasetLen,
        bytes32 merkleRoot,
        uint256 index,
        bytes calldata record,
        bytes32[] calldata path
    ) external pure returns (bool) {
        if (datasetLen == 0 || index >= datasetLen || record.length != 28) return false;
        if (path.length != _depth(datasetLen)) return false;
        return _merkleNode(record, index, path) == merkleRoot;
    }

    /// @notice Whether `record` is a valid 28-byte board record (SPEC §2.3): exactly the records
    /// `step` accepts; any other proven record makes it revert InvalidRecord.
    function recordValid(bytes calldata record) external pure returns (bool valid) {
        if (record.length != 28) return false;
        (valid,) = _tryDecodeRecord(record);
    }

    /// @dev Record sampleIdx(g) of the committed dataset, proven against the state's dataset_root.
    function _privateBoard(Ctx memory c, PrivateSample calldata s, bytes32 root) private pure returns (Board memory b) {
        uint256 len = s.datasetLen;
        if (keccak256(abi.encodePacked(uint32(len), s.merkleRoot)) != root) revert DatasetRootMismatch();
        if (len == 0) revert EmptyDataset();
        bytes32 key = keccak256(abi.encodePacked("chainbeasts/sample-key/v2", _seedCore(c), s.sOwner));
        uint256 idx = uint256(keccak256(abi.encodePacked(key, uint32(c.g)))) % len;
        bytes calldata rec = s.record;
        if (rec.length != 28) revert InvalidRecord();
        bytes32[] calldata path = s.path;
        if (path.length != _depth(len)) revert BadMerkleProof();
        if (_merkleNode(rec, idx, path) != s.merkleRoot) revert BadMerkleProof();
        bool ok;
        (ok, b) = _tryDecodeRecord(rec);
        if (!ok) revert InvalidRecord();
    }

    /// @dev D: the smallest integer with 2^D >= len (SPEC §10.2).
    function _depth(uint256 len) private pure returns (uint256 depth) {
        while ((1 << depth) < len) depth++;
    }

    /// @dev The Merkle root `path` implies for `rec` as leaf `idx` (SPEC §10.2).
    function _merkleNode(bytes calldata rec, uint256 idx, bytes32[] calldata path) private pure returns (bytes32 node) {
        node = keccak256(rec);
        for (uint256 l = 0; l < path.length; l++) {
            node = (idx >> l) & 1 == 0
                ? keccak256(abi.encodePacked(node, path[l]))
                : keccak256(abi.encodePacked(path[l], node));
        }
    }

    /// @dev Decode and validate a 28-byte board record (SPEC §2.3); ok is false on any violation.
    function _tryDecodeRecord(bytes calldata rec) private pure returns (bool ok, Board memory b) {
        uint256 wall;
        uint256 hazard;
        unchecked {
            for (uint256 i = 0; i < 64; i++) {
                uint256 t = (uint8(rec[i >> 2]) >> (2 * (i & 3))) & 3;
                if (t == 1) wall |= 1 << i;
                else if (t == 2) hazard |= 1 << i;
                else if (t == 3) return (false, b);
            }
        }
        b.wall = wall;
        b.hazard = hazard;
        b.selfPos = uint8(rec[16]);
        b.enemyPos = uint8(rec[17]);
        b.sHp = uint8(rec[18]);
        b.sSta = uint8(rec[19]);
        b.sDef = uint8(rec[20]);
        b.sTdef = uint8(rec[21]);
        uint256 f = uint8(rec[22]);
        b.sCrit = f & 1;
        b.sLast = f >> 1;
        b.eHp = uint8(rec[23]);
        b.eSta = uint8(rec[24]);
        b.eDef = uint8(rec[25]);
        b.eTdef = uint8(rec[26]);
        f = uint8(rec[27]);
        b.eCrit = f & 1;
        b.eLast = f >> 1;
        ok = !(
            b.selfPos > 63 || b.enemyPos > 63 || b.selfPos == b.enemyPos || (wall >> b.selfPos) & 1 == 1
                || (wall >> b.enemyPos) & 1 == 1 || b.sHp == 0 || b.eHp == 0 || b.sSta > 15 || b.eSta > 15
                || b.sTdef > 96 || b.eTdef > 96 || b.sLast > 4 || b.eLast > 4
        );
    }

    /// @dev Tile one step from `pos` in direction d (N, S, E, W), or 64 when that leaves the board.
    function _neighbor(uint256 pos, uint256 d) private pure returns (uint256) {
        unchecked {
            uint256 x = pos & 7;
            uint256 y = pos >> 3;
            if (d == 0) return y > 0 ? pos - 8 : 64;
            if (d == 1) return y < 7 ? pos + 8 : 64;
            if (d == 2) return x < 7 ? pos + 1 : 64;
            return x > 0 ? pos - 1 : 64;
        }
    }

    // ------------------------------------------------------------------ labels (SPEC §5.2)

    function _damage(uint256 power, uint256 def, uint256 crit) private pure returns (uint256) {
        return (power * 256 / (256 + def)) * (crit == 1 ? 2 : 1);
    }

    /// @dev [move label (NO_MOVE = 4), attack label, block label, enemy_atk, expected_damage].
    function _labels(Board memory b) private pure returns (uint256[5] memory lab) {
        lab[0] = _moveLabel(b);
        bool adj = _adjacent(b.selfPos, b.enemyPos);
        uint256 expDmg;
        uint256 enemyAtk;
        if (adj && b.sSta > 0) expDmg = _damage(15, b.eDef + b.eTdef, b.sCrit);
        lab[1] = expDmg * 15 / _damage(15, 0, b.sCrit);
        if (adj && b.eSta > 0) enemyAtk = _damage(15, b.sDef, b.eCrit);
        lab[2] = 5 * b.sTdef < 4 * enemyAtk ? 1 : 0;
        lab[3] = enemyAtk;
        lab[4] = expDmg;
    }

    function _adjacent(uint256 a, uint256 b) private pure returns (bool) {
        unchecked {
            uint256 dx = (a & 7) > (b & 7) ? (a & 7) - (b & 7) : (b & 7) - (a & 7);
            uint256 dy = (a >> 3) > (b >> 3) ? (a >> 3) - (b >> 3) : (b >> 3) - (a >> 3);
            return dx + dy == 1;
        }
    }

    /// @dev Breadth-first search from the enemy over non-WALL tiles, one layer per round as a 64-bit
    /// bitboard (a round is a few shifts instead of a queue walk); then the first direction in N, S, E, W
    /// order whose neighbour lies in the layer one step closer. NO_MOVE when adjacent or unreachable.
    function _moveLabel(Board memory b) private pure returns (uint256 move) {
        uint256 open = ~b.wall & M64;
        uint256 selfBit = 1 << b.selfPos;
        uint256 frontier = 1 << b.enemyPos;
        uint256 visited = frontier;
        uint256 prev;
        uint256 d;
        unchecked {
            while (frontier & selfBit == 0) {
                if (frontier == 0) return NO_MOVE;
                prev = frontier;
                frontier = ((frontier >> 8) | ((frontier << 8) & M64) | ((frontier << 1) & NOT_X0)
                    | ((frontier >> 1) & NOT_X7)) & open & ~visited;
                visited |= frontier;
                d++;
            }
        }
        if (d <= 1) return NO_MOVE;
        for (uint256 dir = 0; dir < 4; dir++) {
            uint256 q = _neighbor(b.selfPos, dir);
            if (q < 64 && (prev >> q) & 1 == 1) return dir;
        }
        assert(false); // a tile at distance d >= 2 always has a neighbour at d - 1
    }

    // ------------------------------------------------------------------ observation (SPEC §6.2)

    /// @dev The non-zero features of observe(board) as the feature table (see FT_*).
    function _features(Ctx memory c, Board memory b, uint256 enemyAtk, uint256 expDmg) private pure {
        uint256 f;
        assembly ("memory-safe") {
            f := mload(0x40)
            mstore(0x40, add(f, FT_SIZE))
            for { let i := 0 } lt(i, FT_SIZE) { i := add(i, 32) } { mstore(add(f, i), 0) }
        }
        c.feats = f;
        int256 x0 = int256(b.selfPos & 7);
        int256 y0 = int256(b.selfPos >> 3);
        {
            uint256 wall = b.wall;
            uint256 hazard = b.hazard;
            uint256 sp = b.selfPos;
            assembly ("memory-safe") {
                // features 0..49, the 5x5 view: cell c = 5 (dy + 2) + dx + 2 sets feature 2c (WALL or off the
                // board) or 2c + 1 (HAZARD); all are 0 or 256, so they only set lane masks (see _feat)
                function setBin(ft, j) {
                    let q := shl(5, shr(4, j))
                    mstore(add(ft, q), or(mload(add(ft, q)), shl(sub(240, shl(4, and(j, 15))), 0xFFFF)))
                    mstore(add(add(ft, FT_BIAS), q), add(mload(add(add(ft, FT_BIAS), q)), 32768))
                }
                let sx := and(sp, 7)
                let sy := shr(3, sp)
                for { let ci := 0 } lt(ci, 25) { ci := add(ci, 1) } {
                    // x = sx + (c mod 5) - 2 and y = sy + (c div 5) - 2, off the board when not in 0..7 (unsigned)
                    let x := sub(add(sx, mod(ci, 5)), 2)
                    let y := sub(add(sy, div(ci, 5)), 2)
                    switch and(lt(x, 8), lt(y, 8))
                    case 0 { setBin(f, shl(1, ci)) }
                    default {
                        let t := add(shl(3, y), x)
                        switch and(shr(t, wall), 1)
                        case 1 { setBin(f, shl(1, ci)) }
                        default { if and(shr(t, hazard), 1) { setBin(f, add(shl(1, ci), 1)) } }
                    }
                }
            }
        }
        unchecked {
            int256 ddx = int256(b.enemyPos & 7) - x0;
            int256 ddy = int256(b.enemyPos >> 3) - y0;
            if (ddx < 0) _feat(f, 50, 256);
            if (ddx > 0) _feat(f, 51, 256);
            if (ddy < 0) _feat(f, 52, 256);
            if (ddy > 0) _feat(f, 53, 256);
            if (ddx != 0) _feat(f, 54, uint256(ddx * 32));
            if (ddy != 0) _feat(f, 55, uint256(ddy * 32));
            if (_adjacent(b.selfPos, b.enemyPos)) _feat(f, 56, 256);
            _feat(f, 57, b.sHp); // hp >= 1 on every valid board
            _feat(f, 58, b.eHp);
            if (b.sSta != 0) _feat(f, 59, b.sSta * 16);
            if (b.sTdef != 0) _feat(f, 60, b.sTdef * 2);
            if (enemyAtk != 0) _feat(f, 61, enemyAtk * 8);
            if (expDmg != 0) _feat(f, 62, expDmg * 8);
            if (b.sCrit != 0) _feat(f, 63, 256);
        }
    }

    /// @dev Record feature j with (two's complement) value v: a 256 joins its word's lane mask; the others
    /// (features 54, 55 and 57..62) go to their slot 0..7 of the table.
    function _feat(uint256 f, uint256 j, uint256 v) private pure {
        if (v != 256) {
            uint256 slot = j < 56 ? j - 54 : j - 55;
            assert(j >= 54 && j <= 62 && j != 56);
            assembly ("memory-safe") {
                mstore(add(add(f, FT_OTHER), shl(5, slot)), v)
            }
            return;
        }
        assembly ("memory-safe") {
            let q := shl(5, shr(4, j))
            mstore(add(f, q), or(mload(add(f, q)), shl(sub(240, shl(4, and(j, 15))), 0xFFFF)))
            mstore(add(add(f, FT_BIAS), q), add(mload(add(add(f, FT_BIAS), q)), 32768))
        }
    }

    // ------------------------------------------------------------------ network (SPEC §8)

    /// @dev h = max(sat16((W1 x >> 12) + b1), 0) of every active unit into the h array (0 for dormant
    /// units: h = 0, gh = 0, so they need no arithmetic).
    /// Assembly, SWAR over the four 32-byte words of a row: the weights of the features equal to 256 are
    /// summed sixteen lanes at a time (mask, flip each i16's sign bit, then one multiply each sums the high
    /// and the low bytes of all lanes), about 15 operations per word instead of about 15 per feature; the
    /// eight other features are read from the byte-swapped word 3 in straight-line code.
    function _forward(Ctx memory c) private pure {
        uint256 hd;
        uint256 f = c.feats;
        uint256 w1 = c.w1;
        uint256 b1 = c.b1;
        uint256 sw = c.sw;
        uint256 mask = c.mask;
        uint256 hidden = c.hidden;
        assembly ("memory-safe") {
            function unitH(ft, row, bp) -> a {
                // the lanes of each row word selected by the table's mask, summed: flip each selected i16's
                // sign bit (i16 + 32768 as bytes), sum the high and the low bytes of all lanes with one
                // multiply each, take away 32768 per lane; times 256 at the end
                let acc := 0
                for { let q := 0 } lt(q, 128) { q := add(q, 32) } {
                    let m := mload(add(ft, q))
                    if m {
                        let bw := xor(and(mload(add(row, q)), m), and(m, LANE_SIGN))
                        acc := add(acc, sub(add(shl(8, shr(240, mul(and(bw, LANE_LO), LANE_ONES))),
                            shr(240, mul(and(shr(8, bw), LANE_LO), LANE_ONES))), mload(add(add(ft, FT_BIAS), q))))
                    }
                }
                acc := shl(8, acc)
                {
                    let t := mload(add(row, 96))
                    t := or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO)))
                    acc := add(acc, mul(signextend(1, shr(144, t)), mload(add(ft, 0x100))))  // feature 54
                    acc := add(acc, mul(signextend(1, shr(128, t)), mload(add(ft, 0x120))))  // feature 55
                    acc := add(acc, mul(signextend(1, shr(96, t)), mload(add(ft, 0x140))))  // feature 57
                    acc := add(acc, mul(signextend(1, shr(80, t)), mload(add(ft, 0x160))))  // feature 58
                    acc := add(acc, mul(signextend(1, shr(64, t)), mload(add(ft, 0x180))))  // feature 59
                    acc := add(acc, mul(signextend(1, shr(48, t)), mload(add(ft, 0x1a0))))  // feature 60
                    acc := add(acc, mul(signextend(1, shr(32, t)), mload(add(ft, 0x1c0))))  // feature 61
                    acc := add(acc, mul(signextend(1, shr(16, t)), mload(add(ft, 0x1e0))))  // feature 62
                }
                let bv := mload(sub(bp, 30))
                a := add(sar(12, acc), signextend(1, or(shl(8, byte(31, bv)), byte(30, bv))))
                switch sgt(a, 0)
                case 0 { a := 0 }
                default { if sgt(a, 32767) { a := 32767 } }
            }
            hd := mload(0x40)
            mstore(0x40, add(hd, shl(5, add(hidden, 16))))
            for { let u := 0 } lt(u, hidden) { u := add(u, 1) } {
                let a := 0
                if and(shr(div(u, sw), mask), 1) { a := unitH(f, add(w1, shl(7, u)), add(b1, shl(1, u))) }
                mstore(add(hd, shl(5, u)), a)
            }
            for { let i := 0 } lt(i, 16) { i := add(i, 1) } { mstore(add(hd, shl(5, add(hidden, i))), 0) }
        }
        c.hd = hd;
    }

    /// @dev z = sat16((W2 h >> 12) + b2). Assembly: each W2 row is read a 32-byte word (16 units) at a time,
    /// byte-swapped once, and its lanes multiplied in straight-line code (lanes past the last unit meet h's
    /// zero padding); about a fifth of the cost of reading each weight on its own.
    function _logits(Ctx memory c) private pure returns (int256[6] memory z) {
        uint256 hd = c.hd;
        uint256 w2 = c.w2;
        uint256 b2 = c.b2;
        uint256 hidden = c.hidden;
        assembly ("memory-safe") {
            function rowDot(row, hp, end) -> acc {
                for { } lt(hp, end) { hp := add(hp, 512) } {
                    let t := mload(row)
                    t := or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO)))
                    acc := add(acc, mul(signextend(1, shr(240, t)), mload(add(hp, 0))))
                    acc := add(acc, mul(signextend(1, shr(224, t)), mload(add(hp, 32))))
                    acc := add(acc, mul(signextend(1, shr(208, t)), mload(add(hp, 64))))
                    acc := add(acc, mul(signextend(1, shr(192, t)), mload(add(hp, 96))))
                    acc := add(acc, mul(signextend(1, shr(176, t)), mload(add(hp, 128))))
                    acc := add(acc, mul(signextend(1, shr(160, t)), mload(add(hp, 160))))
                    acc := add(acc, mul(signextend(1, shr(144, t)), mload(add(hp, 192))))
                    acc := add(acc, mul(signextend(1, shr(128, t)), mload(add(hp, 224))))
                    acc := add(acc, mul(signextend(1, shr(112, t)), mload(add(hp, 256))))
                    acc := add(acc, mul(signextend(1, shr(96, t)), mload(add(hp, 288))))
                    acc := add(acc, mul(signextend(1, shr(80, t)), mload(add(hp, 320))))
                    acc := add(acc, mul(signextend(1, shr(64, t)), mload(add(hp, 352))))
                    acc := add(acc, mul(signextend(1, shr(48, t)), mload(add(hp, 384))))
                    acc := add(acc, mul(signextend(1, shr(32, t)), mload(add(hp, 416))))
                    acc := add(acc, mul(signextend(1, shr(16, t)), mload(add(hp, 448))))
                    acc := add(acc, mul(signextend(1, shr(0, t)), mload(add(hp, 480))))
                    row := add(row, 32)
                }
            }
            let hEnd := add(hd, shl(5, hidden))
            for { let o := 0 } lt(o, 6) { o := add(o, 1) } {
                let acc := rowDot(add(w2, mul(shl(1, o), hidden)), hd, hEnd)
                let bv := mload(sub(add(b2, shl(1, o)), 30))
                let zz := add(sar(12, acc), signextend(1, or(shl(8, byte(31, bv)), byte(30, bv))))
                if sgt(zz, 32767) { zz := 32767 }
                if slt(zz, sub(0, 32768)) { zz := sub(0, 32768) }
                mstore(add(z, shl(5, o)), zz)
            }
        }
    }

    // ------------------------------------------------------------------ heads (SPEC §8.1, §8.3, V2-5)

    function _exp2neg(int256 t) private pure returns (int256) {
        if (t > 4095) t = 4095;
        return (65536 - ((t & 255) << 7)) >> uint256(t >> 8);
    }

    function _sigmoid2(int256 z) private pure returns (int256) {
        if (z >= 0) return (int256(65536) << 16) / (65536 + _exp2neg(z));
        return 65536 - (int256(65536) << 16) / (65536 + _exp2neg(-z));
    }

    function _nlog2(int256 p) private pure returns (uint256) {
        if (p <= 0) return 17 * 256;
        uint256 u = uint256(p);
        uint256 bl = 0;
        while (u >> (bl + 1) != 0) bl++;
        // 16*256 - (256 b + ((p << 8) >> b) - 256)
        return 17 * 256 - 256 * bl - ((u << 8) >> bl);
    }

    function _sat16(int256 v) private pure returns (int256) {
        return v > 32767 ? int256(32767) : v < -32768 ? int256(-32768) : v;
    }

    function _heads(int256[6] memory z, uint256 heads, uint256 move, uint256 atk, uint256 blk)
        private
        pure
        returns (int256[6] memory gz, uint256 loss)
    {
        if (heads & 1 != 0 && move != NO_MOVE) {
            int256 m = z[0];
            for (uint256 i = 1; i < 4; i++) {
                if (z[i] > m) m = z[i];
            }
            int256[4] memory e;
            int256 sum;
            for (uint256 i = 0; i < 4; i++) {
                e[i] = _exp2neg(m - z[i]);
                sum += e[i];
            }
            for (uint256 i = 0; i < 4; i++) {
                int256 p = (e[i] << 16) / sum;
                gz[i] = (p - (i == move ? int256(65536) : int256(0))) >> 8;
                if (i == move) loss += _nlog2(p);
            }
        }
        if (heads & 2 != 0) {
            int256 d = z[4] - 64 * int256(atk);
            gz[4] = d > 256 ? int256(256) : d < -256 ? int256(-256) : d;
            uint256 sq = uint256((d * d) >> 8);
            loss += sq > 65535 ? 65535 : sq;
        }
        if (heads & 4 != 0) {
            int256 s = _sigmoid2(z[5]);
            int256 wb = blk == 1 ? int256(BLOCK_POS_WEIGHT) : int256(1);
            gz[5] = ((s - 65536 * int256(blk)) >> 8) * wb;
            loss += _nlog2(blk == 1 ? s : 65536 - s) * uint256(wb);
        }
        for (uint256 i = 0; i < 6; i++) {
            gz[i] = _sat16(gz[i]);
        }
    }

    // ------------------------------------------------------------------ backward and update (SPEC §8.4)

    /// @dev The update (SPEC §8.4) for the outputs with gz != 0: each W2 row (gh of every unit accumulated on
    /// the way from the old weights), then b1 and the W1 row of every unit with h > 0 and gh != 0, then b2.
    /// Weights of units with h = 0 or features with x = 0 have a zero gradient, and rshift_round(0, k) = 0,
    /// so they are left as they are.
    function _backward(Ctx memory c, int256[6] memory gz) private pure {
        uint256 k = c.k;
        uint256 half = (uint256(1) << k) >> 1;
        bool any;
        for (uint256 o = 0; o < 6; o++) {
            if (gz[o] != 0) any = true;
        }
        if (!any) return;
        assembly ("memory-safe") {
            mstore(0, k) // k and rshift_round's half, read by the row updates from scratch space
            mstore(0x20, half)
        }
        for (uint256 o = 0; o < 6; o++) {
            if (gz[o] != 0) _w2Row(c.w2 + 2 * o * c.hidden, c.hd, c.hd + 32 * c.hidden, gz[o]);
        }
        _w1Rows(c.hd, c.hidden, c.feats, c.w1, c.b1);
        uint256 b2 = c.b2;
        for (uint256 o = 0; o < 6; o++) {
            if (gz[o] != 0) _sub16(b2 + 2 * o, gz[o], k, half);
        }
    }

    /// @dev v := sat16(v - rshift_round(g, k)) for the i16 at memory p.
    function _sub16(uint256 p, int256 g, uint256 k, uint256 half) private pure {
        assembly ("memory-safe") {
            let v := mload(sub(p, 30))
            let w := signextend(1, or(shl(8, byte(31, v)), byte(30, v)))
            let nv := sub(w, sar(k, add(g, half)))
            if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
            mstore8(p, nv)
            mstore8(add(p, 1), shr(8, nv))
        }
    }

    /// @dev One W2 row with gradient g: W2[o][u] -= rshift_round((g h[u]) >> 4, k), saturated, and
    /// g * W2_old[o][u] added to the upper bits (above bit 32) of h's word u, where gh accumulates.
    /// Assembly: a row word (16 units) is loaded and byte-swapped once and its lanes updated in
    /// straight-line code; lanes past the last unit meet h's zero padding (zero delta, stored back as read).
    function _w2Row(uint256 row, uint256 hp, uint256 end, int256 g) private pure {
        assembly ("memory-safe") {
            let kk := mload(0)
            let hf := mload(0x20)
            for { } lt(hp, end) { hp := add(hp, 512) } {
                let t := mload(row)
                t := or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO)))
                    {
                        let hw := mload(add(hp, 0))
                        let w := signextend(1, shr(240, t))
                        mstore(add(hp, 0), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff), shl(240, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 32))
                        let w := signextend(1, shr(224, t))
                        mstore(add(hp, 32), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffff0000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff), shl(224, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 64))
                        let w := signextend(1, shr(208, t))
                        mstore(add(hp, 64), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffff0000ffffffffffffffffffffffffffffffffffffffffffffffffffff), shl(208, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 96))
                        let w := signextend(1, shr(192, t))
                        mstore(add(hp, 96), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffff0000ffffffffffffffffffffffffffffffffffffffffffffffff), shl(192, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 128))
                        let w := signextend(1, shr(176, t))
                        mstore(add(hp, 128), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffff0000ffffffffffffffffffffffffffffffffffffffffffff), shl(176, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 160))
                        let w := signextend(1, shr(160, t))
                        mstore(add(hp, 160), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffff0000ffffffffffffffffffffffffffffffffffffffff), shl(160, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 192))
                        let w := signextend(1, shr(144, t))
                        mstore(add(hp, 192), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffff0000ffffffffffffffffffffffffffffffffffff), shl(144, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 224))
                        let w := signextend(1, shr(128, t))
                        mstore(add(hp, 224), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffff0000ffffffffffffffffffffffffffffffff), shl(128, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 256))
                        let w := signextend(1, shr(112, t))
                        mstore(add(hp, 256), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffff0000ffffffffffffffffffffffffffff), shl(112, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 288))
                        let w := signextend(1, shr(96, t))
                        mstore(add(hp, 288), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffff0000ffffffffffffffffffffffff), shl(96, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 320))
                        let w := signextend(1, shr(80, t))
                        mstore(add(hp, 320), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffff0000ffffffffffffffffffff), shl(80, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 352))
                        let w := signextend(1, shr(64, t))
                        mstore(add(hp, 352), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffff0000ffffffffffffffff), shl(64, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 384))
                        let w := signextend(1, shr(48, t))
                        mstore(add(hp, 384), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffff0000ffffffffffff), shl(48, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 416))
                        let w := signextend(1, shr(32, t))
                        mstore(add(hp, 416), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffffffff0000ffffffff), shl(32, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 448))
                        let w := signextend(1, shr(16, t))
                        mstore(add(hp, 448), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffff0000ffff), shl(16, and(w, 0xFFFF)))
                    }
                    {
                        let hw := mload(add(hp, 480))
                        let w := signextend(1, shr(0, t))
                        mstore(add(hp, 480), add(hw, shl(32, mul(w, g))))
                        w := sub(w, sar(kk, add(sar(4, mul(g, and(hw, 0xFFFFFFFF))), hf)))
                        if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                        t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0000), shl(0, and(w, 0xFFFF)))
                    }
                mstore(row, or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO))))
                row := add(row, 32)
            }
        }
    }

    /// @dev b1 and the W1 row of every unit with h > 0 and gh = sat16(acc >> 12) != 0.
    function _w1Rows(uint256 hd, uint256 hidden, uint256 f, uint256 w1, uint256 b1) private pure {
        assembly ("memory-safe") {
            // W1[u] -= rshift_round((gh x) >> 4, k), saturated, over the non-zero features.
            // Features equal to 256 share one delta d = rshift_round(16 gh, k); SWAR per 32-byte row word:
            // the word is biased (i16 + 32768, byte-swapped into 16-bit lanes), spread into 32-bit lanes,
            // 2^17 - d is added to every lane and bits 17 and 16 of each lane tell underflow, in range and
            // overflow, so sat16(w - d) of sixteen weights costs about 50 operations instead of 16 x 30.
            // The eight other features (row word 3) are updated lane by lane in straight-line code.
            function binUpdate(wp, m, d) {
                let wd := mload(wp)
                let t := xor(wd, LANE_SIGN)
                t := or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO)))
                switch slt(d, 65536)
                case 0 { t := 0 }
                default {
                    switch sgt(d, sub(0, 65536))
                    case 0 { t := not(0) }
                    default {
                        // each 32-bit lane r = u + 2^17 - d; bit 17 clear: underflow (0); bits 17 and 16 set:
                        // overflow (0xFFFF); else r's low 16 bits are u - d
                        let cc := mul(sub(0x20000, d), WIDE_ONES)
                        let r := add(and(t, WIDE_LO), cc)
                        let lo := and(or(r, mul(and(shr(16, r), WIDE_ONES), 0xFFFF)), mul(and(shr(17, r), WIDE_ONES), 0xFFFF))
                        r := add(and(shr(16, t), WIDE_LO), cc)
                        t := or(lo, shl(16, and(or(r, mul(and(shr(16, r), WIDE_ONES), 0xFFFF)), mul(and(shr(17, r), WIDE_ONES), 0xFFFF))))
                    }
                }
                t := xor(or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO))), LANE_SIGN)
                mstore(wp, or(and(wd, not(m)), and(t, m)))
            }
            function updateRow(fs, row, g) {
                let kk := mload(0)
                let hf := mload(0x20)
                let d := sar(kk, add(shl(4, g), hf))
                if d {
                    if mload(fs) { binUpdate(row, mload(fs), d) }
                    if mload(add(fs, 32)) { binUpdate(add(row, 32), mload(add(fs, 32)), d) }
                    if mload(add(fs, 64)) { binUpdate(add(row, 64), mload(add(fs, 64)), d) }
                    if mload(add(fs, 96)) { binUpdate(add(row, 96), mload(add(fs, 96)), d) }
                }
                let t := mload(add(row, 96))
                t := or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO)))
                {
                    let nv := sub(signextend(1, shr(144, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x100)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffff0000ffffffffffffffffffffffffffffffffffff), shl(144, and(nv, 0xFFFF)))  // feature 54
                }
                {
                    let nv := sub(signextend(1, shr(128, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x120)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffff0000ffffffffffffffffffffffffffffffff), shl(128, and(nv, 0xFFFF)))  // feature 55
                }
                {
                    let nv := sub(signextend(1, shr(96, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x140)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffffffffffff0000ffffffffffffffffffffffff), shl(96, and(nv, 0xFFFF)))  // feature 57
                }
                {
                    let nv := sub(signextend(1, shr(80, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x160)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffff0000ffffffffffffffffffff), shl(80, and(nv, 0xFFFF)))  // feature 58
                }
                {
                    let nv := sub(signextend(1, shr(64, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x180)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffff0000ffffffffffffffff), shl(64, and(nv, 0xFFFF)))  // feature 59
                }
                {
                    let nv := sub(signextend(1, shr(48, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x1a0)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffff0000ffffffffffff), shl(48, and(nv, 0xFFFF)))  // feature 60
                }
                {
                    let nv := sub(signextend(1, shr(32, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x1c0)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffffffff0000ffffffff), shl(32, and(nv, 0xFFFF)))  // feature 61
                }
                {
                    let nv := sub(signextend(1, shr(16, t)), sar(kk, add(sar(4, mul(g, mload(add(fs, 0x1e0)))), hf)))
                    if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                    t := or(and(t, 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffff0000ffff), shl(16, and(nv, 0xFFFF)))  // feature 62
                }
                mstore(add(row, 96), or(shr(8, and(t, LANE_HI)), shl(8, and(t, LANE_LO))))
            }
            // the i16 at p minus rshift_round(g, k), saturated
            function sub16(p, g) {
                let v := mload(sub(p, 30))
                let nv := sub(signextend(1, or(shl(8, byte(31, v)), byte(30, v))), sar(mload(0), add(g, mload(0x20))))
                if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                mstore8(p, nv)
                mstore8(add(p, 1), shr(8, nv))
            }
            for { let u := 0 } lt(u, hidden) { u := add(u, 1) } {
                let hw := mload(add(hd, shl(5, u)))
                if and(hw, 0xFFFFFFFF) {
                    let gh := sar(12, sar(32, hw))
                    if gt(add(gh, 0x8000), 0xFFFF) { gh := xor(0x7FFF, sub(0, slt(gh, 0))) }
                    if gh {
                        sub16(add(b1, shl(1, u)), gh)
                        updateRow(f, add(w1, shl(7, u)), gh)
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ counters (V2-2)

    function _counters(Ctx memory c, uint256 loss) private pure {
        uint256 p = c.buf;
        bytes32 parent = c.parent;
        bytes32 seed = c.epochSeed;
        assembly ("memory-safe") {
            // parent_h128 (16 bytes at 96) then epoch_seed (32 bytes at 112): the first store's low half
            // is overwritten by the second
            mstore(add(p, OFF_PARENT), parent)
            mstore(add(p, OFF_EPOCH_SEED), seed)
        }
        unchecked {
            _putLe(p + OFF_MASK, 1, c.mask);
            _putLe(p + OFF_LR, 1, c.k);
            _putLe(p + OFF_GLOBAL_STEP, 4, (c.g + 1) & 0xFFFFFFFF);
            uint256 total = c.lossAcc + loss;
            if (total > M64) total = M64;
            if (c.j < WINDOW_LAST) {
                _putLe(p + OFF_STEP, 1, c.j + 1);
                _putLe(p + OFF_FLAGS, 2, c.flags);
                _putLe(p + OFF_LOSS_ACC, 8, total);
            } else {
                uint256 prev = _le(p + OFF_LOSS_PREV, 8);
                uint256 flags = c.flags;
                if (prev != 0 && total < prev) flags |= FLAG_LOSS_DROPPED;
                _putLe(p + OFF_STEP, 1, 0);
                _putLe(p + OFF_FLAGS, 2, flags);
                _putLe(p + OFF_LOSS_ACC, 8, 0);
                _putLe(p + OFF_LOSS_PREV, 8, total);
                _putLe(p + OFF_WINDOW, 4, (_le(p + OFF_WINDOW, 4) + 1) & 0xFFFFFFFF);
            }
        }
    }
}
