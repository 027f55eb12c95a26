// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Beast} from "./Beast.sol";
import {CheckpointLedger} from "./CheckpointLedger.sol";
import {SeasonRegistry} from "./SeasonRegistry.sol";
import {IStepVerifier} from "./IStepVerifier.sol";
import {GenesisState} from "./GenesisState.sol";
import {
    CheckpointWord,
    STEPS_PER_WINDOW,
    GLOBAL_STEP_OFFSET,
    GLOBAL_STEP_FIELD,
    ENERGY_BURN_OFFSET,
    ACTIVE_MASK_OFFSET,
    LR_SHIFT_OFFSET
} from "./CheckpointWord.sol";

/// @title BisectionGame — dispute game v2: bisection over a window's 128 micro-steps.
/// @notice For spec-version-2 beasts. Anyone who committed to a challenge in an earlier block
///         (commit-reveal, so a pending challenge cannot be copied ahead of its finder) opens a
///         game of its own against a window inside its challenge period, with a bond. The defender
///         is fixed: the account that committed the window (`ledger.committerOf`), which holds
///         its states. The defender posts the step-state hash at the midpoint of the disputed
///         range, the challenger agrees or not; seven rounds narrow 128 steps to one, and then
///         the CHALLENGER must prove that step on chain (the one-step verifier re-executes it), so
///         nobody can force the defender to reveal a state or a private beast's owner secret.
///         Each side has a chess clock in blocks; running out loses. The defender wins the
///         challenger's bond; a challenger that wins gets its bond back, and the first win on a
///         window slashes it: the ledger burns the escrow and pays the committer's stake (up to
///         energyBurn) to this game, which holds it for the winning game with the earliest
///         challenge commitment (`claimReward`). A correct h128 in a word whose other fields do
///         not follow from the final state loses to a one-shot proof with the final state's bytes,
///         and a private beast whose committed dataset holds an invalid record (or a bad length)
///         loses every game to a one-shot proof of it (`proveInvalidDataset`).
///         Full rules and invariants: docs/PROTOCOL.md §10.
contract BisectionGame {
    using SafeERC20 for IERC20;

    /// @notice Semantic version of this contract.
    string public constant version = "2.1.0";
    /// @notice The spec version whose windows this game judges.
    uint16 public constant SPEC_VERSION = 2;
    /// @notice Bounds of `clockBlocks`: enough blocks for a move to be mined, few enough that
    ///         every block number the game stores fits its u32 fields.
    uint256 public constant MIN_CLOCK_BLOCKS = 8;
    uint256 public constant MAX_CLOCK_BLOCKS = 2 ** 24;
    /// @notice Most records a dataset may hold (SPEC §10.1 MAX_RECORDS, dataset format version 1).
    uint256 public constant MAX_RECORDS = 131072;
    /// @dev kernel.payload FLAG_GROWTH_SPURT (bit 1 of a word's flags).
    uint256 private constant FLAG_GROWTH_SPURT = 2;

    /// @notice How a game stands or ended.
    enum Outcome {
        Open,
        DefenderWon,
        ChallengerWon
    }

    /// @notice Why a game ended (GameEnded's `reason`).
    enum Reason {
        OneStep, // the verifier decided the last step
        WordLie, // the final state's bytes contradict the word
        Timeout, // the side to move ran out of its clock
        InvalidDataset // the beast's committed dataset is not a valid dataset (SPEC §10.6)
    }

    struct Game {
        // slot 0
        uint256 beastId;
        // slot 1
        address challenger;
        uint32 index; // ledger window index (< 2^25)
        uint8 lo; // agreed step
        uint8 hi; // disputed step (defender claims h_hi)
        bool challengerToMove;
        Outcome outcome;
        uint32 commitmentBlock; // block of the challenger's commitChallenge
        // slot 2
        address defender; // the window's committer (ledger.committerOf)
        uint32 defenderClock; // blocks left
        uint32 challengerClock;
        uint32 lastMove; // block of the last move (or of the opening)
        // slot 3
        bytes16 loHash; // agreed h_lo (0 with lo == 0 and index == 0: the genesis, rebuilt on demand)
        bytes16 hiHash; // the defender's claimed h_hi
        // slot 4
        bytes16 midHash; // the defender's pending claim while the challenger is to move
        uint128 bond; // the challenger's bond
        // slot 5
        uint256 stored; // the ledger's stored slot of the window (identifies it; the word but globalStep)
    }

    /// @notice What the game holds for one window (beastId, index, stored).
    struct Pot {
        uint96 reward; // the ledger's slash reward, until claimed
        uint32 open; // games open on the window
        uint32 bestCommitment; // commitment block of the best winning game so far
        uint64 bestGame; // the winning game with the earliest commitment (ties: lowest id); 0 none
        bool claimed;
    }

    /// @notice Raised by the constructor for a clock outside [MIN_CLOCK_BLOCKS, MAX_CLOCK_BLOCKS].
    error GameClockInvalid(uint256 clockBlocks);
    /// @notice Raised by the constructor when the season's slab size is not the default network
    ///         shape's, the only shape GenesisState rebuilds (and KernelParams.for_season builds).
    error GameShapeUnsupported(uint256 slabParams);
    /// @notice Raised when the beast is not of SPEC_VERSION.
    error GameSpecVersion(uint256 beastId, uint256 specVersion);
    /// @notice Raised by commitChallenge when the caller already holds this commitment.
    error GameCommitmentExists(bytes32 commitment, uint256 committedAt);
    /// @notice Raised by challenge without the caller's commitment from an earlier block
    ///         (`committedAt` 0: none; otherwise it is this block).
    error GameCommitmentMissing(bytes32 commitment, uint256 committedAt);
    /// @notice Raised when the block number no longer fits the game's u32 block fields.
    error GameBlockOverflow(uint256 blockNumber);
    /// @notice Raised for an unknown game id.
    error GameNotFound(uint256 gameId);
    /// @notice Raised when moving in a game that has ended.
    error GameOver(uint256 gameId, Outcome outcome);
    /// @notice Raised when the caller may not make this move now (wrong side, wrong phase).
    error GameNotYourMove(uint256 gameId, address caller);
    /// @notice Raised when someone but the window's committer tries a defender's move.
    error GameNotDefender(uint256 gameId, address caller);
    /// @notice Raised when a move comes after the mover's clock ran out (call timeout instead).
    error GameClockExpired(uint256 gameId, uint256 elapsed, uint256 remaining);
    /// @notice Raised when timeout is called while the side to move still has time.
    error GameClockRunning(uint256 gameId, uint256 elapsed, uint256 remaining);
    /// @notice Raised when a claimed step hash is zero (zero means "no state").
    error GameZeroHash(uint256 gameId);
    /// @notice Raised when the pre-state's hash is not the agreed h_lo.
    error GamePreStateMismatch(uint256 gameId, bytes16 expected, bytes16 got);
    /// @notice Raised when the revealed owner secret does not match the hatch commitment.
    error GameSecretMismatch(uint256 gameId);
    /// @notice Raised when the final state's hash is not the word's h128.
    error GameFinalStateMismatch(uint256 gameId);
    /// @notice Raised when the final state's bytes agree with every field of the word.
    error GameWordConsistent(uint256 gameId);
    /// @notice Raised by proveInvalidDataset on a beast without a private dataset (recordsRoot 0).
    error GameDatasetPublic(uint256 gameId);
    /// @notice Raised by proveInvalidDataset when keccak256(u32_be(datasetLen) || merkleRoot) is not
    ///         the beast's hatch recordsRoot.
    error GameDatasetRootMismatch(uint256 gameId, bytes32 recordsRoot, bytes32 got);
    /// @notice Raised by proveInvalidDataset when the path does not prove the record as leaf `index`.
    error GameRecordNotProven(uint256 gameId, uint256 index);
    /// @notice Raised by proveInvalidDataset when the proven record is a valid board record.
    error GameRecordValid(uint256 gameId, uint256 index);
    /// @notice Raised by claimReward while a game on the window is still open.
    error GameWindowOpen(uint256 beastId, uint256 index, uint256 open);
    /// @notice Raised by claimReward when the window's pot holds no reward (none, or claimed).
    error GameNoReward(uint256 beastId, uint256 index);

    /// @notice Emitted when `challenger` committed to a challenge it reveals later.
    event ChallengeCommitted(address indexed challenger, bytes32 indexed commitment);
    /// @notice Emitted when a game opened.
    event GameOpened(
        uint256 indexed gameId,
        uint256 indexed beastId,
        uint256 indexed index,
        address challenger,
        address defender,
        uint256 bond,
        uint256 commitmentBlock
    );
    /// @notice Emitted when the defender claimed the hash of step `mid`.
    event Bisected(uint256 indexed gameId, uint256 mid, bytes16 hash);
    /// @notice Emitted when the challenger answered; the range is now [lo, hi].
    event Responded(uint256 indexed gameId, bool agree, uint256 lo, uint256 hi);
    /// @notice Emitted when the verifier decided step `lo` -> `lo + 1`.
    event StepProved(uint256 indexed gameId, uint256 lo, bytes16 postHash, bytes16 claimed);
    /// @notice Emitted when a game ended; the winner was paid `payout` (the challenger's bond).
    event GameEnded(
        uint256 indexed gameId, Outcome outcome, Reason reason, address defender, address winner, uint256 payout
    );
    /// @notice Emitted when the game received the ledger's slash reward of a window.
    event RewardHeld(uint256 indexed beastId, uint256 indexed index, uint256 indexed gameId, uint256 amount);
    /// @notice Emitted when a window's reward was paid to the challenger of its best winning game.
    event RewardClaimed(uint256 indexed beastId, uint256 indexed index, address challenger, uint256 amount);

    IERC20 public immutable energy;
    Beast public immutable beast;
    CheckpointLedger public immutable ledger;
    SeasonRegistry public immutable registry;
    IStepVerifier public immutable verifier;
    /// @notice Blocks each side may spend on its moves over a whole game.
    uint256 public immutable clockBlocks;
    /// @dev The season constants the genesis carries (fixed for a season: SeasonRegistry.isFixed).
    uint256 private immutable _epochSteps;
    uint256 private immutable _baseCost;
    uint256 private immutable _spurtCost;
    /// @dev The spec version of every beast the deployment hatches (Beast.SPEC_VERSION, immutable).
    uint256 private immutable _beastVersion;

    uint256 public gameCount;
    mapping(uint256 gameId => Game) private _games;
    /// @dev commitChallenge's block per (challenger, commitment); deleted when revealed.
    mapping(address challenger => mapping(bytes32 commitment => uint256 blockNumber)) private _commitments;
    /// @dev Per window, keyed by keccak256(beastId, index, stored).
    mapping(bytes32 window => Pot) private _pots;

    constructor(CheckpointLedger ledger_, IStepVerifier verifier_, uint32 clockBlocks_) {
        if (clockBlocks_ < MIN_CLOCK_BLOCKS || clockBlocks_ > MAX_CLOCK_BLOCKS) revert GameClockInvalid(clockBlocks_);
        SeasonRegistry registry_ = ledger_.registry();
        // GenesisState builds the default network shape; a season declaring another slab size
        // would have genesis states this game cannot rebuild (SlabParams is fixed per season).
        uint256 slab = registry_.value(SeasonRegistry.Param.SlabParams);
        if (slab != GenesisState.SLAB_PARAMS) revert GameShapeUnsupported(slab);
        ledger = ledger_;
        energy = IERC20(address(ledger_.energy()));
        beast = ledger_.beast();
        registry = registry_;
        verifier = verifier_;
        clockBlocks = clockBlocks_;
        _epochSteps = registry_.value(SeasonRegistry.Param.EpochSteps);
        _baseCost = registry_.value(SeasonRegistry.Param.BaseCost);
        _spurtCost = registry_.value(SeasonRegistry.Param.SpurtCost);
        _beastVersion = ledger_.beast().SPEC_VERSION();
    }

    // ------------------------------------------------------------------ opening

    /// @notice Commit to a challenge: `commitment` = keccak256(abi.encode(msg.sender, beastId,
    ///         index, salt)). Reveal it with `challenge` in a later block.
    function commitChallenge(bytes32 commitment) external {
        uint256 committedAt = _commitments[msg.sender][commitment];
        if (committedAt != 0) revert GameCommitmentExists(commitment, committedAt);
        _commitments[msg.sender][commitment] = block.number;
        emit ChallengeCommitted(msg.sender, commitment);
    }

    /// @notice The block of `challenger`'s unrevealed `commitment` (0: none).
    function commitmentBlock(address challenger, bytes32 commitment) external view returns (uint256) {
        return _commitments[challenger][commitment];
    }

    /// @notice Challenge window `index` of `beastId` (revealing a commitment made in an earlier
    ///         block), posting the bond; opens a game of your own against the window's committer.
    function challenge(uint256 beastId, uint256 index, bytes32 salt) external returns (uint256 gameId) {
        if (block.number > type(uint32).max) revert GameBlockOverflow(block.number);
        // A deployment hatches beasts of one version (Beast.SPEC_VERSION, immutable): a game on a
        // version-1 deployment is refused here, not at construction, so every devnet deploys it.
        if (_beastVersion != SPEC_VERSION) revert GameSpecVersion(beastId, _beastVersion);
        bytes32 c = keccak256(abi.encode(msg.sender, beastId, index, salt));
        uint256 committedAt = _commitments[msg.sender][c];
        // INVARIANT: the challenge was fixed before anyone could see it revealed.
        if (committedAt == 0 || committedAt >= block.number) revert GameCommitmentMissing(c, committedAt);
        delete _commitments[msg.sender][c];
        // The ledger checks status and challenge period, counts the game, gives h_0 and the slot.
        (bytes32 word, bytes16 h0, uint256 stored) = ledger.beginGame(beastId, index);
        (address defender,,) = ledger.committerOf(beastId, index);
        // Never 0: the ledger refuses an empty mask, so energyBurn > 0 (baseCost > 0).
        uint256 bond = registry.value(SeasonRegistry.Param.BondMultiplier) * uint64(uint256(word) >> ENERGY_BURN_OFFSET);
        unchecked {
            gameId = ++gameCount;
        }
        Game storage g = _games[gameId];
        g.beastId = beastId;
        g.challenger = msg.sender;
        g.index = uint32(index);
        g.hi = uint8(STEPS_PER_WINDOW);
        g.commitmentBlock = uint32(committedAt);
        g.defender = defender;
        g.defenderClock = uint32(clockBlocks);
        g.challengerClock = uint32(clockBlocks);
        g.lastMove = uint32(block.number);
        g.loHash = h0;
        g.hiHash = bytes16(word);
        g.bond = uint128(bond);
        g.stored = stored;
        unchecked {
            ++_pots[_potKey(beastId, index, stored)].open; // < 2^32 games: each pays a bond
        }
        emit GameOpened(gameId, beastId, index, msg.sender, defender, bond, committedAt);
        energy.safeTransferFrom(msg.sender, address(this), bond);
    }

    // ------------------------------------------------------------------ moves

    /// @notice The defender claims `hash` = h_mid for mid = (lo + hi) / 2.
    function bisect(uint256 gameId, bytes16 hash) external {
        Game storage g = _open(gameId);
        if (msg.sender != g.defender) revert GameNotDefender(gameId, msg.sender);
        if (g.challengerToMove) revert GameNotYourMove(gameId, msg.sender);
        if (hash == bytes16(0)) revert GameZeroHash(gameId);
        g.defenderClock = _spend(gameId, g.defenderClock, g.lastMove);
        g.lastMove = uint32(block.number);
        g.midHash = hash;
        g.challengerToMove = true;
        emit Bisected(gameId, (uint256(g.lo) + g.hi) >> 1, hash);
    }

    /// @notice The challenger agrees (lo = mid) or disagrees (hi = mid) with the pending claim.
    ///         When one step remains the challenger stays to move: it must prove that step.
    function respond(uint256 gameId, bool agree) external {
        Game storage g = _open(gameId);
        if (msg.sender != g.challenger || !g.challengerToMove || g.hi - g.lo <= 1) {
            revert GameNotYourMove(gameId, msg.sender);
        }
        g.challengerClock = _spend(gameId, g.challengerClock, g.lastMove);
        g.lastMove = uint32(block.number);
        uint8 mid = uint8((uint256(g.lo) + g.hi) >> 1);
        uint8 lo = g.lo;
        uint8 hi = g.hi;
        if (agree) {
            lo = mid;
            g.loHash = g.midHash;
        } else {
            hi = mid;
            g.hiHash = g.midHash;
        }
        g.lo = lo;
        g.hi = hi;
        g.midHash = bytes16(0);
        g.challengerToMove = hi - lo == 1;
        emit Responded(gameId, agree, lo, hi);
    }

    /// @notice The challenger decides the last step on chain, on its own clock: `pre` must hash
    ///         to the agreed h_lo; the verifier's post-state hash decides (equal to the
    ///         defender's h_hi: the defender wins; different, or 0 for an ILLEGAL step: the
    ///         challenger wins). For a private beast `s.sOwner` must open the hatch's secret
    ///         commitment: only a challenger who knows it can prove a private step.
    function proveStep(uint256 gameId, bytes calldata pre, IStepVerifier.PrivateSample calldata s) external {
        Game storage g = _open(gameId);
        if (msg.sender != g.challenger || !g.challengerToMove || g.hi - g.lo != 1) {
            revert GameNotYourMove(gameId, msg.sender);
        }
        g.challengerClock = _spend(gameId, g.challengerClock, g.lastMove);
        uint256 beastId = g.beastId;
        uint256 lo = g.lo;
        uint256 stored = g.stored;
        Beast.HatchData memory h = beast.hatchData(beastId);
        bytes16 expected = g.loHash;
        if (lo == 0 && g.index == 0) expected = _genesisH128(h);
        bytes16 got = bytes16(keccak256(pre));
        if (got != expected) revert GamePreStateMismatch(gameId, expected, got);
        // INVARIANT: a private beast's sample is the hatch's secret (the verifier checks the record).
        if (h.recordsRoot != bytes32(0) && keccak256(abi.encodePacked(s.sOwner)) != h.secretCommitment) {
            revert GameSecretMismatch(gameId);
        }
        IStepVerifier.WindowStart memory w = IStepVerifier.WindowStart({
            activeMask: uint8(stored >> ACTIVE_MASK_OFFSET),
            lrShift: uint8(stored >> LR_SHIFT_OFFSET),
            epochSeed: ledger.epochSeed(beastId, _epochOf(g.index))
        });
        (, bytes16 post) = verifier.step(pre, w, s);
        bytes16 claimed = g.hiHash;
        emit StepProved(gameId, lo, post, claimed);
        // An ILLEGAL start (post 0) never matches a claim, not even a word whose h128 is 0.
        _end(gameId, g, post != 0 && post == claimed ? Outcome.DefenderWon : Outcome.ChallengerWon, Reason.OneStep);
    }

    /// @notice The challenger shows the word lies although its h128 is right: `finalState` hashes
    ///         to the word's h128 but is not a version-2 checkpoint state (default shape) whose
    ///         globalStep, activeMask, lrShift, flags and energyBurn are the word's. Any time the
    ///         game is open; on the challenger's turn it spends the challenger's clock.
    function proveWordLie(uint256 gameId, bytes calldata finalState) external {
        Game storage g = _open(gameId);
        if (msg.sender != g.challenger) revert GameNotYourMove(gameId, msg.sender);
        if (g.challengerToMove) _spend(gameId, g.challengerClock, g.lastMove);
        uint256 w = uint256(_wordOf(g.stored, g.index));
        if (bytes16(keccak256(finalState)) != bytes16(bytes32(w))) revert GameFinalStateMismatch(gameId);
        if (_consistent(finalState, w)) revert GameWordConsistent(gameId);
        _end(gameId, g, Outcome.ChallengerWon, Reason.WordLie);
    }

    /// @notice The challenger shows the beast's committed dataset is invalid, so no honest training
    ///         of the window exists (SPEC §10.6 *Fault*): (datasetLen, merkleRoot) must open the
    ///         hatch's recordsRoot = keccak256(u32_be(datasetLen) || merkleRoot); then either
    ///         datasetLen is 0 or over MAX_RECORDS, or `path` proves `record` as leaf `index`
    ///         (index < datasetLen) under merkleRoot and the verifier finds it is not a valid board
    ///         record. Any time the game is open, no bisection needed; on the challenger's turn it
    ///         spends the challenger's clock. Only records: nothing of the owner secret.
    function proveInvalidDataset(
        uint256 gameId,
        uint32 datasetLen,
        bytes32 merkleRoot,
        uint256 index,
        bytes calldata record,
        bytes32[] calldata path
    ) external {
        Game storage g = _open(gameId);
        if (msg.sender != g.challenger) revert GameNotYourMove(gameId, msg.sender);
        if (g.challengerToMove) _spend(gameId, g.challengerClock, g.lastMove);
        bytes32 root = beast.hatchData(g.beastId).recordsRoot;
        if (root == bytes32(0)) revert GameDatasetPublic(gameId);
        bytes32 got = keccak256(abi.encodePacked(datasetLen, merkleRoot));
        if (got != root) revert GameDatasetRootMismatch(gameId, root, got);
        // INVARIANT: an honest dataset (1..MAX_RECORDS valid records) opens no such proof.
        if (datasetLen != 0 && datasetLen <= MAX_RECORDS) {
            if (!verifier.recordProven(datasetLen, merkleRoot, index, record, path)) {
                revert GameRecordNotProven(gameId, index);
            }
            if (verifier.recordValid(record)) revert GameRecordValid(gameId, index);
        }
        _end(gameId, g, Outcome.ChallengerWon, Reason.InvalidDataset);
    }

    /// @notice End a game whose side to move has spent its clock; the other side wins. Anyone.
    function timeout(uint256 gameId) external {
        Game storage g = _open(gameId);
        bool challengerTurn = g.challengerToMove;
        uint256 remaining = challengerTurn ? g.challengerClock : g.defenderClock;
        uint256 elapsed = block.number - g.lastMove;
        if (elapsed <= remaining) revert GameClockRunning(gameId, elapsed, remaining);
        _end(gameId, g, challengerTurn ? Outcome.DefenderWon : Outcome.ChallengerWon, Reason.Timeout);
    }

    // ------------------------------------------------------------------ rewards

    /// @notice Pay a slashed window's reward to the challenger of its winning game with the
    ///         earliest commitment (ties: lowest game id), once no game on the window is open.
    ///         Anyone may call; the payee is fixed by the games.
    function claimReward(uint256 beastId, uint256 index, uint256 stored) external {
        Pot storage p = _pots[_potKey(beastId, index, stored)];
        uint256 open = p.open;
        if (open != 0) revert GameWindowOpen(beastId, index, open);
        uint256 amount = p.reward;
        if (amount == 0) revert GameNoReward(beastId, index);
        p.reward = 0;
        p.claimed = true;
        address to = _games[p.bestGame].challenger;
        emit RewardClaimed(beastId, index, to, amount);
        energy.safeTransfer(to, amount);
    }

    /// @notice The pot of a window: reward held, games open, the best winning game and its
    ///         commitment block, whether the reward was claimed.
    function potOf(uint256 beastId, uint256 index, uint256 stored) external view returns (Pot memory) {
        return _pots[_potKey(beastId, index, stored)];
    }

    // ------------------------------------------------------------------ views

    /// @notice A game's record.
    function gameOf(uint256 gameId) external view returns (Game memory) {
        Game storage g = _games[gameId];
        if (g.challenger == address(0)) revert GameNotFound(gameId);
        return g;
    }

    /// @notice The checkpoint word a game judges (its stored slot with globalStep put back).
    function wordOf(uint256 gameId) external view returns (bytes32) {
        Game storage g = _games[gameId];
        if (g.challenger == address(0)) revert GameNotFound(gameId);
        return _wordOf(g.stored, g.index);
    }

    /// @notice The genesis h128 of a version-2 beast (SPEC §6.4), rebuilt from its hatch data.
    function genesisH128(uint256 beastId) external view returns (bytes16) {
        return _genesisH128(beast.hatchData(beastId));
    }

    // ------------------------------------------------------------------ internals

    function _open(uint256 gameId) private view returns (Game storage g) {
        g = _games[gameId];
        if (g.challenger == address(0)) revert GameNotFound(gameId);
        if (g.outcome != Outcome.Open) revert GameOver(gameId, g.outcome);
    }

    /// @dev The mover's clock after a move now: reverts when it has run out.
    function _spend(uint256 gameId, uint256 remaining, uint256 lastMove) private view returns (uint32) {
        uint256 elapsed = block.number - lastMove;
        if (elapsed > remaining) revert GameClockExpired(gameId, elapsed, remaining);
        return uint32(remaining - elapsed);
    }

    function _end(uint256 gameId, Game storage g, Outcome outcome, Reason reason) private {
        g.outcome = outcome;
        bool challengerWon = outcome == Outcome.ChallengerWon;
        uint256 beastId = g.beastId;
        uint256 index = g.index;
        address winner = challengerWon ? g.challenger : g.defender;
        uint256 bond = g.bond;
        Pot storage p = _pots[_potKey(beastId, index, g.stored)];
        unchecked {
            --p.open; // counted at the opening
        }
        if (challengerWon) {
            uint256 c = g.commitmentBlock;
            uint256 best = p.bestGame;
            if (best == 0 || c < p.bestCommitment || (c == p.bestCommitment && gameId < best)) {
                p.bestGame = uint64(gameId);
                p.bestCommitment = uint32(c);
            }
        }
        emit GameEnded(gameId, outcome, reason, g.defender, winner, bond);
        // The ledger is our own contract: it ignores a window no longer in its slot, slashes the
        // window on its first loss and pays the reward here; no call back into the game.
        uint256 reward = ledger.endGame(beastId, index, g.stored, challengerWon);
        if (reward != 0) {
            p.reward += uint96(reward); // a window is slashed once: one reward, <= energyBurn < 2^64
            emit RewardHeld(beastId, index, gameId, reward);
        }
        energy.safeTransfer(winner, bond);
    }

    function _potKey(uint256 beastId, uint256 index, uint256 stored) private pure returns (bytes32) {
        return keccak256(abi.encode(beastId, index, stored));
    }

    /// @dev The committed word: the stored slot with globalStep 128(index+1) mod 2^32 put back.
    function _wordOf(uint256 stored, uint256 index) private pure returns (bytes32) {
        return bytes32(
            (stored & ~GLOBAL_STEP_FIELD) | (uint256(CheckpointWord.stepOfWindow(index)) << GLOBAL_STEP_OFFSET)
        );
    }

    function _epochOf(uint256 index) private view returns (uint256) {
        // The window's start globalStep is 128 k mod 2^32 (stepOfWindow(k - 1)).
        uint256 start;
        unchecked {
            start = uint32(index * STEPS_PER_WINDOW);
        }
        return start / _epochSteps;
    }

    function _genesisH128(Beast.HatchData memory h) private view returns (bytes16) {
        return GenesisState.h128(h.seedCore, h.recordsRoot, _epochSteps, _baseCost, _spurtCost);
    }

    /// @dev Whether `s` is a version-2 checkpoint state of the default shape whose fields give
    ///      exactly the word `w` (SPEC §7.3): globalStep, activeMask, lrShift, flags, energyBurn.
    function _consistent(bytes calldata s, uint256 w) private view returns (bool) {
        if (s.length != GenesisState.LENGTH) return false;
        if (bytes4(s[0:4]) != bytes4(0x43424b53)) return false;
        if (_le(s, 4, 2) != SPEC_VERSION) return false;
        if (s[162] != 0 || _le(s, 165, 8) != 0) return false; // step 0, loss_acc 0
        if (_le(s, 144, 4) != uint32(w >> GLOBAL_STEP_OFFSET)) return false;
        uint256 mask = uint8(s[152]);
        if (mask != uint8(w >> ACTIVE_MASK_OFFSET)) return false;
        if (uint8(s[153]) != uint8(w >> LR_SHIFT_OFFSET)) return false;
        uint256 flags = _le(s, 163, 2);
        if (flags != uint16(w)) return false;
        uint256 burn = _popcount(mask) * STEPS_PER_WINDOW * _baseCost;
        if (flags & FLAG_GROWTH_SPURT != 0) burn += _spurtCost;
        return burn == uint64(w >> ENERGY_BURN_OFFSET);
    }

    function _le(bytes calldata s, uint256 off, uint256 n) private pure returns (uint256 v) {
        for (uint256 i = 0; i < n; ++i) {
            v |= uint256(uint8(s[off + i])) << (8 * i);
        }
    }

    function _popcount(uint256 x) private pure returns (uint256 c) {
        while (x != 0) {
            c += x & 1;
            x >>= 1;
        }
    }
}
