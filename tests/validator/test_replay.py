"""validator.replay: honest windows match on both backends; every kind of tampering is caught."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.hashing import keccak256
from kernel.payload import FLAG_GROWTH_SPURT, Payload
from kernel.sources import PublicSource
from kernel.state import encode_state_blob, genesis
from kernel.train import train_window
from kernel.window_settings import Illegal
from tests.validator.windows import LIMIT_RAISED, OTHER_SECRET, Beast, SwitchingSource, private_beast, train
from validator.errors import (
    CommitmentMismatchError,
    DatasetInvalidError,
    InputTooLargeError,
    InvalidInputError,
    MissingInputError,
    RecordsRootMismatchError,
    StartStateError,
    StartStateMismatchError,
    ValidatorError,
)
from validator.replay import MAX_DATASET_BYTES, BeastCommitments, ReplayRequest, replay

BACKENDS = ["numpy", "torch"]
INPUTS = ["spec", "fast"]


def tampered(word: bytes, **fields: object) -> bytes:
    return replace(Payload.unpack(word), **fields).pack()  # type: ignore[arg-type]


# -- honest windows ----------------------------------------------------------------------


@pytest.mark.parametrize("inputs", INPUTS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_honest_public_windows_match(pub: Beast, backend: str, k: int, inputs: str) -> None:
    report = replay(pub.request(k, trainer_digests=pub.windows[k - 1].digests), backend=backend, inputs=inputs)  # type: ignore[arg-type]
    assert report.verdict == "match" and report.match is True
    assert report.computed == pub.windows[k - 1].payload
    assert report.first_divergent_step is None and report.mismatched_fields == ()
    assert report.start_h128 == pub.windows[k - 1].start.h128()
    assert report.backend == backend


@pytest.mark.parametrize("inputs", INPUTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_honest_private_windows_match(priv: Beast, backend: str, inputs: str) -> None:
    for k in (1, 2):
        report = replay(priv.request(k), backend=backend, inputs=inputs)  # type: ignore[arg-type]
        assert report.match is True, report.to_json()
        assert report.computed.flags & 4  # FLAG_PRIVATE


def test_window_one_accepts_an_explicit_genesis_blob(pub: Beast) -> None:
    blob = encode_state_blob(genesis(pub.commitments.seed_core, spec_version=1))
    assert replay(pub.request(1, start_state=blob, prev_h128=None)).match is True


def test_compute_only_without_committed_word(pub: Beast) -> None:
    report = replay(pub.request(2, committed_word=None))
    assert report.verdict == "computed" and report.match is None
    assert report.computed == pub.windows[1].payload


def test_offline_epoch_seed_is_the_default(pub: Beast) -> None:
    assert replay(pub.request(2, epoch_seed=None)).match is True


def test_report_json_has_no_secret(priv: Beast) -> None:
    text = repr(replay(priv.request(1)).to_json()) + repr(priv.request(1))
    assert priv.secret is not None and priv.secret.hex() not in text


# -- tampered words are divergences ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"h128": b"\x01" * 16}, ("h128",)),
        ({"energy_burn": 1}, ("energy_burn",)),
        ({"global_step": 3 * 128 + 128}, ("global_step",)),  # skipped a window of steps
        ({"flags": 0}, ("flags",)),
    ],
)
def test_tampered_fields_diverge(pub: Beast, fields: dict[str, object], expected: tuple[str, ...]) -> None:
    w = pub.windows[2]
    report = replay(pub.request(3, committed_word=tampered(w.word, **fields)))
    assert report.verdict == "diverged"
    assert report.mismatched_fields == expected
    assert report.computed == w.payload


@pytest.mark.parametrize("backend", BACKENDS)
def test_claimed_growth_spurt_that_did_not_happen_diverges(pub: Beast, backend: str) -> None:
    w = pub.windows[1]
    word = tampered(w.word, active_mask=0b0111, flags=w.payload.flags | FLAG_GROWTH_SPURT)
    report = replay(pub.request(2, committed_word=word), backend=backend)
    assert report.match is False
    # The replay used the committed mask, so the trained state (h128) and energy differ.
    assert "h128" in report.mismatched_fields and "energy_burn" in report.mismatched_fields


@pytest.mark.parametrize("inputs", INPUTS)
def test_illegal_mask_is_a_divergence_with_a_reason(pub: Beast, inputs: str) -> None:
    w = pub.windows[1]
    report = replay(pub.request(2, committed_word=tampered(w.word, active_mask=0b0001)), inputs=inputs)  # type: ignore[arg-type]
    assert report.match is False and "not a legal continuation" in report.reason
    assert report.illegal is Illegal.MASK_DROPS_SLOTS and report.to_json()["illegal"] == "mask_drops_slots"
    assert report.computed == w.payload  # the start state's own settings


def test_illegal_growth_spurt_and_lr_shift_say_which(pub: Beast) -> None:
    w = pub.windows[1]
    report = replay(pub.request(2, committed_word=tampered(w.word, active_mask=0b1111)))
    assert report.illegal is Illegal.SPURT_TOO_LARGE and "at most one slot" in report.reason
    report = replay(pub.request(2, committed_word=tampered(w.word, lr_shift=25)))
    assert report.illegal is Illegal.LR_SHIFT_OUT_OF_RANGE and "lr_shift must be 0..24" in report.reason
    assert replay(pub.request(2)).to_json()["illegal"] is None


def test_malformed_committed_word_is_a_divergence(pub: Beast) -> None:
    report = replay(pub.request(2, committed_word=pub.windows[1].word[:31] + b"\xff"))  # reserved flag bits
    assert report.match is False and "malformed" in report.reason
    assert report.illegal is Illegal.MALFORMED_WORD and report.committed is None


def test_trained_with_another_secret_diverges() -> None:
    cheat = private_beast(n=1, trained_with=OTHER_SECRET)
    report = replay(cheat.request(1, trainer_digests=cheat.windows[0].digests))
    assert report.match is False and "h128" in report.mismatched_fields
    assert report.first_divergent_step is not None and report.first_divergent_step <= 3


@pytest.mark.parametrize("inputs", INPUTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_first_divergent_step_from_digests(pub: Beast, backend: str, inputs: str) -> None:
    w = pub.windows[1]
    cheated = train_window(w.start, SwitchingSource(57), want_digests=True)
    assert cheated.digests[:57] == w.digests[:57]
    report = replay(pub.request(2, committed_word=cheated.payload.pack(), trainer_digests=cheated.digests),
                    backend=backend, inputs=inputs)  # type: ignore[arg-type]
    assert report.match is False
    assert report.first_divergent_step == 57


def test_short_digest_list_diverges_where_it_ends(pub: Beast) -> None:
    w = pub.windows[0]
    report = replay(pub.request(1, trainer_digests=w.digests[:100]))
    assert report.match is True and report.first_divergent_step == 100


# -- refused inputs ----------------------------------------------------------------------


def test_start_state_of_another_checkpoint_is_refused(pub: Beast) -> None:
    with pytest.raises(StartStateMismatchError, match="hashes to"):
        replay(pub.request(3, start_state=pub.windows[1].start_blob))


def test_wrong_previous_h128_is_refused(pub: Beast) -> None:
    with pytest.raises(StartStateMismatchError) as info:
        replay(pub.request(2, prev_h128=b"\x02" * 16))
    assert info.value.expected == b"\x02" * 16 and info.value.actual == pub.windows[1].start.h128()


def test_start_state_of_another_beast_is_refused(pub: Beast) -> None:
    other = train(genesis(keccak256(b"another beast"), spec_version=1), PublicSource(), 1)[0]
    with pytest.raises(StartStateMismatchError, match="seed_core"):
        replay(pub.request(2, start_state=encode_state_blob(other.result.state), prev_h128=other.result.state.h128()))


def test_genesis_of_another_beast_is_refused(pub: Beast) -> None:
    with pytest.raises(StartStateMismatchError, match="genesis"):
        replay(pub.request(1, start_state=encode_state_blob(genesis(keccak256(b"another beast"), spec_version=1)), prev_h128=None))


def test_window_numbering_checked(pub: Beast) -> None:
    w = pub.windows[1]
    with pytest.raises(StartStateMismatchError, match="checkpoint 1"):
        replay(pub.request(3, start_state=w.start_blob, prev_h128=w.prev_h128))


@pytest.mark.parametrize("blob", [b"", b"garbage", b"\x28\xb5\x2f\xfd" + b"\x00" * 20, b"\x28\xb5\x2f\xfd" * 100])
def test_garbage_state_blob_is_refused(pub: Beast, blob: bytes) -> None:
    with pytest.raises(StartStateError):
        replay(pub.request(2, start_state=blob))


def test_truncated_state_blob_is_refused(pub: Beast) -> None:
    blob = pub.windows[1].start_blob
    with pytest.raises(StartStateError):
        replay(pub.request(2, start_state=blob[: len(blob) // 2]))


def test_oversize_state_blob_is_refused(pub: Beast) -> None:
    with pytest.raises(InputTooLargeError):
        replay(pub.request(2, start_state=b"\x28\xb5\x2f\xfd" + bytes(400_000)))


@pytest.mark.parametrize("k", [0, -1, 1 << 32])
def test_bad_window_numbers_are_refused(pub: Beast, k: int) -> None:
    with pytest.raises(InvalidInputError, match="window"):
        replay(pub.request(1, window=k))


def test_missing_start_state_and_prev_h128(pub: Beast) -> None:
    with pytest.raises(MissingInputError, match="start state"):
        replay(pub.request(2, start_state=None))
    with pytest.raises(MissingInputError, match="h128"):
        replay(pub.request(2, prev_h128=None))


def test_dataset_not_matching_commitment(priv: Beast) -> None:
    assert priv.dataset is not None
    with pytest.raises(CommitmentMismatchError) as info:
        replay(priv.request(1, dataset=priv.dataset + b"\x00"))
    assert info.value.what == "dataset"


def test_secret_not_matching_commitment_never_shows_the_secret(priv: Beast) -> None:
    wrong = b"\x77" * 32
    with pytest.raises(CommitmentMismatchError) as info:
        replay(priv.request(1, owner_secret=wrong))
    assert info.value.what == "owner secret"
    assert wrong.hex() not in str(info.value) and keccak256(wrong).hex() in str(info.value)


def test_private_beast_needs_dataset_and_secret(priv: Beast) -> None:
    with pytest.raises(MissingInputError, match="dataset"):
        replay(priv.request(1, dataset=None))
    with pytest.raises(MissingInputError, match="secret"):
        replay(priv.request(1, owner_secret=None))


def test_public_beast_refuses_a_dataset(pub: Beast, priv: Beast) -> None:
    with pytest.raises(InvalidInputError, match="no private curriculum"):
        replay(pub.request(1, dataset=priv.dataset, owner_secret=priv.secret))


def test_oversize_dataset_is_refused(priv: Beast) -> None:
    with pytest.raises(InputTooLargeError):
        replay(priv.request(1, dataset=bytes(MAX_DATASET_BYTES + 1)))


def test_dataset_over_the_default_limit_replays_under_the_season_limit(big: Beast) -> None:
    # a season whose maxDatasetBytes is 600 KiB accepts this dataset on chain; the validator must too
    assert big.dataset is not None and MAX_DATASET_BYTES < len(big.dataset) <= LIMIT_RAISED
    report = replay(big.request(1), max_dataset_bytes=LIMIT_RAISED)
    assert report.match is True and report.computed == big.windows[0].payload
    with pytest.raises(InputTooLargeError, match=f"over the limit of {MAX_DATASET_BYTES}$"):
        replay(big.request(1))  # the default is the season default
    with pytest.raises(InputTooLargeError, match=f"over the limit of {len(big.dataset) - 1}$"):
        replay(big.request(1), max_dataset_bytes=len(big.dataset) - 1)


def test_dataset_matching_commitment_but_malformed(priv: Beast) -> None:
    junk = b"not a dataset"
    beast = BeastCommitments(priv.commitments.seed_core, keccak256(junk), priv.commitments.secret_commitment)
    # its own type: the trainer's fault (SPEC §10.6), which a watcher turns into a vote against
    with pytest.raises(DatasetInvalidError, match="not a valid dataset") as info:
        replay(ReplayRequest(beast=beast, window=1, dataset=junk, owner_secret=priv.secret))
    assert isinstance(info.value, InvalidInputError)
    # a file that does not match C_dataset is the supplier's fault, not that error
    with pytest.raises(CommitmentMismatchError):
        replay(ReplayRequest(beast=beast, window=1, dataset=junk + b"x", owner_secret=priv.secret))


# -- spec version 2 ----------------------------------------------------------------------


@pytest.mark.parametrize("inputs", INPUTS)
def test_version_2_windows_replay_under_version_2(pub2: Beast, priv2: Beast, inputs: str) -> None:
    """A beast's windows replay under its hatch's spec version: genesis regenerated as version 2
    (with R_dataset at offset 64 for a private beast), the private source sampling by the v2 key."""
    for beast in (pub2, priv2):
        assert beast.windows[0].start.spec_version == 2
        for k in (1, 2):
            report = replay(beast.request(k, trainer_digests=beast.windows[k - 1].digests), inputs=inputs)  # type: ignore[arg-type]
            assert report.match is True and report.computed == beast.windows[k - 1].payload
    assert priv2.windows[0].start.dataset_commitment == priv2.commitments.records_root != priv2.commitments.dataset_commitment


def test_a_version_1_replay_of_a_version_2_beast_is_refused(pub2: Beast, pub: Beast) -> None:
    """Abuse: hatch data naming the wrong version cannot make a validator replay a state under
    another version's rules (the state carries its version; the hatch data must agree)."""
    as_v1 = replace(pub2.commitments, spec_version=1)
    with pytest.raises(StartStateMismatchError, match="start state is spec version 2; the beast's hatch data says 1"):
        replay(pub2.request(2, beast=as_v1))
    with pytest.raises(StartStateMismatchError, match="start state is spec version 1; the beast's hatch data says 2"):
        replay(pub.request(2, beast=replace(pub.commitments, spec_version=2)))
    # At window 1 genesis is rebuilt under the hatch's version: another version is another h128.
    assert replay(pub2.request(1, beast=as_v1, prev_h128=None)).computed != pub2.windows[0].payload


