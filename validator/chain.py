"""The validator's one reader of the chain, over the devnet bindings (``devnet.bindings.ChainBeasts``).

The gRPC service, ``cb-validator watch`` and ``cb-dispute`` all read hatch data, committed
words, epoch seeds and season constants through :class:`LedgerChainReader`; each passes the
error map that turns the devnet's errors into its own exception types (:func:`map_chain_error`
by default, cb-dispute's exit-code classes for the dispute tool).

Window numbering: the ledger stores window ``K`` (K >= 1) at index ``K - 1``; its start
state is checkpoint ``K - 1``, whose h128 is in the word at index ``K - 2`` (genesis for
``K == 1``). The epoch seed of window ``K`` is the seed of ``KernelParams.epoch_of_window(K)``,
the one the trainer had to use (``kernel.train.window_epoch`` of the start state).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from devnet.errors import LedgerError, chain_call
from kernel.errors import KernelError
from kernel.params import KernelParams
from kernel.state import ZERO32
from validator.errors import ChainError, ConfigError, NotFoundError, UpstreamError
from validator.replay import BeastCommitments, WindowClaim

if TYPE_CHECKING:
    from devnet.bindings import ChainBeasts, HatchData

T = TypeVar("T")

ErrorMap = Callable[[str, Exception], BaseException]
"""Turns the error of the read described by ``what`` (a devnet LedgerError, or a KernelError for
season constants that are no valid kernel parameters) into the caller's exception."""

# The beast is not on this chain: most often a devnet that was restarted (it forgets its beasts).
BEAST_MISSING_HINT = "no such beast on this chain: devnet restarted?"
_NOT_FOUND_ERRORS = frozenset({"BeastNotFound", "ERC721NonexistentToken", "LedgerWindowNotFound", "LedgerEpochSeedUnknown",
                               "DisputeNotFound"})


def map_chain_error(what: str, exc: Exception) -> Exception:
    """Our error for a devnet error: NotFoundError for unknown beasts/windows/disputes, else ChainError."""
    name = getattr(exc, "name", None)
    if name in ("BeastNotFound", "ERC721NonexistentToken"):
        return NotFoundError(f"{what}: {exc} ({BEAST_MISSING_HINT})")
    if name in _NOT_FOUND_ERRORS:
        return NotFoundError(f"{what}: {exc}")
    from devnet.errors import ConfigError as DevnetConfigError
    from devnet.errors import ContractError

    if isinstance(exc, KernelError):
        return ChainError(f"{what}: {exc}")
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
    from chainbeasts.hints import is_unreachable, unreachable

    def to_error(what: str, exc: Exception) -> Exception:
        if is_unreachable(exc):
            return UpstreamError(unreachable(rpc_url or _file_rpc(deployments), exc, RPC_WHERE))
        return map_chain_error(what, exc)

    return chain_call(f"connecting to the chain of {deployments}", lambda: devnet.connect(deployments, rpc_url=rpc_url),
                      to_error)


RPC_WHERE = "--rpc, or rpcUrl in the deployments file"


def _file_rpc(deployments: str | os.PathLike[str]) -> str:
    """The deployments file's rpcUrl, for a message (the file was readable a moment ago)."""
    from devnet.connect import load_deployments

    try:
        return str(load_deployments(deployments).get("rpcUrl") or "?")
    except Exception:  # noqa: BLE001 - only a message depends on it
        return "?"


