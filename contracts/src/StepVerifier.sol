// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title StepVerifier: one spec-version-2 micro-step of a ChainBeasts kernel, re-executed on chain
/// @notice Stateless. Given the agreed pre-state bytes (SPEC v2 "step state"), the window start
/// (read only at a checkpoint, step == 0) and, for a beast with a private curriculum, the owner's
/// secret and one dataset record with its Merkle proof, `step` returns h128(pre) and h128 of the
/// state after one micro-step, computed exactly as docs/SPEC.md (v2) and kernel.step.micro_step do:
/// board draw or private record, labels (BFS distance field, A* tie-break, attack and block labels),
/// observation, forward, heads (block head weighted by BLOCK_POS_WEIGHT), backward, SGD with
/// saturation, counters. The caller (the dispute game) checks preHash against the agreed hash and
/// keccak256(sOwner) against the beast's secret commitment.
/// @dev Memory plan: the pre-state is copied once into memory, hashed, updated in place (only the
/// header counters and the weights a step can change) and hashed again. A weight changes only where
/// its gradient is non-zero: W1[u][j] needs gh[u] != 0 and x[j] != 0, and x is sparse (at most 38 of
/// 64 features are non-zero), so forward and update visit only the non-zero features of each row.
contract StepVerifier {
    /// @notice The shape of the window that starts at a checkpoint (ignored mid-window).
    struct WindowStart {
        uint8 activeMask;
        uint8 lrShift;
        bytes32 epochSeed;
    }

    /// @notice A private curriculum's sample: the revealed owner secret and record `sampleIdx(g)` of
    /// the committed dataset with its Merkle path (siblings bottom-up). Ignored for public beasts.
    struct PrivateSample {
        bytes32 sOwner;
        uint32 datasetLen;
        bytes32 merkleRoot;
        bytes record;
        bytes32[] path;
    }

    /// @notice The pre-state is not a parsable spec-version-2 state; `reason` says which rule failed
    /// (1 length, 2 magic, 3 version, 4 parameters, 5 activeMask, 6 lrShift, 7 step, 8 flags, 9 lossAcc).
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

    string public constant version = "1.0.0";

    /// @dev SPEC v2 V2-5: the block head's weight on boards labelled "block" (kernel.heads.BLOCK_POS_WEIGHT).
    uint256 internal constant BLOCK_POS_WEIGHT = 16;

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

    // Where the feature lists live: 4 segments (one per 32-byte word of a W1 row), each a count word
    // then up to 16 entries of two words (bit shift of the lane in the byte-swapped word, x value).
    uint256 internal constant SEG = 1056;

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
        uint256 units; // memory pointer of the positive-unit list
        uint256 nUnits;
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
                    || 128 * _le(p + 16, 8) * nSlots + _le(p + 24, 8) >= 1 << 64
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
                    for (uint256 i = 0; i < 16; i++) {
                        uint256 v = (word >> (4 * i)) & 15;
                        if (v == 0) wall |= 1 << (16 * q + i);
                        else if (v == 1) hazard |= 1 << (16 * q + i);
                    }
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
        uint256 depth = 0;
        while ((1 << depth) < len) depth++;
        if (path.length != depth) revert BadMerkleProof();
        bytes32 node = keccak256(rec);
        for (uint256 l = 0; l < depth; l++) {
            node = (idx >> l) & 1 == 0
                ? keccak256(abi.encodePacked(node, path[l]))
                : keccak256(abi.encodePacked(path[l], node));
        }
        if (node != s.merkleRoot) revert BadMerkleProof();
        return _decodeRecord(rec);
    }

    /// @dev Decode and validate a 28-byte board record (SPEC §2.3); InvalidRecord on any violation.
    function _decodeRecord(bytes calldata rec) private pure returns (Board memory b) {
        uint256 wall;
        uint256 hazard;
        unchecked {
            for (uint256 i = 0; i < 64; i++) {
                uint256 t = (uint8(rec[i >> 2]) >> (2 * (i & 3))) & 3;
                if (t == 1) wall |= 1 << i;
                else if (t == 2) hazard |= 1 << i;
                else if (t == 3) revert InvalidRecord();
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
        if (
            b.selfPos > 63 || b.enemyPos > 63 || b.selfPos == b.enemyPos || (wall >> b.selfPos) & 1 == 1
                || (wall >> b.enemyPos) & 1 == 1 || b.sHp == 0 || b.eHp == 0 || b.sSta > 15 || b.eSta > 15
                || b.sTdef > 96 || b.eTdef > 96 || b.sLast > 4 || b.eLast > 4
        ) revert InvalidRecord();
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

    /// @dev The non-zero features of observe(board), grouped by the 32-byte word of a W1 row that holds
    /// their weights: segment q (features 16q..16q+15) is a count then (lane shift, value) pairs.
    function _features(Ctx memory c, Board memory b, uint256 enemyAtk, uint256 expDmg) private pure {
        uint256 f;
        assembly ("memory-safe") {
            f := mload(0x40)
            mstore(0x40, add(f, mul(4, SEG)))
            mstore(f, 0)
            mstore(add(f, SEG), 0)
            mstore(add(f, mul(2, SEG)), 0)
            mstore(add(f, mul(3, SEG)), 0)
        }
        c.feats = f;
        int256 x0 = int256(b.selfPos & 7);
        int256 y0 = int256(b.selfPos >> 3);
        unchecked {
            uint256 ci = 0;
            for (int256 dy = -2; dy <= 2; dy++) {
                for (int256 dx = -2; dx <= 2; dx++) {
                    int256 x = x0 + dx;
                    int256 y = y0 + dy;
                    if (x < 0 || x > 7 || y < 0 || y > 7) {
                        _feat(f, 2 * ci, 256);
                    } else {
                        uint256 t = uint256(y * 8 + x);
                        if ((b.wall >> t) & 1 == 1) _feat(f, 2 * ci, 256);
                        else if ((b.hazard >> t) & 1 == 1) _feat(f, 2 * ci + 1, 256);
                    }
                    ci++;
                }
            }
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

    /// @dev Append feature j with (two's complement) value v to its segment.
    function _feat(uint256 f, uint256 j, uint256 v) private pure {
        assembly ("memory-safe") {
            let seg := add(f, mul(shr(4, j), SEG))
            let cnt := mload(seg)
            let e := add(add(seg, 32), shl(6, cnt))
            // lane (j & 15) of a byte-swapped row word sits at bits [240 - 16 lane, 256 - 16 lane)
            mstore(e, sub(240, shl(4, and(j, 15))))
            mstore(add(e, 32), v)
            mstore(seg, add(cnt, 1))
        }
    }

    // ------------------------------------------------------------------ network (SPEC §8)

    /// @dev a1 = sat16((W1 x >> 12) + b1) for every active unit; the units with a1 > 0 (h = a1) go to the
    /// unit list as (u << 128) | h. Dormant units are skipped (h = 0, gh = 0).
    /// Assembly: a row word is loaded once and byte-swapped once (7 ops), after which each of its
    /// little-endian i16 weights is two ops (shr, signextend) instead of seven per byte-wise read.
    function _forward(Ctx memory c) private pure {
        uint256 list;
        uint256 cnt;
        uint256 f = c.feats;
        uint256 w1 = c.w1;
        uint256 b1 = c.b1;
        uint256 sw = c.sw;
        uint256 mask = c.mask;
        uint256 nSlots = c.nSlots;
        assembly ("memory-safe") {
            list := mload(0x40)
            for { let s := 0 } lt(s, nSlots) { s := add(s, 1) } {
                if and(shr(s, mask), 1) {
                    let u := mul(s, sw)
                    for { let uEnd := add(u, sw) } lt(u, uEnd) { u := add(u, 1) } {
                        let row := add(w1, shl(7, u))
                        let acc := 0
                        for { let q := 0 } lt(q, 4) { q := add(q, 1) } {
                            let seg := add(f, mul(q, SEG))
                            let e := add(seg, 32)
                            let end := add(e, shl(6, mload(seg)))
                            if lt(e, end) {
                                let wd := mload(add(row, shl(5, q)))
                                wd := or(shr(8, and(wd, 0xFF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00)), shl(8, and(wd, 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF)))
                                for { } lt(e, end) { e := add(e, 64) } {
                                    acc := add(acc, mul(signextend(1, shr(mload(e), wd)), mload(add(e, 32))))
                                }
                            }
                        }
                        let bp := add(b1, shl(1, u))
                        let bv := mload(sub(bp, 30))
                        let a := add(sar(12, acc), signextend(1, or(shl(8, byte(31, bv)), byte(30, bv))))
                        if sgt(a, 0) {
                            if sgt(a, 32767) { a := 32767 }
                            mstore(add(list, shl(5, cnt)), or(shl(128, u), a))
                            cnt := add(cnt, 1)
                        }
                    }
                }
            }
            mstore(0x40, add(list, shl(5, cnt)))
        }
        c.units = list;
        c.nUnits = cnt;
    }

    /// @dev z = sat16((W2 h >> 12) + b2) over the positive units.
    function _logits(Ctx memory c) private pure returns (int256[6] memory z) {
        uint256 list = c.units;
        uint256 cnt = c.nUnits;
        uint256 w2 = c.w2;
        uint256 b2 = c.b2;
        uint256 hidden = c.hidden;
        assembly ("memory-safe") {
            let end := add(list, shl(5, cnt))
            for { let o := 0 } lt(o, 6) { o := add(o, 1) } {
                let row := add(w2, mul(shl(1, o), hidden))
                let acc := 0
                for { let e := list } lt(e, end) { e := add(e, 32) } {
                    let ent := mload(e)
                    let p := add(row, shl(1, shr(128, ent)))
                    let v := mload(sub(p, 30))
                    acc := add(acc, mul(signextend(1, or(shl(8, byte(31, v)), byte(30, v))), and(ent, 0xFFFF)))
                }
                let bp := add(b2, shl(1, o))
                let bv := mload(sub(bp, 30))
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

    /// @dev For each positive unit: gh from the old W2 column, then that column's W2 update, then b1 and
    /// the W1 row when gh != 0; finally b2. Weights of units with h = 0 or features with x = 0 have a zero
    /// gradient, and rshift_round(0, k) = 0, so they are left as they are.
    function _backward(Ctx memory c, int256[6] memory gz) private pure {
        uint256 half = (uint256(1) << c.k) >> 1;
        uint256 k = c.k;
        // outputs with a non-zero gradient: (row pointer, gz) pairs
        uint256 outs;
        uint256 nOut;
        {
            uint256 w2 = c.w2;
            uint256 hidden = c.hidden;
            assembly ("memory-safe") {
                outs := mload(0x40)
                for { let o := 0 } lt(o, 6) { o := add(o, 1) } {
                    let gv := mload(add(gz, shl(5, o)))
                    if gv {
                        let e := add(outs, shl(6, nOut))
                        mstore(e, add(w2, mul(shl(1, o), hidden)))
                        mstore(add(e, 32), gv)
                        nOut := add(nOut, 1)
                    }
                }
                mstore(0x40, add(outs, shl(6, nOut)))
            }
        }
        if (nOut == 0) return;
        assembly ("memory-safe") {
            mstore(0, k)
            mstore(0x20, half)
        }
        _updateUnits(c.units, c.units + 32 * c.nUnits, outs, outs + 64 * nOut, c.feats, c.w1, c.b1);
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

    /// @dev k and rshift_round's half are in scratch words 0x00 and 0x20 (set by the caller).
    function _updateUnits(uint256 list, uint256 end, uint256 outs, uint256 outEnd, uint256 f, uint256 w1, uint256 b1)
        private
        pure
    {
        assembly ("memory-safe") {
            // W1[u] -= rshift_round((gh x) >> 4, k), saturated, over the non-zero features. Each touched
            // row word is loaded, byte-swapped, updated lane by lane in registers and stored once.
            function updateRow(fs, row, g, kk, hf) {
                for { let q := 0 } lt(q, 4) { q := add(q, 1) } {
                    let fe := add(fs, mul(q, SEG))
                    let fend := add(add(fe, 32), shl(6, mload(fe)))
                    fe := add(fe, 32)
                    if lt(fe, fend) {
                        let wp := add(row, shl(5, q))
                        let wd := mload(wp)
                        wd := or(shr(8, and(wd, 0xFF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00)), shl(8, and(wd, 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF)))
                        for { } lt(fe, fend) { fe := add(fe, 64) } {
                            let sh := mload(fe)
                            let nv := sub(signextend(1, shr(sh, wd)), sar(kk, add(sar(4, mul(g, mload(add(fe, 32)))), hf)))
                            if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                            wd := or(and(wd, not(shl(sh, 0xFFFF))), shl(sh, and(nv, 0xFFFF)))
                        }
                        mstore(wp, or(shr(8, and(wd, 0xFF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00)), shl(8, and(wd, 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF))))
                    }
                }
            }
            // gh of unit u from the old W2 column (outputs with gz != 0), updating that column on the way
            function column(os, oe, u, h) -> gh {
                for { let o := os } lt(o, oe) { o := add(o, 64) } {
                    let p := add(mload(o), shl(1, u))
                    let w := mload(sub(p, 30))
                    w := signextend(1, or(shl(8, byte(31, w)), byte(30, w)))
                    gh := add(gh, mul(w, mload(add(o, 32))))
                    // k and rshift_round's half live in scratch words 0x00 and 0x20
                    w := sub(w, sar(mload(0), add(sar(4, mul(mload(add(o, 32)), h)), mload(0x20))))
                    if gt(add(w, 0x8000), 0xFFFF) { w := xor(0x7FFF, sub(0, slt(w, 0))) }
                    mstore8(p, w)
                    mstore8(add(p, 1), shr(8, w))
                }
                gh := sar(12, gh)
                if gt(add(gh, 0x8000), 0xFFFF) { gh := xor(0x7FFF, sub(0, slt(gh, 0))) }
            }
            // the i16 at p minus rshift_round(g, k), saturated
            function sub16(p, g, kk, hf) {
                let v := mload(sub(p, 30))
                let nv := sub(signextend(1, or(shl(8, byte(31, v)), byte(30, v))), sar(kk, add(g, hf)))
                if gt(add(nv, 0x8000), 0xFFFF) { nv := xor(0x7FFF, sub(0, slt(nv, 0))) }
                mstore8(p, nv)
                mstore8(add(p, 1), shr(8, nv))
            }
            for { let e := list } lt(e, end) { e := add(e, 32) } {
                let ent := mload(e)
                let u := shr(128, ent)
                let gh := column(outs, outEnd, u, and(ent, 0xFFFF))
                if gh {
                    sub16(add(b1, shl(1, u)), gh, mload(0), mload(0x20))
                    updateRow(f, add(w1, shl(7, u)), gh, mload(0), mload(0x20))
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
