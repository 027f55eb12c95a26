"""The committed validator_pb2*.py are exactly what grpcio-tools generates from validator.proto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATED = ("validator_pb2.py", "validator_pb2_grpc.py")


def test_generated_modules_are_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    src = tmp_path / "proto" / "chainbeasts" / "v1"
    src.mkdir(parents=True)
    shutil.copy(REPO / "proto" / "chainbeasts" / "v1" / "validator.proto", src)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iproto", "--python_out=proto", "--grpc_python_out=proto",
         "proto/chainbeasts/v1/validator.proto"],
        cwd=tmp_path, check=True, capture_output=True,
    )
    for name in GENERATED:
        fresh = (src / name).read_bytes()
        committed = (REPO / "proto" / "chainbeasts" / "v1" / name).read_bytes()
        assert fresh == committed, f"{name} is stale: regenerate it (see validator.proto's header)"


def test_generated_modules_import_as_the_proto_package() -> None:
    from chainbeasts.v1 import validator_pb2, validator_pb2_grpc

    assert validator_pb2.DESCRIPTOR.package == "chainbeasts.v1"
    assert hasattr(validator_pb2_grpc, "ValidatorServiceStub")
    service = validator_pb2.DESCRIPTOR.services_by_name["ValidatorService"]
    assert {m.name for m in service.methods} == {"ReplayWindow", "GetValidatorInfo"}
