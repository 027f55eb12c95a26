"""Kernel parameters: the network shape and the season constants hashed into every state (SPEC §6.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel.errors import KernelError
from kernel.observe import D_IN
from kernel.payload import WINDOW_STEPS

N_OUT: Final = 6  # move N, S, E, W, atk_power, block_flag
MAX_LR_SHIFT: Final = 24


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
        if not 1 <= self.slot_width <= 256 or not 2 <= self.n_slots <= 8:
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


DEFAULT_PARAMS: Final = KernelParams()
