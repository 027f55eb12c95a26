"""Integer-deterministic training kernel for ChainBeasts.

The numpy reference in this package is the executable form of ``docs/SPEC.md``.
Everything that feeds ``h128`` is integer-only: explicit widths, explicit rounding,
explicit saturation.
"""

SPEC_VERSION = 1

from kernel.errors import KernelError  # noqa: E402

__all__ = ["SPEC_VERSION", "KernelError"]