def test_version_2_dataset_with_another_records_root_is_dataset_invalid(priv2: Beast) -> None:
    """SPEC §10.2: a file matching C_dataset whose R_dataset is not the hatch's recordsRoot was hatched
    wrong by its owner: like an invalid file (DatasetInvalidError, a vote against), not a supplier error."""
    bogus = keccak256(b"not the file's records")
    beast = replace(priv2.commitments, records_root=bogus)
    # Window 1: genesis is rebuilt with the hatch's (bogus) root, then the file is checked against it.
    with pytest.raises(RecordsRootMismatchError, match="not the hatch's recordsRoot") as info:
        replay(priv2.request(1, beast=beast, prev_h128=None))
    assert isinstance(info.value, DatasetInvalidError)
    assert (info.value.expected, info.value.actual) == (bogus, priv2.commitments.records_root)
    assert priv2.secret is not None and priv2.secret.hex() not in str(info.value)
    # A later window's honest state carries the file's root, not the hatch's: that start is refused.
    with pytest.raises(StartStateMismatchError, match="records root"):
        replay(priv2.request(2, beast=beast))


@pytest.mark.parametrize(("fields", "message"), [
    ({"spec_version": 3}, "spec_version must be one of 1, 2, got 3"),
    ({"spec_version": True}, "spec_version must be one of 1, 2"),
    ({"records_root": b"\x01" * 32}, "a spec version 1 beast has no records root"),
    ({"spec_version": 2}, "records root exactly when it has a dataset commitment"),  # private, no root
    ({"spec_version": 2, "dataset_commitment": bytes(32), "records_root": b"\x01" * 32},
     "records root exactly when it has a dataset commitment"),  # public, with a root
    ({"spec_version": 2, "records_root": b"\x01" * 31}, "records_root must be 32 bytes"),
])
def test_hatch_data_the_chain_never_holds_is_refused(priv: Beast, fields: dict[str, object], message: str) -> None:
    """BeastCommitments enforces Beast.hatch's rules: a client cannot ask for a replay of hatch data no deployment holds."""
    with pytest.raises(InvalidInputError, match=message):
        replace(priv.commitments, **fields)


