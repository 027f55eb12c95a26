"""Season constants at deployment: names, devnet defaults, the registry's range rules, and the
``--param NAME=VALUE`` / ``--season FILE.toml`` inputs of ``cb-devnet``.

A name is a :class:`devnet.bindings.Param` in lower snake case (``challenge_period``), the key
``devnet.deploy.deploy(params=...)`` takes and ``ChainBeasts.params()`` returns. Input may also
be written in upper case, with dashes, or in the contract's camelCase (``challengePeriod``).
The rules mirror ``SeasonRegistry._check`` (contracts/src/SeasonRegistry.sol), so a bad value is
refused before any transaction instead of reverting ``SeasonParamInvalid`` mid-deployment.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping

from kernel import SPEC_VERSION
from kernel.payload import WINDOW_STEPS
from devnet.records import Param
from devnet.errors import ConfigError
from kernel.host import HostError, read_file

UINT96_MAX = 2**96 - 1  # every value is stored as a uint96
MIN_TIMELOCK_DELAY = 10  # SeasonRegistry.MIN_TIMELOCK_DELAY (blocks): no change in force before it can be seen
MAX_TIMELOCK_DELAY = 1_000_000  # SeasonRegistry.MAX_TIMELOCK_DELAY (blocks)
DEFAULT_TIMELOCK_DELAY = 10  # blocks
# SeasonRegistry.MAX_DATASET_BYTES_LIMIT: the largest maxDatasetBytes a season may set (384 KiB). The bound
# was sized for the vote game, whose openDispute carried the whole dataset; a bisection game's proveStep
# carries one record and its Merkle path, far below 2^24 gas at any dataset size the season admits
# (tests/contracts/test_chain_dispute_size.py). The node still refuses to hatch a larger dataset.
MAX_DATASET_BYTES_LIMIT = 393_216
DEFAULT_MAX_DATASET_BYTES = 262_144  # 256 KiB: curriculum.dataset.MAX_DATASET_BYTES, the loaders' default
# Beast.MIN_SPEC_VERSION..MAX_SPEC_VERSION: the kernel spec versions a deployment may hatch. A season
# (a deployment) fixes one; every beast it hatches trains and replays under it (docs/PROTOCOL.md §2).
# A new season hatches the kernel's latest version unless told otherwise.
SPEC_VERSIONS = (1, 2)
DEFAULT_SPEC_VERSION = SPEC_VERSION
MAX_SEASON_FILE_BYTES = 1 << 20  # a dozen NAME = integer lines; anything near this is not a season file

_MAX_PERIOD = 1_000_000


def _between(lo: int, hi: int) -> Callable[[int], bool]:
    return lambda v: lo <= v <= hi


# Per Param: devnet default (time quantities in blocks), the rule as users read it, its check.
# docs/PROTOCOL.md section 3 explains each constant.
_SPEC: dict[Param, tuple[int, str, Callable[[int], bool]]] = {
    Param.WINDOW_STEPS: (WINDOW_STEPS, f"{WINDOW_STEPS} (fixed by spec version 1)", lambda v: v == WINDOW_STEPS),
    Param.BASE_COST: (10**15, "0..2**96-1 (ENERGY wei)", _between(0, UINT96_MAX)),
    Param.SLAB_PARAMS: (1136, "1..2**96-1", _between(1, UINT96_MAX)),  # kernel.params.KernelParams().slab_params
    Param.SPURT_COST: (10**17, "0..2**96-1 (ENERGY wei)", _between(0, UINT96_MAX)),
    Param.EPOCH_STEPS: (512, f"a positive multiple of {WINDOW_STEPS} below 2**32", lambda v: 0 < v < 2**32 and v % WINDOW_STEPS == 0),
    Param.CHALLENGE_PERIOD: (20, "1..1000000 blocks", _between(1, _MAX_PERIOD)),
    Param.BOND_MULTIPLIER: (2, "1..100", _between(1, 100)),
    Param.VALIDATOR_QUORUM: (1, "1..32", _between(1, 32)),
    Param.VOTING_PERIOD: (20, "1..1000000 blocks", _between(1, _MAX_PERIOD)),
    Param.MIN_VALIDATOR_STAKE: (100 * 10**18, "0..2**96-1 (ENERGY wei)", _between(0, UINT96_MAX)),
    Param.VALIDATOR_WITHDRAW_DELAY: (20, "0..1000000 blocks", _between(0, _MAX_PERIOD)),
    Param.MAX_DATASET_BYTES: (DEFAULT_MAX_DATASET_BYTES, f"1..{MAX_DATASET_BYTES_LIMIT} (384 KiB; the largest dataset to hatch with)",
                              _between(1, MAX_DATASET_BYTES_LIMIT)),
    Param.WRONG_VOTE_SLASH_BPS: (1000, "0..5000 (basis points of a wrong voter's stake)", _between(0, 5000)),
}

# Constants only the removed vote game (DisputeGame) read. SeasonRegistry keeps their ids and range
# rules (Param is append-only), so a season may still set them, but no contract reads them.
UNUSED_PARAMS = frozenset({Param.VALIDATOR_QUORUM, Param.VOTING_PERIOD, Param.MIN_VALIDATOR_STAKE,
                           Param.VALIDATOR_WITHDRAW_DELAY, Param.WRONG_VOTE_SLASH_BPS})

# Season constants of a devnet, by name, in Param order.
DEFAULT_PARAMS: dict[str, int] = {p.name.lower(): _SPEC[p][0] for p in Param}

_BY_KEY = {p.name.replace("_", "").lower(): p for p in Param}


def param_of(name: str) -> Param:
    """The Param a user-written name means (case, ``_``, ``-`` and camelCase do not matter)."""
    p = _BY_KEY.get(name.strip().replace("_", "").replace("-", "").lower()) if isinstance(name, str) else None
    if p is None:
        raise ConfigError(f"unknown season parameter {name!r} (known: {', '.join(DEFAULT_PARAMS)})")
    return p


def check_value(param: Param, value: object) -> int:
    """``value`` as an int when the registry would accept it for ``param``; else ConfigError."""
    name = param.name.lower()
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"season parameter {name}: {value!r} is not an integer")
    if value < 0:
        raise ConfigError(f"season parameter {name} = {value}: must not be negative")
    rule, ok = _SPEC[param][1], _SPEC[param][2]
    if not ok(value):
        raise ConfigError(f"season parameter {name} = {value}: must be {rule}")
    return value


def check_params(params: Mapping[str, object] | None) -> dict[str, int]:
    """Validate user-named ``params``; returns them keyed by canonical name (a name given twice is refused)."""
    out: dict[str, int] = {}
    for key, value in (params or {}).items():
        p = param_of(key)
        name = p.name.lower()
        if name in out:
            raise ConfigError(f"season parameter {name} given twice (as {key!r})")
        out[name] = check_value(p, value)
    return out


def check_timelock_delay(delay: object) -> int:
    """The registry's timelock delay in blocks (SeasonRegistry.MIN_TIMELOCK_DELAY..MAX_TIMELOCK_DELAY)."""
    if isinstance(delay, bool) or not isinstance(delay, int) or not MIN_TIMELOCK_DELAY <= delay <= MAX_TIMELOCK_DELAY:
        raise ConfigError(f"timelock delay must be an integer {MIN_TIMELOCK_DELAY}..{MAX_TIMELOCK_DELAY} blocks, got {delay!r}")
    return delay


