"""How every ChainBeasts tool writes an amount of ENERGY (an ERC-20 with 18 decimals).

One function so ``cb-node``, ``cb-validator`` and ``cb-dispute`` print the same amount the same
way: whole tokens with thousands separators, rounded half up to ``places`` decimals, trailing
zeros dropped (``1,234.5 ENERGY``); a nonzero amount too small to show is ``<0.0001 ENERGY``,
never ``0``. ``places=18`` is exact. Machine output (``--json``) keeps integer wei instead.
"""

from __future__ import annotations

from typing import Final

ENERGY_DECIMALS: Final = 18
DEFAULT_PLACES: Final = 4


def format_energy(wei: int, places: int = DEFAULT_PLACES) -> str:
    """``wei`` (ENERGY's smallest unit) as ``1,234.5678 ENERGY``, rounded half up to ``places`` decimals."""
    if not 0 <= places <= ENERGY_DECIMALS:
        raise ValueError(f"places must be 0..{ENERGY_DECIMALS}, got {places}")
    sign = "-" if wei < 0 else ""
    unit = 10 ** (ENERGY_DECIMALS - places)
    scaled = (abs(wei) + unit // 2) // unit  # half up, in units of 10^-places ENERGY
    if scaled == 0 and wei != 0:
        return f"{sign}<{10 ** -places if places else 1:.{places}f} ENERGY"
    whole, frac = divmod(scaled, 10**places)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:0{places}d}".rstrip("0")
    return f"{sign}{text} ENERGY"


__all__ = ["DEFAULT_PLACES", "ENERGY_DECIMALS", "format_energy"]
