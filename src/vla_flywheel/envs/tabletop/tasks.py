"""Scenes and tasks: sampling a feasible (scene, instruction) pair, success predicates, dense progress.

Success tolerances (metres; a block is 4 cm, `resting` means centre height within 8 mm of where it should rest,
speed under 5 cm/s and no finger touching it):
- pick_place: the block rests on the table with its centre inside the 7 cm target pad (|dx|, |dy| <= 3.5 cm).
- place_grid: the block rests on the table with its centre inside the named cell of the 3x3 grid over the
  0.5 m x 0.5 m workspace (outer cells run to the table edge).
- place_relative: the block rests on the table; left/right: 4 cm <= |dx| <= 12 cm on that side and |dy| <= 4 cm;
  front/behind likewise along y; next to: centre distance between 4 and 10 cm, any side.
- stack: the block rests on top of the reference block (centres within 2 cm in xy, 4 cm apart in height) and the
  reference block rests on the table.
`progress` in [0, 1] (reach the block, hold it, bring it to the goal) is for analysis only: learned judges never
train on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_flywheel.envs.tabletop.language import (
    REGIONS,
    RELATIONS,
    TEMPLATES,
    instruction,
    is_heldout_combination,
)
from vla_flywheel.envs.tabletop.scene import BLOCK_HALF, COLOURS, PAD_HALF, WORKSPACE_HALF

CELL = 2 * WORKSPACE_HALF / 3  # width of a grid cell, metres
SPAWN_HALF = 0.18  # blocks and pads start inside this square
GOAL_HALF = 0.21  # goals stay inside this square
MIN_BLOCK_GAP = 0.09  # centre distance between blocks: open fingers never touch a neighbour
RELATIVE_OFFSET = 0.065  # where the expert puts a block relative to its reference
REST_TOL, SPEED_TOL = 0.008, 0.05


@dataclass
class Scene:
    """What a reset draws: block and pad colours and poses. Positions are table xy in metres."""

    block_colours: list[str]
    block_xy: np.ndarray  # (n, 2)
    block_yaw: np.ndarray  # (n,)
    pad_colours: list[str]
    pad_xy: np.ndarray  # (p, 2)

    def to_dict(self) -> dict:
        return {
            "block_colours": list(self.block_colours),
            "block_xy": self.block_xy.tolist(),
            "block_yaw": self.block_yaw.tolist(),
            "pad_colours": list(self.pad_colours),
            "pad_xy": self.pad_xy.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Scene:
        return cls(
            list(d["block_colours"]),
            np.asarray(d["block_xy"], float),
            np.asarray(d["block_yaw"], float),
            list(d["pad_colours"]),
            np.asarray(d["pad_xy"], float),
        )


@dataclass
class Task:
    """One instruction: move block `block` to `goal_xy`; `target` is a pad colour, region, relation or block colour."""

    family: str
    instruction: str
    block: int
    target: str
    ref: int | None  # pad index (pick_place) or reference block index (place_relative, stack)
    goal_xy: np.ndarray  # (2,) canonical place point for the expert and for progress

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["goal_xy"] = self.goal_xy.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        return cls(**{**d, "goal_xy": np.asarray(d["goal_xy"], float)})


def cell_centre(region: str) -> np.ndarray:
    i = REGIONS.index(region)
    row, col = divmod(i, 3)
    return np.array([(col - 1) * CELL, (1 - row) * CELL])


def region_of(xy: np.ndarray) -> str:
    """Name of the 3x3 cell containing table point xy (metres); points off the grid go to the nearest cell."""
    col = int(np.clip(np.floor(xy[0] / CELL + 1.5), 0, 2))
    row = int(np.clip(np.floor(-xy[1] / CELL + 1.5), 0, 2))
    return REGIONS[row * 3 + col]


def _sample_points(rng: np.random.Generator, n: int, gap: float, avoid: np.ndarray, avoid_gap: float) -> np.ndarray:
    pts: list[np.ndarray] = []
    for _ in range(500):
        p = rng.uniform(-SPAWN_HALF, SPAWN_HALF, size=2)
        if all(np.linalg.norm(p - q) >= gap for q in pts) and all(np.linalg.norm(p - q) >= avoid_gap for q in avoid):
            pts.append(p)
            if len(pts) == n:
                return np.array(pts)
    raise RuntimeError("could not place objects")  # unreachable with the sizes we use


def _goal(family: str, target: str, ref_xy: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    if family == "place_grid":
        return cell_centre(target)
    if family == "place_relative":
        direction = RELATIONS[target][1]
        if direction is None:  # "next to": any side
            direction = [(-1, 0), (1, 0), (0, -1), (0, 1)][rng.integers(4)]
        return ref_xy + RELATIVE_OFFSET * np.asarray(direction, float)
    return ref_xy.copy()


def _feasible(scene: Scene, task: Task) -> bool:
    goal = task.goal_xy
    if np.abs(goal).max() > GOAL_HALF:
        return False
    if success_xy(scene, task, scene.block_xy, np.full(len(scene.block_xy), BLOCK_HALF)):
        return False  # already done
    if task.family == "stack":
        return True
    others = [
        i
        for i in range(len(scene.block_xy))
        if i != task.block and not (i == task.ref and task.family == "place_relative")
    ]
    return bool(np.all(np.linalg.norm(scene.block_xy[others] - goal, axis=1) >= 0.075))


def sample_task(
    rng: np.random.Generator, family: str, split: str, num_blocks: tuple[int, int], num_pads: int
) -> tuple[Scene, Task]:
    """Draw a feasible scene and instruction of `family` whose colour/target pair and wording belong to `split`."""
    for _ in range(1000):
        n = int(rng.integers(num_blocks[0], num_blocks[1] + 1))
        colours = [str(c) for c in rng.choice(COLOURS, n + num_pads, replace=False)]
        blocks, pads = colours[:n], colours[n:]
        b = int(rng.integers(n))
        ref: int | None = None
        if family == "pick_place":
            ref = int(rng.integers(num_pads))
            target = pads[ref]
        elif family == "place_grid":
            target = str(REGIONS[rng.integers(len(REGIONS))])
        else:
            ref = int(rng.choice([i for i in range(n) if i != b]))
            target = str(list(RELATIONS)[rng.integers(len(RELATIONS))]) if family == "place_relative" else blocks[ref]
        if is_heldout_combination(family, blocks[b], target) != (split == "heldout"):
            continue
        block_xy = _sample_points(rng, n, MIN_BLOCK_GAP, np.zeros((0, 2)), 0.0)
        pad_xy = _sample_points(rng, num_pads, 2 * PAD_HALF + 0.03, block_xy, PAD_HALF + BLOCK_HALF + 0.035)
        scene = Scene(blocks, block_xy, rng.uniform(-np.pi / 4, np.pi / 4, size=n), pads, pad_xy)
        ref_xy = None if ref is None else (pad_xy[ref] if family == "pick_place" else block_xy[ref])
        paraphrases = TEMPLATES[family][split]
        text = instruction(
            family,
            paraphrases[rng.integers(len(paraphrases))],
            blocks[b],
            target,
            None if ref is None else blocks[ref],
        )
        task = Task(family, text, b, target, ref, _goal(family, target, ref_xy, rng))
        if _feasible(scene, task):
            return scene, task
    raise RuntimeError(f"no feasible {family} task found")  # unreachable with the sizes we use


def success_xy(scene: Scene, task: Task, xy: np.ndarray, z: np.ndarray) -> bool:
    """The family's geometric predicate on block centres xy (n, 2) and heights z (n,), ignoring motion."""
    p, h = xy[task.block], z[task.block]
    on_table = abs(h - BLOCK_HALF) <= REST_TOL
    if task.family == "pick_place":
        return on_table and bool(np.all(np.abs(p - scene.pad_xy[task.ref]) <= PAD_HALF))
    if task.family == "place_grid":
        return on_table and region_of(p) == task.target
    r = xy[task.ref]
    if task.family == "stack":
        ref_on_table = abs(z[task.ref] - BLOCK_HALF) <= REST_TOL
        return ref_on_table and np.linalg.norm(p - r) <= 0.02 and abs(h - z[task.ref] - 2 * BLOCK_HALF) <= REST_TOL
    d = p - r
    if task.target == "next_to":
        return on_table and 0.04 <= np.linalg.norm(d) <= 0.10
    axis = 0 if task.target in ("left", "right") else 1
    sign = -1.0 if task.target in ("left", "front") else 1.0
    along, across = sign * d[axis], abs(d[1 - axis])
    return on_table and 0.04 <= along <= 0.12 and across <= 0.04


