// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title Beast — the ChainBeasts creature token (ERC-721) with immutable hatch data.
/// @notice Hatching takes two transactions. `hatch` records the request (the owner, the dataset,
///         records and secret commitments) and reserves the beast's id; `finalizeHatch`, which
///         anyone may send in any later block, derives seedCore from the hash of the request's
///         block and mints the beast. No hatch data changes afterwards. The request's block hash
///         does not exist when the owner signs, so the owner cannot grind its commitments for a
///         seedCore it likes (docs/PROTOCOL.md §2). A deployment hatches beasts of
///         one kernel spec version, fixed at construction (a new season is a new deployment). The owner may authorize one trainer address
///         that may commit checkpoints for the beast; the authorization ends on revoke or when
///         the beast changes hands. Every owner and trainer change is kept in a per-beast role
///         history, so `holderAt` names who held a role in any past block: the ledger attributes
///         each committed window to the account that committed it (docs/PROTOCOL.md §10).
contract Beast is ERC721 {
    /// @notice Semantic version of this contract.
    string public constant version = "4.1.0";

    /// @notice Lowest kernel spec version a deployment may hatch.
    uint16 public constant MIN_SPEC_VERSION = 1;
    /// @notice Highest kernel spec version a deployment may hatch.
    uint16 public constant MAX_SPEC_VERSION = 2;

    /// @notice Kernel spec version stamped into every beast this deployment hatches (docs/SPEC.md).
    /// @dev Immutable: the beasts of one season all train and replay under one version, and a
    ///      value in the bytecode costs no storage read. Same getter name as the constant of 1.x.
    uint16 public immutable SPEC_VERSION;

    /// @notice Immutable data fixed at hatch.
    struct HatchData {
        bytes32 seedCore; // keccak256(blockhash(B), owner, beastId, datasetCommitment, secretCommitment[, recordsRoot if v2]), B = _seedBlock(hatchBlock)
        bytes32 datasetCommitment; // keccak256(zstd dataset bytes); 0x0 = no private curriculum
        bytes32 secretCommitment; // keccak256(S_owner) for a 32-byte secret; 0x0 allowed without dataset
        uint16 specVersion; // kernel spec version (the deployment's SPEC_VERSION)
        uint64 hatchBlock; // block number of the hatch request (`hatch`)
        // R_dataset = keccak256(u32_be(records) || merkle root of the records) of the dataset file
        // (SPEC v2); 0x0 = no private curriculum, and always 0x0 under spec version 1. Last, so a
        // reader decoding the five fields of 1.x still reads them (static tuple, extra word ignored).
        bytes32 recordsRoot;
    }

    /// @notice Raised when a beast id has never been hatched.
    error BeastNotFound(uint256 beastId);
    /// @notice Raised when the caller is not the beast's owner.
    error BeastNotOwner(uint256 beastId, address caller);
    /// @notice Raised when a private dataset is committed without a secret commitment.
    error BeastSecretCommitmentRequired();
    /// @notice Raised when a spec version 2 beast commits to a dataset without its records root.
    error BeastRecordsRootRequired();
    /// @notice Raised when a records root comes without a dataset, or under spec version 1.
    error BeastRecordsRootUnexpected(bytes32 recordsRoot);
    /// @notice Raised when deploying for a spec version outside MIN_SPEC_VERSION..MAX_SPEC_VERSION.
    error BeastSpecVersionUnsupported(uint256 specVersion);
    /// @notice Raised when finalizing a hatch nobody requested, or one already finalized.
    error BeastHatchNotPending(uint256 beastId);
    /// @notice Raised when finalizing a hatch in its request's block (that block's hash is not known yet).
    error BeastHatchNotReady(uint256 beastId, uint256 hatchBlock);
    /// @notice Raised when authorizing the zero address as trainer.
    error BeastInvalidTrainer(address trainer);
    /// @notice Raised when revoking while no trainer is authorized.
    error BeastNoTrainer(uint256 beastId);

    /// @notice Emitted after `owner` requested a hatch: beast `beastId` is minted by `finalizeHatch`
    ///         in a later block, with its seedCore fixed then.
    event HatchRequested(
        uint256 indexed beastId,
        address indexed owner,
        bytes32 datasetCommitment,
        bytes32 secretCommitment,
        uint16 specVersion,
        bytes32 recordsRoot
    );
    /// @notice Emitted after a beast was minted with its hatch data (by `finalizeHatch`).
    event BeastHatched(
        uint256 indexed beastId,
        address indexed owner,
        bytes32 seedCore,
        bytes32 datasetCommitment,
        bytes32 secretCommitment,
        uint16 specVersion,
        bytes32 recordsRoot
    );
    /// @notice Emitted after the owner authorized `trainer` to commit for the beast.
    event TrainerAuthorized(uint256 indexed beastId, address indexed trainer);
    /// @notice Emitted after a trainer authorization ended (revoked or the beast changed hands).
    event TrainerRevoked(uint256 indexed beastId, address indexed trainer);

    /// @dev Storage slot of OpenZeppelin ERC721's private `_owners` mapping (after `_name` and
    ///      `_symbol`) in the pinned OpenZeppelin Contracts 5.x; read directly by
    ///      `firstNonCommitter`. tests/contracts check it against a hatched beast's owner.
    uint256 private constant _OWNERS_SLOT = 2;

    uint256 private _nextId = 1;
    mapping(uint256 beastId => HatchData) private _hatch;
    mapping(uint256 beastId => address trainer) private _trainer;
    /// @dev The owner of a requested hatch until `finalizeHatch` mints it (then cleared).
    mapping(uint256 beastId => address owner) private _requester;
    /// @dev Role histories: one entry per block in which the role changed, each (block << 160) |
    ///      holder (holder 0 = nobody); a block with several changes keeps one entry, the holder
    ///      after the block's last change. The newest entry is the role's head, which also counts
    ///      the older entries in its top 32 bits (HISTORY_COUNT_OFFSET); the older ones sit in
    ///      `_*Past[beastId][i]`, oldest first. So a mint writes one slot, a change two.
    mapping(uint256 beastId => uint256 head) private _ownerHead;
    mapping(uint256 beastId => mapping(uint256 i => uint256 entry)) private _ownerPast;
    mapping(uint256 beastId => uint256 head) private _trainerHead;
    mapping(uint256 beastId => mapping(uint256 i => uint256 entry)) private _trainerPast;
    /// @dev A history entry: holder in bits 0..159, block in bits 160..223, (head only) the count
    ///      of older entries in bits 224..255.
    uint256 private constant HISTORY_BLOCK_OFFSET = 160;
    uint256 private constant HISTORY_COUNT_OFFSET = 224;
    uint256 private constant HISTORY_BLOCK_MASK = 0xffffffffffffffff;

    /// @param specVersion the kernel spec version of every beast this deployment hatches.
    constructor(uint16 specVersion) ERC721("ChainBeasts Beast", "BEAST") {
        if (specVersion < MIN_SPEC_VERSION || specVersion > MAX_SPEC_VERSION) {
            revert BeastSpecVersionUnsupported(specVersion);
        }
        SPEC_VERSION = specVersion;
    }

    /// @notice Request a new beast for the caller; `finalizeHatch(beastId)` mints it in a later block.
    /// @dev seedCore is not derived here: its preimage takes the hash of this transaction's own
    ///      block, which the caller cannot know when it signs, so no choice of commitments made
    ///      before sending predicts the seed. The id is reserved now (the seed's preimage holds it).
    /// @param datasetCommitment C_dataset = keccak256(dataset file); 0x0 = public sources only.
    /// @param secretCommitment keccak256(S_owner); required with a dataset.
    /// @param recordsRoot R_dataset of the same file; under spec version 2 nonzero exactly when
    ///        datasetCommitment is, under spec version 1 always 0x0.
    /// @return beastId the id the beast will have.
    function hatch(bytes32 datasetCommitment, bytes32 secretCommitment, bytes32 recordsRoot)
        external
        returns (uint256 beastId)
    {
        // INVARIANT: a private dataset is only usable with a committed owner secret.
        if (datasetCommitment != bytes32(0) && secretCommitment == bytes32(0)) {
            revert BeastSecretCommitmentRequired();
        }
        // INVARIANT: a version 2 private beast commits to its records (the one-step verifier opens
        // one record at a time against recordsRoot); nothing else carries a records root.
        if (SPEC_VERSION == 1 || datasetCommitment == bytes32(0)) {
            if (recordsRoot != bytes32(0)) revert BeastRecordsRootUnexpected(recordsRoot);
        } else if (recordsRoot == bytes32(0)) {
            revert BeastRecordsRootRequired();
        }
        beastId = _nextId;
        // unchecked: one id per transaction, a uint256 counter cannot reach 2^256.
        unchecked {
            _nextId = beastId + 1;
        }
        HatchData storage h = _hatch[beastId];
        h.datasetCommitment = datasetCommitment;
        h.secretCommitment = secretCommitment;
        h.specVersion = SPEC_VERSION;
        h.hatchBlock = uint64(block.number);
        // A public beast (and every version 1 beast) leaves the slot untouched: no gas for a zero.
        if (recordsRoot != bytes32(0)) h.recordsRoot = recordsRoot;
        _requester[beastId] = msg.sender;
        emit HatchRequested(beastId, msg.sender, datasetCommitment, secretCommitment, SPEC_VERSION, recordsRoot);
    }

    /// @notice Fix the seedCore of requested beast `beastId` and mint it to its requester. Anyone
    ///         may call it, in any block after the request's.
    /// @dev seedCore = keccak256(blockhash(B), owner, beastId, datasetCommitment, secretCommitment
    ///      [, recordsRoot under version 2]) with B = the request block when finalized within 256
    ///      blocks of it (the EVM keeps the last 256 block hashes), otherwise the newest block
    ///      request + 256 j still readable (_seedBlock): a late finalization never fails and never
    ///      falls back to a value known at the request.
    function finalizeHatch(uint256 beastId) external {
        address owner = _requester[beastId];
        if (owner == address(0)) revert BeastHatchNotPending(beastId);
        HatchData storage h = _hatch[beastId];
        uint256 requested = h.hatchBlock;
        if (block.number <= requested) revert BeastHatchNotReady(beastId, requested);
        bytes32 blockHash = blockhash(_seedBlock(requested));
        bytes32 datasetCommitment = h.datasetCommitment;
        bytes32 secretCommitment = h.secretCommitment;
        bytes32 recordsRoot = h.recordsRoot;
        // Version 1 keeps its preimage layout byte for byte; version 2 appends the records root.
        bytes32 seed = SPEC_VERSION == 1
            ? keccak256(abi.encodePacked(blockHash, owner, beastId, datasetCommitment, secretCommitment))
            : keccak256(abi.encodePacked(blockHash, owner, beastId, datasetCommitment, secretCommitment, recordsRoot));
        h.seedCore = seed;
        delete _requester[beastId];
        // _mint (not _safeMint): no receiver callback, so no external call happens here.
        _mint(owner, beastId);
        emit BeastHatched(beastId, owner, seed, datasetCommitment, secretCommitment, SPEC_VERSION, recordsRoot);
    }

    /// @notice The requester of a hatch not finalized yet (address(0) when none is pending).
    function pendingHatchOwner(uint256 beastId) external view returns (address) {
        return _requester[beastId];
    }

    /// @dev The block whose hash seeds a hatch requested in `requested` and finalized now (block.number
    ///      > requested): requested + 256 * floor((block.number - 1 - requested) / 256), the request
    ///      block itself within the EVM's 256-block horizon, else the newest block of that form, which
    ///      lies in [block.number - 256, block.number - 1] and so always has a readable hash.
    function _seedBlock(uint256 requested) private view returns (uint256) {
        // unchecked: block.number > requested.
        unchecked {
            return requested + (((block.number - 1 - requested) >> 8) << 8);
        }
    }

    /// @notice Authorize `trainer` to commit checkpoints for `beastId` (replaces any previous one).
    function authorizeTrainer(uint256 beastId, address trainer) external {
        _requireOwner(beastId);
        if (trainer == address(0)) revert BeastInvalidTrainer(trainer);
        address previous = _trainer[beastId];
        _trainer[beastId] = trainer;
        _recordRole(_trainerHead, _trainerPast[beastId], beastId, trainer);
        if (previous != address(0) && previous != trainer) emit TrainerRevoked(beastId, previous);
        emit TrainerAuthorized(beastId, trainer);
    }

    /// @notice End the trainer authorization of `beastId`.
    function revokeTrainer(uint256 beastId) external {
        _requireOwner(beastId);
        address previous = _trainer[beastId];
        if (previous == address(0)) revert BeastNoTrainer(beastId);
        delete _trainer[beastId];
        _recordRole(_trainerHead, _trainerPast[beastId], beastId, address(0));
        emit TrainerRevoked(beastId, previous);
    }

    /// @notice The authorized trainer of `beastId` (address(0) when none).
    function trainerOf(uint256 beastId) external view returns (address) {
        return _trainer[beastId];
    }

    /// @notice Whether `account` may commit checkpoints for `beastId` (its owner or its trainer).
    /// @dev Returns false for unknown beasts instead of reverting so the ledger raises its own error.
    function isCommitter(uint256 beastId, address account) external view returns (bool) {
        address owner = _ownerOf(beastId);
        // The zero address never commits (it is no trainer: "no trainer" is stored as 0).
        return owner != address(0) && (account == owner || (account != address(0) && account == _trainer[beastId]));
    }

    /// @notice The position of the first beast in `beastIds` that `account` may not commit for,
    ///         or `beastIds.length` when it may commit for all of them.
    /// @dev One call authorizes a whole `CheckpointLedger.commitMany` batch. Assembly, because the
    ///      ledger pays it once per window: it reads the owner slot (and the trainer slot only when
    ///      `account` is not the owner) with about 200 gas less per beast than the Solidity loop.
    ///      Same rule as `isCommitter`: an unknown beast (owner 0) authorizes nobody, and the zero
    ///      address is nobody's committer.
    function firstNonCommitter(address account, uint256[] calldata beastIds) external view returns (uint256 i) {
        uint256 n = beastIds.length;
        assembly ("memory-safe") {
            let mask := 0xffffffffffffffffffffffffffffffffffffffff
            let at := beastIds.offset
            let end := add(at, shl(5, n))
            mstore(0x20, _OWNERS_SLOT)
            for {} lt(at, end) { at := add(at, 0x20) } {
                mstore(0x00, calldataload(at))
                let owner := and(sload(keccak256(0x00, 0x40)), mask)
                if iszero(and(iszero(iszero(owner)), eq(owner, account))) {
                    mstore(0x20, _trainer.slot)
                    let trainer := and(sload(keccak256(0x00, 0x40)), mask)
                    // "No trainer" is stored as 0, so a zero trainer matches nobody (not even 0).
                    if iszero(and(and(iszero(iszero(owner)), iszero(iszero(trainer))), eq(trainer, account))) { break }
                    mstore(0x20, _OWNERS_SLOT)
                }
            }
            i := shr(5, sub(at, beastIds.offset))
        }
    }

    /// @notice The role `account` commits `beastId` in: 1 as its owner, 2 as its authorized
    ///         trainer, 0 when it may not commit for it (the rule of `isCommitter`).
    /// @dev The ledger's single `commit` calls this (cheaper than a one-element committerRoles).
    function committerRole(uint256 beastId, address account) external view returns (uint256) {
        address owner = _ownerOf(beastId);
        if (owner == address(0)) return 0;
        if (account == owner) return 1;
        // The zero address never commits (it is no trainer: "no trainer" is stored as 0).
        return account != address(0) && account == _trainer[beastId] ? 2 : 0;
    }

    /// @notice Which role `account` commits `beastIds[i]` in, for each leading i it may commit for:
    ///         0 as the beast's owner, 1 as its authorized trainer. The array stops at the first
    ///         beast `account` may not commit for, so its length is `beastIds.length` exactly when
    ///         `account` may commit for all of them (the rule of `firstNonCommitter`).
    /// @dev The ledger's commit and commitMany call this once per transaction and store the role
    ///      bit with each window (`CheckpointLedger.committerOf`). Assembly, for the reason given at
    ///      `firstNonCommitter`: one owner read per beast (and the trainer read only when `account`
    ///      is not the owner), one memory word per beast; the ABI result is written in place.
    function committerRoles(address account, uint256[] calldata beastIds) external view returns (uint256[] memory) {
        uint256 n = beastIds.length;
        assembly ("memory-safe") {
            let mask := 0xffffffffffffffffffffffffffffffffffffffff
            let out := mload(0x40)
            let at := beastIds.offset
            let end := add(at, shl(5, n))
            let put := add(out, 0x40)
            mstore(0x20, _OWNERS_SLOT)
            for {} lt(at, end) { at := add(at, 0x20) } {
                mstore(0x00, calldataload(at))
                let owner := and(sload(keccak256(0x00, 0x40)), mask)
                let role := 0
                if iszero(and(iszero(iszero(owner)), eq(owner, account))) {
                    mstore(0x20, _trainer.slot)
                    let trainer := and(sload(keccak256(0x00, 0x40)), mask)
                    mstore(0x20, _OWNERS_SLOT)
                    // "No trainer" is stored as 0, so a zero trainer matches nobody (not even 0).
                    if iszero(and(and(iszero(iszero(owner)), iszero(iszero(trainer))), eq(trainer, account))) { break }
                    role := 1
                }
                mstore(put, role)
                put := add(put, 0x20)
            }
            mstore(out, 0x20)
            mstore(add(out, 0x20), shr(5, sub(at, beastIds.offset)))
            return(out, sub(put, out))
        }
    }

    /// @notice The holder of a role of `beastId` after all transactions of block `blockNumber`:
    ///         its owner (`trainerRole` false) or its authorized trainer (true); address(0) for
    ///         none (no trainer then, or the beast not minted yet).
    /// @dev The head first (the usual question is about a recent block), then a binary search
    ///      over the older entries.
    function holderAt(uint256 beastId, uint256 blockNumber, bool trainerRole) external view returns (address) {
        return address(uint160(_entryAt(beastId, blockNumber, trainerRole)));
    }

    /// @notice Whether a role of `beastId` (its owner, `trainerRole` false, or its trainer) changed
    ///         in block `blockNumber` (mint, transfer, authorize, revoke, the clear on transfer; a
    ///         change back to the same holder within the block counts too).
    /// @dev The ledger asks it before taking a slash's reward: in such a block the holder after the
    ///      block (`holderAt`) need not be the account that committed (docs/PROTOCOL.md §4a).
    function roleChangedAt(uint256 beastId, uint256 blockNumber, bool trainerRole) external view returns (bool) {
        uint256 entry = _entryAt(beastId, blockNumber, trainerRole);
        return entry != 0 && (entry >> HISTORY_BLOCK_OFFSET) == blockNumber;
    }

    /// @dev The history entry of a role in force after all transactions of block `blockNumber`
    ///      (holder in the low 160 bits, the block of the change above them), 0 before the first.
    function _entryAt(uint256 beastId, uint256 blockNumber, bool trainerRole) private view returns (uint256) {
        uint256 head = trainerRole ? _trainerHead[beastId] : _ownerHead[beastId];
        if (head == 0) return 0;
        if (((head >> HISTORY_BLOCK_OFFSET) & HISTORY_BLOCK_MASK) <= blockNumber) {
            return head & ((1 << HISTORY_COUNT_OFFSET) - 1);
        }
        mapping(uint256 => uint256) storage past = trainerRole ? _trainerPast[beastId] : _ownerPast[beastId];
        uint256 lo = 0;
        uint256 hi = head >> HISTORY_COUNT_OFFSET;
        // Invariant: entries [0, lo) are at or before blockNumber, entries [hi, count) after it.
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if ((past[mid] >> HISTORY_BLOCK_OFFSET) <= blockNumber) lo = mid + 1;
            else hi = mid;
        }
        return lo == 0 ? 0 : past[lo - 1];
    }

    /// @notice How many role changes (blocks) `beastId`'s history holds for the role.
    function roleChanges(uint256 beastId, bool trainerRole) external view returns (uint256) {
        uint256 head = trainerRole ? _trainerHead[beastId] : _ownerHead[beastId];
        return head == 0 ? 0 : (head >> HISTORY_COUNT_OFFSET) + 1;
    }

    /// @notice All hatch data of `beastId`.
    function hatchData(uint256 beastId) external view returns (HatchData memory) {
        if (_ownerOf(beastId) == address(0)) revert BeastNotFound(beastId);
        return _hatch[beastId];
    }

    /// @notice The seedCore of `beastId` (epoch 0's seed).
    function seedCore(uint256 beastId) external view returns (bytes32) {
        if (_ownerOf(beastId) == address(0)) revert BeastNotFound(beastId);
        return _hatch[beastId].seedCore;
    }

    /// @notice Number of hatches requested so far (ids 1..totalHatched; an id is a beast once its
    ///         hatch is finalized, `pendingHatchOwner` names the requester until then).
    function totalHatched() external view returns (uint256) {
        return _nextId - 1;
    }

    /// @dev Clears the trainer when the beast changes hands, so a buyer never inherits one, and
    ///      records the new owner (and the cleared trainer) in the role histories.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        if (from != to) _recordRole(_ownerHead, _ownerPast[tokenId], tokenId, to);
        address trainer = _trainer[tokenId];
        if (from != address(0) && from != to && trainer != address(0)) {
            delete _trainer[tokenId];
            _recordRole(_trainerHead, _trainerPast[tokenId], tokenId, address(0));
            emit TrainerRevoked(tokenId, trainer);
        }
    }

    /// @dev Records `holder` as of this block in a role history (`heads[beastId]` and `past`); a
    ///      second change in the same block replaces the block's entry (holderAt answers "after
    ///      the block"), and a change to the holder already there records nothing.
    function _recordRole(
        mapping(uint256 => uint256) storage heads,
        mapping(uint256 => uint256) storage past,
        uint256 beastId,
        address holder
    ) private {
        uint256 head = heads[beastId];
        uint256 entry = (block.number << HISTORY_BLOCK_OFFSET) | uint160(holder);
        if (head == 0) {
            heads[beastId] = entry; // blocks are >= 1: a recorded head is never 0
            return;
        }
        uint256 count = head >> HISTORY_COUNT_OFFSET;
        if (((head >> HISTORY_BLOCK_OFFSET) & HISTORY_BLOCK_MASK) == block.number) {
            heads[beastId] = (count << HISTORY_COUNT_OFFSET) | entry;
            return;
        }
        if (uint160(head) == uint160(holder)) return;
        // The head (without its count) becomes the newest older entry.
        past[count] = head & ((1 << HISTORY_COUNT_OFFSET) - 1);
        // unchecked: one entry per block, and block numbers fit 64 bits: count < 2^32.
        unchecked {
            heads[beastId] = ((count + 1) << HISTORY_COUNT_OFFSET) | entry;
        }
    }

    function _requireOwner(uint256 beastId) private view {
        address owner = _ownerOf(beastId);
        if (owner == address(0)) revert BeastNotFound(beastId);
        if (owner != msg.sender) revert BeastNotOwner(beastId, msg.sender);
    }
}
