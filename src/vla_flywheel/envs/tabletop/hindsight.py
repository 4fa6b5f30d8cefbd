"""Which instructions an episode's end satisfies, for hindsight relabelling (`flywheel/relabel.py`).

An episode asked to put the yellow block on the cyan pad that put the green block on the red pad failed its
instruction, yet it is a correct example of "put the green block on the red pad" (HER, Andrychowicz et al. 2017, for
goals; DIAL, Xiao et al. 2022, and HIGhER, Cideron et al. 2019, for language). This module gives both sides of that
relabelling in the family's own words:

- `satisfied_instructions`: the simulator's truth, the family's instructions the moved block meets where it rests,
  judged by the same predicate as the env's success (`tasks.success_xy`);
- `instruction_for`: a description's meaning (what an explainer says an action did) as the family's instruction.

Both use the family's first training wording and never return a held-out (colour, target) combination, so
relabelled data cannot leak into what held-out evaluation asks for.
"""

from __future__ import annotations

import numpy as np

from vla_flywheel.envs.tabletop.describe import Meaning
from vla_flywheel.envs.tabletop.language import RELATIONS, TEMPLATES, instruction, is_heldout_combination
from vla_flywheel.envs.tabletop.tasks import Scene, Task, region_of, success_xy


def _words(family: str, block: str, target: str, ref: str | None = None) -> str | None:
    if is_heldout_combination(family, block, target):
        return None
    return instruction(family, TEMPLATES[family]["train"][0], block, target, ref)


def satisfied_instructions(scene: Scene, family: str, block: int, xy: np.ndarray, z: np.ndarray) -> list[str]:
    """The instructions of `family` that block `block` satisfies with the blocks at xy (n, 2) and heights z (n,).

    The caller checks that the block rests (released, not moving), as the env's success does.
    """
    colours = scene.block_colours
    others = [i for i in range(len(colours)) if i != block]
    goal = np.zeros(2)  # success_xy never reads the canonical place point
    if family == "pick_place":
        tasks = [Task(family, "", block, pad, j, goal) for j, pad in enumerate(scene.pad_colours)]
    elif family == "place_grid":
        tasks = [Task(family, "", block, region_of(xy[block]), None, goal)]
    elif family == "stack":
        tasks = [Task(family, "", block, colours[r], r, goal) for r in others]
    else:
        tasks = [Task(family, "", block, relation, r, goal) for r in others for relation in RELATIONS]
    out = []
    for task in tasks:
        if success_xy(scene, task, xy, z):
            ref = None if task.ref is None or family == "pick_place" else colours[task.ref]
            words = _words(family, colours[block], task.target, ref)
            if words is not None:
                out.append(words)
    return out


def instruction_for(family: str, meaning: Meaning | None) -> str | None:
    """A description's meaning as `family`'s instruction, or None when the family cannot ask for it (another
    relation, nothing picked, an unparsable description) or its combination is held out."""
    if meaning is None or meaning.block is None:
        return None
    kind, _, noun = meaning.reference.rpartition(" ")
    if family == "pick_place" and meaning.relation == "on" and noun == "pad":
        return _words(family, meaning.block, kind)
    if family == "stack" and meaning.relation == "stack" and noun == "block":
        return _words(family, meaning.block, kind)
    if family == "place_grid" and meaning.relation == "region":
        return _words(family, meaning.block, meaning.reference)
    if family == "place_relative" and meaning.relation in RELATIONS and noun == "block":
        return _words(family, meaning.block, meaning.relation, kind)
    return None
