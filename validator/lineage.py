"""One beast's lineage as a watcher verifies it: the honest checkpoint states, window after window.

A :class:`Lineage` starts at the beast's genesis and replays each committed window (ledger index
k, the node's window k + 1) with the word's mask and lrShift and the ledger's epoch seed into its
129 step states (:class:`validator.bisection.ReplaySource`). A window whose word is exactly the
honest one moves the lineage on; the first window that is not stops it there: the watcher
challenges it, and the step states it computed are the ones it plays the game with. Windows after
a divergent one build on a state nobody honest has, so they are not checked until the chain's
lineage changes (a slash rewinds it; a new word is committed at that index).

A private beast whose committed dataset is invalid in a way the chain can check (an invalid record
or a bad length under its recordsRoot, :mod:`curriculum.invalid`) has no honest windows at all:
:attr:`Lineage.invalid` holds the proof and every window's source is an
:class:`~validator.bisection.InvalidDatasetSource` (the watcher challenges its first open window).

When the chain's lineage is no longer the one verified (a slash rewound it below the verified tip,
or an earlier word changed), the lineage starts again from genesis. A restarted watcher starts at the
tip it verified last (:mod:`validator.lineage_cache`), under the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.context import SampleSource
from kernel.errors import KernelError
from kernel.state import KernelState
from validator.bisection import InvalidDatasetSource, ReplaySource
from validator.errors import ChainError, DatasetInvalidError, ValidatorError
from validator.replay import BeastCommitments, ReplayRequest, genesis_state, sample_source


@dataclass(frozen=True)
class Curriculum:
    """A private beast's dataset file and owner secret (never in repr)."""

    dataset: bytes
    owner_secret: bytes

    def __repr__(self) -> str:
        return f"Curriculum(dataset={len(self.dataset)} bytes)"


@dataclass(frozen=True)
class Divergence:
    """A committed window whose word is not the honest one, with the honest step states."""

    beast: int
    index: int  # ledger index
    word: bytes
    source: ReplaySource | InvalidDatasetSource
    reason: str

    def to_json(self) -> dict[str, Any]:
        honest = self.source.word()
        return {"beast": self.beast, "window": self.index + 1, "ledgerIndex": self.index, "word": "0x" + self.word.hex(),
                "honestWord": "0x" + honest.hex() if honest else None, "reason": self.reason}


def divergence_reason(source: ReplaySource, word: bytes) -> str:
    """Why ``word`` is not the honest word of the window ``source`` replayed."""
    honest = source.word()
    if honest is None:
        return "the word's activeMask/lrShift may not follow the start checkpoint (an illegal first micro-step)"
    if honest[:16] != word[:16]:
        return "the word's h128 is not the replayed checkpoint's"
    return "the word's h128 is right but its other fields are not the checkpoint's"


