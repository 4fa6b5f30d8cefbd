"""Ground-truth action-to-language (A2L): what a pick/place did, in words.

Following LACY (papers.md §1.1), a placement is described relative to the nearest other object when it lands
close to one, and by its absolute region of the table otherwise. Distances are in normalized table units (1.0 =
0.25 m), with LACY's thresholds: within D_ON (0.15) of an object the block is *on* it (a pad, or stacked on a
block); within D_REL (0.3) it is left of / right of / in front of / behind it; farther, the 3x3 grid region names
it. These sentences are the training targets of the explainer and the positives of the consistency verifier.
"""

from __future__ import annotations

import numpy as np

from vla_flywheel.envs.tabletop.language import RELATIONS
from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF
from vla_flywheel.envs.tabletop.tasks import Scene, region_of

D_ON = 0.15
D_REL = 0.30
PICK_RADIUS = 0.03  # metres: a pick point this close to a block's centre grasps that block


def picked_block(scene_xy: np.ndarray, pick_xy: np.ndarray) -> int | None:
    """Index of the block under a pick point (metres), or None when the gripper would close on air."""
    if len(scene_xy) == 0:
        return None
    d = np.linalg.norm(scene_xy - pick_xy, axis=1)
    i = int(np.argmin(d))
    return i if d[i] <= PICK_RADIUS else None


def describe_placement(
    scene: Scene, block: int | None, place_xy: np.ndarray, block_xy: np.ndarray | None = None
) -> str:
    """One sentence for moving `block` to `place_xy` (metres); other blocks at `block_xy` (defaults to the scene's)."""
    xy = scene.block_xy if block_xy is None else block_xy
    if block is None:
        return f"pick up nothing and move to the {region_of(place_xy)} of the table"
    name = f"the {scene.block_colours[block]} block"
    others = [(f"the {scene.block_colours[i]} block", xy[i], "block") for i in range(len(xy)) if i != block]
    others += [(f"the {c} pad", p, "pad") for c, p in zip(scene.pad_colours, scene.pad_xy, strict=True)]
    if others:
        dist = [np.linalg.norm(place_xy - p) / WORKSPACE_HALF for _, p, _ in others]
        k = int(np.argmin(dist))
        other, where, kind = others[k]
        if dist[k] < D_ON:
            return f"put {name} on {other}" if kind == "pad" else f"stack {name} on {other}"
        if dist[k] < D_REL:
            dx, dy = place_xy - where
            relation = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("behind" if dy > 0 else "front")
            return f"put {name} {RELATIONS[relation][0]} {other}"
    return f"put {name} in the {region_of(place_xy)} of the table"
