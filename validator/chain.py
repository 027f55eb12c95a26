"""The validator's view of the chain, over the devnet bindings (``devnet.bindings.ChainBeasts``).

Window numbering: the ledger stores window ``K`` (K >= 1) at index ``K - 1``; its start
state is checkpoint ``K - 1``, whose h128 is in the word at index ``K - 2`` (genesis for
``K == 1``). The epoch seed of window ``K`` is ``epochSeed(beast, (128 * (K - 1)) // epochSteps)``,
the seed the trainer had to use (``kernel.train.window_epoch`` of the start state).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from kernel.errors import KernelError
from kernel.params import DEFAULT_PARAMS, KernelParams
from kernel.payload import WINDOW_STEPS
from kernel.state import ZERO32
from validator.errors import ChainError, ConfigError, NotFoundError, UpstreamError
from validator.replay import BeastCommitments, WindowClaim

_NOT_FOUND_ERRORS = frozenset({"BeastNotFound", "ERC721NonexistentToken", "LedgerWindowNotFound", "LedgerEpochSeedUnknown",
                               "DisputeNotFound"})


def map_chain_error(what: str, exc: Exception) -> Exception:
    """Our error for a devnet error: NotFoundError for unknown beasts/windows/disputes, else ChainError."""
    name = getattr(exc, "name", None)
    if name in _NOT_FOUND_ERRORS:
        return NotFoundError(f"{what}: {exc}")
    from devnet.errors import ConfigError as DevnetConfigError
    from devnet.errors import ContractError, LedgerError

    if isinstance(exc, DevnetConfigError):
        return ConfigError(f"{what}: {exc}")
    if isinstance(exc, ContractError):
        return ChainError(f"{what} reverted: {exc}")
    if isinstance(exc, LedgerError):
        return UpstreamError(f"{what}: {exc}")
    return exc


def connect(deployments: str | os.PathLike[str], rpc_url: str | None = None) -> Any:
    """devnet.connect with our error types (ConfigError for a bad file, UpstreamError when unreachable)."""
    import devnet

    try:
        return devnet.connect(deployments, rpc_url=rpc_url)
    except devnet.LedgerError as exc:
        raise map_chain_error(f"connecting to the chain of {deployments}", exc) from None


class LedgerChainReader:
    """Reads hatch data, committed words, epoch seeds and season constants through the bindings.

    Values the contracts write once and never change — hatch data, a committed word, an epoch
    seed once snapshotted — are cached (LRU, ``cache_size`` entries); misses (unknown beast,
    uncommitted window) are never cached. Season constants are read once per reader, as the
    node does. A chain reorganisation deeper than a commit would outdate the cache: run the
    validator against a node that serves only confirmed blocks on networks that reorganise.
    """

    def __init__(self, chain: Any, *, cache_size: int = 4096) -> None:  # devnet.bindings.ChainBeasts
        self.chain = chain
        self._params: KernelParams | None = None
        self._lock = threading.Lock()  # web3 providers are not guaranteed thread-safe
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_size = cache_size

    def _read(self, what: str, fn: Any, *args: Any) -> Any:
        from devnet.errors import LedgerError

        try:
            with self._lock:
                return fn(*args)
        except LedgerError as exc:
            raise map_chain_error(what, exc) from None

    def _cached(self, key: tuple[Any, ...], what: str, fn: Any, *args: Any) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = self._read(what, fn, *args)
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def season_params(self) -> KernelParams:
        """KernelParams of the season constants in force (spec-v1 shape), read once."""
        if self._params is None:
            from devnet.bindings import Param

            values = {p: self._read(f"SeasonRegistry.value({p.name})", self.chain.param, p)
                      for p in (Param.EPOCH_STEPS, Param.BASE_COST, Param.SPURT_COST)}
            try:
                self._params = KernelParams(
                    slot_width=DEFAULT_PARAMS.slot_width, n_slots=DEFAULT_PARAMS.n_slots,
                    epoch_steps=values[Param.EPOCH_STEPS], base_cost=values[Param.BASE_COST],
                    spurt_cost=values[Param.SPURT_COST],
                )
            except KernelError as exc:
                raise ChainError(f"the chain's season constants are not valid kernel parameters: {exc}") from None
        return self._params

    def max_dataset_bytes(self) -> int:
        """The season's dataset limit (SeasonRegistry ``maxDatasetBytes``), read fresh: unlike the kernel
        constants it may change during a season (timelocked), and a dispute's dataset is bounded by it."""
        from devnet.bindings import Param

        return int(self._read("SeasonRegistry.value(MAX_DATASET_BYTES)", self.chain.param, Param.MAX_DATASET_BYTES))

    def beast_commitments(self, beast_id: int) -> BeastCommitments:
        """Hatch data of ``beast_id`` with the season constants; NotFoundError when unknown."""
        if beast_id < 1:
            raise NotFoundError(f"beast {beast_id} does not exist (ids start at 1)")
        hd = self._cached(("hatch", beast_id), f"Beast.hatchData({beast_id})", self.chain.hatch_data, beast_id)
        return BeastCommitments(hd.seed_core, hd.dataset_commitment or ZERO32, hd.secret_commitment or ZERO32,
                                self.season_params())

    def committed_word(self, beast_id: int, window: int) -> bytes:
        """The word committed for window ``window`` (ledger index window - 1)."""
        if window < 1:
            raise NotFoundError(f"window {window} is never committed (window 0 is genesis)")
        try:
            return self._cached(("word", beast_id, window), f"CheckpointLedger.word({beast_id}, {window - 1})",
                                self.chain.word, beast_id, window - 1)
        except NotFoundError as exc:
            raise NotFoundError(f"window {window} of beast {beast_id} is not committed on chain ({exc})") from None

    def window_claim(self, beast_id: int, window: int) -> WindowClaim:
        """Previous h128, committed word and epoch seed of window ``window``."""
        word = self.committed_word(beast_id, window)
        prev = None if window == 1 else self.committed_word(beast_id, window - 1)[:16]
        epoch = ((window - 1) * WINDOW_STEPS & 0xFFFFFFFF) // self.season_params().epoch_steps
        seed = self._cached(("seed", beast_id, epoch), f"CheckpointLedger.epochSeed({beast_id}, {epoch})",
                            self.chain.epoch_seed, beast_id, epoch)
        return WindowClaim(prev, word, seed)


__all__ = ["LedgerChainReader", "connect", "map_chain_error"]
