"""Kernel parameters: the network shape and the season constants hashed into every state (SPEC §6.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel.errors import KernelError
from kernel.observe import D_IN
from kernel.payload import WINDOW_STEPS

N_OUT: Final = 6  # move N, S, E, W, atk_power, block_flag
MAX_LR_SHIFT: Final = 24
MAX_SLOT_WIDTH: Final = 256
MAX_SLOTS: Final = 8
# Largest hidden = slot_width * n_slots a state of each spec_version may have (SPEC §6.3, "largest legal
# state"). Version 2 may be bounded lower than KernelParams allows, so that the one-step verifier of the
# largest state fits a transaction; a bound is checked wherever a v2 state is made (genesis, parsing).
MAX_HIDDEN_V1: Final = MAX_SLOT_WIDTH * MAX_SLOTS
MAX_HIDDEN_V2: Final = 1536  # lead decision 16:15: the verifier of the largest v2 state fits 2^24 gas with margin


@dataclass(frozen=True, slots=True)
class KernelParams:
    """Shape and season constants; fixed for a beast at genesis."""

    d_in: int = D_IN  # observation length
    slot_width: int = 16  # hidden units per slot
    n_slots: int = 4  # hidden slots (activeMask bits), at most 8
    n_out: int = N_OUT  # output logits
    epoch_steps: int = 512  # micro-steps per curriculum epoch, a multiple of 128
    base_cost: int = 10**15  # ENERGY (wei) per micro-step per fully active slab
    spurt_cost: int = 10**17  # ENERGY (wei) burned by a growth spurt

    def __post_init__(self) -> None:
        if self.d_in != D_IN or self.n_out != N_OUT:
            raise KernelError(f"spec_version 1 fixes d_in={D_IN} and n_out={N_OUT}")
        if not 1 <= self.slot_width <= MAX_SLOT_WIDTH or not 2 <= self.n_slots <= MAX_SLOTS:
            raise KernelError("slot_width must be 1..256 and n_slots 2..8 (genesis switches on slots 0 and 1)")
        if self.epoch_steps <= 0 or self.epoch_steps % WINDOW_STEPS or self.epoch_steps >= 1 << 32:
            raise KernelError(f"epoch_steps must be a positive multiple of {WINDOW_STEPS} below 2**32")
        worst = WINDOW_STEPS * self.base_cost * self.n_slots + self.spurt_cost
        if self.base_cost < 0 or self.spurt_cost < 0 or worst >= 1 << 64:
            raise KernelError("base_cost and spurt_cost must keep a window's energyBurn within u64")

    @property
    def hidden(self) -> int:
        """Total hidden units over all slots."""
        return self.slot_width * self.n_slots

    @property
    def slab_params(self) -> int:
        """Parameters of one slot: its rows of W1 and b1 and its columns of W2."""
        return self.slot_width * (self.d_in + 1) + self.slot_width * self.n_out

    def active_params(self, mask: int) -> int:
        """Parameters in the slots switched on by ``mask``."""
        return bin(mask).count("1") * self.slab_params

    def step_cost(self, mask: int) -> int:
        """ENERGY of one micro-step: base_cost * activeParams // slabParams."""
        return self.base_cost * self.active_params(mask) // self.slab_params

    def all_slots(self) -> int:
        """The mask with every slot on."""
        return (1 << self.n_slots) - 1

    def window_energy_burn(self, mask: int, spurt: bool) -> int:
        """ENERGY a window claims (the word's energyBurn, SPEC §7.1): 128 micro-steps at ``mask``, plus the spurt."""
        return WINDOW_STEPS * self.step_cost(mask) + (self.spurt_cost if spurt else 0)

    def epoch_of_step(self, global_step: int) -> int:
        """The curriculum epoch a window starting at ``global_step`` lies in: the epoch whose seed it uses."""
        return global_step // self.epoch_steps

    def epoch_of_window(self, window: int) -> int:
        """The curriculum epoch of window ``window`` (counted from 1 as on the ledger): its start step is
        ``128 * (window - 1)`` as a u32, as the ledger computes it."""
        if window < 1:
            raise KernelError(f"windows count from 1, got {window}")
        return self.epoch_of_step((window - 1) * WINDOW_STEPS & 0xFFFFFFFF)

    @classmethod
    def for_season(cls, *, epoch_steps: int, base_cost: int, spurt_cost: int) -> KernelParams:
        """The parameters of a beast hatched in a season with these constants (the default network shape).

        The one place the chain's season constants become kernel parameters; callers read the three
        values from SeasonRegistry (devnet.bindings) or from a beast's hatch record.
        """
        return cls(epoch_steps=epoch_steps, base_cost=base_cost, spurt_cost=spurt_cost)


def max_hidden(spec_version: int) -> int:
    """The largest slot_width * n_slots of a spec_version's states."""
    return MAX_HIDDEN_V1 if spec_version == 1 else MAX_HIDDEN_V2


def version_problem(params: KernelParams, spec_version: int) -> str | None:
    """Why ``params`` may not be the parameters of a ``spec_version`` state; None when they may."""
    if params.hidden > max_hidden(spec_version):
        return (f"spec_version {spec_version} allows at most {max_hidden(spec_version)} hidden units "
                f"(slot_width * n_slots), got {params.hidden}")
    return None


def largest_params(spec_version: int) -> KernelParams:
    """The parameters of the largest legal state of ``spec_version`` (8 slots of the widest allowed width)."""
    return KernelParams(slot_width=min(MAX_SLOT_WIDTH, max_hidden(spec_version) // MAX_SLOTS), n_slots=MAX_SLOTS)


DEFAULT_PARAMS: Final = KernelParams()
