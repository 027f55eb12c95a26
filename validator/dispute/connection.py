"""cb-dispute's connection to the chain: the bindings, the one reader, and chain calls with its error map.

Every read and write of the dispute tool goes through :func:`chain_call` (``devnet.errors.chain_call``
with :func:`validator.dispute.errors.tool_error`), and the committed data a check needs (hatch data,
words, epoch seeds, season constants) through the validator's reader, :func:`reader`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import devnet
from devnet import errors as devnet_errors
from devnet.bindings import ChainBeasts
from chainbeasts.hints import is_unreachable, unreachable
from validator.chain import RPC_WHERE, LedgerChainReader, _file_rpc
from validator.dispute.errors import ChainDataError, UsageError, tool_error

T = TypeVar("T")


def connect(deployments: Path, rpc_url: str | None = None) -> ChainBeasts:
    """Bindings for the chain of a deployments file (``rpc_url`` overrides its rpcUrl).

    Event queries start at the file's deployBlock. The tool signs only with the key it was given,
    so the file's dev accounts are dropped.
    """
    try:
        chain = devnet.connect(deployments, rpc_url=rpc_url, timeout=30.0)
    except devnet.ConfigError as exc:
        raise UsageError(str(exc)) from None
    except devnet.LedgerError as exc:
        if is_unreachable(exc):
            raise ChainDataError(unreachable(rpc_url or _file_rpc(deployments), exc, RPC_WHERE)) from None
        raise ChainDataError(str(exc)) from None
    chain.accounts = []
    return chain


def chain_call(what: str, fn: Callable[[], T]) -> T:
    """Run a chain read or write described by ``what``; the devnet's errors become ChainDataError."""
    return devnet_errors.chain_call(what, fn, tool_error)


def reader(chain: ChainBeasts) -> LedgerChainReader:
    """The validator's chain reader over ``chain``, raising the dispute tool's errors."""
    return LedgerChainReader(chain, to_error=tool_error)


__all__ = ["chain_call", "connect", "reader"]
