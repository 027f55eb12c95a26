"""Helpers shared by the curriculum tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import zstandard

from curriculum.importers import COLUMNS, board_to_fields
from kernel.board import Board

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CSV = REPO / "curriculum" / "examples" / "battles.csv"
VECTORS_PATH = REPO / "tests" / "vectors" / "sampling.json"
VECTORS_V2_PATH = REPO / "tests" / "vectors" / "sampling_v2.json"

# C_dataset of `cb-curriculum pack --csv curriculum/examples/battles.csv` with zstandard 0.25.0
# (libzstd 1.5.7) at the writer parameters of SPEC §10.2. A change here means either the
# example, the format or the compressor's output changed: all three need a conscious decision.
EXAMPLE_COMMITMENT = "0x4e74111a1a930d6e6a7f6cb7100b914b728d5bf9d41cb49799635177177d387a"
EXAMPLE_RECORDS = 332
# R_dataset (SPEC §10.2) of the same records: independent of the compressor, fixed by the CSV alone.
EXAMPLE_RECORDS_ROOT = "0xcd7d6f733cac2412a4070bedacbfd8899eaecddf9f2f7df3da7229e29b92050a"

# One valid CSV row (wall at tile 9, hazard at tile 10) and the header it goes under: the
# importer tests change one cell of it at a time.
HEADER = ",".join(COLUMNS)
TILES = "." * 9 + "#" + "~" + "." * 53
GOOD = f"{TILES},0,0,3,4,200,10,40,0,0,none,150,8,30,32,1,block"


def boards_to_jsonl(boards: list[Board]) -> str:
    """``boards`` as JSON-lines text, one object of :func:`curriculum.importers.board_to_fields` a line."""
    return "".join(json.dumps(board_to_fields(b)) + "\n" for b in boards)


def listing(folder: Path) -> list[str]:
    """Names in ``folder`` (hidden temp files included), sorted."""
    return sorted(p.name for p in folder.iterdir())


def cli_command() -> list[str]:
    """The installed entry point next to the interpreter, else ``python -m curriculum.cli``."""
    script = Path(sys.executable).parent / "cb-curriculum"
    return [str(script)] if script.exists() else [sys.executable, "-m", "curriculum.cli"]


def run_cli(*args: str, cwd: Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run cb-curriculum with ``args``; returns the completed process (never raises on rc)."""
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([*cli_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def patch_content_size(frame: bytes, new_size: int) -> bytes:
    """``frame`` with its Frame_Content_Size field rewritten (same field width), RFC 8878 §3.1.1.1."""
    fhd = frame[4]
    fcs_flag, single_segment, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    pos = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    width = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    assert width, "frame has no content size field"
    value = new_size - 256 if width == 2 else new_size
    assert zstandard.get_frame_parameters(frame).content_size >= 0
    return frame[:pos] + value.to_bytes(width, "little") + frame[pos + width :]


RAW_BLOCK_MAX = 128 * 1024


def raw_frame(content: bytes, blocks: int) -> bytes:
    """One zstd frame holding ``content`` uncompressed in ``blocks`` Raw blocks (RFC 8878 §3.1.1).

    Single segment, 4-byte content size, no dictionary, no checksum: 9 header bytes, then
    3 bytes per block header, then the content. Lets a test build a valid frame of an exact size.
    """
    assert blocks >= max(1, -(-len(content) // RAW_BLOCK_MAX))
    out = bytearray(b"\x28\xb5\x2f\xfd" + bytes([0b1010_0000]) + len(content).to_bytes(4, "little"))
    step = -(-len(content) // blocks)
    for i in range(blocks):
        part = content[i * step : (i + 1) * step]
        out += ((len(part) << 3) | (i == blocks - 1)).to_bytes(3, "little") + part  # Block_Type 0 (Raw)
    return bytes(out)


def dataset_file_of_size(boards: list, size: int) -> tuple[bytes, int]:  # type: ignore[type-arg]
    """A valid dataset file of exactly ``size`` bytes (Raw blocks) and its record count."""
    from curriculum.dataset import HEADER_SIZE, encode_payload_records
    from kernel.board import RECORD_SIZE, encode_record

    n = (size - 9 - HEADER_SIZE) // RECORD_SIZE
    while n > 0:
        rest = size - 9 - HEADER_SIZE - RECORD_SIZE * n
        content_len = HEADER_SIZE + RECORD_SIZE * n
        if rest % 3 == 0 and rest // 3 >= -(-content_len // RAW_BLOCK_MAX):
            records = b"".join(encode_record(boards[i % len(boards)]) for i in range(n))
            data = raw_frame(encode_payload_records(records), rest // 3)
            assert len(data) == size
            return data, n
        n -= 1
    raise AssertionError(f"no dataset file of {size} bytes")
