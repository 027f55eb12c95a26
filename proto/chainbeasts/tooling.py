"""What every ChainBeasts command-line tool does the same way around its work (standard library only).

- :func:`quiet_grpc_logs`: gRPC's C core logs connection and shutdown chatter to stderr (and absl's
  "All log messages before absl::InitializeLog()" banner); the tools say what matters in their own
  words, so the core logs errors only unless ``GRPC_VERBOSITY`` says otherwise. Called by each
  tool's ``main`` before anything imports grpc.
- ``$CB_DEPLOYMENTS`` (:data:`DEPLOYMENTS_ENV`): the default deployments file of every tool.
- :func:`closed_stdout`: ``cb-node status | head`` closes the pipe early; the tool stops quietly
  (exit 0, no BrokenPipeError traceback, no "Exception ignored" at interpreter exit).
"""

from __future__ import annotations

import os
import sys

GRPC_VERBOSITY_ENV = "GRPC_VERBOSITY"
# The deployments file every tool reads when --deployments is not given (cb-node init, cb-validator, cb-dispute).
DEPLOYMENTS_ENV = "CB_DEPLOYMENTS"


def quiet_grpc_logs() -> None:
    """Keep gRPC's own log lines off the terminal (errors only), unless the user set GRPC_VERBOSITY."""
    os.environ.setdefault(GRPC_VERBOSITY_ENV, "ERROR")


def closed_stdout() -> int:
    """Handle a reader that went away: point stdout at /dev/null so the final flush is silent; exit 0."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return 0


__all__ = ["DEPLOYMENTS_ENV", "GRPC_VERBOSITY_ENV", "closed_stdout", "quiet_grpc_logs"]
