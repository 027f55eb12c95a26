"""Which invalid datasets a challenger can show on chain (curriculum.invalid), and the move it plays (no chain).

A file whose records open the hatch's recordsRoot but hold a record that is no board, or a file of
LEN 0 under it, gives the proof proveInvalidDataset takes; a file that is not one zstd frame, has a
bad header or a length that disagrees with its content, or whose records root is not the hatch's,
gives none (nobody can show those on chain: the loaders keep refusing them). The challenger plays
the proof at once, on either side's turn, unless its own clock has run out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from curriculum.dataset import FORMAT_VERSION, MAGIC, compress_payload, decode_dataset
from curriculum.errors import DatasetFormatError
from curriculum.invalid import EMPTY_MERKLE_ROOT, invalid_dataset_proof
from curriculum.records import records_root, verify_path
from kernel.hashing import keccak256
from tests.validator.bisection_lineages import invalid_dataset
from tests.validator.windows import example_dataset
from validator.bisection import GameView, InvalidDatasetSource, Side, next_move


def _file(records: list[bytes], count: int | None = None) -> bytes:
    n = len(records) if count is None else count
    return compress_payload(MAGIC + FORMAT_VERSION.to_bytes(2, "big") + (28).to_bytes(2, "big") + n.to_bytes(4, "big")
                            + b"".join(records))


def test_an_invalid_record_under_the_records_root_is_proven() -> None:
    data, root = invalid_dataset(bad_at=2)
    with pytest.raises(DatasetFormatError, match="record 2 is invalid"):
        decode_dataset(data)
    proof = invalid_dataset_proof(data, root)
    assert proof is not None and (proof.dataset_len, proof.index) == (3, 2) and proof.records_root == root
    verify_path(root, 3, 2, proof.record, list(proof.path))  # the path the contract checks
    assert "record 2 is not a valid board record" in proof.reason and proof.record.hex() not in repr(proof)


def test_a_dataset_of_no_records_is_proven_by_its_length() -> None:
    data = _file([])
    root = keccak256((0).to_bytes(4, "big") + EMPTY_MERKLE_ROOT)
    proof = invalid_dataset_proof(data, root)
    assert proof is not None and proof.args() == (0, EMPTY_MERKLE_ROOT, 0, b"", [])
    assert invalid_dataset_proof(data, keccak256(b"another root")) is None


def test_what_nobody_can_show_on_chain_gives_no_proof() -> None:
    data, root = invalid_dataset()
    good = decode_dataset(example_dataset(), max_bytes=1 << 20)
    recs = [good.record(i) for i in range(3)]
    bad = recs[0][:18] + b"\x00" + recs[0][19:]
    assert invalid_dataset_proof(data, keccak256(b"not its records root")) is None  # another records root
    assert invalid_dataset_proof(b"CBDS" + bytes(64), root) is None  # not a zstd frame
    assert invalid_dataset_proof(_file([bad, *recs[1:]], count=4), root) is None  # LEN disagrees with the content
    assert invalid_dataset_proof(example_dataset(), root) is None  # a valid file: nothing to prove
    bad_magic = compress_payload(b"XXXX" + bytes(8))
    assert invalid_dataset_proof(bad_magic, root) is None


def _game(**kw: object) -> GameView:
    base = dict(game_id=7, beast_id=1, index=0, challenger="0x" + "aa" * 20, defender="0x" + "bb" * 20, lo=0, hi=128,
                challenger_to_move=False, outcome=0, defender_clock=50, challenger_clock=50, last_move=100,
                lo_hash=b"\x01" * 16, hi_hash=b"\x02" * 16, mid_hash=b"\x00" * 16, word=b"\x03" * 32)
    base.update(kw)
    return GameView(**base)  # type: ignore[arg-type]


def test_the_challenger_proves_at_once_on_either_turn_while_its_clock_runs() -> None:
    data, root = invalid_dataset()
    src = InvalidDatasetSource(invalid_dataset_proof(data, root))
    move = next_move(_game(), Side.CHALLENGER, src, 101)  # the defender's turn
    assert move is not None and move.kind == "prove_invalid_dataset" and move.args[:3] == (3, src.invalid_dataset.merkle_root, 1)
    assert move.to_json() == {"move": "prove_invalid_dataset", "gameId": 7, "datasetLen": 3, "recordIndex": 1}
    assert data.hex() not in repr(move) and move.args[3].hex() not in repr(src)
    ours = _game(lo=76, hi=77, challenger_to_move=True)
    assert next_move(ours, Side.CHALLENGER, src, 120).kind == "prove_invalid_dataset"  # type: ignore[union-attr]
    assert next_move(ours, Side.CHALLENGER, src, 150) is None  # our clock ran out: the game is lost
    assert next_move(_game(outcome=2), Side.CHALLENGER, src, 101) is None


def test_cb_dispute_loads_a_file_over_the_season_limit_and_says_so(tmp_path: Path) -> None:
    """The committed file over the season's maxDatasetBytes is still the beast's file: cb-dispute loads it (up to
    the format's MAX_FILE_BYTES), notes it is over the limit and builds its step source; a provably invalid
    one gives the proof instead of a refusal."""
    from curriculum import new_secret_file
    from devnet.records import HatchData
    from validator.dispute.curriculum import dataset_fault, load_curriculum, provable_fault, source_of

    secret_path = tmp_path / "owner.secret"
    secret = new_secret_file(secret_path)
    for data, root in ((example_dataset(), None), invalid_dataset()):
        path = tmp_path / "data.cbds"
        path.write_bytes(data)
        hatch = HatchData(b"\x01" * 32, keccak256(data), secret.commitment, 2, 1,
                          root if root is not None else records_root(decode_dataset(data, max_bytes=len(data))))
        cur = load_curriculum(hatch, 1, path, secret_path, max_bytes=len(data) - 1)
        assert cur is not None and cur.note is not None and f"over the season's maxDatasetBytes ({len(data) - 1})" in cur.note
        if root is None:
            assert dataset_fault(cur, hatch) is None and provable_fault(cur, hatch) is None
            assert source_of(cur, 2).private
        else:
            proof = provable_fault(cur, hatch)
            assert proof is not None and proof.index == 1 and "records root" not in (dataset_fault(cur, hatch) or "")
