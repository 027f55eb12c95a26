"""Crash-injection hook of the challenge path (off unless CB_VALIDATOR_CRASH_AT is set).

``CB_VALIDATOR_CRASH_AT=point:n`` makes the process ``os._exit(137)`` -- no cleanup, no flush,
exactly like SIGKILL -- the n-th time execution reaches ``crash_point(point)``. The crash tests of
the challenge commitment run ``cb-dispute challenge`` (tests/validator/test_dispute_salt.py) and
``cb-validator watch`` (tests/validator/test_watch_crash.py) in a child process with it and check that a
rerun resumes. The node has its own hook and list
(``node.crash``, ``CB_NODE_CRASH_AT``): the two tools crash at different places.
"""

from __future__ import annotations

from typing import Final

from kernel.host import crash_hook

CRASH_ENV: Final = "CB_VALIDATOR_CRASH_AT"

# Every crash point, in the order a challenge passes them (validator.challenge_salt, then the reveal of
# validator.dispute.challenging or validator.watch).
CRASH_POINTS: Final[dict[str, str]] = {
    "salt_recorded": "validator.challenge_salt: the salt written to the record (committing), commitChallenge not sent",
    "commitment_mined": "validator.challenge_salt: commitChallenge mined, the record still says committing",
    "commitment_recorded": "validator.challenge_salt: the record says committed, challenge (the reveal) not sent",
    "reveal_mined": "validator.dispute.challenging: challenge mined (the game open), the record still says challenging",
    "watch_reveal_mined": "validator.watch: challenge mined (the game open), the record still says challenging",
}

crash_point = crash_hook(CRASH_ENV)
"""Exit abruptly (as SIGKILL would) when the environment variable names this point and its count is reached."""


__all__ = ["CRASH_ENV", "CRASH_POINTS", "crash_point"]
