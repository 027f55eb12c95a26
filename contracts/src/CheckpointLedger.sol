// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Energy} from "./Energy.sol";
import {Beast} from "./Beast.sol";
import {SeasonRegistry} from "./SeasonRegistry.sol";
import {
    CheckpointWord,
    STEPS_PER_WINDOW,
    STEPS_PER_WINDOW_LOG2,
    STEP_IN_WINDOW_FIELD,
    GLOBAL_STEP_OFFSET,
    GLOBAL_STEP_MASK,
    ENERGY_BURN_OFFSET,
    ACTIVE_MASK_OFFSET,
    GLOBAL_STEP_FIELD,
    ENERGY_BURN_FIELD,
    ACTIVE_MASK_FIELD,
    GENESIS_ACTIVE_MASK_FIELD,
    WINDOW_INDEX_OFFSET,
    WINDOW_INDEX_MASK
} from "./CheckpointWord.sol";

/// @dev What the ledger needs of the bisection game at binding: its clock (immutable there).
interface IGameClock {
    function clockBlocks() external view returns (uint256);
}

/// @title CheckpointLedger — one storage slot per training window, with its ENERGY in escrow.
/// @notice A beast's owner or authorized trainer commits the 32-byte checkpoint word of each
///         128-micro-step window. The ledger checks the window order and that the word's
///         energyBurn is the one the kernel charges for its activeMask (so the escrow, the
///         dispute bond and a slash's payout are never the committer's choice), stores the word,
///         and locks that energyBurn into escrow in the same transaction: from the committer's
///         prepaid deposit when it covers the amount, otherwise with an ERC-20 transferFrom of the
///         whole amount. Deposits (`deposit`, `withdrawDeposit`) are the committer's own ENERGY
///         held by the ledger and withdrawable at any time. Every commit also needs the
///         committer's stake (`stake`) to cover the call's energyBurn: a slash takes its reward
///         from it, and unstaking waits out an unbonding delay longer than any game on a window
///         committed before. After the challenge period anyone finalizes the window, parent
///         first, which burns the escrow. The bisection game (the only dispute game) counts its
///         games on a window through `beginGame` / `endGame`; a game the challenger wins slashes
///         the window (escrow burned, reward from the committer's stake to the game) and rewinds
///         the lineage to the window before it: the later windows are voided, their slots cleared
///         lazily by anyone (`clearVoided`, which burns their escrow), docs/PROTOCOL.md §10.
///
///         The checkpoint word is the `bytes32` argument; its layout (h128, globalStep u32,
///         energyBurn u64, activeMask, lrShift, flags) has one home, CheckpointWord.sol.
///
///         Window k of a beast (k = 0, 1, 2, ...) carries globalStep = 128 * (k + 1) mod 2^32, so
///         k is derived from the word itself: k = ((globalStep - 128) mod 2^32) / 128. A beast
///         therefore holds at most 2^25 windows (2^32 micro-steps; its last window wraps to
///         globalStep 0). Because globalStep is implied by k, the ledger stores the word with the
///         globalStep field replaced by the window's commit block (u31) and the committer's role
///         (bit 127: 1 = the beast's trainer, 0 = its owner), so one slot per window holds all;
///         `word()` puts globalStep back, `committerOf` names the committer (Beast.holderAt):
///
///         stored slot _words[beastId][k]:
///         bit 255             128 127 126      96 95            32 31                      0
///            +-------------------+---+----------+----------------+-------------------------+
///            |       h128        |T  |commitBlk |   energyBurn   | activeMask,lrShift,flags|
///            +-------------------+---+----------+----------------+-------------------------+
///         Transactions run in blocks >= 1, so a committed window's commit block is never zero; a
///         zero slot means "not committed", and a non-zero slot with commit block 0 is the
///         VOID_MARK `clearVoided` may leave at the low end of a voided range (no window).
contract CheckpointLedger {
    using SafeERC20 for IERC20;

    /// @notice Semantic version of this contract.
    string public constant version = "3.2.0";
    /// @dev log2 of the 256 blocks blockhash reaches back: an epoch seed is the hash of the newest block
    ///      closedAt + 256j that is readable (docs/PROTOCOL.md §4).
    uint256 private constant BLOCKHASH_HORIZON_LOG2 = 8;

    /// @notice Micro-steps per window (spec version 1).
    uint256 public constant WINDOW_STEPS = STEPS_PER_WINDOW;
    /// @notice Windows one beast can hold: 2^32 micro-steps (the globalStep range) / 128.
    /// @dev A literal: Solidity inlines a constant's expression at each use, and one built from
    ///      other constants costs a checked operation there (the array length below and the
    ///      bound checks would pay it).
    uint256 public constant MAX_WINDOWS = 2 ** 25;

    /// @notice Lifecycle of a window.
    enum WindowStatus {
        None, // not committed
        Committed, // escrow locked; disputable until its challenge deadline
        Finalized, // escrow burned; final
        Voided, // after a slash of an earlier window: off the lineage, escrow burned when cleared
        Slashed, // a bisection game found divergence; escrow burned, reward from the committer's stake
        Challenged // one or more bisection games are open on it (docs/PROTOCOL.md §10)
    }

    /// @dev The stored slot's commit block: bits 96..126 (31 bits; bit 127 is the role bit).
    uint256 private constant COMMIT_BLOCK_MASK = 0x7fffffff;
    /// @dev Bit 127 of the stored slot: the window was committed by the beast's trainer.
    uint256 private constant ROLE_BIT_OFFSET = 127;
    /// @dev Left at the low end of a pending voided range when `clearVoided` stops on an empty
    ///      slot there, so that no commit lands inside the range (commit block 0: no window).
    uint256 private constant VOID_MARK = 1;
    /// @dev _rewind[beastId]: `from` in bits 0..31, `to` in bits 32..63; 0 = nothing voided.
    uint256 private constant RANGE_TO_OFFSET = 32;
    /// @dev The `from` field of _rewind[beastId] (bits 0..31), as the commit loop's assembly reads it.
    uint256 private constant RANGE_FROM_MASK = 0xffffffff;

    /// @notice Raised when the caller is neither the beast's owner nor its authorized trainer.
    error LedgerNotAuthorized(uint256 beastId, address caller);
    /// @notice Raised when a word's globalStep is not the previous window's + 128 (mod 2^32).
    error LedgerStepOutOfOrder(uint256 beastId, uint32 expected, uint32 got);
    /// @notice Raised when the beast already holds MAX_WINDOWS windows.
    error LedgerLineageFull(uint256 beastId);
    /// @notice Raised when commitMany gets arrays of different lengths (or none).
    error LedgerBatchMismatch(uint256 beastIds, uint256 words);
    /// @notice Raised when a word's activeMask is empty (a window trains at least one slot).
    /// @param beastId the beast.
    /// @param index the window (k) the word would be.
    error LedgerMaskEmpty(uint256 beastId, uint256 index);
    /// @notice Raised when a word's activeMask does not keep every slot of the previous window's
    ///         mask (the genesis mask 0b0011 for window 0) or switches on more than one new slot.
    /// @param beastId the beast.
    /// @param index the window (k) the word would be.
    /// @param previousMask the activeMask of window k-1 (GENESIS_ACTIVE_MASK for k = 0).
    /// @param mask the word's activeMask.
    error LedgerMaskInvalid(uint256 beastId, uint256 index, uint8 previousMask, uint8 mask);
    /// @notice Raised when a word's energyBurn is not the kernel's charge for its window:
    ///         128 * (baseCost * activeParams(mask) / slabParams), plus spurtCost when the mask
    ///         switches on a slot (docs/SPEC.md §7.1 step 6).
    /// @param beastId the beast.
    /// @param index the window (k) the word would be.
    /// @param expected the energyBurn the season's constants give.
    /// @param got the word's energyBurn.
    error LedgerEnergyBurnInvalid(uint256 beastId, uint256 index, uint256 expected, uint256 got);
    /// @notice Raised when a window index has no committed window.
    error LedgerWindowNotFound(uint256 beastId, uint256 index);
    /// @notice Raised when a window is not in the status the operation needs.
    error LedgerWindowNotOpen(uint256 beastId, uint256 index, WindowStatus status);
    /// @notice Raised when finalizing before the challenge deadline (inclusive).
    error LedgerChallengePeriodActive(uint256 beastId, uint256 index, uint256 deadline);
    /// @notice Raised when disputing after the challenge deadline.
    error LedgerChallengePeriodOver(uint256 beastId, uint256 index, uint256 deadline);
    /// @notice Raised when an epoch seed has not been sealed yet (`sealEpochSeeds`), and by a
    ///         commit of an epoch's first window in the block of the epoch-closing commit.
    error LedgerEpochSeedUnknown(uint256 beastId, uint256 epoch);
    /// @notice Raised when sealing the seed of an epoch whose previous epoch has no closing window yet.
    error LedgerEpochNotClosed(uint256 beastId, uint256 epoch);
    /// @notice Raised when sealing an epoch seed in the block of the closing commit (its hash is not known yet).
    /// @param closeBlock the block of the closing commit; seal from closeBlock + 1 on.
    error LedgerEpochSeedNotReady(uint256 beastId, uint256 epoch, uint256 closeBlock);
    /// @notice Raised when a game hook is called by anyone but the bound bisection game.
    error LedgerOnlyGame(address caller);
    /// @notice Raised when binding the bisection game a second time or by a non-deployer.
    error LedgerGameBinding(address caller);
    /// @notice Raised when block.number no longer fits the u31 commit-block entries.
    error LedgerClockOverflow(uint256 blockNumber);
    /// @notice Raised when depositing, withdrawing, staking, unstaking or clearing a zero amount.
    error LedgerZeroAmount();
    /// @notice Raised when withdrawing more than the caller's deposit.
    error LedgerDepositInsufficient(address account, uint256 balance, uint256 needed);
    /// @notice Raised when a deposit or stake would exceed 2^128 - 1 wei (its half of the slot).
    error LedgerAmountTooLarge(address account, uint256 amount);
    /// @notice Raised when a commit's energyBurn exceeds the caller's stake, or when unstaking
    ///         more than is staked.
    error LedgerStakeInsufficient(address account, uint256 staked, uint256 needed);
    /// @notice Raised by withdrawStake before the unbonding stake unlocks (or with none unbonding).
    error LedgerStakeLocked(address account, uint256 unbonding, uint256 unlockBlock);
    /// @notice Raised by finalize when the window's parent is not finalized yet.
    error LedgerParentNotFinal(uint256 beastId, uint256 index);
    /// @notice Raised by clearVoided when the beast has no voided range to clear.
    error LedgerNothingVoided(uint256 beastId);

    /// @notice Emitted after window `index` of `beastId` was stored and its escrow locked.
    event CheckpointCommitted(uint256 indexed beastId, uint256 indexed index, bytes32 word);
    /// @notice Emitted after the seed of `epoch` (>= 1) was fixed (`sealEpochSeeds`, or the
    ///         commit of the epoch's first window when nobody sealed it before).
    event EpochSeeded(uint256 indexed beastId, uint256 indexed epoch, bytes32 seed);
    /// @notice Emitted after a window was finalized and its escrow burned.
    event WindowFinalized(uint256 indexed beastId, uint256 indexed index, uint256 burned);
    /// @notice Emitted after a bisection game slashed a window: its escrow `amount` was burned
    ///         and `reward` (from the committer's stake) went to the game.
    event WindowSlashed(uint256 indexed beastId, uint256 indexed index, uint256 amount, uint256 reward);
    /// @notice Emitted after a slash rewound the lineage: windows 0..tip-1 stay (`windowCount` is
    ///         tip, the slashed window's index), windows tip..voidedTo-1 await `clearVoided`.
    event LineageRewound(uint256 indexed beastId, uint256 tip, uint256 voidedTo);
    /// @notice Emitted by clearVoided for each voided (or slashed) window it cleared; `burned` is
    ///         the escrow it burned (0 for the slashed window, burned at the slash).
    event WindowVoided(uint256 indexed beastId, uint256 indexed index, uint256 burned);
    /// @notice Emitted after the bisection game was bound (once).
    event BisectionGameBound(address game);
    /// @notice Emitted after a bisection game opened on a window (`open` games now).
    event WindowChallenged(uint256 indexed beastId, uint256 indexed index, uint256 open);
    /// @notice Emitted after `account` deposited `amount` ENERGY to pay future escrow locks.
    event Deposited(address indexed account, uint256 amount);
    /// @notice Emitted after `account` withdrew `amount` ENERGY of its deposit.
    event DepositWithdrawn(address indexed account, uint256 amount);
    /// @notice Emitted after `account` staked `amount` ENERGY.
    event Staked(address indexed account, uint256 amount);
    /// @notice Emitted after `account` moved `amount` of its stake to unbonding; all of its
    ///         unbonding stake unlocks at `unlockBlock`.
    event UnstakeRequested(address indexed account, uint256 amount, uint256 unlockBlock);
    /// @notice Emitted after `account` withdrew its unlocked unbonding stake.
    event StakeWithdrawn(address indexed account, uint256 amount);
    /// @notice Emitted after a slash took `amount` of `account`'s stake (unbonding first) as reward.
    event StakeSlashed(address indexed account, uint256 amount);

    Energy public immutable energy;
    Beast public immutable beast;
    SeasonRegistry public immutable registry;
    address private immutable _deployer;
    /// @notice Micro-steps per curriculum epoch; fixed for the season (read from the registry).
    uint256 public immutable epochSteps;
    /// @dev The energyBurn of one active slot over a window: 128 * baseCost. The kernel charges
    ///      128 * (baseCost * activeParams(mask) / slabParams) with activeParams(mask) =
    ///      popcount(mask) * slabParams (docs/SPEC.md §6.1, kernel.params.KernelParams), and
    ///      slabParams > 0 divides that product exactly (no rounding, no overflow of u96 values in
    ///      256 bits), so the charge is popcount(mask) * _slotBurn for every season whatever its
    ///      slabParams. baseCost and spurtCost are fixed for the season (SeasonRegistry.isFixed),
    ///      so the ledger reads them once here rather than in every commit.
    uint256 private immutable _slotBurn;
    /// @dev The season's spurtCost: the extra energyBurn of a window that switches on a slot.
    uint256 private immutable _spurtCost;

    /// @dev Byte j (j = 0..31, from the left as the BYTE opcode counts) is popcount(j); the
    ///      commit loop counts an 8-bit activeMask's slots as two lookups: its low 5 bits
    ///      (& LOW_5_BITS) and its high 3 bits (the mask field in place shifted right by
    ///      HIGH_3_BITS_OFFSET = ACTIVE_MASK_OFFSET + 5).
    uint256 private constant POPCOUNTS_5 = 0x0001010201020203010202030203030401020203020303040203030403040405;
    uint256 private constant LOW_5_BITS = 0x1f;
    uint256 private constant HIGH_3_BITS_OFFSET = 29;

    /// @dev The log topics of CheckpointCommitted and EpochSeeded (keccak256 of their signatures;
    ///      tests/contracts/test_chain_ledger.py checks them): literals, because the commit loop
    ///      has no stack slot left to hold `Event.selector` values.
    uint256 private constant COMMITTED_TOPIC = 0xe992df1184f0e0cf144fb7f3cf74df4677e54a9a081f16300778e94c504f3984;
    uint256 private constant SEEDED_TOPIC = 0x48c98fd0f7028a64e6b374cbeedd49d90c2e87c19ed5dc6e25a23452a6bd2922;

    /// @dev Why `_recordAll` stopped at a window (its `fault` result).
    uint256 private constant FAULT_ORDER = 0;
    uint256 private constant FAULT_MASK = 1;
    uint256 private constant FAULT_BURN = 2;
    uint256 private constant FAULT_SEED = 3;

    /// @dev The word with globalStep replaced by the commit block (layout above); 0 = none. A
    ///      fixed-size array per beast puts window k at keccak256(beastId . slot) + k, so the
    ///      order check finds window k-1 next to window k without a second hash. Never `delete`
    ///      or copy a whole `_words[beastId]`: that would touch 2^25 slots.
    mapping(uint256 beastId => uint256[MAX_WINDOWS] stored) private _words;
    /// @dev Per account, one slot: the deposit in bits 0..127 (ENERGY prepaid for escrow; locks
    ///      debit it before falling back to transferFrom) and the stake in bits 128..255, so a
    ///      commit checks its stake in the read that finds its deposit. (The name is the 2.x one:
    ///      clients compute this slot for their access lists.)
    mapping(address account => uint256 depositAndStake) private _deposits;
    mapping(uint256 beastId => mapping(uint256 index => WindowStatus)) private _status;
    mapping(uint256 beastId => mapping(uint256 epoch => bytes32 seed)) private _epochSeeds;
    /// @dev Open bisection games per window (read only while its status is Challenged or Slashed).
    mapping(uint256 beastId => mapping(uint256 index => uint256 open)) private _openGames;
    /// @notice The bisection game (dispute game v2, docs/PROTOCOL.md §10); bound once.
    address public bisectionGame;
    /// @dev The bound game's clockBlocks (immutable there), read once at binding.
    uint256 private _gameClock;
    /// @dev Per account: unbonding stake in bits 0..127, the block it unlocks at in bits 128..255.
    mapping(address account => uint256 amountAndUnlock) private _unbonding;
    /// @dev Per beast, the pending voided range [from, to) (RANGE_TO_OFFSET); 0 = none. While one
    ///      is pending every window at index >= from is off the lineage, and slot `from` is never
    ///      empty, so a commit can only land below it (as the next live window) or above
    ///      non-empty slots of the range (voided with it).
    mapping(uint256 beastId => uint256 range) private _rewind;

    constructor(Energy energy_, Beast beast_, SeasonRegistry registry_) {
        energy = energy_;
        beast = beast_;
        registry = registry_;
        epochSteps = registry_.value(SeasonRegistry.Param.EpochSteps);
        _slotBurn = STEPS_PER_WINDOW * registry_.value(SeasonRegistry.Param.BaseCost);
        _spurtCost = registry_.value(SeasonRegistry.Param.SpurtCost);
        _deployer = msg.sender;
    }

    modifier onlyGame() {
        if (msg.sender != bisectionGame) revert LedgerOnlyGame(msg.sender);
        _;
    }

    /// @notice Bind the bisection game; once, by the deployer (the game needs the ledger's
    ///         address). Reads the game's clockBlocks for the unbonding delay.
    function bindBisectionGame(address game) external {
        if (msg.sender != _deployer || bisectionGame != address(0) || game == address(0)) {
            revert LedgerGameBinding(msg.sender);
        }
        bisectionGame = game;
        _gameClock = IGameClock(game).clockBlocks();
        emit BisectionGameBound(game);
    }

    // ------------------------------------------------------------------ deposits

    /// @notice Prepay `amount` ENERGY; later commits by the caller lock their escrow from it.
    function deposit(uint256 amount) external {
        if (amount == 0) revert LedgerZeroAmount();
        uint256 packed = _deposits[msg.sender];
        if (amount > type(uint128).max - uint128(packed)) revert LedgerAmountTooLarge(msg.sender, amount);
        // unchecked: the deposit half stays below 2^128 (just checked), so no carry into the stake.
        unchecked {
            _deposits[msg.sender] = packed + amount;
        }
        emit Deposited(msg.sender, amount);
        // Interaction last; Energy has no hooks, and transferFrom reverts on shortfall (then the
        // credit above is reverted with it).
        IERC20(address(energy)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Take back `amount` of the caller's deposit (never escrow: locked ENERGY has left it).
    function withdrawDeposit(uint256 amount) external {
        if (amount == 0) revert LedgerZeroAmount();
        uint256 packed = _deposits[msg.sender];
        uint256 balance = uint128(packed);
        if (amount > balance) revert LedgerDepositInsufficient(msg.sender, balance, amount);
        // unchecked: amount <= the deposit half was just checked (no borrow from the stake).
        unchecked {
            _deposits[msg.sender] = packed - amount;
        }
        emit DepositWithdrawn(msg.sender, amount);
        // Interaction after the debit (checks-effects-interactions); no hooks.
        IERC20(address(energy)).safeTransfer(msg.sender, amount);
    }

    /// @notice ENERGY `account` has deposited and not yet spent on escrow or withdrawn.
    function depositOf(address account) external view returns (uint256) {
        return uint128(_deposits[account]);
    }

    // ------------------------------------------------------------------ stake

    /// @notice Stake `amount` ENERGY: every commit needs the caller's stake to cover the call's
    ///         energyBurn, and a slash of a window takes its reward from its committer's stake.
    function stake(uint256 amount) external {
        if (amount == 0) revert LedgerZeroAmount();
        uint256 packed = _deposits[msg.sender];
        if (amount > type(uint128).max - (packed >> 128)) revert LedgerAmountTooLarge(msg.sender, amount);
        // unchecked: the stake half stays below 2^128 (just checked).
        unchecked {
            _deposits[msg.sender] = packed + (amount << 128);
        }
        emit Staked(msg.sender, amount);
        // Interaction last; no hooks, and a shortfall reverts the credit with it.
        IERC20(address(energy)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Move `amount` of the caller's stake to unbonding. All of the caller's unbonding
    ///         stake (earlier requests included) unlocks at block.number + challengePeriod +
    ///         2 * the game's clockBlocks + 2: after the last block in which a game on a window
    ///         the caller committed so far can still end (one opened at the deadline of a window
    ///         committed in this very block ends by deadline + 2 * clockBlocks + 1, and a withdrawal
    ///         in that block could precede its slash). Unbonding stake is still slashable.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert LedgerZeroAmount();
        uint256 packed = _deposits[msg.sender];
        uint256 staked = packed >> 128;
        if (amount > staked) revert LedgerStakeInsufficient(msg.sender, staked, amount);
        uint256 unlock = block.number + registry.value(SeasonRegistry.Param.ChallengePeriod) + 2 * _gameClock + 2;
        uint256 unbonding = uint128(_unbonding[msg.sender]) + amount; // < 2^128: it came from a stake
        // unchecked: amount <= staked was just checked.
        unchecked {
            _deposits[msg.sender] = packed - (amount << 128);
        }
        _unbonding[msg.sender] = (unlock << 128) | unbonding;
        emit UnstakeRequested(msg.sender, amount, unlock);
    }

    /// @notice Withdraw all of the caller's unbonding stake once it has unlocked.
    function withdrawStake() external {
        uint256 u = _unbonding[msg.sender];
        uint256 amount = uint128(u);
        uint256 unlock = u >> 128;
        if (amount == 0 || block.number < unlock) revert LedgerStakeLocked(msg.sender, amount, unlock);
        delete _unbonding[msg.sender];
        emit StakeWithdrawn(msg.sender, amount);
        // Interaction after the effects; no hooks.
        IERC20(address(energy)).safeTransfer(msg.sender, amount);
    }

    /// @notice `account`'s stake, its unbonding stake and the block that unlocks (0 when none).
    function stakeOf(address account) external view returns (uint256 staked, uint256 unbonding, uint256 unlockBlock) {
        uint256 u = _unbonding[account];
        return (_deposits[account] >> 128, uint128(u), u >> 128);
    }

    // ------------------------------------------------------------------ commits

    /// @notice Commit the next window of `beastId` and lock its energyBurn ENERGY.
    function commit(uint256 beastId, bytes32 checkpoint) external {
        _checkClock();
        // The ABI puts the two static arguments at calldata 0x04 and 0x24: a batch of one. (Only
        // true while commit stays external with exactly these two static parameters.)
        // INVARIANT: only the owner or the authorized trainer commits.
        (uint256 roles, uint256 role) = _role(beastId);
        if (role == 0 || role > 2) revert LedgerNotAuthorized(beastId, msg.sender);
        (uint256 total, uint256 stoppedAt, uint256 fault) = _recordAll(0x04, 0x24, 1, roles);
        if (stoppedAt != 0) _revertWindow(beastId, checkpoint, fault, total);
        _lock(total);
    }

    /// @notice Commit one window for each (beastIds[i], words[i]) with a single escrow lock.
    /// @dev The same beast may appear several times in order (k, k+1, ...).
    function commitMany(uint256[] calldata beastIds, bytes32[] calldata words) external {
        uint256 n = beastIds.length;
        if (n == 0 || n != words.length) revert LedgerBatchMismatch(n, words.length);
        _checkClock();
        uint256 idsAt;
        uint256 wordsAt;
        assembly ("memory-safe") {
            idsAt := beastIds.offset
            wordsAt := words.offset
        }
        // INVARIANT: only the owner or the authorized trainer commits; one call into Beast
        // authorizes the whole batch and tells each window's role.
        (uint256 roles, uint256 bad) = _roles(idsAt, n);
        if (bad < n) revert LedgerNotAuthorized(beastIds[bad], msg.sender);
        (uint256 total, uint256 stoppedAt, uint256 fault) = _recordAll(idsAt, wordsAt, n, roles);
        if (stoppedAt != 0) {
            // unchecked: stoppedAt is the calldata offset of an element of beastIds.
            unchecked {
                bad = (stoppedAt - idsAt) >> 5;
            }
            _revertWindow(beastIds[bad], words[bad], fault, total);
        }
        _lock(total);
    }

    /// @dev Checks that the caller's stake covers `amount`, the call's energyBurn, then locks
    ///      `amount` into escrow: from the caller's deposit when it covers the whole amount,
    ///      otherwise by pulling the whole amount with transferFrom. Runs after the words are
    ///      stored (interaction last); one slot read for stake and deposit.
    function _lock(uint256 amount) private {
        uint256 packed = _deposits[msg.sender];
        // INVARIANT: no window without stake behind it (a slash's reward comes from it).
        if (packed >> 128 < amount) revert LedgerStakeInsufficient(msg.sender, packed >> 128, amount);
        if (amount == 0) return;
        if (uint128(packed) >= amount) {
            // unchecked: the deposit half covers amount (no borrow from the stake half).
            unchecked {
                _deposits[msg.sender] = packed - amount;
            }
        } else {
            // Energy is our OpenZeppelin ERC-20 without hooks, so transferFrom cannot re-enter;
            // it reverts on shortfall.
            IERC20(address(energy)).safeTransferFrom(msg.sender, address(this), amount);
        }
    }

    /// @dev Commit blocks are stored as u31; from block 2^31 on the ledger stops taking commits.
    function _checkClock() private view {
        if (block.number > COMMIT_BLOCK_MASK) revert LedgerClockOverflow(block.number);
    }

    /// @dev `beast.committerRole(beastId, msg.sender)` without the ABI helpers: `role` 1 owner,
    ///      2 trainer, 0 neither (any answer but one word reads as 0; the caller refuses any other
    ///      value), and at memory `roles` the window's role word for _recordAll (role - 1).
    ///      Beast is our own immutable contract and the function a view that never reverts; a
    ///      failed call (out of gas) reverts with its data.
    function _role(uint256 beastId) private view returns (uint256 roles, uint256 role) {
        address target = address(beast);
        bytes4 selector = Beast.committerRole.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, selector)
            mstore(add(p, 0x04), beastId)
            mstore(add(p, 0x24), caller())
            mstore(0x00, 0) // scratch space receives the answer
            if iszero(staticcall(gas(), target, p, 0x44, 0x00, 0x20)) {
                returndatacopy(p, 0, returndatasize())
                revert(p, returndatasize())
            }
            role := mul(mload(0x00), eq(returndatasize(), 0x20))
            mstore(p, sub(role, 1)) // a role word for _recordAll, used only when role is 1 or 2
            roles := p
            mstore(0x40, add(p, 0x20))
        }
    }

    /// @dev `beast.committerRoles(msg.sender, ids)` for the `n` beast ids at calldata `idsAt`,
    ///      without the ABI helpers: returns the memory address of its role words (word i: 0 =
    ///      owner, 1 = trainer) and how many leading beasts the caller may commit for. Beast is our
    ///      own immutable contract and the function a view; a failed call (out of gas) reverts with
    ///      its data, and an answer shorter than it says reverts.
    function _roles(uint256 idsAt, uint256 n) private view returns (uint256 roles, uint256 good) {
        address target = address(beast);
        bytes4 selector = Beast.committerRoles.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, selector)
            mstore(add(p, 0x04), caller())
            mstore(add(p, 0x24), 0x40)
            mstore(add(p, 0x44), n)
            calldatacopy(add(p, 0x64), idsAt, shl(5, n))
            if iszero(staticcall(gas(), target, p, add(0x64, shl(5, n)), 0, 0)) {
                returndatacopy(p, 0, returndatasize())
                revert(p, returndatasize())
            }
            // The answer is (0x20, length, words...): keep it where the call data was.
            returndatacopy(p, 0, returndatasize())
            good := mload(add(p, 0x20))
            if or(gt(good, n), lt(returndatasize(), add(0x40, shl(5, good)))) { revert(0, 0) }
            roles := add(p, 0x40)
            mstore(0x40, add(p, returndatasize()))
        }
    }

    /// @dev Records windows (beastId_i, w_i), i < n, read as 32-byte words straight from calldata
    ///      at `idsAt + 32 i` and `wordsAt + 32 i`. Returns the sum of their energyBurn and
    ///      `stoppedAt = 0`; or stops at the first window out of order or breaking a rule of its
    ///      word, with `stoppedAt` = the calldata offset of its beast id (idsAt + 32 i, never 0),
    ///      `fault` = which rule (FAULT_*) and, in `total`, the datum its error reports
    ///      (FAULT_MASK: the previous mask; FAULT_BURN: the expected energyBurn; FAULT_SEED: the
    ///      epoch); then the caller
    ///      must revert (earlier windows of the batch were already stored). The caller has
    ///      checked the committer and the clock (block.number fits u31).
    ///
    ///      Assembly, because this loop runs once per window of every batch: it costs about 1,000
    ///      gas per window less than the same steps written with Solidity's checked helpers
    ///      (docs/PERFORMANCE.md). Per window, exactly as the contract comment above specifies:
    ///        globalStep = bits 96..127 of w; k = ((globalStep - 128) mod 2^32) / 128 (< 2^25);
    ///        slot(k) = keccak256(beastId . _words.slot) + k  (Solidity's layout of `_words`);
    ///        fresh = globalStep % 128 == 0 and slot(k) == 0 and (k == 0 or slot(k - 1) != 0),
    ///          i.e. window k is new and window k-1 exists: globalStep == previous + 128 mod 2^32;
    ///        mask = activeMask of w, prev = activeMask of slot(k - 1) (GENESIS_ACTIVE_MASK for
    ///          k = 0), added = mask & ~prev: mask must keep prev (prev & ~mask == 0, which also
    ///          refuses an empty mask: prev is never empty) and add at most one slot
    ///          (added & (added - 1) == 0), else FAULT_MASK;
    ///        energyBurn must be popcount(mask) * _slotBurn + (added != 0 ? spurtCost : 0), the
    ///          kernel's 128 * (baseCost * activeParams(mask) / slabParams) + spurt
    ///          (kernel.params.KernelParams.window_energy_burn, docs/SPEC.md §7.1 step 6; see
    ///          _slotBurn), else FAULT_BURN (no overflow: baseCost and spurtCost are u96);
    ///        only then slot(k) = w with bits 96..126 replaced by block.number and bit 127 by the
    ///          window's role word (memory `roles + 32 i`: 1 when the caller commits it as the
    ///          beast's trainer); a committed slot is never zero because transactions run in
    ///          blocks >= 1;
    ///        when k > 0 is a multiple of perEpoch = epochSteps / 128 (> 0, registry-checked),
    ///          window k opens epoch e = k / perEpoch: if its seed is not sealed yet
    ///          (_epochSeeds[beastId][e] == 0), it is sealed here exactly as sealEpochSeeds
    ///          does (blockhash(C + 256 floor((block.number - 1 - C) / 256)), C = the commit
    ///          block of window k - 1, log EpochSeeded), and when C == block.number (the closing
    ///          window in the same block) FAULT_SEED: no window is trained on a seed that does
    ///          not exist yet; FAULT_SEED too when window k - 1 is a VOID_MARK or voided
    ///          (k - 1 >= `from` of the beast's pending range: sealEpochSeeds' rule, 3.2.0);
    ///        log CheckpointCommitted(beastId, k, w);
    ///        total += energyBurn (a u64, so n of them cannot overflow).
    function _recordAll(uint256 idsAt, uint256 wordsAt, uint256 n, uint256 roles)
        private
        returns (uint256 total, uint256 stoppedAt, uint256 fault)
    {
        uint256 slotBurn = _slotBurn;
        uint256 spurtCost = _spurtCost;
        uint256 perEpoch = epochSteps >> STEPS_PER_WINDOW_LOG2;
        assembly ("memory-safe") {
            // To spare stack slots the loop walks `idsAt` itself over the beast ids, reads each
            // word `wordsAt` bytes further on, and stops at `n`, the end of the ids.
            wordsAt := sub(wordsAt, idsAt)
            roles := sub(roles, idsAt) // memory and calldata offsets: only their difference is used
            n := add(idsAt, shl(5, n))
            // Scratch word 0x20 holds the mapping slot of `_words` throughout the loop (the epoch
            // branch, which needs it for `_epochSeeds`, puts it back).
            mstore(0x20, _words.slot)
            for {} lt(idsAt, n) { idsAt := add(idsAt, 0x20) } {
                let beastId := calldataload(idsAt)
                let w := calldataload(add(idsAt, wordsAt))
                // k = bits 7..31 of (globalStep - 128) mod 2^32, i.e. the globalStep field above
                // its low STEPS_PER_WINDOW_LOG2 bits (25 bits wide: MAX_WINDOWS = 2^25).
                // Subtracting 128 at bit 96 of the word leaves bits 96..127 = (globalStep - 128)
                // mod 2^32 (a borrow only reaches the h128 bits above, which are masked off).
                let k := and(shr(WINDOW_INDEX_OFFSET, sub(w, shl(WINDOW_INDEX_OFFSET, 1))), WINDOW_INDEX_MASK)
                mstore(0x00, beastId)
                let slot := add(keccak256(0x00, 0x40), k)
                let burn := and(w, ACTIVE_MASK_FIELD) // the mask, for now
                // `prev` lives in a block of its own: the loop has no stack slot to spare for it
                // once the window is written.
                {
                    // The previous window's stored slot; for window 0, the genesis mask in its place.
                    let prev := GENESIS_ACTIVE_MASK_FIELD
                    {
                        // Reading slot k costs nothing extra: the write below then finds it warm.
                        // globalStep % 128 == 0 <=> bits 96..102 of w are zero.
                        let fresh := and(iszero(and(w, STEP_IN_WINDOW_FIELD)), iszero(sload(slot)))
                        if and(fresh, gt(k, 0)) {
                            prev := sload(sub(slot, 1))
                            fresh := iszero(iszero(prev))
                        }
                        if iszero(fresh) {
                            mstore(0x00, FAULT_ORDER)
                            break
                        }
                    }
                    // The masks stay in place (bits 24..31): the set operations need no shift.
                    prev := and(prev, ACTIVE_MASK_FIELD)
                    {
                        let added := and(burn, not(prev))
                        // Non-zero when the mask drops a slot of prev or adds more than one.
                        let wrongMask := or(and(prev, not(burn)), and(added, sub(added, 1)))
                        // popcount(mask) = popcount(its low 5 bits) + popcount(its high 3 bits), each
                        // a byte of POPCOUNTS_5 (byte j, counted from the left as BYTE does, holds popcount(j)).
                        burn := add(
                            mul(
                                slotBurn,
                                add(
                                    byte(and(shr(ACTIVE_MASK_OFFSET, burn), LOW_5_BITS), POPCOUNTS_5),
                                    byte(shr(HIGH_3_BITS_OFFSET, burn), POPCOUNTS_5)
                                )
                            ),
                            mul(spurtCost, iszero(iszero(added)))
                        )
                        // One branch for both rules (the common path pays one test); the fault is
                        // told apart only on the way out.
                        if or(wrongMask, xor(shl(ENERGY_BURN_OFFSET, burn), and(w, ENERGY_BURN_FIELD))) {
                            mstore(0x00, FAULT_BURN)
                            mstore(0x20, burn)
                            if wrongMask {
                                mstore(0x00, FAULT_MASK)
                                mstore(0x20, shr(ACTIVE_MASK_OFFSET, prev))
                            }
                            break
                        }
                    }
                }
                // Window k > 0 opens epoch k / perEpoch when perEpoch divides it: its seed is the
                // one sealed already, or sealed now by the rule of sealEpochSeeds (never in the
                // closing commit's own block, whose hash does not exist yet).
                if iszero(mod(k, perEpoch)) {
                    if k {
                        mstore(0x00, beastId)
                        mstore(0x20, _epochSeeds.slot)
                        mstore(0x20, keccak256(0x00, 0x40))
                        mstore(0x00, div(k, perEpoch))
                        let seedSlot := keccak256(0x00, 0x40)
                        if iszero(sload(seedSlot)) {
                            let closedAt := and(shr(GLOBAL_STEP_OFFSET, sload(sub(slot, 1))), COMMIT_BLOCK_MASK)
                            // closedAt 0: window k - 1 is a VOID_MARK (k lands in a voided range).
                            // A voided window k - 1 (k - 1 >= `from` of a pending range) closes
                            // nothing either, as in sealEpochSeeds: its block's hash is known to the
                            // committer, who could otherwise choose between it and the hash the
                            // re-committed closing window will bring. Read only on this path (an
                            // unsealed epoch's first window), so the common commit pays nothing.
                            mstore(0x00, beastId)
                            mstore(0x20, _rewind.slot)
                            let range := sload(keccak256(0x00, 0x40))
                            if and(iszero(iszero(range)), iszero(lt(sub(k, 1), and(range, RANGE_FROM_MASK)))) {
                                closedAt := 0
                            }
                            if or(iszero(closedAt), iszero(lt(closedAt, number()))) {
                                mstore(0x00, FAULT_SEED)
                                mstore(0x20, div(k, perEpoch))
                                break
                            }
                            let seed := blockhash(add(closedAt, shl(BLOCKHASH_HORIZON_LOG2, shr(BLOCKHASH_HORIZON_LOG2, sub(sub(number(), 1), closedAt)))))
                            sstore(seedSlot, seed)
                            mstore(0x00, seed)
                            log3(0x00, 0x20, SEEDED_TOPIC, beastId, div(k, perEpoch))
                        }
                        mstore(0x20, _words.slot)
                    }
                }
                sstore(slot, or(and(w, not(GLOBAL_STEP_FIELD)), or(shl(GLOBAL_STEP_OFFSET, number()), shl(ROLE_BIT_OFFSET, mload(add(idsAt, roles))))))
                mstore(0x00, w)
                log3(0x00, 0x20, COMMITTED_TOPIC, beastId, k)
                total := add(total, burn)
            }
            // A break left idsAt at the window it refused, and its fault and datum in scratch.
            if lt(idsAt, n) {
                stoppedAt := idsAt
                fault := mload(0x00)
                total := mload(0x20)
            }
        }
    }

    /// @dev Reverts with the error of the window `_recordAll` stopped at: `w` of `beastId`, its
    ///      `fault` and the `datum` it returned for that fault.
    function _revertWindow(uint256 beastId, bytes32 w, uint256 fault, uint256 datum) private view {
        uint32 step = uint32(uint256(w) >> GLOBAL_STEP_OFFSET);
        if (fault == FAULT_ORDER) _revertOutOfOrder(beastId, step);
        if (fault == FAULT_SEED) revert LedgerEpochSeedUnknown(beastId, datum);
        uint256 index;
        // unchecked: the u32 step wraps as the ledger derives k, ((step - 128) mod 2^32) / 128.
        unchecked {
            index = uint32(step - uint32(STEPS_PER_WINDOW)) >> STEPS_PER_WINDOW_LOG2;
        }
        uint8 mask = uint8(uint256(w) >> ACTIVE_MASK_OFFSET);
        if (fault == FAULT_MASK) {
            if (mask == 0) revert LedgerMaskEmpty(beastId, index);
            revert LedgerMaskInvalid(beastId, index, uint8(datum), mask);
        }
        revert LedgerEnergyBurnInvalid(beastId, index, datum, uint64(uint256(w) >> ENERGY_BURN_OFFSET));
    }

    /// @dev Builds the order error with the step the beast expects next.
    function _revertOutOfOrder(uint256 beastId, uint32 got) private view {
        uint256 count = windowCount(beastId);
        if (count >= MAX_WINDOWS) revert LedgerLineageFull(beastId);
        revert LedgerStepOutOfOrder(beastId, CheckpointWord.stepOfWindow(count), got);
    }

    // ------------------------------------------------------------------ epoch seeds

    /// @notice Fix the seed of epoch epochs[i] of beast beastIds[i], for each i; anyone may call it.
    /// @dev The seed of epoch e >= 1 is blockhash(B) with C = the commit block of window
    ///      e * epochSteps / 128 - 1 (the window closing epoch e - 1) and B = C + 256 *
    ///      floor((block.number - 1 - C) / 256): the closing commit's own block when sealed within
    ///      256 blocks of it (the EVM keeps 256 block hashes), otherwise the newest block of that
    ///      form, always readable. C's hash does not exist when the closer signs its commit, so
    ///      holding the commit back chooses nothing; the commit of epoch e's first window seals
    ///      it by the same rule if nobody did (a trainer seals first to know the seed it trains
    ///      on, whatever block its commit lands in). A seed already sealed is kept (and epoch 0, whose
    ///      seed is seedCore, needs none), so the call is idempotent.
    function sealEpochSeeds(uint256[] calldata beastIds, uint256[] calldata epochs) external {
        uint256 n = beastIds.length;
        if (n == 0 || n != epochs.length) revert LedgerBatchMismatch(n, epochs.length);
        uint256 perEpoch = epochSteps >> STEPS_PER_WINDOW_LOG2;
        for (uint256 i = 0; i < n; ++i) {
            uint256 beastId = beastIds[i];
            uint256 epoch = epochs[i];
            if (epoch == 0 || _epochSeeds[beastId][epoch] != bytes32(0)) continue;
            if (epoch > MAX_WINDOWS / perEpoch) revert LedgerEpochNotClosed(beastId, epoch);
            uint256 closing = epoch * perEpoch - 1;
            uint256 stored = _stored(beastId, closing);
            // A voided closing window closes nothing (the re-committed one will).
            if (!_isWindow(stored) || _isVoided(beastId, closing)) revert LedgerEpochNotClosed(beastId, epoch);
            uint256 closedAt = _commitBlock(stored);
            if (block.number <= closedAt) revert LedgerEpochSeedNotReady(beastId, epoch, closedAt);
            _sealEpochSeed(beastId, epoch, closedAt);
        }
    }

    /// @dev Seals `epoch` of `beastId` from its closing commit's block `closedAt` (< block.number):
    ///      blockhash(C + 256 floor((block.number - 1 - C) / 256)), as sealEpochSeeds documents.
    function _sealEpochSeed(uint256 beastId, uint256 epoch, uint256 closedAt) private {
        bytes32 seed = blockhash(closedAt + (((block.number - 1 - closedAt) >> 8) << 8));
        _epochSeeds[beastId][epoch] = seed;
        emit EpochSeeded(beastId, epoch, seed);
    }

    /// @dev Before a slash voids windows up to `live` - 1: when window live - 1 closes an epoch
    ///      whose seed nobody sealed (the epoch's first window is not committed: its commit would
    ///      have sealed it), seal it now from that window's block. Otherwise the closing window,
    ///      voided and committed again in a later block, would bring a new seed: a trainer who
    ///      dislikes the seed its closing commit gave could re-roll it by having that window slashed
    ///      (its own sybil's challenge, left unanswered) for one window's escrow. A closing commit
    ///      in this very block has no hash yet and showed nobody a seed: nothing to seal then.
    function _sealBeforeVoiding(uint256 beastId, uint256 live) private {
        uint256 perEpoch = epochSteps >> STEPS_PER_WINDOW_LOG2;
        if (live % perEpoch != 0) return;
        uint256 epoch = live / perEpoch;
        if (_epochSeeds[beastId][epoch] != bytes32(0)) return;
        uint256 closedAt = _commitBlock(_stored(beastId, live - 1));
        if (closedAt < block.number) _sealEpochSeed(beastId, epoch, closedAt);
    }

    // ------------------------------------------------------------------ finalization

    /// @notice Finalize window `index` of `beastId` after its challenge deadline; burns its escrow.
    function finalize(uint256 beastId, uint256 index) external {
        uint256 burned = _finalize(beastId, index);
        // Burning our own balance on our own token: no callback, nothing to re-enter.
        if (burned != 0) energy.burn(burned);
    }

    /// @notice Finalize several windows with one burn.
    function finalizeMany(uint256[] calldata beastIds, uint256[] calldata indices) external {
        uint256 n = beastIds.length;
        if (n == 0 || n != indices.length) revert LedgerBatchMismatch(n, indices.length);
        uint256 total;
        for (uint256 i = 0; i < n; ) {
            // unchecked: u64 burns summed over a calldata-bounded list; i < n.
            unchecked {
                total += _finalize(beastIds[i], indices[i]);
                ++i;
            }
        }
        if (total != 0) energy.burn(total);
    }

    function _finalize(uint256 beastId, uint256 index) private returns (uint256 burned) {
        uint256 stored = _stored(beastId, index);
        WindowStatus s = _statusOf(beastId, index, stored);
        // Committed excludes a voided window (and one a game is open on, or slashed).
        if (s != WindowStatus.Committed) revert LedgerWindowNotOpen(beastId, index, s);
        // INVARIANT: a window never finalizes before its parent, so a slash (which voids the
        // windows after the slashed one) never has to void a finalized window.
        if (index != 0 && _status[beastId][index - 1] != WindowStatus.Finalized) {
            revert LedgerParentNotFinal(beastId, index);
        }
        uint256 deadline = _deadline(stored);
        // INVARIANT: a window is final only after its challenge period (deadline inclusive).
        if (block.number <= deadline) revert LedgerChallengePeriodActive(beastId, index, deadline);
        _status[beastId][index] = WindowStatus.Finalized;
        burned = uint64(stored >> ENERGY_BURN_OFFSET);
        emit WindowFinalized(beastId, index, burned);
    }

    // ------------------------------------------------------------------ bisection game hooks

    /// @notice Count a new bisection game on a live window inside its challenge period; returns
    ///         the word, h_0 (the previous word's h128; 0 for window 0, whose h_0 is the genesis
    ///         h128) and the raw stored slot, which names this very window for `endGame`.
    function beginGame(uint256 beastId, uint256 index)
        external
        onlyGame
        returns (bytes32 committed, bytes16 h0, uint256 stored)
    {
        stored = _stored(beastId, index);
        WindowStatus s = _statusOf(beastId, index, stored);
        // INVARIANT: games only on a live window (not final, not slashed, not voided).
        if (s != WindowStatus.Committed && s != WindowStatus.Challenged) revert LedgerWindowNotOpen(beastId, index, s);
        uint256 deadline = _deadline(stored);
        if (block.number > deadline) revert LedgerChallengePeriodOver(beastId, index, deadline);
        _status[beastId][index] = WindowStatus.Challenged;
        uint256 open = ++_openGames[beastId][index];
        committed = _wordOf(stored, index);
        if (index != 0) h0 = bytes16(bytes32(_stored(beastId, index - 1)));
        emit WindowChallenged(beastId, index, open);
    }

    /// @notice A bisection game on the window `stored` (beginGame's answer) ended. When the slot
    ///         no longer holds `stored` (cleared after a rewind, perhaps committed again) or the
    ///         window has no game counted, nothing happens and the reward is 0. Otherwise the game
    ///         is uncounted; `slash` (the challenger won) on a Challenged live window slashes it:
    ///         its escrow is burned, `reward` = min(energyBurn, the committer's stake + unbonding
    ///         stake) is taken from that stake and transferred to the game, and the lineage
    ///         rewinds to the window before it (the later windows are voided). The last game of
    ///         an unslashed window returns it to Committed (finalizable after its deadline). A
    ///         game on a voided or already slashed window only uncounts.
    function endGame(uint256 beastId, uint256 index, uint256 stored, bool slash)
        external
        onlyGame
        returns (uint256 reward)
    {
        if (stored == 0 || _stored(beastId, index) != stored) return 0;
        uint256 open = _openGames[beastId][index];
        if (open == 0) return 0;
        // unchecked: open > 0 was just checked.
        unchecked {
            _openGames[beastId][index] = open - 1;
        }
        if (_statusOf(beastId, index, stored) != WindowStatus.Challenged) return 0;
        if (slash) {
            reward = _slash(beastId, index, stored);
        } else if (open == 1) {
            delete _status[beastId][index]; // Committed again
        }
    }

    /// @dev Slashes live Challenged window `index` (stored slot `stored`): seals the epoch the
    ///      lineage's tip closes if nobody did (_sealBeforeVoiding), burns the window's escrow, takes
    ///      the reward from its committer's stake (unbonding first) for the game, rewinds.
    function _slash(uint256 beastId, uint256 index, uint256 stored) private returns (uint256 reward) {
        uint256 live = windowCount(beastId); // > index: the window is live
        _sealBeforeVoiding(beastId, live);
        _status[beastId][index] = WindowStatus.Slashed;
        // The new range starts at the slashed window and ends at the highest of the old range's
        // end, its low end (a clear may have walked past `to` into windows committed on top of the
        // range: they continue from `from`, which is never empty) and the old tip. Slots between
        // the old tip and the old range were cleared: empty, inside the merged range.
        uint256 range = _rewind[beastId];
        uint256 to = range >> RANGE_TO_OFFSET;
        if (to < uint32(range)) to = uint32(range);
        if (to < live) to = live;
        _rewind[beastId] = (to << RANGE_TO_OFFSET) | index;
        uint256 amount = uint64(stored >> ENERGY_BURN_OFFSET);
        uint256 commitBlock = _commitBlock(stored);
        bool asTrainer = (stored >> ROLE_BIT_OFFSET) & 1 == 1;
        // INVARIANT: only the account that committed pays. When the role changed in the commit
        // block, the holder after the block (holderAt) may be a stranger the role was handed to
        // after the commit (a gift, a trainer named without its consent): no reward then; the
        // escrow burn and the rewind still happen (docs/PROTOCOL.md §4a).
        if (!beast.roleChangedAt(beastId, commitBlock, asTrainer)) {
            reward = _takeStake(beast.holderAt(beastId, commitBlock, asTrainer), amount);
        }
        emit WindowSlashed(beastId, index, amount, reward);
        emit LineageRewound(beastId, index, to);
        // Interactions last: burning our own balance and paying the trusted game; Energy has no hooks.
        if (amount != 0) energy.burn(amount);
        if (reward != 0) IERC20(address(energy)).safeTransfer(msg.sender, reward);
    }

    /// @dev Takes up to `amount` from `account`'s unbonding stake, then its stake; returns what it took.
    function _takeStake(address account, uint256 amount) private returns (uint256 taken) {
        uint256 u = _unbonding[account];
        uint256 fromUnbonding = uint128(u);
        if (fromUnbonding > amount) fromUnbonding = amount;
        uint256 packed = _deposits[account];
        uint256 fromStake = amount - fromUnbonding;
        if (fromStake > packed >> 128) fromStake = packed >> 128;
        // unchecked: each part is at most what its half of the slot holds.
        unchecked {
            if (fromUnbonding != 0) _unbonding[account] = u - fromUnbonding;
            if (fromStake != 0) _deposits[account] = packed - (fromStake << 128);
            taken = fromUnbonding + fromStake;
        }
        if (taken != 0) emit StakeSlashed(account, taken);
    }

    // ------------------------------------------------------------------ voided windows

    /// @notice Clear up to `count` slots of `beastId`'s voided range from its low end; anyone may
    ///         call it (the owner needs slot k empty to commit window k again). Each voided window's
    ///         escrow is burned (the slashed window's was burned at the slash), its status and game
    ///         count reset, and WindowVoided logged. Windows committed above the range while it was
    ///         pending are voided with it. Returns the ENERGY burned.
    function clearVoided(uint256 beastId, uint256 count) external returns (uint256 burned) {
        if (count == 0) revert LedgerZeroAmount();
        uint256 range = _rewind[beastId];
        if (range == 0) revert LedgerNothingVoided(beastId);
        uint256 from = uint32(range);
        uint256 to = range >> RANGE_TO_OFFSET;
        uint256 stored = _stored(beastId, from);
        for (uint256 i = 0; i < count; ++i) {
            // Past the range, an empty slot ends it (windows above it would need this one).
            if (stored == 0 && from >= to) break;
            if (_isWindow(stored)) {
                uint256 amount;
                if (_status[beastId][from] != WindowStatus.Slashed) amount = uint64(stored >> ENERGY_BURN_OFFSET);
                delete _status[beastId][from];
                delete _openGames[beastId][from];
                burned += amount;
                emit WindowVoided(beastId, from, amount);
            }
            if (stored != 0) _words[beastId][from] = 0;
            ++from;
            stored = _stored(beastId, from);
        }
        if (stored == 0 && from >= to) {
            delete _rewind[beastId]; // done: nothing at or above `from`
        } else {
            // INVARIANT: slot `from` of a pending range is never empty, so no commit lands in it.
            if (stored == 0) _words[beastId][from] = VOID_MARK;
            _rewind[beastId] = (to << RANGE_TO_OFFSET) | from;
        }
        // Burning our own balance on our own token: no callback, nothing to re-enter.
        if (burned != 0) energy.burn(burned);
    }

    /// @notice The voided range of `beastId` still to clear: [from, to) (from == to: none). Slots
    ///         above `to` that were committed on top of the range count in it.
    function voidedRange(uint256 beastId) external view returns (uint256 from, uint256 to) {
        uint256 range = _rewind[beastId];
        if (range == 0) return (0, 0);
        from = uint32(range);
        to = range >> RANGE_TO_OFFSET;
        if (to < from) to = from;
        while (_stored(beastId, to) != 0) ++to;
    }

    /// @notice Bisection games open on window `index` of `beastId`.
    function openGames(uint256 beastId, uint256 index) external view returns (uint256) {
        return _openGames[beastId][index];
    }

    // ------------------------------------------------------------------ views

    /// @notice The committed word of window `index` (reverts when not committed).
    function word(uint256 beastId, uint256 index) external view returns (bytes32) {
        uint256 stored = _stored(beastId, index);
        if (!_isWindow(stored)) revert LedgerWindowNotFound(beastId, index);
        return _wordOf(stored, index);
    }

    /// @notice The account that committed window `index` of `beastId` (the holder, at the end of
    ///         the commit block, of the role it committed in: Beast.holderAt), that block, and
    ///         whether it committed as the beast's trainer (else as its owner). Reverts when not
    ///         committed. A role change in the very block of a commit names the holder after it.
    function committerOf(uint256 beastId, uint256 index)
        external
        view
        returns (address committer, uint256 commitBlock, bool asTrainer)
    {
        uint256 stored = _stored(beastId, index);
        if (!_isWindow(stored)) revert LedgerWindowNotFound(beastId, index);
        commitBlock = _commitBlock(stored);
        asTrainer = (stored >> ROLE_BIT_OFFSET) & 1 == 1;
        committer = beast.holderAt(beastId, commitBlock, asTrainer);
    }

    /// @notice Number of windows on `beastId`'s lineage (windows 0..count-1): the committed ones
    ///         below its voided range, if any (after a slash of window k, count is k until
    ///         windows are committed again).
    /// @dev Exponential then binary search over the window slots below the voided range; O(log
    ///      count) reads.
    function windowCount(uint256 beastId) public view returns (uint256) {
        uint256 range = _rewind[beastId];
        uint256 cap = range == 0 ? MAX_WINDOWS : uint32(range);
        if (cap == 0 || _stored(beastId, 0) == 0) return 0;
        uint256 lo = 0; // committed
        uint256 hi = 1; // probe
        while (hi < cap && _stored(beastId, hi) != 0) {
            lo = hi;
            hi <<= 1;
        }
        if (hi > cap) hi = cap;
        // lo committed, hi not committed (or the cap): find the last committed index.
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) >> 1;
            if (_stored(beastId, mid) != 0) lo = mid;
            else hi = mid;
        }
        return lo + 1;
    }

    /// @notice The globalStep the next commit of `beastId` must carry.
    function nextGlobalStep(uint256 beastId) external view returns (uint32) {
        return CheckpointWord.stepOfWindow(windowCount(beastId));
    }

    /// @notice Status of window `index` of `beastId`.
    function windowStatus(uint256 beastId, uint256 index) public view returns (WindowStatus) {
        return _statusOf(beastId, index, _stored(beastId, index));
    }

    /// @notice Block in which window `index` was committed (reverts when not committed).
    function commitBlockOf(uint256 beastId, uint256 index) external view returns (uint256) {
        uint256 stored = _stored(beastId, index);
        if (!_isWindow(stored)) revert LedgerWindowNotFound(beastId, index);
        return _commitBlock(stored);
    }

    /// @notice Last block (inclusive) in which window `index` can be disputed: its commit block
    ///         plus the challenge period in force in that block, so fixed when it is committed.
    function challengeDeadline(uint256 beastId, uint256 index) external view returns (uint256) {
        uint256 stored = _stored(beastId, index);
        if (!_isWindow(stored)) revert LedgerWindowNotFound(beastId, index);
        return _deadline(stored);
    }

    /// @notice The seed of curriculum epoch `epoch` of `beastId`: seedCore for epoch 0, otherwise
    ///         the block hash `sealEpochSeeds` fixed after the commit that closed epoch `epoch - 1`.
    function epochSeed(uint256 beastId, uint256 epoch) external view returns (bytes32) {
        if (epoch == 0) return beast.seedCore(beastId);
        bytes32 seed = _epochSeeds[beastId][epoch];
        if (seed == bytes32(0)) revert LedgerEpochSeedUnknown(beastId, epoch);
        return seed;
    }

    /// @dev The stored slot of window `index` (0 = not committed; indices past the cap are never).
    function _stored(uint256 beastId, uint256 index) private view returns (uint256) {
        if (index >= MAX_WINDOWS) return 0;
        return _words[beastId][index];
    }

    /// @dev Status from a stored slot already read: a window inside a pending voided range is
    ///      Voided (the slashed one Slashed) until cleared.
    function _statusOf(uint256 beastId, uint256 index, uint256 stored) private view returns (WindowStatus) {
        if (!_isWindow(stored)) return WindowStatus.None;
        WindowStatus s = _status[beastId][index];
        if (s != WindowStatus.Slashed && _isVoided(beastId, index)) return WindowStatus.Voided;
        return s == WindowStatus.None ? WindowStatus.Committed : s;
    }

    /// @dev Whether window `index` lies in `beastId`'s pending voided range (index >= its from).
    function _isVoided(uint256 beastId, uint256 index) private view returns (bool) {
        uint256 range = _rewind[beastId];
        return range != 0 && index >= uint32(range);
    }

    /// @dev Whether a stored slot holds a window (not empty, not a VOID_MARK: commit block >= 1).
    function _isWindow(uint256 stored) private pure returns (bool) {
        return (stored >> GLOBAL_STEP_OFFSET) & COMMIT_BLOCK_MASK != 0;
    }

    /// @dev Commit block + the challenge period in force in the commit block (stored != 0). A
    ///      later change of challengePeriod applies to windows committed after it takes effect.
    function _deadline(uint256 stored) private view returns (uint256) {
        uint256 committedAt = _commitBlock(stored);
        return committedAt + registry.valueAt(SeasonRegistry.Param.ChallengePeriod, committedAt);
    }

    /// @dev The commit block of a stored slot: bits 96..126 of the word's globalStep field.
    function _commitBlock(uint256 stored) private pure returns (uint256) {
        return (stored >> GLOBAL_STEP_OFFSET) & COMMIT_BLOCK_MASK;
    }

    /// @dev The committed word: the stored slot with globalStep 128(index+1) mod 2^32 put back.
    function _wordOf(uint256 stored, uint256 index) private pure returns (bytes32) {
        uint256 step = CheckpointWord.stepOfWindow(index);
        return bytes32((stored & ~(GLOBAL_STEP_MASK << GLOBAL_STEP_OFFSET)) | (step << GLOBAL_STEP_OFFSET));
    }
}