class LedgerChainReader:
    """Reads hatch data, committed words, epoch seeds and season constants through the bindings.

    Values the contracts write once and never change — hatch data, a committed word, an epoch
    seed once snapshotted — are cached (LRU, ``cache_size`` entries); misses (unknown beast,
    uncommitted window) are never cached. Season constants are read once per reader, as the
    node does. A chain reorganisation deeper than a commit would outdate the cache: run the
    validator against a node that serves only confirmed blocks on networks that reorganise.
    Errors go through ``to_error`` (:func:`map_chain_error` unless the caller has its own types).
    """

    def __init__(self, chain: ChainBeasts, *, cache_size: int = 4096, to_error: ErrorMap = map_chain_error) -> None:
        self.chain = chain
        self._to_error = to_error
        self._params: KernelParams | None = None
        self._lock = threading.Lock()  # web3 providers are not guaranteed thread-safe
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_size = cache_size

    def read(self, what: str, fn: Callable[[], T]) -> T:
        """One uncached chain read ``fn`` described by ``what``, its errors mapped with the reader's ``to_error``."""

        def locked() -> T:
            with self._lock:
                return fn()

        return chain_call(what, locked, self._to_error)

    def _cached(self, key: tuple[Any, ...], what: str, fn: Callable[[], T]) -> T:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]  # type: ignore[no-any-return]
        value = self.read(what, fn)
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def season_params(self) -> KernelParams:
        """KernelParams of the season constants in force (``ChainBeasts.kernel_params``), read once."""
        if self._params is None:
            try:
                self._params = self.read("SeasonRegistry.value(EPOCH_STEPS, BASE_COST, SPURT_COST)", self.chain.kernel_params)
            except KernelError as exc:
                raise self._to_error("the chain's season constants are not valid kernel parameters", exc) from None
        return self._params

    def max_dataset_bytes(self) -> int:
        """The season's dataset limit (SeasonRegistry ``maxDatasetBytes``), read fresh: unlike the kernel
        constants it may change during a season (timelocked), and a dispute's dataset is bounded by it."""
        from devnet.bindings import Param

        return int(self.read("SeasonRegistry.value(MAX_DATASET_BYTES)", lambda: self.chain.param(Param.MAX_DATASET_BYTES)))

    def hatch(self, beast_id: int) -> HatchData:
        """The hatch data of ``beast_id`` (cached)."""
        return self._cached(("hatch", beast_id), f"Beast.hatchData({beast_id})", lambda: self.chain.hatch_data(beast_id))

    def beast_commitments(self, beast_id: int) -> BeastCommitments:
        """Hatch data of ``beast_id`` (its spec version and records root included) with the season
        constants; NotFoundError when unknown."""
        if beast_id < 1:
            raise NotFoundError(f"beast {beast_id} does not exist (ids start at 1)")
        hd = self.hatch(beast_id)
        return BeastCommitments(hd.seed_core, hd.dataset_commitment or ZERO32, hd.secret_commitment or ZERO32,
                                self.season_params(), spec_version=hd.spec_version, records_root=hd.records_root or ZERO32)

    def committed_word(self, beast_id: int, window: int) -> bytes:
        """The word committed for window ``window`` (ledger index window - 1)."""
        if window < 1:
            raise NotFoundError(f"window {window} is never committed (window 0 is genesis)")
        try:
            return self._cached(("word", beast_id, window), f"CheckpointLedger.word({beast_id}, {window - 1})",
                                lambda: self.chain.word(beast_id, window - 1))
        except NotFoundError as exc:
            raise NotFoundError(f"window {window} of beast {beast_id} is not committed on chain ({exc})") from None

    def epoch_seed(self, beast_id: int, epoch: int) -> bytes:
        """The seed the ledger fixed for curriculum epoch ``epoch`` of ``beast_id`` (cached)."""
        return self._cached(("seed", beast_id, epoch), f"CheckpointLedger.epochSeed({beast_id}, {epoch})",
                            lambda: self.chain.epoch_seed(beast_id, epoch))

    def window_claim(self, beast_id: int, window: int) -> WindowClaim:
        """Previous h128, committed word and epoch seed of window ``window``."""
        word = self.committed_word(beast_id, window)
        prev = None if window == 1 else self.committed_word(beast_id, window - 1)[:16]
        seed = self.epoch_seed(beast_id, self.season_params().epoch_of_window(window))
        return WindowClaim(prev, word, seed)


__all__ = ["ErrorMap", "LedgerChainReader", "connect", "map_chain_error"]
