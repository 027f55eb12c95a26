// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {STEPS_PER_WINDOW} from "./CheckpointWord.sol";

/// @title SeasonRegistry — the season's tunable constants behind a timelock.
/// @notice The owner queues a new value; the change is visible at once (pendingOf) and takes
///         effect by itself `timelockDelay` blocks later, without a second transaction. Every
///         time quantity here is counted in **blocks**.
///
///         Each parameter lives in one storage slot, so a reader pays a single SLOAD:
///
///         bit 255          160 159           64 63            0
///            +----------------+----------------+---------------+
///            | current (u96)  | pending (u96)  | effectiveAt   |
///            |                |                | (u64 block)   |
///            +----------------+----------------+---------------+
///         effectiveAt == 0 means nothing is pending.
contract SeasonRegistry is Ownable {
    /// @notice Semantic version of this contract.
    string public constant version = "1.4.0";

    /// @notice The season constants; ids are append-only.
    enum Param {
        WindowSteps, // micro-steps per window; fixed at STEPS_PER_WINDOW (128) by spec version 1 (never changes)
        BaseCost, // ENERGY wei per micro-step per fully active slab; fixed per season
        SlabParams, // parameters per slab (slot), divisor of the step cost; fixed per season
        SpurtCost, // ENERGY wei burned by a growth spurt; fixed per season
        EpochSteps, // micro-steps per curriculum epoch, a multiple of WindowSteps; fixed per season
        ChallengePeriod, // blocks after a commit during which the window can be disputed
        BondMultiplier, // dispute bond = BondMultiplier * window energyBurn
        ValidatorQuorum, // votes on one side that decide a dispute early
        VotingPeriod, // blocks a dispute stays open for votes
        MinValidatorStake, // ENERGY wei a validator must stake
        ValidatorWithdrawDelay, // blocks between a withdrawal request and the withdrawal
        MaxDatasetBytes, // largest private dataset accepted in a dispute
        WrongVoteSlashBps // basis points of its stake a voter on the losing side of a decided dispute loses
    }

    uint256 private constant PARAM_COUNT = 13;
    /// @notice Shortest timelock delay the registry accepts at deployment (blocks). With 0 a
    ///         change queued in block b was in force in block b itself, before anyone could see
    ///         it coming; ten blocks give watchers (validators, trainers, challengers polling the
    ///         chain) time to see a change between its ParamChangeQueued event and its effect.
    uint64 public constant MIN_TIMELOCK_DELAY = 10;
    /// @notice Longest timelock delay the registry accepts at deployment (blocks).
    uint64 public constant MAX_TIMELOCK_DELAY = 1_000_000;
    /// @notice Largest maxDatasetBytes a season may set (384 KiB). openDispute carries the dataset
    ///         as calldata; an incompressible dataset pays the EIP-7623 floor of 40 gas per byte, so
    ///         at 384 KiB the call uses 15,706,160 gas (measured), 1.07M under Osaka's 2^24 cap per
    ///         transaction (EIP-7825). A larger dataset could be hatched yet never disputed.
    uint256 public constant MAX_DATASET_BYTES_LIMIT = 393_216;

    struct Slot {
        uint96 current;
        uint96 pending;
        uint64 effectiveAt;
    }

    /// @notice Raised when a value is out of the parameter's allowed range.
    error SeasonParamInvalid(Param param, uint256 value);
    /// @notice Raised when changing a parameter fixed for the season (spec version or kernel state).
    error SeasonParamFixed(Param param);
    /// @notice Raised when deploying with a timelock delay outside MIN_TIMELOCK_DELAY..MAX_TIMELOCK_DELAY.
    /// @param delay the delay given (blocks).
    error SeasonTimelockDelayInvalid(uint256 delay);
    /// @notice Raised when cancelling while nothing is pending.
    error SeasonNothingPending(Param param);

    /// @notice Emitted after a change was queued; it is effective from block `effectiveAt`.
    event ParamChangeQueued(Param indexed param, uint256 value, uint256 effectiveAt);
    /// @notice Emitted after a queued change was cancelled.
    event ParamChangeCancelled(Param indexed param, uint256 value);

    /// @notice Blocks between queueing a change and its taking effect.
    uint64 public immutable timelockDelay;

    mapping(Param param => Slot) private _slots;

    /// @dev A value that was in force in every block before `until` (back to the previous entry's
    ///      `until`, or to deployment), kept when a later queueChange folded the change that
    ///      replaced it into `current`, so `valueAt` can still answer for those blocks.
    struct Superseded {
        uint64 until;
        uint96 value;
    }

    /// @dev Per parameter, the values replaced so far, in the order of their `until` blocks.
    mapping(Param param => Superseded[]) private _history;

    /// @param owner_ may queue changes.
    /// @param delay timelock delay in blocks.
    /// @param initial the PARAM_COUNT (13) initial values, indexed by Param.
    constructor(address owner_, uint64 delay, uint96[PARAM_COUNT] memory initial) Ownable(owner_) {
        // A delay near 2^64 would make block.number + delay overflow in every queueChange,
        // freezing the registry for good; a million blocks is months on any chain. Below
        // MIN_TIMELOCK_DELAY a change would take effect before it could be noticed.
        if (delay < MIN_TIMELOCK_DELAY || delay > MAX_TIMELOCK_DELAY) revert SeasonTimelockDelayInvalid(delay);
        timelockDelay = delay;
        for (uint256 i = 0; i < PARAM_COUNT; ++i) {
            _check(Param(i), initial[i], initial);
            _slots[Param(i)].current = initial[i];
        }
    }

    /// @notice The value in force now.
    function value(Param param) public view returns (uint256) {
        Slot memory s = _slots[param];
        return (s.effectiveAt != 0 && block.number >= s.effectiveAt) ? s.pending : s.current;
    }

    /// @notice The value that was (or, for a block not yet mined, will be as queued now) in force
    ///         in block `blockNumber`. For a block already mined the answer never changes: a change
    ///         takes effect at least MIN_TIMELOCK_DELAY blocks after it was queued and can only be
    ///         cancelled before it takes effect. CheckpointLedger reads the challenge period of a
    ///         window's commit block with it, which fixes each window's deadline at commit.
    function valueAt(Param param, uint256 blockNumber) external view returns (uint256) {
        Slot memory s = _slots[param];
        if (s.effectiveAt != 0 && blockNumber >= s.effectiveAt) return s.pending;
        Superseded[] storage h = _history[param];
        uint256 n = h.length;
        // `current` has been in force since the last superseded value's `until` (or deployment).
        if (n == 0 || blockNumber >= h[n - 1].until) return s.current;
        // The first entry whose `until` lies after blockNumber held then (entries ascend).
        uint256 lo = 0;
        uint256 hi = n - 1;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (blockNumber < h[mid].until) hi = mid;
            else lo = mid + 1;
        }
        return h[lo].value;
    }

    /// @notice The queued value and the block it takes effect (0, 0 when none or already in force).
    function pendingOf(Param param) external view returns (uint256 pending, uint256 effectiveAt) {
        Slot memory s = _slots[param];
        if (s.effectiveAt != 0 && block.number < s.effectiveAt) return (s.pending, s.effectiveAt);
        return (0, 0);
    }

    /// @notice Whether `param` is fixed for the season (queueChange refuses it).
    function isFixed(Param param) external pure returns (bool) {
        return _fixed(param);
    }

    function _fixed(Param param) private pure returns (bool) {
        return param == Param.WindowSteps || param == Param.EpochSteps || param == Param.BaseCost
            || param == Param.SlabParams || param == Param.SpurtCost;
    }

    /// @notice Queue `newValue` for `param`; it takes effect `timelockDelay` blocks from now.
    function queueChange(Param param, uint96 newValue) external onlyOwner {
        // WindowSteps is fixed by the spec. EpochSteps, BaseCost and SpurtCost are written into
        // every kernel state at hatch (spec §6.1), and validators replay a window under the
        // constants of its state: changing them mid-season would make the beasts already hatched
        // disagree with the registry. SlabParams is derived from the kernel's shape. So these five
        // are fixed for the season (a new season is a new deployment).
        if (_fixed(param)) revert SeasonParamFixed(param);
        uint96[PARAM_COUNT] memory all;
        for (uint256 i = 0; i < PARAM_COUNT; ++i) all[i] = uint96(value(Param(i)));
        all[uint256(param)] = newValue;
        _check(param, newValue, all);
        Slot storage s = _slots[param];
        // Fold an already effective change into `current` before overwriting `pending`; the value
        // it replaced stays readable through valueAt for the blocks before it took effect.
        if (s.effectiveAt != 0 && block.number >= s.effectiveAt) {
            _history[param].push(Superseded({until: s.effectiveAt, value: s.current}));
            s.current = s.pending;
        }
        uint64 eta = uint64(block.number) + timelockDelay;
        s.pending = newValue;
        s.effectiveAt = eta;
        emit ParamChangeQueued(param, newValue, eta);
    }

    /// @notice Cancel a change that is not yet in force.
    function cancelChange(Param param) external onlyOwner {
        Slot storage s = _slots[param];
        if (s.effectiveAt == 0 || block.number >= s.effectiveAt) revert SeasonNothingPending(param);
        uint96 dropped = s.pending;
        s.pending = 0;
        s.effectiveAt = 0;
        emit ParamChangeCancelled(param, dropped);
    }

    // Named getters for readers that prefer them (each is one SLOAD).
    function windowSteps() external view returns (uint256) { return value(Param.WindowSteps); }
    function baseCost() external view returns (uint256) { return value(Param.BaseCost); }
    function slabParams() external view returns (uint256) { return value(Param.SlabParams); }
    function spurtCost() external view returns (uint256) { return value(Param.SpurtCost); }
    function epochSteps() external view returns (uint256) { return value(Param.EpochSteps); }
    function challengePeriod() external view returns (uint256) { return value(Param.ChallengePeriod); }
    function bondMultiplier() external view returns (uint256) { return value(Param.BondMultiplier); }
    function validatorQuorum() external view returns (uint256) { return value(Param.ValidatorQuorum); }
    function votingPeriod() external view returns (uint256) { return value(Param.VotingPeriod); }
    function minValidatorStake() external view returns (uint256) { return value(Param.MinValidatorStake); }
    function validatorWithdrawDelay() external view returns (uint256) { return value(Param.ValidatorWithdrawDelay); }
    function maxDatasetBytes() external view returns (uint256) { return value(Param.MaxDatasetBytes); }
    function wrongVoteSlashBps() external view returns (uint256) { return value(Param.WrongVoteSlashBps); }

    /// @dev Range checks; `all` holds the values that would be in force together.
    function _check(Param param, uint256 v, uint96[PARAM_COUNT] memory all) private pure {
        bool ok;
        if (param == Param.WindowSteps) ok = v == STEPS_PER_WINDOW;
        else if (param == Param.EpochSteps) ok = v > 0 && v % all[uint256(Param.WindowSteps)] == 0 && v < 2 ** 32;
        else if (param == Param.SlabParams) ok = v > 0;
        else if (param == Param.BondMultiplier) ok = v >= 1 && v <= 100;
        else if (param == Param.ValidatorQuorum) ok = v >= 1 && v <= 32;
        else if (param == Param.ChallengePeriod || param == Param.VotingPeriod) ok = v >= 1 && v <= 1_000_000;
        else if (param == Param.ValidatorWithdrawDelay) ok = v <= 1_000_000;
        else if (param == Param.MaxDatasetBytes) ok = v > 0 && v <= MAX_DATASET_BYTES_LIMIT;
        // At most half of a stake, so a slashed stake (>= 1 at registration) never reaches 0.
        else if (param == Param.WrongVoteSlashBps) ok = v <= 5000;
        else ok = true; // BaseCost, SpurtCost, MinValidatorStake: any u96
        if (!ok) revert SeasonParamInvalid(param, v);
    }
}
