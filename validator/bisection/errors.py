"""The bisection player's exception type."""

from __future__ import annotations

from kernel.host import ExitCode
from validator.errors import ValidatorError


class BisectionError(ValidatorError, exit_code=ExitCode.DATA):
    """Raised when a step source cannot answer (no such step, no state after an illegal start) or a
    player is asked to move in a game it holds no seat in. Messages carry no state bytes or secret."""


__all__ = ["BisectionError"]
