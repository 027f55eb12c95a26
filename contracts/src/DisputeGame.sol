// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Beast} from "./Beast.sol";
import {CheckpointLedger} from "./CheckpointLedger.sol";
import {SeasonRegistry} from "./SeasonRegistry.sol";
import {ENERGY_BURN_OFFSET} from "./CheckpointWord.sol";

/// @title DisputeGame — validator stakes and the window dispute game.
/// @notice Validators stake ENERGY to vote. A challenger disputes a window inside its challenge
///         period by posting a bond (bondMultiplier x the window's energyBurn) together with the
///         beast's private dataset and owner secret, checked against the hatch commitments. The
///         dataset bytes are not stored: validators read them from the openDispute calldata.
///         Validators replay the window and vote the full word they computed (0x0 = the
///         trainer's start state was unavailable). Votes equal to the committed word agree with
///         the trainer; any other value votes against it. A decided dispute slashes the stake of
///         every voter on the losing side by WrongVoteSlashBps and pays that to the winners.
///         Payouts are credited and claimed. The game is the same for every spec version:
///         validators replay a window under its beast's hatch specVersion, and judge a version 2
///         beast whose file's records root differs from its hatch recordsRoot as an invalid
///         dataset (every window diverged). Full rules: docs/PROTOCOL.md. The checkpoint word's
///         layout has one home, CheckpointWord.sol.
contract DisputeGame {
    using SafeERC20 for IERC20;

    /// @notice Semantic version of this contract.
    string public constant version = "1.1.7";

    /// @notice Most votes one dispute accepts (bounds the loop in resolve).
    uint256 public constant MAX_VOTERS = 64;
    /// @notice The vote meaning "the trainer's start state was unavailable".
    bytes32 public constant STATE_UNAVAILABLE = bytes32(0);
    /// @dev Denominator of SeasonRegistry.Param.WrongVoteSlashBps (basis points).
    uint256 private constant BPS = 10_000;

    /// @notice How a dispute ended.
    enum Outcome {
        Open, // still collecting votes
        Upheld, // a quorum agreed with the committed word: bond forfeited
        Diverged, // a quorum voted against it: trainer slashed
        NoQuorum // the voting period ended without a decision: bond refunded
    }

    enum Vote {
        None,
        Agree,
        Against
    }

    struct Validator {
        uint128 stake; // ENERGY wei staked; 0 = not registered
        uint64 withdrawableAt; // 0 = active; else the block from which withdraw() works
        uint32 openVotes; // votes in disputes not yet resolved
    }

    struct Dispute {
        uint256 beastId;
        uint64 index;
        uint64 votingDeadline; // last block (inclusive) for votes
        address challenger;
        uint128 bond;
        bytes32 word; // the committed word under dispute
        uint8 agree;
        uint8 against;
        Outcome outcome;
        address[] voters;
    }

    /// @notice Raised when registering with less than the minimum stake.
    error DisputeStakeTooLow(uint256 amount, uint256 minimum);
    /// @notice Raised when an already registered address registers again.
    error DisputeValidatorExists(address validator);
    /// @notice Raised when the caller is not a registered validator (or not an active one, for votes).
    error DisputeNotValidator(address caller);
    /// @notice Raised when requesting a withdrawal twice.
    error DisputeWithdrawalAlreadyRequested(address validator, uint256 withdrawableAt);
    /// @notice Raised when withdrawing without a request.
    error DisputeWithdrawalNotRequested(address validator);
    /// @notice Raised when withdrawing before the withdraw delay has passed.
    error DisputeWithdrawalTooEarly(address validator, uint256 withdrawableAt);
    /// @notice Raised when withdrawing while votes in unresolved disputes remain.
    error DisputeValidatorLocked(address validator, uint256 openVotes);
    /// @notice Raised when dataset or secret are supplied for a beast without a private curriculum.
    error DisputeUnexpectedCurriculum(uint256 beastId);
    /// @notice Raised when the dataset exceeds maxDatasetBytes.
    error DisputeDatasetTooLarge(uint256 length, uint256 maximum);
    /// @notice Raised when keccak256(dataset) differs from the beast's datasetCommitment.
    error DisputeDatasetMismatch(bytes32 expected, bytes32 got);
    /// @notice Raised when keccak256(ownerSecret) differs from the beast's secretCommitment.
    error DisputeSecretMismatch(bytes32 expected, bytes32 got);
    /// @notice Raised when openDispute is not the transaction's own call (a contract called it).
    error DisputeNotDirectCall(address caller);
    /// @notice Raised for an unknown dispute id.
    error DisputeNotFound(uint256 disputeId);
    /// @notice Raised when voting on or resolving a resolved dispute.
    error DisputeAlreadyResolved(uint256 disputeId, Outcome outcome);
    /// @notice Raised when voting after the voting deadline.
    error DisputeVotingClosed(uint256 disputeId, uint256 deadline);
    /// @notice Raised when a validator votes twice in one dispute.
    error DisputeAlreadyVoted(uint256 disputeId, address validator);
    /// @notice Raised when a dispute already holds MAX_VOTERS votes.
    error DisputeVotersFull(uint256 disputeId);
    /// @notice Raised when resolving before a quorum or the voting deadline.
    error DisputeNotResolvable(uint256 disputeId, uint256 deadline);
    /// @notice Raised when claiming with nothing credited.
    error DisputeNothingToClaim(address account);

    /// @notice Emitted after a validator staked and registered.
    event ValidatorRegistered(address indexed validator, uint256 stake);
    /// @notice Emitted after a validator asked to withdraw; it stopped voting.
    event ValidatorWithdrawalRequested(address indexed validator, uint256 withdrawableAt);
    /// @notice Emitted after a validator withdrew its stake.
    event ValidatorWithdrawn(address indexed validator, uint256 stake);
    /// @notice Emitted after `amount` was taken from the stake of `validator`, which voted on the
    ///         losing side of `disputeId`; the winners of the dispute are paid it.
    event ValidatorSlashed(uint256 indexed disputeId, address indexed validator, uint256 amount);
    /// @notice Emitted after a dispute was opened; the dataset is in the transaction's calldata.
    event DisputeOpened(
        uint256 indexed disputeId,
        uint256 indexed beastId,
        uint256 indexed index,
        address challenger,
        uint256 bond,
        bytes32 datasetHash,
        bytes32 ownerSecret,
        uint256 votingDeadline
    );
    /// @notice Emitted after a validator voted.
    event VoteCast(uint256 indexed disputeId, address indexed validator, bytes32 computedWord, bool agrees);
    /// @notice Emitted after a dispute was resolved and its payouts credited.
    event DisputeResolved(uint256 indexed disputeId, Outcome outcome, uint256 agree, uint256 against);
    /// @notice Emitted after ENERGY was credited to `account` (claimable).
    event Credited(uint256 indexed disputeId, address indexed account, uint256 amount);
    /// @notice Emitted after `account` claimed its credited ENERGY.
    event Claimed(address indexed account, uint256 amount);

    IERC20 public immutable energy;
    Beast public immutable beast;
    CheckpointLedger public immutable ledger;
    SeasonRegistry public immutable registry;

    uint256 public disputeCount;
    mapping(address validator => Validator) private _validators;
    mapping(uint256 disputeId => Dispute) private _disputes;
    mapping(uint256 disputeId => mapping(address validator => Vote)) private _votes;
    mapping(address account => uint256) private _credits;

    constructor(CheckpointLedger ledger_) {
        ledger = ledger_;
        energy = IERC20(address(ledger_.energy()));
        beast = ledger_.beast();
        registry = ledger_.registry();
    }

    // ------------------------------------------------------------------ validators

    /// @notice Stake `amount` ENERGY and register the caller as a validator.
    function registerValidator(uint256 amount) external {
        uint256 minimum = registry.value(SeasonRegistry.Param.MinValidatorStake);
        if (amount < minimum || amount == 0 || amount > type(uint128).max) revert DisputeStakeTooLow(amount, minimum);
        if (_validators[msg.sender].stake != 0) revert DisputeValidatorExists(msg.sender);
        _validators[msg.sender] = Validator({stake: uint128(amount), withdrawableAt: 0, openVotes: 0});
        emit ValidatorRegistered(msg.sender, amount);
        // Interaction last; the token has no hooks.
        energy.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Stop voting and start the withdraw delay.
    function requestWithdrawal() external {
        Validator storage v = _validators[msg.sender];
        if (v.stake == 0) revert DisputeNotValidator(msg.sender);
        if (v.withdrawableAt != 0) revert DisputeWithdrawalAlreadyRequested(msg.sender, v.withdrawableAt);
        uint64 eta = uint64(block.number + registry.value(SeasonRegistry.Param.ValidatorWithdrawDelay));
        // 0 means "active", so a zero delay at block 0 still needs a non-zero marker.
        if (eta == 0) eta = 1;
        v.withdrawableAt = eta;
        emit ValidatorWithdrawalRequested(msg.sender, eta);
    }

    /// @notice Withdraw the stake after the delay, once no vote of the caller is unresolved.
    function withdraw() external {
        Validator memory v = _validators[msg.sender];
        if (v.stake == 0) revert DisputeNotValidator(msg.sender);
        if (v.withdrawableAt == 0) revert DisputeWithdrawalNotRequested(msg.sender);
        if (block.number < v.withdrawableAt) revert DisputeWithdrawalTooEarly(msg.sender, v.withdrawableAt);
        if (v.openVotes != 0) revert DisputeValidatorLocked(msg.sender, v.openVotes);
        delete _validators[msg.sender];
        emit ValidatorWithdrawn(msg.sender, v.stake);
        // Interaction after the record is deleted (checks-effects-interactions).
        energy.safeTransfer(msg.sender, v.stake);
    }

    /// @notice A validator's record (stake 0 = not registered).
    function validatorOf(address validator) external view returns (Validator memory) {
        return _validators[validator];
    }

    /// @notice Whether `account` may vote now.
    function isActiveValidator(address account) public view returns (bool) {
        Validator memory v = _validators[account];
        return v.stake != 0 && v.withdrawableAt == 0;
    }

    // ------------------------------------------------------------------ disputes

    /// @notice Dispute window `index` of `beastId`, posting the bond.
    /// @param dataset the private dataset bytes (empty for a beast without one).
    /// @param ownerSecret S_owner (0x0 for a beast without a private dataset).
    function openDispute(uint256 beastId, uint256 index, bytes calldata dataset, bytes32 ownerSecret)
        external
        returns (uint256 disputeId)
    {
        // INVARIANT: the dataset reaches validators only as this call's calldata, which they read
        // back from the transaction's input. Called through another contract, the input would be
        // that contract's call: validators could not replay, and their "unavailable" votes would
        // slash an honest trainer. So the caller must be the account that sent the transaction.
        // (An EIP-7702 account calling from its own delegated code still passes this check; its
        // disputes read as unreadable, and validators abstain on them: docs/PROTOCOL.md §6.)
        if (msg.sender != tx.origin) revert DisputeNotDirectCall(msg.sender);
        Beast.HatchData memory h = beast.hatchData(beastId);
        bytes32 datasetHash;
        if (h.datasetCommitment == bytes32(0)) {
            // INVARIANT: a beast without private curriculum takes neither dataset nor secret.
            if (dataset.length != 0 || ownerSecret != bytes32(0)) revert DisputeUnexpectedCurriculum(beastId);
        } else {
            uint256 maximum = registry.value(SeasonRegistry.Param.MaxDatasetBytes);
            if (dataset.length > maximum) revert DisputeDatasetTooLarge(dataset.length, maximum);
            datasetHash = keccak256(dataset);
            // INVARIANT: the dataset and secret are the ones committed at hatch.
            if (datasetHash != h.datasetCommitment) revert DisputeDatasetMismatch(h.datasetCommitment, datasetHash);
            bytes32 secretHash = keccak256(abi.encodePacked(ownerSecret));
            if (secretHash != h.secretCommitment) revert DisputeSecretMismatch(h.secretCommitment, secretHash);
        }
        // The ledger is our own contract: it checks status and challenge period and marks the
        // window disputed; it makes no call back into this contract.
        bytes32 committed = ledger.beginDispute(beastId, index);
        uint256 bond = registry.value(SeasonRegistry.Param.BondMultiplier) * uint64(uint256(committed) >> ENERGY_BURN_OFFSET);
        uint256 deadline = block.number + registry.value(SeasonRegistry.Param.VotingPeriod);

        // unchecked: one id per transaction.
        unchecked {
            disputeId = ++disputeCount;
        }
        Dispute storage d = _disputes[disputeId];
        d.beastId = beastId;
        d.index = uint64(index);
        d.votingDeadline = uint64(deadline);
        d.challenger = msg.sender;
        d.bond = uint128(bond);
        d.word = committed;
        emit DisputeOpened(disputeId, beastId, index, msg.sender, bond, datasetHash, ownerSecret, deadline);
        // Interaction last: the bond is pulled after the dispute is recorded; no hooks.
        if (bond != 0) energy.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @notice Vote the word your replay of the disputed window produced.
    /// @param computedWord the full 32-byte word; STATE_UNAVAILABLE (0x0) when the trainer's
    ///        start state could not be obtained.
    function vote(uint256 disputeId, bytes32 computedWord) external {
        Dispute storage d = _existing(disputeId);
        if (d.outcome != Outcome.Open) revert DisputeAlreadyResolved(disputeId, d.outcome);
        if (block.number > d.votingDeadline) revert DisputeVotingClosed(disputeId, d.votingDeadline);
        if (!isActiveValidator(msg.sender)) revert DisputeNotValidator(msg.sender);
        if (_votes[disputeId][msg.sender] != Vote.None) revert DisputeAlreadyVoted(disputeId, msg.sender);
        if (d.voters.length >= MAX_VOTERS) revert DisputeVotersFull(disputeId);
        bool agrees = computedWord == d.word;
        _votes[disputeId][msg.sender] = agrees ? Vote.Agree : Vote.Against;
        d.voters.push(msg.sender);
        // unchecked: at most MAX_VOTERS (64) votes fit a uint8 counter; openVotes is bounded by
        // the number of disputes a validator can vote in before they resolve (< 2^32 in practice
        // as each vote is a transaction).
        unchecked {
            if (agrees) ++d.agree;
            else ++d.against;
            ++_validators[msg.sender].openVotes;
        }
        emit VoteCast(disputeId, msg.sender, computedWord, agrees);
    }

    /// @notice Resolve a dispute once one side has a quorum (and more votes), or after the
    ///         voting deadline. Anyone may call it. A decided outcome (Upheld, Diverged) slashes
    ///         every voter on the losing side by WrongVoteSlashBps of its stake and adds the sum
    ///         to what the winners share.
    function resolve(uint256 disputeId) external returns (Outcome outcome) {
        Dispute storage d = _existing(disputeId);
        if (d.outcome != Outcome.Open) revert DisputeAlreadyResolved(disputeId, d.outcome);
        uint256 agree = d.agree;
        uint256 against = d.against;
        uint256 quorum = registry.value(SeasonRegistry.Param.ValidatorQuorum);
        if (agree >= quorum && agree > against) outcome = Outcome.Upheld;
        else if (against >= quorum && against > agree) outcome = Outcome.Diverged;
        else if (block.number > d.votingDeadline) outcome = Outcome.NoQuorum;
        else revert DisputeNotResolvable(disputeId, d.votingDeadline);
        d.outcome = outcome;

        // The losing side of a decided outcome, and the rate its voters lose (read only when
        // someone voted on that side; NoQuorum slashes nobody).
        Vote loser = outcome == Outcome.Upheld ? Vote.Against : Vote.Agree;
        uint256 losers = outcome == Outcome.Upheld ? against : (outcome == Outcome.Diverged ? agree : 0);
        uint256 bps = losers == 0 ? 0 : registry.value(SeasonRegistry.Param.WrongVoteSlashBps);

        address[] memory voters = d.voters;
        uint256 slashed; // S: the sum of the penalties
        for (uint256 i = 0; i < voters.length; ++i) {
            Validator storage v = _validators[voters[i]];
            // unchecked: every voter in the list incremented openVotes once for this dispute.
            unchecked {
                --v.openVotes;
            }
            if (bps == 0 || _votes[disputeId][voters[i]] != loser) continue;
            uint256 stake = v.stake;
            uint256 penalty;
            // unchecked: stake < 2^128 and bps <= 5000 (SeasonRegistry._check), so the product
            // cannot overflow and penalty <= stake / 2 cannot underflow the stake; the sum of at
            // most MAX_VOTERS penalties stays below 2^134.
            unchecked {
                penalty = stake * bps / BPS;
                if (penalty == 0) continue;
                v.stake = uint128(stake - penalty);
                slashed += penalty;
            }
            emit ValidatorSlashed(disputeId, voters[i], penalty);
        }
        emit DisputeResolved(disputeId, outcome, agree, against);

        uint256 bond = d.bond;
        if (outcome == Outcome.Diverged) {
            // The ledger is trusted; it transfers the escrow to this contract (no hooks).
            uint256 escrow = ledger.settleDispute(d.beastId, d.index, true);
            uint256 share = (escrow / 2 + slashed) / against;
            _creditVoters(disputeId, voters, Vote.Against, share);
            _credit(disputeId, d.challenger, bond + escrow + slashed - share * against);
        } else {
            ledger.settleDispute(d.beastId, d.index, false);
            if (outcome == Outcome.Upheld) {
                uint256 share = (bond / 2 + slashed) / agree;
                _creditVoters(disputeId, voters, Vote.Agree, share);
                _credit(disputeId, beast.ownerOf(d.beastId), bond + slashed - share * agree);
            } else {
                _credit(disputeId, d.challenger, bond);
            }
        }
    }

    /// @notice Transfer the caller's credited ENERGY.
    function claim() external returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert DisputeNothingToClaim(msg.sender);
        _credits[msg.sender] = 0;
        emit Claimed(msg.sender, amount);
        // Interaction after zeroing the credit.
        energy.safeTransfer(msg.sender, amount);
    }

    /// @notice ENERGY credited to `account` and not yet claimed.
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @notice A dispute's record: beastId, index, votingDeadline, challenger, bond, word, agree,
    ///         against, outcome, voters.
    function disputeOf(uint256 disputeId) external view returns (Dispute memory) {
        return _existing(disputeId);
    }

    /// @notice The vote `validator` cast in `disputeId` (None, Agree, Against).
    function voteOf(uint256 disputeId, address validator) external view returns (Vote) {
        return _votes[disputeId][validator];
    }

    function _existing(uint256 disputeId) private view returns (Dispute storage d) {
        d = _disputes[disputeId];
        if (d.challenger == address(0)) revert DisputeNotFound(disputeId);
    }

    function _creditVoters(uint256 disputeId, address[] memory voters, Vote side, uint256 share) private {
        if (share == 0) return;
        for (uint256 i = 0; i < voters.length; ++i) {
            if (_votes[disputeId][voters[i]] == side) _credit(disputeId, voters[i], share);
        }
    }

    function _credit(uint256 disputeId, address account, uint256 amount) private {
        if (amount == 0) return;
        _credits[account] += amount;
        emit Credited(disputeId, account, amount);
    }
}
