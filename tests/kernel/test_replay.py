"""kernel.replay, the one replay path: a verdict on a committed word that says whether it holds and, if not, why."""

from __future__ import annotations

import ast
import graphlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from kernel.errors import KernelError, ReplayError
from kernel.hashing import keccak256
from kernel.params import MAX_LR_SHIFT
from kernel.payload import FLAG_GROWTH_SPURT, Payload
from kernel.replay import first_divergent_step, mismatched_fields, replay_committed, replay_window
from kernel.sources import PublicSource
from kernel.state import genesis
from kernel.train import WindowResult, train_window
from kernel.window_settings import Illegal, check_window_settings, settings_problem

KERNEL = Path(__file__).resolve().parents[2] / "kernel"
START = genesis(keccak256(b"kernel replay tests"))  # slots 0 and 1 on (mask 0b0011) of 4
SRC = PublicSource()


@pytest.fixture(scope="module")
def honest() -> WindowResult:
    return train_window(START, SRC, want_digests=True)


def word(result: WindowResult, **fields: object) -> bytes:
    return replace(result.payload, **fields).pack()  # type: ignore[arg-type]


# -- legal words ---------------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", ["spec", "fast"])
def test_honest_word_matches(honest: WindowResult, inputs: str) -> None:
    v = replay_committed(START, SRC, honest.payload.pack(), inputs=inputs, claimed_digests=honest.digests)
    assert v.match is True and v.illegal is None and v.reason == ""
    assert v.computed == honest.payload and v.committed == honest.payload
    assert v.mismatched_fields == () and v.first_divergent_step is None


def test_no_word_computes_with_the_start_settings(honest: WindowResult) -> None:
    v = replay_committed(START, SRC, None)
    assert v.match is None and v.committed is None and v.illegal is None
    assert v.computed == honest.payload and v.result.digests == []


def test_legal_growth_spurt_is_replayed_with_the_committed_settings() -> None:
    spurt = train_window(START, SRC, active_mask=0b0111, lr_shift=3)
    assert spurt.payload.flags & FLAG_GROWTH_SPURT
    v = replay_committed(START, SRC, spurt.payload.pack())
    assert v.match is True and v.computed == spurt.payload


def test_a_field_difference_is_no_illegal_setting(honest: WindowResult) -> None:
    v = replay_committed(START, SRC, word(honest, energy_burn=honest.payload.energy_burn + 1))
    assert v.match is False and v.illegal is None and v.reason == ""
    assert v.mismatched_fields == ("energy_burn",)


# -- illegal words say why -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "shift", "kind", "text"),
    [
        (0b0011, MAX_LR_SHIFT + 1, Illegal.LR_SHIFT_OUT_OF_RANGE, f"lr_shift must be 0..{MAX_LR_SHIFT}, got {MAX_LR_SHIFT + 1}"),
        (0b0001, 255, Illegal.LR_SHIFT_OUT_OF_RANGE, "lr_shift"),  # the spec's order: lr_shift before the mask
        (0, 6, Illegal.MASK_OUT_OF_RANGE, "active_mask 0x0 is empty"),
        (0b10011, 6, Illegal.MASK_OUT_OF_RANGE, "beyond n_slots=4"),
        (0b0001, 6, Illegal.MASK_DROPS_SLOTS, "switches off slots of 0x3"),
        (0b1111, 6, Illegal.SPURT_TOO_LARGE, "at most one slot"),
    ],
)
def test_illegal_settings_say_why(honest: WindowResult, mask: int, shift: int, kind: Illegal, text: str) -> None:
    v = replay_committed(START, SRC, word(honest, active_mask=mask, lr_shift=shift))
    assert v.match is False and v.illegal is not None
    assert v.illegal.kind is kind and text in v.illegal.detail
    assert v.reason == f"the committed window is not a legal continuation: {v.illegal.detail}"
    assert v.committed is not None and (v.committed.active_mask, v.committed.lr_shift) == (mask, shift)
    assert v.computed == honest.payload  # trained with the start state's own settings
    # the trainer refuses the same settings with the same message, and the raising form says the same
    problem = settings_problem(START, mask, shift)
    assert problem == v.illegal
    assert problem is not None
    with pytest.raises(KernelError, match=f"^{re.escape(problem.detail)}$"):
        check_window_settings(START, mask, shift)
    with pytest.raises(ReplayError) as info:
        replay_window(START, SRC, Payload.unpack(word(honest, active_mask=mask, lr_shift=shift)), epoch_seed=START.seed_core)
    assert str(info.value) == v.reason


@pytest.mark.parametrize("raw", [b"\xff" * 32, None])
def test_malformed_word_says_why(honest: WindowResult, raw: bytes | None) -> None:
    bad = raw or honest.payload.pack()[:31] + b"\xff"  # reserved flag bits
    v = replay_committed(START, SRC, bad)
    assert v.match is False and v.committed is None and v.mismatched_fields == ()
    assert v.illegal is not None and v.illegal.kind is Illegal.MALFORMED_WORD
    assert v.reason.startswith("the committed word is malformed: ") and "reserved" in v.reason
    assert v.computed == honest.payload


def test_a_window_that_cannot_be_computed_raises(honest: WindowResult) -> None:
    with pytest.raises(KernelError, match="epoch_seed"):
        replay_committed(START, SRC, honest.payload.pack(), epoch_seed=b"\x00" * 31)
    with pytest.raises(KernelError, match="inputs"):
        replay_committed(START, SRC, honest.payload.pack(), inputs="turbo")


# -- comparison helpers --------------------------------------------------------------------------


def test_first_divergent_step(honest: WindowResult) -> None:
    d = honest.digests
    assert first_divergent_step(d, d) is None
    assert first_divergent_step(d, d[:100]) == 100
    assert first_divergent_step(d, [*d[:57], b"\x00" * 16, *d[58:]]) == 57


def test_mismatched_fields_names_each_field(honest: WindowResult) -> None:
    p = honest.payload
    other = replace(p, h128=bytes(16), flags=p.flags ^ 1)
    assert mismatched_fields(p, other) == ("h128", "flags")
    assert mismatched_fields(p, p) == ()


# -- module structure ----------------------------------------------------------------------------


def _kernel_imports() -> dict[str, set[str]]:
    """kernel module -> the kernel modules it imports anywhere (top level or inside a function)."""
    mods = {("kernel." + p.stem if p.stem != "__init__" else "kernel"): p for p in KERNEL.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def test_kernel_modules_import_each_other_without_a_cycle() -> None:
    graph = _kernel_imports()
    assert "kernel.train" in graph["kernel.replay"] and "kernel.fast_inputs" in graph["kernel.train"]
    assert "kernel.train" not in graph["kernel.fast_inputs"]
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle
