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
    STEPS_PER_WINDOW,
    GLOBAL_STEP_OFFSET,
    ENERGY_BURN_OFFSET,
    ACTIVE_MASK_OFFSET,
    LR_SHIFT_OFFSET
} from "./CheckpointWord.sol";

/// @title BisectionGame — dispute game v2: bisection over a window's 128 micro-steps.
/// @notice For spec-version-2 beasts. Anyone challenges a committed window inside its challenge
///         period with a bond and gets a game of its own against the beast's side (its owner or
///         authorized trainer, whoever first bonds in that game). The defender posts the step-state
///         hash at the midpoint of the disputed range, the challenger agrees or not, seven rounds
///         narrow 128 steps to one, and the one-step verifier re-executes it on chain. Each side has
///         a chess clock in blocks; running out loses. The winner takes both bonds; a game the
///         challenger wins slashes the window (its escrow is burned by the ledger). A correct h128
///         in a word whose other fields do not follow from the final state loses to a one-shot
///         proof with the final state's bytes. Full rules and invariants: docs/PROTOCOL.md §10.
contract BisectionGame {
    using SafeERC20 for IERC20;

    /// @notice Semantic version of this contract.
    string public constant version = "1.0.0";
    /// @notice The spec version whose windows this game judges.
    uint16 public constant SPEC_VERSION = 2;
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
        Timeout // the side to move ran out of its clock
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
        // slot 2
        address defender; // 0 until the defender's first move
        uint32 defenderClock; // blocks left
        uint32 challengerClock;
        uint32 lastMove; // block of the last move (or of the opening)
        // slot 3
        bytes16 loHash; // agreed h_lo (0 with lo == 0 and index == 0: the genesis, rebuilt on demand)
        bytes16 hiHash; // the defender's claimed h_hi
        // slot 4
        bytes16 midHash; // the defender's pending claim while the challenger is to move
        uint128 bond; // each side's bond
        // slot 5
        bytes32 word; // the challenged word
        // slot 6
        uint256 stored; // the ledger's stored slot of the window (CheckpointLedger 3.0.0 endGame)
    }

    /// @notice Raised when the beast is not of SPEC_VERSION.
    error GameSpecVersion(uint256 beastId, uint256 specVersion);
    /// @notice Raised for an unknown game id.
    error GameNotFound(uint256 gameId);
    /// @notice Raised when moving in a game that has ended.
    error GameOver(uint256 gameId, Outcome outcome);
    /// @notice Raised when the caller may not make this move now (wrong side, wrong phase).
    error GameNotYourMove(uint256 gameId, address caller);
    /// @notice Raised when a would-be defender is not a committer of the beast.
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

    /// @notice Emitted when a game opened.
    event GameOpened(
        uint256 indexed gameId, uint256 indexed beastId, uint256 indexed index, address challenger, uint256 bond
    );
    /// @notice Emitted when the defender sat down (its first move) and bonded.
    event DefenderJoined(uint256 indexed gameId, address indexed defender);
    /// @notice Emitted when the defender claimed the hash of step `mid`.
    event Bisected(uint256 indexed gameId, uint256 mid, bytes16 hash);
    /// @notice Emitted when the challenger answered; the range is now [lo, hi].
    event Responded(uint256 indexed gameId, bool agree, uint256 lo, uint256 hi);
    /// @notice Emitted when the verifier decided step `lo` -> `lo + 1`.
    event StepProved(uint256 indexed gameId, uint256 lo, bytes16 postHash, bytes16 claimed);
    /// @notice Emitted when a game ended; the winner was paid `payout`.
    event GameEnded(
        uint256 indexed gameId, Outcome outcome, Reason reason, address defender, address winner, uint256 payout
    );

    IERC20 public immutable energy;
    Beast public immutable beast;
    CheckpointLedger public immutable ledger;
    SeasonRegistry public immutable registry;
    IStepVerifier public immutable verifier;
    /// @notice Blocks each side may spend on its moves over a whole game.
    uint256 public immutable clockBlocks;

    uint256 public gameCount;
    mapping(uint256 gameId => Game) private _games;

    constructor(CheckpointLedger ledger_, IStepVerifier verifier_, uint32 clockBlocks_) {
        ledger = ledger_;
        energy = IERC20(address(ledger_.energy()));
        beast = ledger_.beast();
        registry = ledger_.registry();
        verifier = verifier_;
        clockBlocks = clockBlocks_;
    }

    // ------------------------------------------------------------------ opening

    /// @notice Challenge window `index` of `beastId`, posting the bond; opens a game of your own.
    function challenge(uint256 beastId, uint256 index) external returns (uint256 gameId) {
        // A deployment hatches beasts of one version (Beast.SPEC_VERSION, immutable).
        uint256 v = beast.SPEC_VERSION();
        if (v != SPEC_VERSION) revert GameSpecVersion(beastId, v);
        // The ledger checks status and challenge period, counts the game and gives h_0.
        (bytes32 word, bytes16 h0, uint256 stored) = ledger.beginGame(beastId, index);
        uint256 bond = registry.value(SeasonRegistry.Param.BondMultiplier) * uint64(uint256(word) >> ENERGY_BURN_OFFSET);
        unchecked {
            gameId = ++gameCount;
        }
        Game storage g = _games[gameId];
        g.beastId = beastId;
        g.challenger = msg.sender;
        g.index = uint32(index);
        g.hi = uint8(STEPS_PER_WINDOW);
        g.defenderClock = uint32(clockBlocks);
        g.challengerClock = uint32(clockBlocks);
        g.lastMove = uint32(block.number);
        g.loHash = h0;
        g.hiHash = bytes16(word);
        g.bond = uint128(bond);
        g.word = word;
        g.stored = stored;
        emit GameOpened(gameId, beastId, index, msg.sender, bond);
        if (bond != 0) energy.safeTransferFrom(msg.sender, address(this), bond);
    }

    // ------------------------------------------------------------------ moves

    /// @notice The defender claims `hash` = h_mid for mid = (lo + hi) / 2. Its first move seats it
    ///         (it must be a committer of the beast now) and pulls its bond.
    function bisect(uint256 gameId, bytes16 hash) external {
        Game storage g = _open(gameId);
        if (g.challengerToMove || g.hi - g.lo <= 1) revert GameNotYourMove(gameId, msg.sender);
        if (hash == bytes16(0)) revert GameZeroHash(gameId);
        address d = g.defender;
        bool joining = d == address(0);
        if (joining) {
            if (!beast.isCommitter(g.beastId, msg.sender)) revert GameNotDefender(gameId, msg.sender);
            g.defender = msg.sender;
        } else if (msg.sender != d) {
            revert GameNotYourMove(gameId, msg.sender);
        }
        g.defenderClock = _spend(gameId, g.defenderClock, g.lastMove);
        g.lastMove = uint32(block.number);
        g.midHash = hash;
        g.challengerToMove = true;
        uint256 mid = (uint256(g.lo) + g.hi) >> 1;
        if (joining) emit DefenderJoined(gameId, msg.sender);
        emit Bisected(gameId, mid, hash);
        if (joining && g.bond != 0) energy.safeTransferFrom(msg.sender, address(this), g.bond);
    }

    /// @notice The challenger agrees (lo = mid) or disagrees (hi = mid) with the pending claim.
    function respond(uint256 gameId, bool agree) external {
        Game storage g = _open(gameId);
        if (!g.challengerToMove || msg.sender != g.challenger) revert GameNotYourMove(gameId, msg.sender);
        g.challengerClock = _spend(gameId, g.challengerClock, g.lastMove);
        g.lastMove = uint32(block.number);
        uint8 mid = uint8((uint256(g.lo) + g.hi) >> 1);
        if (agree) {
            g.lo = mid;
            g.loHash = g.midHash;
        } else {
            g.hi = mid;
            g.hiHash = g.midHash;
        }
        g.midHash = bytes16(0);
        g.challengerToMove = false;
        emit Responded(gameId, agree, g.lo, g.hi);
    }

    /// @notice Decide the last step on chain: `pre` must hash to the agreed h_lo; the verifier's
    ///         post-state hash decides (equal to the defender's h_hi: the defender wins). Either
    ///         player may call it, while the defender's clock runs.
    function proveStep(uint256 gameId, bytes calldata pre, IStepVerifier.PrivateSample calldata s) external {
        Game storage g = _open(gameId);
        if (g.hi - g.lo != 1 || (msg.sender != g.challenger && msg.sender != g.defender)) {
            revert GameNotYourMove(gameId, msg.sender);
        }
        // The clock is the defender's (its turn); a spent clock ends the game by timeout only.
        uint256 left = _spend(gameId, g.defenderClock, g.lastMove);
        if (msg.sender == g.defender) g.defenderClock = uint32(left);
        uint256 beastId = g.beastId;
        uint256 lo = g.lo;
        bytes32 word = g.word;
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
            activeMask: uint8(uint256(word) >> ACTIVE_MASK_OFFSET),
            lrShift: uint8(uint256(word) >> LR_SHIFT_OFFSET),
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
    ///         globalStep, activeMask, lrShift, flags and energyBurn are the word's.
    function proveWordLie(uint256 gameId, bytes calldata finalState) external {
        Game storage g = _open(gameId);
        if (msg.sender != g.challenger) revert GameNotYourMove(gameId, msg.sender);
        uint256 w = uint256(g.word);
        if (bytes16(keccak256(finalState)) != bytes16(bytes32(w))) revert GameFinalStateMismatch(gameId);
        if (_consistent(finalState, w)) revert GameWordConsistent(gameId);
        _end(gameId, g, Outcome.ChallengerWon, Reason.WordLie);
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

    // ------------------------------------------------------------------ views

    /// @notice A game's record.
    function gameOf(uint256 gameId) external view returns (Game memory) {
        Game storage g = _games[gameId];
        if (g.challenger == address(0)) revert GameNotFound(gameId);
        return g;
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
        address d = g.defender;
        address winner = outcome == Outcome.ChallengerWon ? g.challenger : d;
        // Both bonds when the defender sat down; the challenger's own bond back otherwise.
        uint256 payout = d == address(0) ? g.bond : 2 * uint256(g.bond);
        emit GameEnded(gameId, outcome, reason, d, winner, payout);
        // The ledger is our own contract: slash burns the escrow; no call back into the game.
        // Stopgap for CheckpointLedger 3.0.0 until BisectionGame 2.0.0: a slash's reward stays here.
        ledger.endGame(g.beastId, g.index, g.stored, outcome == Outcome.ChallengerWon);
        if (payout != 0) energy.safeTransfer(winner, payout);
    }

    function _epochOf(uint256 index) private view returns (uint256) {
        // The window's start globalStep is 128 k mod 2^32 (stepOfWindow(k - 1)).
        uint256 start;
        unchecked {
            start = uint32(index * STEPS_PER_WINDOW);
        }
        return start / ledger.epochSteps();
    }

    function _genesisH128(Beast.HatchData memory h) private view returns (bytes16) {
        return GenesisState.h128(
            h.seedCore,
            h.recordsRoot,
            registry.value(SeasonRegistry.Param.EpochSteps),
            registry.value(SeasonRegistry.Param.BaseCost),
            registry.value(SeasonRegistry.Param.SpurtCost)
        );
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
        uint256 burn = _popcount(mask) * STEPS_PER_WINDOW * registry.value(SeasonRegistry.Param.BaseCost);
        if (flags & FLAG_GROWTH_SPURT != 0) burn += registry.value(SeasonRegistry.Param.SpurtCost);
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
