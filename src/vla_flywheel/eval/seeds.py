"""Fixed evaluation seed lists, disjoint from the seeds demonstrations are collected with.

`flywheel collect` starts at seed 0 and counts up, so demos use small seeds. Evaluation episode i of a (family,
split) group uses seed EVAL_SEED_BASE + offset + i: the same list every time, never a training scene (for datasets
of fewer than a million episodes).
"""

from __future__ import annotations

EVAL_SEED_BASE = 1_000_000


def eval_seeds(episodes: int, offset: int = 0) -> list[int]:
    return [EVAL_SEED_BASE + offset + i for i in range(episodes)]
