"""Integer-deterministic training kernel for ChainBeasts.

The numpy reference in this package is the executable form of ``docs/SPEC.md``.
Everything that feeds ``h128`` is integer-only: explicit widths, explicit rounding,
explicit saturation.
"""

SPEC_VERSIONS = (1, 2)  # every version this kernel trains and parses; v1 is frozen bit for bit
SPEC_VERSION = 2  # the latest: the default for new beasts and offline runs

from kernel.errors import KernelError  # noqa: E402

__all__ = ["SPEC_VERSION", "SPEC_VERSIONS", "KernelError"]