def progress(task: Task, tcp: np.ndarray, block_pos: np.ndarray, held: bool, start_dist: float, success: bool) -> float:
    """Dense stage-wise progress in [0, 1]: reaching (0-0.3), holding (0.4), carrying to the goal (0.4-0.9)."""
    if success:
        return 1.0
    to_goal = 1.0 - min(float(np.linalg.norm(block_pos[:2] - task.goal_xy)) / max(start_dist, 0.05), 1.0)
    if held:
        return 0.4 + 0.5 * to_goal
    reach = 1.0 - min(float(np.linalg.norm(tcp - block_pos)) / 0.3, 1.0)
    return max(0.3 * reach, 0.9 * to_goal if block_pos[2] < BLOCK_HALF + REST_TOL else 0.0)


def wrong_goal(scene: Scene, task: Task, rng: np.random.Generator) -> np.ndarray:
    """A near-miss goal for failure injection: another pad, a neighbouring cell, the opposite side, another block."""
    if task.family == "pick_place" and len(scene.pad_xy) > 1:
        return scene.pad_xy[(task.ref + 1) % len(scene.pad_xy)].copy()
    if task.family == "place_grid":
        row, col = divmod(REGIONS.index(task.target), 3)
        col = col + 1 if col < 2 else col - 1
        return cell_centre(REGIONS[row * 3 + col])
    if task.family in ("place_relative", "stack"):
        others = [i for i in range(len(scene.block_xy)) if i not in (task.block, task.ref)]
        if task.family == "stack" and others:
            return scene.block_xy[others[rng.integers(len(others))]].copy()
        return 2 * scene.block_xy[task.ref] - task.goal_xy  # mirrored through the reference
    return rng.uniform(-SPAWN_HALF, SPAWN_HALF, size=2)
