"""Honest and cheating trainers for the validator tests: real kernel windows, no fakes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from curriculum import PrivateDatasetSource, decode_dataset, encode_dataset
from curriculum.importers import read_csv
from curriculum.records import records_root
from kernel.board import EMPTY, N_TILES, Board, Creature
from kernel.context import WindowContext
from kernel.hashing import keccak256
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.state import ZERO32, KernelState, encode_state_blob, genesis
from kernel.train import WindowResult, train_window
from validator.replay import BeastCommitments, ReplayRequest


LIMIT_RAISED = 384 * 1024  # maxDatasetBytes raised above the 256 KiB default to its bound (SeasonRegistry.MAX_DATASET_BYTES_LIMIT)
EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "curriculum" / "examples" / "battles.csv"


@dataclass
class TrainedWindow:
    """Window K (1-based) of a beast: its start checkpoint K-1 and what the trainer committed."""

    window: int
    start: KernelState
    result: WindowResult
    prev_h128: bytes

    @property
    def start_blob(self) -> bytes:
        return encode_state_blob(self.start)

    @property
    def word(self) -> bytes:
        return self.result.payload.pack()

    @property
    def payload(self) -> Payload:
        return self.result.payload

    @property
    def digests(self) -> list[bytes]:
        return list(self.result.digests)


@dataclass
class Beast:
    """A trained beast: hatch data, windows 1..n, and (private beasts) dataset and secret."""

    commitments: BeastCommitments
    windows: list[TrainedWindow]
    dataset: bytes | None = field(default=None, repr=False)
    secret: bytes | None = field(default=None, repr=False)

    def request(self, k: int, **overrides: object) -> ReplayRequest:
        """An honest ReplayRequest for window k (start state blob; genesis for k == 1)."""
        w = self.windows[k - 1]
        args: dict[str, object] = dict(
            beast=self.commitments,
            window=k,
            start_state=None if k == 1 else w.start_blob,
            prev_h128=w.prev_h128,
            committed_word=w.word,
            epoch_seed=w.result.state.epoch_seed,
            dataset=self.dataset,
            owner_secret=self.secret,
        )
        args.update(overrides)
        return ReplayRequest(**args)  # type: ignore[arg-type]


def train(state: KernelState, source: object, n: int) -> list[TrainedWindow]:
    """Train n windows from ``state`` with digests."""
    out: list[TrainedWindow] = []
    for _ in range(n):
        r = train_window(state, source, want_digests=True)  # type: ignore[arg-type]
        out.append(TrainedWindow(state.window + 1, state, r, state.h128()))
        state = r.state
    return out


def public_beast(seed: bytes = keccak256(b"validator tests: public beast"), n: int = 3, *, spec_version: int = 1) -> Beast:
    """A public beast of ``spec_version`` trained honestly for n windows."""
    return Beast(BeastCommitments(seed, spec_version=spec_version),
                 train(genesis(seed, spec_version=spec_version), PublicSource(), n))


def example_dataset() -> bytes:
    """The dataset file of curriculum/examples/battles.csv."""
    return encode_dataset(read_csv(EXAMPLE_CSV))


SECRET = keccak256(b"validator tests: owner secret")  # fold64 of a repeated byte pattern is 0: use real-looking secrets
OTHER_SECRET = keccak256(b"validator tests: another secret")


def large_dataset(n_records: int = 13_000, *, max_bytes: int = LIMIT_RAISED) -> bytes:
    """A dataset file of ``n_records`` random legal boards, barely compressible (about 25 bytes a record:
    13,000 records make a file over the 256 KiB default limit and under 384 KiB), written by
    curriculum's writer with its limit raised to ``max_bytes``."""
    rng = random.Random(11)

    def creature() -> Creature:
        return Creature(hp=rng.randint(1, 255), stamina=rng.randrange(16), defense=rng.randrange(256),
                        temp_def=rng.randrange(97), crit=rng.randrange(2), last_action=rng.randrange(5))

    boards = []
    for _ in range(n_records):
        tiles = [rng.randrange(3) for _ in range(N_TILES)]  # EMPTY, WALL, HAZARD
        me, enemy = rng.sample(range(N_TILES), 2)
        tiles[me] = tiles[enemy] = EMPTY
        boards.append(Board(tuple(tiles), me, enemy, creature(), creature()))
    return encode_dataset(boards, max_bytes=max_bytes)


def private_beast(seed: bytes = keccak256(b"validator tests: private beast"), secret: bytes = SECRET, n: int = 2, *,
                  trained_with: bytes | None = None, dataset: bytes | None = None, spec_version: int = 1) -> Beast:
    """A private beast of ``spec_version`` committed to ``secret``; ``trained_with`` lets the trainer cheat
    with another secret.

    ``dataset`` replaces the example dataset file (any size: the trainer decodes it without a limit).
    A version 2 beast also commits to the file's records root R_dataset, which its states carry.
    """
    data = example_dataset() if dataset is None else dataset
    c_data = keccak256(data)
    decoded = decode_dataset(data, max_bytes=len(data))
    source = PrivateDatasetSource(decoded, trained_with or secret, spec_version=spec_version)
    records = records_root(decoded) if spec_version >= 2 else ZERO32
    beast = BeastCommitments(seed, c_data, keccak256(secret), spec_version=spec_version, records_root=records)
    windows = train(genesis(seed, dataset_commitment=beast.dataset_root, spec_version=spec_version), source, n)
    return Beast(beast, windows, data, secret)


class SwitchingSource:
    """A cheating trainer's source: honest boards until ``from_step``, then another window's boards."""

    private = False

    def __init__(self, from_step: int) -> None:
        self.from_step = from_step
        self.inner = PublicSource()

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        honest = self.inner.window_boards(ctx)
        other = self.inner.window_boards(WindowContext(ctx.seed_core, bytes(16), ctx.epoch_seed, ctx.first_step))
        return honest[: self.from_step] + other[self.from_step :]
