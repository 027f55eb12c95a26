"""Exception types of the kernel package."""


class KernelError(Exception):
    """Base class: raised when the kernel is given input it cannot accept."""


class PayloadError(KernelError):
    """Raised when a checkpoint word or one of its fields is malformed or out of range."""


class StateBlobError(KernelError):
    """Raised when a serialized state or state blob is malformed, truncated or inconsistent."""


class BoardError(KernelError):
    """Raised when a board or a board record violates the encoding rules."""


class ReplayError(KernelError):
    """Raised when a window cannot be replayed from the inputs given (wrong parent, bad mask...)."""


class ZstdFrameError(KernelError):
    """Raised when bytes that must be exactly one zstd frame are not (kernel.zstd_frame)."""