@pytest.mark.parametrize(
    "overrides",
    [
        {"committed_word": b"\x00" * 31},
        {"epoch_seed": b"\x00" * 31},
        {"prev_h128": b"\x00" * 15},
        {"trainer_digests": [b"\x00" * 15]},
        {"trainer_digests": [b"\x00" * 16] * 129},
    ],
)
def test_wrong_lengths_are_refused(pub: Beast, overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        replay(pub.request(2, **overrides))


def test_bad_beast_commitments_and_backend(pub: Beast) -> None:
    with pytest.raises(InvalidInputError):
        BeastCommitments(b"\x00" * 31)
    with pytest.raises(InvalidInputError, match="backend"):
        replay(pub.request(1), backend="cuda-magic")
    with pytest.raises(InvalidInputError, match="inputs"):
        replay(pub.request(1), inputs="turbo")  # type: ignore[arg-type]


def test_every_refusal_is_a_validator_error(pub: Beast) -> None:
    for req in (pub.request(2, start_state=b"x"), pub.request(2, prev_h128=bytes(16)), pub.request(0)):
        with pytest.raises(ValidatorError):
            replay(req)


def test_the_replay_library_imports_no_grpc() -> None:
    code = ("import sys, validator.replay, validator.errors, kernel.replay; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'grpc_health', 'grpc_reflection')); "
            "assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert run.returncode == 0, run.stderr


# -- property: every bit of the committed word matters ------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bit=st.integers(min_value=0, max_value=255))
def test_flipping_any_bit_of_the_committed_word_diverges(pub: Beast, bit: int) -> None:
    word = bytearray(pub.windows[1].word)
    word[bit // 8] ^= 0x80 >> (bit % 8)
    report = replay(pub.request(2, committed_word=bytes(word)), inputs="fast")
    assert report.verdict == "diverged"
    assert report.mismatched_fields or report.reason
    assert report.computed.pack() != bytes(word)
    if bit // 8 not in (28, 29):  # bytes 28/29 are activeMask/lrShift; elsewhere the replay is the honest window
        assert report.computed == pub.windows[1].payload
