"""The messages every ChainBeasts tool gives for the two mistakes new users make most.

- A dead RPC endpoint: the HTTP library's error is a screen of pool and retry details; the user
  needs the URL, the reason in a few words and where the URL came from
  (:func:`unreachable`, :func:`is_unreachable`).
- A beast missing from the chain: after a devnet restart the run directory outlives the chain, and
  the first call that fails is an authorization check, whose message ("may not commit") sends the
  user the wrong way (:func:`beast_missing`).

Standard library only: the tools' parsers import this module without web3.
"""

from __future__ import annotations

import errno
import re

DEVNET_HINT = "is `cb-devnet up` running?"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 16:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the endpoint could not be reached or did not answer."""
    for e in _chain(exc):
        name = type(e).__name__
        if isinstance(e, (ConnectionError, TimeoutError)) or "Connection" in name or "Timeout" in name:
            return True
        if isinstance(e, OSError) and e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                                                   errno.ETIMEDOUT, errno.ECONNRESET):
            return True
    return "cannot reach" in str(exc)


def reason(exc: BaseException) -> str:
    """A few words for why a connection failed: ``connection refused``, ``timed out``, ..."""
    text = " ".join(str(e) for e in _chain(exc)).lower()
    for needle, words in (("refused", "connection refused"), ("timed out", "timed out"), ("timeout", "timed out"),
                          ("name or service not known", "unknown host name"), ("nodename nor servname", "unknown host name"),
                          ("temporary failure in name resolution", "unknown host name"),
                          ("reset by peer", "connection reset"), ("unreachable", "network unreachable")):
        if needle in text:
            return words
    m = re.search(r"\[errno \d+\] ([^\"')]+)", text)
    return m.group(1).strip() if m else "no answer"


def unreachable(url: str, exc: BaseException, where: str) -> str:
    """``cannot reach the chain at URL (connection refused): is `cb-devnet up` running? check WHERE``."""
    return f"cannot reach the chain at {url} ({reason(exc)}): {DEVNET_HINT} check {where}"


def beast_missing(beast_id: int, what: str = "") -> str:
    """The message for a beast the chain does not have (or has as a different beast)."""
    detail = what or "does not exist on this chain"
    return (f"beast {beast_id} {detail}: devnet restarted? A devnet forgets its beasts when it stops; use a new node "
            "directory (or data_dir) for the new chain, or point `rpc` and `deployments` at the chain it was hatched on")


__all__ = ["DEVNET_HINT", "beast_missing", "is_unreachable", "reason", "unreachable"]
