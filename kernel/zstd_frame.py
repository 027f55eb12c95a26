"""Exactly one zstd frame: the structural check every zstd reader here shares (RFC 8878 §3.1.1).

zstandard's one-shot ``decompress`` reads the first frame and silently ignores whatever
follows it, so a reader that must refuse trailing bytes, a second frame or a skippable
frame (state blobs, SPEC §6.3; dataset files, SPEC §10.2) walks the frame's block headers
itself and requires the frame to end exactly where the input ends. The walk reads only
headers: nothing is decompressed, so it costs a few operations per 128 KiB block.
"""

from __future__ import annotations

from typing import Final

import zstandard

from kernel.errors import ZstdFrameError

ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"  # 0xFD2FB528 little-endian
_BLOCK_HEADER: Final = 3
_CHECKSUM: Final = 4
_RLE: Final = 1
_RESERVED: Final = 3


def frame_end(data: bytes) -> int:
    """Offset just past the zstd frame that starts ``data``.

    Raises ZstdFrameError when ``data`` does not start with a zstd frame (skippable frames
    included), or the frame's header, blocks or checksum run past the end of ``data``, or a
    block uses the reserved block type.
    """
    if data[:4] != ZSTD_MAGIC:
        raise ZstdFrameError("not a zstd frame (bad zstd magic number; skippable frames are not allowed)")
    try:
        pos = zstandard.frame_header_size(data)
        params = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError as exc:
        raise ZstdFrameError(f"bad zstd frame header: {exc}") from None
    while True:
        if pos + _BLOCK_HEADER > len(data):
            raise ZstdFrameError("zstd frame is truncated (missing block header)")
        block_header = int.from_bytes(data[pos : pos + _BLOCK_HEADER], "little")
        pos += _BLOCK_HEADER
        last, block_type, block_size = block_header & 1, (block_header >> 1) & 3, block_header >> 3
        if block_type == _RESERVED:
            raise ZstdFrameError("zstd frame uses the reserved block type")
        pos += 1 if block_type == _RLE else block_size  # an RLE block carries its one byte
        if pos > len(data):
            raise ZstdFrameError("zstd frame is truncated (block runs past the end of the input)")
        if last:
            break
    if params.has_checksum:
        pos += _CHECKSUM
        if pos > len(data):
            raise ZstdFrameError("zstd frame is truncated (missing checksum)")
    return pos


def single_frame_parameters(data: bytes) -> zstandard.FrameParameters:
    """The frame parameters of ``data``, which must be exactly one zstd frame and nothing else.

    Raises ZstdFrameError as ``frame_end`` does, and when anything (garbage, a second frame,
    a skippable frame) follows the frame.
    """
    end = frame_end(data)
    if end != len(data):
        raise ZstdFrameError(f"{len(data) - end} trailing bytes after the zstd frame; exactly one frame is allowed")
    return zstandard.get_frame_parameters(data)
