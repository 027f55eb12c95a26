"""The committed node_pb2 / node_pb2_grpc modules are exactly what grpc_tools generates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_node_modules_match_proto(tmp_path: Path) -> None:
    (tmp_path / "chainbeasts" / "v1").mkdir(parents=True)
    shutil.copy(ROOT / "proto/chainbeasts/v1/node.proto", tmp_path / "chainbeasts/v1/node.proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", "chainbeasts/v1/node.proto"],
        check=True, cwd=tmp_path,
    )
    for name in ("node_pb2.py", "node_pb2_grpc.py"):
        assert (tmp_path / "chainbeasts/v1" / name).read_bytes() == (ROOT / "proto/chainbeasts/v1" / name).read_bytes(), name


def test_enum_zero_values_are_unspecified() -> None:
    from chainbeasts.v1 import node_pb2

    for enum in node_pb2.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED"), enum.name
