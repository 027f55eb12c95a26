"""The committer's stake (CheckpointLedger 3.0.0): what the node keeps staked so its commits go through.

Every ``commit``/``commitMany`` needs ``staked(msg.sender) >= the call's total energyBurn``
(else ``LedgerStakeInsufficient``); a slash of one of the node's windows takes up to that
window's energyBurn from the stake. node.toml's ``stake`` says how the node keeps it:

* ``"auto"`` (default): before each commit batch the node tops its stake up to what the batch
  needs, from its ENERGY balance (so it grows to the largest batch it ever sent, never more);
* an amount of ENERGY (``"250"``, ``"0.5"``): the node stakes up to that amount and never
  more; a batch that needs more is refused with :class:`StakeInsufficientError` before anything
  is signed, saying how much is missing and how to fix it (no blind retry).

``cb-node stake`` / ``cb-node unstake`` (node.daemon_cli) are the owner's manual controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

from chainbeasts.units import ENERGY_DECIMALS, format_energy
from node.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from node.ledger import Ledger

AUTO: Final = "auto"
MAX_STAKE_WEI: Final = 2**128 - 1


class StakeInsufficientError(ChainError):
    """Raised when the node's stake cannot cover a commit (node.toml's amount too low, or the wallet too poor)."""


@dataclass(frozen=True)
class StakePolicy:
    """How much the node keeps staked: ``amount`` wei, or None for "what each commit batch needs"."""

    amount: int | None = None

    @property
    def auto(self) -> bool:
        """Whether the node stakes what its commits need."""
        return self.amount is None

    def describe(self) -> str:
        """``auto`` or the amount in ENERGY."""
        return AUTO if self.amount is None else format_energy(self.amount)


def parse_energy(text: str, what: str) -> int:
    """A decimal amount of ENERGY (``"1.5"``) as wei; ConfigError when it is not a positive amount with at
    most 18 decimals."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"{what} must be an amount of ENERGY such as \"250\" or \"0.5\", got {text!r}") from None
    wei = value * (10**ENERGY_DECIMALS)
    if not value.is_finite() or wei != wei.to_integral_value() or not 0 < wei <= MAX_STAKE_WEI:
        raise ConfigError(f"{what} must be a positive amount of ENERGY with at most {ENERGY_DECIMALS} decimals, "
                          f"got {text!r}")
    return int(wei)


def parse_stake(value: str) -> StakePolicy:
    """node.toml's ``stake``: ``"auto"`` or an amount of ENERGY."""
    if value.strip().lower() == AUTO:
        return StakePolicy()
    return StakePolicy(parse_energy(value, "stake"))


def ensure_stake(ledger: Ledger, policy: StakePolicy, needed: int) -> int:
    """Make the node's staked balance cover ``needed`` (a commit batch's total energyBurn) under ``policy``;
    returns the amount staked now (0 when the stake already covered it)."""
    staked = ledger.stake_of()[0]
    if staked >= needed:
        return 0
    target = needed if policy.amount is None else policy.amount
    if target < needed:
        raise StakeInsufficientError(
            f"this commit needs {format_energy(needed)} staked, but node.toml's stake is {policy.describe()} "
            f"(staked now: {format_energy(staked)}); raise `stake` in node.toml (or set it to \"auto\"), "
            "or stake more with `cb-node stake AMOUNT`")
    top_up = target - staked
    balance = ledger.energy_balance()
    if balance < top_up:
        raise StakeInsufficientError(
            f"this commit needs {format_energy(needed)} staked; {format_energy(staked)} is, and the account holds "
            f"only {format_energy(balance)} of the {format_energy(top_up)} more to stake: fund the node's account")
    ledger.stake(top_up)
    return top_up


def stake_error(reason: str) -> StakeInsufficientError | None:
    """The clear error for a commit the ledger refused with ``LedgerStakeInsufficient`` (None for another reason)."""
    if not reason.startswith("LedgerStakeInsufficient"):
        return None
    return StakeInsufficientError(
        f"the ledger refused the commit: {reason}. The stake is short of the batch's energyBurn (a slash takes "
        "stake); with stake = \"auto\" the node tops it up, else stake more with `cb-node stake AMOUNT`")


__all__ = ["AUTO", "StakeInsufficientError", "StakePolicy", "ensure_stake", "parse_energy", "parse_stake", "stake_error"]