class Lineage:
    """The verified checkpoints of one beast (module docstring)."""

    def __init__(self, reader: Any, beast_id: int, curriculum: Curriculum | None = None) -> None:
        self.reader = reader  # validator.chain.LedgerChainReader
        self.beast_id = beast_id
        self.commitments: BeastCommitments = reader.beast_commitments(beast_id)
        self.samples: SampleSource | None = None
        self.secret: bytes | None = None
        self.invalid: Any = None  # curriculum.invalid.InvalidDatasetProof of a provably invalid dataset
        if self.commitments.private:
            if curriculum is None:
                raise ChainError(f"beast {beast_id} trains on a private dataset this watcher does not hold")
            req = ReplayRequest(self.commitments, 1, dataset=curriculum.dataset, owner_secret=curriculum.owner_secret)
            try:
                # no season limit here: the file was read under the format's bound, and a step proof
                # opens one record whatever the file's size (the watcher logs a file over the season's)
                self.samples = sample_source(req, max_dataset_bytes=max(len(curriculum.dataset), 1))
            except DatasetInvalidError:
                from curriculum.invalid import invalid_dataset_proof

                self.invalid = invalid_dataset_proof(curriculum.dataset, self.commitments.records_root)
                if self.invalid is None:
                    raise  # not provable on chain (not a frame, a bad header, another records root): refused
            self.secret = curriculum.owner_secret
        self.reset()
        self._checked: dict[tuple[int, bytes], ReplaySource] = {}

    def reset(self) -> None:
        """Back to genesis."""
        self.state: KernelState = genesis_state(self.commitments)
        self.next_index = 0
        self.tip_block: int | None = None  # the commit block of window next_index - 1 when it was verified
        self.starts: dict[int, KernelState] = {}  # verified start checkpoint of each window reached

    def resume(self, tip: KernelState, tip_block: int | None) -> None:
        """Start at ``tip``, a checkpoint this watcher verified before (validator.lineage_cache) instead of
        genesis, its window committed in ``tip_block``; :meth:`follow` goes back to genesis if that
        window is no longer the one committed in that block."""
        self.state = tip
        self.next_index = tip.window
        self.tip_block = tip_block
        self.starts = {tip.window: tip}

    def source_for(self, index: int, word: bytes) -> ReplaySource | None:
        """The honest step states of window ``index`` committed as ``word``, when its start checkpoint was
        verified (a window the lineage reached: the tip, a divergent one, or one a slash took off).
        Every window of a beast on a provably invalid dataset has the same source: the proof."""
        if self.invalid is not None:
            return InvalidDatasetSource(self.invalid)
        start = self.starts.get(index)
        return None if start is None else self.replay(index, start, word)

    def first_open(self, count: int, word_at: Any, status_at: Any) -> Divergence | None:
        """A beast on a provably invalid dataset: its first window still Committed or Challenged
        (``status_at(i)`` a devnet.bindings.WindowStatus), every one of which loses to the proof."""
        from devnet.bindings import WindowStatus

        while self.next_index < count and status_at(self.next_index) == WindowStatus.FINALIZED:
            self.next_index += 1  # final for good: never looked at again
        for k in range(self.next_index, count):
            if status_at(k) in (WindowStatus.COMMITTED, WindowStatus.CHALLENGED):
                return Divergence(self.beast_id, k, word_at(k), InvalidDatasetSource(self.invalid),
                                  f"the committed dataset is invalid: {self.invalid.reason} (SPEC §10.6)")
        return None

    def replay(self, index: int, start: KernelState, word: bytes) -> ReplaySource:
        """The honest step states of window ``index`` from ``start`` with ``word``'s settings (cached per word)."""
        key = (index, word)
        if key not in self._checked:
            seed = self.reader.epoch_seed(self.beast_id, start.params.epoch_of_window(index + 1))
            try:
                self._checked[key] = ReplaySource(start, word, seed, samples=self.samples, owner_secret=self.secret)
            except KernelError as exc:
                raise ValidatorError(f"beast {self.beast_id} window {index + 1} cannot be replayed: {exc}") from None
            while len(self._checked) > 8:
                self._checked.pop(next(iter(self._checked)))
        return self._checked[key]

    def follow(self, count: int, word_at: Any, block_at: Any, skip: Any = lambda index: False) -> Divergence | None:
        """Verify windows from the tip up to ``count`` (the ledger's windowCount); ``word_at(i)`` reads a word,
        ``skip(i)`` says a window is being voided, ``block_at(i)`` reads its commit block (None: not a
        window). Returns the first divergent window, or None.

        The chain's lineage changed under the verified tip when the window below it is not the one
        verified, committed in that block: a rewind voided it (and every window from the slashed one
        up) and it was committed again, in a later block than the one the watcher saw, even with the
        same word -- the windows below it may differ; then back to genesis. (Comparing the tip's word
        alone missed that: a trainer could commit a false window under an honest tip while nobody looked.)
        """
        if self.next_index > count or (self.next_index > 0 and block_at(self.next_index - 1) != self.tip_block):
            self.reset()
        while self.next_index < count:
            k = self.next_index
            self.starts[k] = self.state
            if skip(k):
                return None
            block = block_at(k)  # before the word: a window committed again in between shows a new block next time
            word = word_at(k)
            src = self.replay(k, self.state, word)
            if src.word() != word:
                return Divergence(self.beast_id, k, word, src, divergence_reason(src, word))
            self.state = src.kernel_state(128)
            self.next_index = k + 1
            self.tip_block = block
        return None


__all__ = ["Curriculum", "Divergence", "Lineage", "divergence_reason"]
