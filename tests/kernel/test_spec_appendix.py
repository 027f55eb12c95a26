"""docs/SPEC.md Appendix A prints exactly what the reference computes (it can never go stale)."""

from __future__ import annotations

import pytest

from tests.kernel.spec_appendix import BEGIN, END, SPEC, block, lines, main, spec_block


def test_spec_appendix_is_what_the_reference_computes() -> None:
    assert spec_block(SPEC.read_text()) == block(), "regenerate: python -m tests.kernel.spec_appendix --write"


def test_check_mode_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0


def test_the_block_appears_once_and_covers_what_a_reader_checks() -> None:
    text = SPEC.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    names = {line.split(" = ")[0] for line in lines() if " = " in line}
    for name in ("v2.genesis.h128", "v2.w1.step0.record", "v2.w1.step0.labels", "v2.w1.step0.loss",
                 "v2.w1.h_1", "v2.w1.word", "v1.genesis.h128", "v1.w1.word"):
        assert any(n.startswith(name) for n in names), name


def test_a_changed_value_is_caught() -> None:
    """The comparison is exact: one digit changed in the printed block is a mismatch."""
    good = block()
    i = good.index("v2.w1.step0.loss = ") + len("v2.w1.step0.loss = ")
    bad = good[:i] + ("1" if good[i] != "1" else "2") + good[i + 1:]
    assert spec_block("intro\n" + bad + "\nrest") != good


# ---------------------------------------------------------------- claims SPEC.md makes in prose


def test_state_sizes_printed_in_spec() -> None:
    """§6.3: 9,262 / 9,273 bytes by default, 290,990 / 218,297 for each version's largest legal parameters."""
    from kernel.params import DEFAULT_PARAMS, KernelParams, max_hidden
    from kernel.state import max_state_size, state_size

    text = SPEC.read_text()
    for version, default, largest in ((1, 9262, 290990), (2, 9273, 218297)):
        assert state_size(DEFAULT_PARAMS, version) == default
        assert state_size(KernelParams(slot_width=max_hidden(version) // 8, n_slots=8), version) == largest
        assert f"{largest:,} bytes" in text and f"{default:,} bytes" in text
    assert max_hidden(2) == 1536 and max_state_size() == 290990


def test_offline_lr_shift_is_the_genesis_value() -> None:
    """§7.6: cb-kernel trains every window at lr_shift 6 unless told otherwise, the genesis value."""
    from kernel.cli import build_parser
    from kernel.state import DEFAULT_LR_SHIFT

    args = build_parser().parse_args(["train", "--seed", "0x" + "11" * 32, "--windows", "1"])
    assert args.lr_shift == DEFAULT_LR_SHIFT == 6


def test_template_comes_from_the_window_epoch_seed_not_the_stored_one() -> None:
    """§4 / §4.2: a window starting an epoch uses that epoch's seed E, not the state's epoch_seed field."""
    from dataclasses import replace

    from kernel.context import WindowContext
    from kernel.sources import TEMPLATES, PublicSource, public_board
    from kernel.state import genesis
    from kernel.train import offline_epoch_seed, train_window

    seed = b"\x01" * 32  # template 1 from the stored seed, template 0 from epoch 1's seed
    start = replace(genesis(seed, spec_version=2), global_step=512)  # first window of epoch 1
    e1 = offline_epoch_seed(seed, 1)
    assert e1[31] % 8 != start.epoch_seed[31] % 8, "pick a seed whose two templates differ"
    result = train_window(start, PublicSource())
    assert result.state.epoch_seed == e1  # the offline default is the window's own epoch seed
    right = public_board(WindowContext(seed, start.h128(), e1, 512), 3)  # g = 515: a template step
    wrong = public_board(WindowContext(seed, start.h128(), start.epoch_seed, 512), 3)
    assert right.tiles == tuple(TEMPLATES[0])  # template 0 is open: no tile to clear
    assert right.tiles != wrong.tiles


def test_neighbour_override_may_land_on_a_wall_that_step_3_clears() -> None:
    """§5.1 step 2-3: the enemy placed next to self may sit on a drawn WALL; the tile is cleared."""
    from kernel.prng import SplitMix64Stream
    from kernel.rules import neighbor
    from kernel.sources import draw_board

    found = 0
    for key in range(20000):
        rng = SplitMix64Stream(key)
        words = [rng.next() for _ in range(4)]
        r4 = rng.next()
        if (r4 >> 20) & 3:
            continue
        q = neighbor(r4 & 63, (r4 >> 22) & 3)
        if q < 0 or (words[q >> 4] >> (4 * (q & 15))) & 15 != 0:  # the drawn tile at q is not a WALL
            continue
        board = draw_board(key, None)
        assert board.enemy_pos == q and board.tiles[q] == 0
        board.validate()
        found += 1
    assert found > 0


def test_max_dataset_bytes_is_in_no_state() -> None:
    """§1: MAX_DATASET_BYTES is not a kernel parameter, so no state's bytes hold it."""
    from dataclasses import fields

    from kernel.params import KernelParams

    assert "max_dataset_bytes" not in {f.name for f in fields(KernelParams)}


def test_every_line_is_a_heading_or_one_name_value_pair() -> None:
    """Appendix A's stated format: '-- ' headings, else exactly one ' = ' (a reader compares mechanically)."""
    for line in lines():
        assert line.startswith("-- ") or line.count(" = ") == 1, line
