"""How cb-dispute writes amounts of ENERGY: the one rendering every tool uses (chainbeasts.units).

Tokens with thousands separators, rounded half up to 4 decimals (``1,234.5 ENERGY``); ``--json``
output keeps integer wei, so exact amounts are always there for scripts.
"""

from __future__ import annotations

from chainbeasts.units import ENERGY_DECIMALS, format_energy

__all__ = ["ENERGY_DECIMALS", "format_energy"]