# BisectionGame's constructor refuses a clock outside [8, 2^24] blocks (GameClockInvalid): each side
# needs a few blocks per move over seven rounds, and clock arithmetic stays far inside uint32.
MIN_GAME_CLOCK_BLOCKS = 8
MAX_GAME_CLOCK_BLOCKS = 2**24
# A devnet's game clock: long enough for scripted players on an automining chain, short enough that
# `cb-devnet mine` lets a timeout pass at once. A real deployment picks its own (`--game-clock`).
DEFAULT_GAME_CLOCK_BLOCKS = 64


def check_game_clock(blocks: object) -> int:
    """The game clock in blocks when BisectionGame's constructor accepts it; else ConfigError."""
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not MIN_GAME_CLOCK_BLOCKS <= blocks <= MAX_GAME_CLOCK_BLOCKS:
        raise ConfigError(f"game clock must be an integer {MIN_GAME_CLOCK_BLOCKS}..{MAX_GAME_CLOCK_BLOCKS} blocks, got {blocks!r}")
    return blocks


def check_spec_version(version: object) -> int:
    """The kernel spec version a deployment hatches, when Beast's constructor accepts it; else ConfigError."""
    if isinstance(version, bool) or not isinstance(version, int) or version not in SPEC_VERSIONS:
        raise ConfigError(f"spec version must be one of {', '.join(map(str, SPEC_VERSIONS))}, got {version!r}")
    return version


def initial_values(params: Mapping[str, object] | None) -> list[int]:
    """The registry constructor's initial values (one per Param): the defaults overridden by ``params``."""
    merged = {**DEFAULT_PARAMS, **check_params(params)}
    return [merged[p.name.lower()] for p in Param]


def _parse_int(name: str, text: str) -> int:
    s = text.strip()
    try:
        return int(s, 0) if s[1:2].lower() in ("x", "o", "b") else int(s, 10)
    except ValueError:
        raise ConfigError(f"season parameter {name}: {text!r} is not an integer") from None


def parse_assignments(assignments: Iterable[str]) -> dict[str, int]:
    """``NAME=VALUE`` strings (``--param``) as canonical names and checked values; later ones win."""
    out: dict[str, int] = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {text!r}: expected NAME=VALUE")
        p = param_of(key)
        out[p.name.lower()] = check_value(p, _parse_int(p.name.lower(), raw))
    return out


def read_season_file(path: str | Path) -> dict[str, int]:
    """A TOML file of ``NAME = integer`` lines, checked; keys by canonical name."""
    try:  # kernel.host.read_file: a FIFO or device is refused, not waited on
        data = tomllib.loads(read_file(path, limit=MAX_SEASON_FILE_BYTES, what="season file").decode("utf-8"))
    except HostError as exc:
        raise ConfigError(str(exc)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"season file {path} is not valid TOML: {exc}") from exc
    try:
        return check_params(data)
    except ConfigError as exc:
        raise ConfigError(f"season file {path}: {exc}") from exc


def season_params(season_file: str | Path | None, assignments: Iterable[str] = ()) -> dict[str, int]:
    """The season constants asked for: ``season_file``'s, overridden by ``assignments``."""
    params = read_season_file(season_file) if season_file else {}
    params.update(parse_assignments(assignments))
    return params


def help_lines() -> str:
    """A table of the constants: name, devnet default and rule (for ``--help``)."""
    rows = [("NAME", "DEFAULT", "RULE")] + [
        (p.name.lower(), str(_SPEC[p][0]), _SPEC[p][1] + ("; unused (the vote game is gone)" if p in UNUSED_PARAMS else ""))
        for p in Param]
    return "\n".join(f"  {n:<25} {d:<22} {r}" for n, d, r in rows)
