"""Watch mode: replay every committed window this validator can, challenge the ones that diverge, play
those games to the end, claim the reward (BisectionGame 2.1.0, docs/PROTOCOL.md §10).

One round (:meth:`Watcher.run_once`):

0. **Seal.** An epoch a watched beast has closed (its last committed window ends the epoch) whose
   seed nobody sealed is sealed with one ``sealEpochSeeds`` for the round (anyone may; the seed is
   the hash of the closing commit's block). Left to the trainer, the seal's timing would be its
   choice: past the EVM's 256-block horizon each seal reads another block's hash (C + 256 j), so a
   trainer who dislikes the seed (and the board template it picks) could wait 256 blocks at a time
   until it likes one (docs/PROTOCOL.md §4).
1. **Check.** For every spec-version-2 beast (public ones, and private ones whose dataset and owner
   secret this watcher was given) the beast's :class:`validator.lineage.Lineage` replays the
   committed windows it has not verified yet, in order, into their 129 step states. The first
   window whose word is not the honest one is a divergence. A private beast whose committed dataset is
   provably invalid (SPEC §10.6; :mod:`curriculum.invalid`) has no honest window: its first open one is
   the divergence, and its game is won at once with ``proveInvalidDataset``.
2. **Commit.** A divergent window still inside its challenge period that this watcher has not
   challenged gets a challenge commitment: a fresh random salt is written to the record *before*
   ``commitChallenge(keccak256(abi.encode(me, beast, index, salt)))`` is sent, so a crash never
   loses it. Nobody can copy a commitment: it hides the window and binds the challenger. A window our won
   game slashed that is committed again with the very same word is a new window: challenged again.
3. **Reveal.** A commitment mined in an earlier block is revealed: ``challenge(beast, index, salt)``
   posts the bond and opens this watcher's game (found again from the GameOpened logs after a crash
   between sending and recording).
4. **Play.** Every game the watcher opened gets its next move (:mod:`validator.bisection`): respond
   to the defender's claims with the honest hashes, prove the last step, prove a lying word, or call
   ``timeout`` once the defender's clock ran out.
5. **Claim.** A game the watcher won ends with ``claimReward`` once no game on that window is still
   open (the reward goes to the winning challenger with the earliest commitment; a later winner's
   claim is refused and only its bond came back).

Everything the watcher must not forget (salts, commitments, games, claims) is in its
:class:`validator.watch_record.GameRecord`, written atomically before and after each transaction (the
commitment's steps are :mod:`validator.challenge_salt`'s, shared with ``cb-dispute challenge``);
everything else is read from the chain again. Each decision is one JSON line; no salt before its
reveal, state byte, dataset byte or secret is ever logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

from devnet.bindings import SEAL_MAX
from devnet.errors import ContractError, LedgerError, chain_call
from validator.bisection import CHALLENGER_WON, DEFENDER_WON, ReplaySource, Side, next_move, read_game, send_move
from validator.chain import LedgerChainReader, map_chain_error
from validator.crash import crash_point
from validator.challenge_salt import find_game, live_entry, new_commitment, record_opened, salt_of, send_commitment
from validator.errors import ValidatorError
from validator.lineage import Curriculum, Divergence, Lineage
from validator.lineage_cache import LineageCache
from validator.watch_record import GameRecord

GAME_SPEC_VERSION: Final = 2  # BisectionGame.SPEC_VERSION: the only beasts a game judges
# Reverts of challenge() after which this window cannot be challenged by us any more.
_WINDOW_CLOSED: Final = frozenset({"LedgerWindowNotOpen", "LedgerChallengePeriodOver", "LedgerWindowNotFound",
                                   "GameSpecVersion"})


def json_logger(stream: TextIO) -> Callable[[dict[str, Any]], None]:
    """A logger writing one JSON object per line with a UTC timestamp."""
    lock = threading.Lock()

    def emit(entry: dict[str, Any]) -> None:
        line = json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}, sort_keys=False)
        with lock:
            stream.write(line + "\n")
            stream.flush()

    return emit


class Watcher:
    """Replays committed windows and plays the challenger's side of every game it opens (module docstring)."""

    def __init__(
        self,
        chain: Any,  # devnet.bindings.ChainBeasts
        account: Any,  # eth_account LocalAccount
        record_path: Any,
        *,
        curricula: dict[int, Curriculum] | None = None,
        beasts: set[int] | None = None,
        log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.chain = chain
        self.account = account
        self.reader = LedgerChainReader(chain)
        self.curricula = dict(curricula or {})
        self.only = set(beasts) if beasts else None
        self.log = log or (lambda entry: None)
        chain_id = self._read("reading the chain id", chain.chain_id)
        self.record = GameRecord(record_path, account.address, chain_id)
        self.lineages: dict[int, Lineage] = {}
        self.cache = LineageCache(record_path)  # verified tips, so a restart does not replay from genesis
        self.unfollowed: dict[int, str] = {}  # beast -> why it is not checked (logged once)
        self.sources: dict[tuple[int, int, bytes], ReplaySource] = {}  # (beast, index, word) -> honest step states
        self._seen: set[tuple[int, int, bytes]] = set()
        self._epoch_windows: int | None = None
        self._sealed: set[tuple[int, int]] = set()  # (beast, epoch) whose seed the ledger holds
        self._out: list[dict[str, Any]] = []  # the current round's decisions

    def _note(self, entry: dict[str, Any]) -> None:
        """Log a decision and keep it in the current round's list."""
        self.log(entry)
        self._out.append(entry)

    def close(self) -> None:
        self.record.close()

    def _read(self, what: str, fn: Callable[[], Any]) -> Any:
        return chain_call(what, fn, map_chain_error)

    def _read_unless(self, what: str, fn: Callable[[], Any], absent: str) -> Any:
        """``_read``, or None when the chain answers with the custom error named ``absent``."""
        def guarded() -> Any:
            try:
                return fn()
            except ContractError as exc:
                if exc.name == absent:
                    return None
                raise

        return self._read(what, guarded)

    # -- 0. seal ----------------------------------------------------------------------------

    def window_count(self, beast: int) -> int:
        """``windowCount(beast)``: read once a round, for the seal and the check."""
        return int(self._read(f"windowCount({beast})", lambda: self.chain.window_count(beast)))

    def unsealed_epoch(self, beast: int, count: int) -> int | None:
        """The epoch ``beast`` (``count`` windows on its lineage) has closed whose seed nobody sealed
        yet, if any: only the epoch its last window closes can be one (a commit of an epoch's first
        window seals it)."""
        if self._epoch_windows is None:
            self._epoch_windows = int(self._read("CheckpointLedger.epochSteps", self.chain.epoch_windows))
        if count == 0 or count % self._epoch_windows:
            return None
        epoch = count // self._epoch_windows
        if (beast, epoch) in self._sealed:
            return None
        seed = self._read_unless(f"epochSeed({beast}, {epoch})", lambda: self.chain.epoch_seed(beast, epoch),
                                 "LedgerEpochSeedUnknown")
        if seed is None:
            return epoch
        self._sealed.add((beast, epoch))
        return None

    def seal(self, keys: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """Seal ``keys`` = [(beast, epoch)] in transactions of SEAL_MAX; one decision per epoch sealed."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(keys), SEAL_MAX):
            part = keys[i:i + SEAL_MAX]
            try:
                tx = self.chain.seal_epoch_seeds(self.account, [b for b, _ in part], [e for _, e in part])
            except (ContractError, LedgerError) as exc:  # voided meanwhile, or the chain refused: next round reads again
                out.append({"event": "seal_failed", "epochs": [{"beast": b, "epoch": e} for b, e in part],
                            "reason": str(exc)})
                continue
            for ev in tx.all("EpochSeeded"):
                key = (int(ev.args["beastId"]), int(ev.args["epoch"]))
                self._sealed.add(key)
                out.append({"event": "epoch_sealed", "beast": key[0], "epoch": key[1], "tx": tx.tx_hash})
            self._sealed.update(part)  # sealed by us or, in between, by someone else: a seal is final
        return out

    # -- 1. check ---------------------------------------------------------------------------

    def _lineage(self, beast: int) -> Lineage | None:
        if beast in self.unfollowed:
            return None
        lin = self.lineages.get(beast)
        if lin is None:
            cur = self.curricula.get(beast)
            try:
                lin = Lineage(self.reader, beast, cur)
            except ValidatorError as exc:
                self.unfollowed[beast] = str(exc)
                self._note({"event": "skip", "beast": beast, "reason": str(exc)})
                return None
            self.lineages[beast] = lin
            if cur is not None and lin.commitments.private:
                self._note_dataset(beast, lin, cur)
            if lin.invalid is None:
                self._resume(beast, lin)
        return lin

    def _resume(self, beast: int, lin: Lineage) -> None:
        """Start a new lineage at the tip this watcher verified before it stopped, if the cache has a usable one
        (validator.lineage_cache)."""
        tip, tip_block, why = self.cache.load(beast, lin.state)
        if tip is not None:
            below = self._ours_below(beast, tip.window)
            if below is not None:
                tip, why = None, f"a challenge or game of ours is on window {below + 1}, below the cached tip"
        if why is not None:
            self._note({"event": "lineage_cache_ignored", "beast": beast, "reason": why,
                        "action": "replaying from genesis"})
        if tip is not None and tip.window > 0:
            lin.resume(tip, tip_block)
            self._note({"event": "lineage_resumed", "beast": beast, "windows": tip.window})

    def _ours_below(self, beast: int, tip: int) -> int | None:
        """The ledger index of a pending challenge or unfinished game of ours on ``beast`` below ``tip``, if any."""
        entries = [*self.record.pending_challenges(), *self.record.games("playing", "ended").values()]
        below = [int(e["index"]) for e in entries if int(e["beast"]) == beast and int(e["index"]) < tip]
        return min(below, default=None)

    def _note_dataset(self, beast: int, lin: Lineage, cur: Curriculum) -> None:
        """Log (once per beast) what is unusual about a private beast's dataset the watcher still acts on:
        a file over the season's maxDatasetBytes (no loader of the season accepts it, yet a step proof
        opens one record, so its windows are replayed and disputed as any other's), or a provably
        invalid dataset (every window loses to ``proveInvalidDataset``)."""
        limit = self.reader.max_dataset_bytes()
        if len(cur.dataset) > limit:
            self._note({"event": "dataset_over_season_limit", "beast": beast, "bytes": len(cur.dataset),
                        "maxDatasetBytes": limit, "reason": "replayed and disputed anyway: a step proof opens one record"})
        if lin.invalid is not None:
            self._note({"event": "dataset_invalid", "beast": beast, "reason": lin.invalid.reason,
                        "action": "every open window is challenged and won with proveInvalidDataset"})

    def check_beast(self, beast: int, count: int | None = None) -> Divergence | None:
        """Follow one beast's lineage (``count`` windows, read when not given); returns its first
        divergent window (its states kept for the game)."""
        from devnet.bindings import WindowStatus

        lin = self._lineage(beast)
        if lin is None:
            return None
        if count is None:
            count = self.window_count(beast)

        def word_at(i: int) -> bytes:
            return bytes(self._read(f"word({beast}, {i})", lambda: self.chain.word(beast, i)))

        def status_at(i: int) -> Any:
            return self._read(f"windowStatus({beast}, {i})", lambda: self.chain.window_status(beast, i))

        def block_at(i: int) -> int | None:  # None: voided and cleared meanwhile, not the window verified
            return self._read_unless(f"commitBlockOf({beast}, {i})", lambda: self.chain.commit_block(beast, i),
                                     "LedgerWindowNotFound")

        def being_voided(i: int) -> bool:
            return status_at(i) not in (WindowStatus.COMMITTED, WindowStatus.CHALLENGED, WindowStatus.FINALIZED)

        # a provably invalid dataset has no honest window: the first open one loses to the proof
        if lin.invalid is not None:
            d = lin.first_open(count, word_at, status_at)
        else:
            d = lin.follow(count, word_at, block_at, being_voided)
            try:
                self.cache.save(beast, lin.state, lin.tip_block)
            except OSError as exc:  # a full disk costs the next restart its replays, never a round
                self._note({"event": "lineage_cache_failed", "beast": beast, "reason": str(exc)})
        if d is not None:
            self.sources[(beast, d.index, d.word)] = d.source
        return d

    def beasts(self) -> list[int]:
        """The beasts to check: every hatched one (or the configured ones) of a version-2 deployment."""
        version = self._read("Beast.SPEC_VERSION", self.chain.spec_version)
        if version != GAME_SPEC_VERSION:
            if -1 not in self.unfollowed:
                self.unfollowed[-1] = f"spec version {version}"
                self._note({"event": "skip", "reason": f"this deployment hatches spec-version-{version} beasts; the "
                                                     f"bisection game judges version {GAME_SPEC_VERSION} only"})
            return []
        total = self._read("Beast.totalHatched", self.chain.total_hatched)
        return [b for b in range(1, total + 1) if self.only is None or b in self.only]

    # -- 2. commit ----------------------------------------------------------------------------

    def _challengeable(self, d: Divergence, block: int) -> str | None:
        """Why ``d`` cannot be challenged now (None when it can)."""
        from devnet.bindings import WindowStatus

        status = self._read("windowStatus", lambda: self.chain.window_status(d.beast, d.index))
        if status not in (WindowStatus.COMMITTED, WindowStatus.CHALLENGED):
            return f"window is {status.name.lower()}"
        deadline = self._read("challengeDeadline", lambda: self.chain.challenge_deadline(d.beast, d.index))
        if block + 2 > deadline:  # the commitment first, the challenge in a later block
            return f"its challenge period ends at block {deadline}, before a commitment and its reveal fit in"
        return None

    def commit(self, d: Divergence, block: int) -> dict[str, Any] | None:
        """Commit a challenge of ``d`` unless one of ours is pending or opened on this very word."""
        entry = live_entry(self.record, d.beast, d.index, d.word)
        if entry is not None and not self._committed_again(d, entry):
            return None
        base = {"beast": d.beast, "window": d.index + 1, "ledgerIndex": d.index}
        why_not = self._challengeable(d, block)
        if why_not is not None:
            key = (d.beast, d.index, d.word)
            if key not in self._seen:
                self._seen.add(key)
                return {"event": "diverged_unchallengeable", **base, "reason": why_not}
            return None
        bond = self._read("the bond", lambda: self.chain.challenge_bond(d.word))
        balance = self._read("the ENERGY balance", lambda: self.chain.balance_of(self.account.address))
        if balance < bond:
            key = (d.beast, d.index, d.word)
            if key not in self._seen:
                self._seen.add(key)
                return {"event": "diverged_unchallengeable", **base, "reason": f"the bond is {bond} wei of ENERGY, "
                        f"this account holds {balance}"}
            return None
        self._ensure_bond(d.word)
        entry = new_commitment(self.record, d.beast, d.index, d.word)  # the salt is on disk before anything is sent
        block, tx = self._read("commitChallenge", lambda: send_commitment(self.chain, self.account, self.record, entry))
        return {"event": "commit_challenge", **base, **d.to_json(), "tx": tx.tx_hash if tx is not None else None,
                "block": block}

    def _committed_again(self, d: Divergence, entry: dict[str, Any]) -> bool:
        """Whether the window of our won game was committed again with the very same word (after the slash
        rewound the lineage, or the voided slot was cleared): a new window, challenged again. A game we
        lost leaves the window as it was: never challenged twice."""
        from devnet.bindings import WindowStatus

        gid = entry.get("gameId")
        game = self.record.game(int(gid)) if entry.get("status") == "opened" and gid is not None else None
        if game is None or game.get("outcome") != "challenger_won":
            return False
        status = self._read("windowStatus", lambda: self.chain.window_status(d.beast, d.index))
        # a won game's window is Slashed (or was Voided under it) for good: Committed again is a new slot
        return status in (WindowStatus.COMMITTED, WindowStatus.CHALLENGED)

    def _ensure_bond(self, word: bytes) -> None:
        """Approve the game for bonds (once, unlimited)."""
        game = self.chain.addresses["BisectionGame"]
        allowance = self._read("allowance", lambda: self.chain.allowance(self.account.address, game))
        if allowance < 2**255:
            self._read("approving the bisection game", lambda: self.chain.approve(self.account, game))

    # -- 3. reveal ------------------------------------------------------------------------------

    def reveal(self, entry: dict[str, Any], block: int) -> dict[str, Any] | None:
        """Send ``challenge`` for a commitment mined in an earlier block; records the game it opened."""
        beast, index, status = int(entry["beast"]), int(entry["index"]), entry.get("status")
        base = {"beast": beast, "window": index + 1, "ledgerIndex": index}
        if status == "committing":  # the commitment may not have been mined: commit again (same salt)
            try:
                at, tx = send_commitment(self.chain, self.account, self.record, entry)
            except (ContractError, LedgerError) as exc:
                raise map_chain_error("commitChallenge", exc) from None
            return {"event": "commit_challenge", **base, **({"tx": tx.tx_hash} if tx is not None else {}), "block": at,
                    "resumed": True}
        if status == "challenging":
            gid = self._read("games of the window", lambda: find_game(self.chain, self.account, beast, index,
                                                                        entry["word"]))
            if gid is not None:
                return self._opened(entry, gid, None, recovered=True)
        elif status != "committed" or block < int(entry["commitBlock"]):
            return None  # (the reveal lands in a later block than the commitment's: block + 1 > commitBlock)
        self.record.put_challenge(beast, index, status="challenging")
        try:
            gid = self.chain.challenge(self.account, beast, index, salt_of(entry))
        except ContractError as exc:
            if exc.name == "GameCommitmentMissing" and int(exc.args_by_name.get("committedAt", 0)) != 0:
                # committed in the block the reveal was judged in (a node that estimates in the latest
                # block): reveal again next round, once a later block exists
                self.record.put_challenge(beast, index, status="committed")
                return {"event": "reveal_waiting", **base, "reason": str(exc)}
            if exc.name == "GameCommitmentMissing" or exc.name in _WINDOW_CLOSED:
                self.record.put_challenge(beast, index, status="dropped", reason=str(exc))
                return {"event": "challenge_dropped", **base, "reason": str(exc)}
            raise map_chain_error("challenge", exc) from None
        except LedgerError as exc:
            raise map_chain_error("challenge", exc) from None
        crash_point("watch_reveal_mined")
        return self._opened(entry, int(gid), None)

    def _opened(self, entry: dict[str, Any], gid: int, tx: str | None, recovered: bool = False) -> dict[str, Any]:
        beast, index = int(entry["beast"]), int(entry["index"])
        record_opened(self.record, entry, gid)
        return {"event": "challenge", "beast": beast, "window": index + 1, "ledgerIndex": index, "gameId": gid,
                "recovered": recovered}

    # -- 4. play, 5. claim -----------------------------------------------------------------------

    def play_game(self, gid: int, entry: dict[str, Any], block: int) -> dict[str, Any] | None:
        """One move (or the claim) of game ``gid``; returns the logged decision."""
        beast, index = int(entry["beast"]), int(entry["index"])
        base = {"gameId": gid, "beast": beast, "window": index + 1}
        g = read_game(self.chain, gid)
        if g.open:
            src = self.sources.get((beast, index, g.word))
            lin = self.lineages.get(beast)
            if src is None and lin is not None:
                src = lin.source_for(index, g.word)  # e.g. a window another game slashed meanwhile (after a restart)
            if src is None:
                return None  # the lineage has not reached this window yet (restart): next round
            move = next_move(g, Side.CHALLENGER, src, block)
            if move is None:
                return None
            tx = self._read(f"{move.kind} in game {gid}", lambda: send_move(self.chain, self.account, move))
            return {"event": "move", **base, **move.to_json(), "tx": tx.tx_hash}
        outcome = "challenger_won" if g.outcome == CHALLENGER_WON else "defender_won" if g.outcome == DEFENDER_WON else g.outcome
        if entry.get("status") == "playing":
            self.record.put_game(gid, status="ended", outcome=outcome)
            entry = {**entry, "status": "ended"}
            if g.outcome != CHALLENGER_WON:
                self.record.put_game(gid, status="settled")
                return {"event": "game_ended", **base, "outcome": outcome}
        if entry.get("status") != "ended":
            return None
        return self._claim(gid, beast, index, base)

    def _claim(self, gid: int, beast: int, index: int, base: dict[str, Any]) -> dict[str, Any] | None:
        """claimReward once no game on the window is open (anyone may call it: the game pays the winner
        with the earliest commitment, which a won game of ours may or may not be)."""
        for other in self._read("games of the window", lambda: self.chain.games_of_window(beast, index)):
            if read_game(self.chain, int(other)).open:
                return None  # the reward is paid once no game on the window is open
        stored = read_game(self.chain, gid).stored
        try:
            tx = self.chain.claim_reward(self.account, beast, index, stored)
        except ContractError as exc:  # not the earliest winner, or nothing held for the window
            self.record.put_game(gid, status="settled", claim=str(exc))
            return {"event": "game_ended", **base, "outcome": "challenger_won", "reward": None, "reason": str(exc)}
        except LedgerError as exc:
            raise map_chain_error("claimReward", exc) from None
        amount = _reward_amount(tx)
        self.record.put_game(gid, status="claimed", reward=str(amount), tx=tx.tx_hash)
        return {"event": "reward_claimed", **base, "amount": str(amount), "tx": tx.tx_hash}

    # -- the round ----------------------------------------------------------------------------

    def run_once(self) -> list[dict[str, Any]]:
        """One round (module docstring); returns the decisions it logged."""
        out: list[dict[str, Any]] = []
        self._out = out

        def emit(entry: dict[str, Any] | None) -> None:
            if entry is not None:
                self._note(entry)

        block = self._read("blockNumber", self.chain.block_number)
        unsealed: list[tuple[int, int]] = []
        for beast in self.beasts():
            try:  # one beast's trouble (an unreadable window, a refused commitment) never stops the others' games
                count = self.window_count(beast)
                epoch = self.unsealed_epoch(beast, count)
                if epoch is not None:
                    unsealed.append((beast, epoch))
                d = self.check_beast(beast, count)
                if d is not None:
                    emit(self.commit(d, block))
            except ValidatorError as exc:
                emit({"event": "error", "beast": beast, "error": type(exc).__name__, "reason": str(exc)})
        for entry in self.seal(unsealed):
            emit(entry)
        block = self._read("blockNumber", self.chain.block_number)
        for entry in self.record.pending_challenges():
            try:
                emit(self.reveal(entry, block))
            except ValidatorError as exc:
                emit({"event": "error", "beast": entry["beast"], "window": int(entry["index"]) + 1,
                      "error": type(exc).__name__, "reason": str(exc)})
        for gid, entry in self.record.games("playing", "ended").items():
            block = self._read("blockNumber", self.chain.block_number)
            try:
                emit(self.play_game(gid, entry, block))
            except ValidatorError as exc:  # a race with the defender's move or a timeout: read again next round
                emit({"event": "move_failed", "gameId": gid, "reason": str(exc)})
        return out

    def run(self, poll_s: float, stop: threading.Event, max_rounds: int | None = None) -> int:
        """Rounds every ``poll_s`` seconds until ``stop`` is set (or ``max_rounds``); returns rounds run."""
        rounds = 0
        while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
            try:
                self.run_once()
            except ValidatorError as exc:  # the chain is briefly unreachable: log and keep watching
                self.log({"event": "error", "error": type(exc).__name__, "reason": str(exc)})
            rounds += 1
            stop.wait(poll_s)
        return rounds


def _reward_amount(tx: Any) -> int:
    try:
        return int(tx.event("RewardClaimed").args["amount"])
    except (KeyError, AttributeError):
        return 0


__all__ = ["Watcher", "json_logger"]
