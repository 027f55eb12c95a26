"""Loss heads: integer gradients and losses of the six logits (SPEC §8.3), scalar spec form.

spec_version 2 weights the block head's positive class (SPEC v2, V2-5): on a board labelled
"block" its gradient and loss term are multiplied by BLOCK_POS_WEIGHT, so the rare class
(about 6% of boards) is not drowned by the prior. Version 1 is the weight 1.
"""

from __future__ import annotations

from typing import Final

from kernel.fixedpoint import ONE_Q16, nlog2_q16_q8, saturate16, sigmoid2_q16, softmax2_q16
from kernel.rules import ATK_SCALE, NO_MOVE

HEAD_MOVE: Final = 1
HEAD_ATTACK: Final = 2
HEAD_BLOCK: Final = 4
ATK_TARGET_SCALE: Final = ATK_SCALE  # attack label 0..15 -> Q8 target 0..960
ATK_GRAD_CLIP: Final = 256
LOSS_TERM_MAX: Final = 65535
BLOCK_POS_WEIGHT: Final = 8  # spec_version 2 block head: weight of a board labelled "block" (fixed by the block-head experiment)


def block_weight_for(spec_version: int) -> int:
    """The block head's positive-class weight under ``spec_version`` (1 under version 1)."""
    return 1 if spec_version == 1 else BLOCK_POS_WEIGHT


def heads_for_epoch(epoch: int) -> int:
    """Curriculum: epochs 0-2 move only, 3-5 add attack power, 6+ add block."""
    if epoch < 3:
        return HEAD_MOVE
    if epoch < 6:
        return HEAD_MOVE | HEAD_ATTACK
    return HEAD_MOVE | HEAD_ATTACK | HEAD_BLOCK


def head_grads(
    z: list[int], move: int, attack: int, block: int, heads: int, block_weight: int = 1
) -> tuple[list[int], int]:
    """Q8 gradients of the loss w.r.t. the six Q8 logits, and the step loss in Q8.

    ``block_weight`` multiplies the block head's gradient and loss on a board labelled
    "block" (v2: BLOCK_POS_WEIGHT; v1: 1, which is v1's formula exactly).
    """
    gz = [0] * 6
    loss = 0
    if heads & HEAD_MOVE and move != NO_MOVE:
        p = softmax2_q16(z[0:4])
        for i in range(4):
            gz[i] = (p[i] - (ONE_Q16 if i == move else 0)) >> 8
        loss += nlog2_q16_q8(p[move])
    if heads & HEAD_ATTACK:
        d = z[4] - attack * ATK_TARGET_SCALE
        gz[4] = min(max(d, -ATK_GRAD_CLIP), ATK_GRAD_CLIP)
        loss += min((d * d) >> 8, LOSS_TERM_MAX)
    if heads & HEAD_BLOCK:
        s = sigmoid2_q16(z[5])
        wb = block_weight if block else 1
        gz[5] = ((s - (ONE_Q16 if block else 0)) >> 8) * wb
        loss += nlog2_q16_q8(s if block else ONE_Q16 - s) * wb
    return [saturate16(g) for g in gz], loss
