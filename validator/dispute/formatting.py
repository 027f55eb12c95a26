"""How cb-dispute writes amounts of ENERGY."""

from __future__ import annotations

from typing import Final

ENERGY_DECIMALS: Final = 18


def format_energy(wei: int) -> str:
    """``1.5 ENERGY`` style rendering of an amount in ENERGY wei (exact, trailing zeros dropped)."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), 10**ENERGY_DECIMALS)
    text = f"{whole}"
    if frac:
        text += "." + f"{frac:0{ENERGY_DECIMALS}d}".rstrip("0")
    return f"{sign}{text} ENERGY"


__all__ = ["ENERGY_DECIMALS", "format_energy"]
