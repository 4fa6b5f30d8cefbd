"""Re-execution in a flywheel round (`--replan`): an ee_delta episode the judge kept is played again from its seed by
the waypoint controller, through the pick and place the policy chose, and that execution is trained on instead.

Why: on ee_delta the policy's own successes teach little. Fine-tuned on its 106 successes of a round, a place_grid
base gains +4.5 points (400 seeds); on the expert's episodes of the same scenes, +17.0. Half its successes grasp
more than once and they run 51 frames against the expert's 35: what they show is the right pick and place, moved
badly. The same successes re-executed through their chosen pick and place, kept when they still succeed, teach
+12.75 (pick_place: +14.75 against +7.5; `bench/own_successes.py`, README "What the policy's own successes teach").

What is used, and what is not: the pick and place are read from the robot's own record of the episode (its pose
where the gripper closed and where it opened again, on the closed span that carried furthest). The controller is
the robot's pick-and-place skill, the one the primitive interface acts through; no scene knowledge enters, and the
re-execution is judged by the run's own judge like any episode. Each re-execution is an env episode and is counted
in the round's `episodes_per_round`, so runs with and without it compare at equal budget.

Which episodes are re-executed (`--replan-when`): `kept`, those the judge keeps; `held`, also those whose gripper held
something through the carry it chose (`held()`), whatever the judge said. Why: a learned critic judges the
policy's hesitant rollouts poorly and the controller's re-executions better (place_grid, `vlac --replan`: AUROC
0.69-0.75 against 0.95-0.97), so its first filter passes only half the policy's successes. The gripper's opening
passes 99% of them in about half the rollouts, and the critic then judges the re-executions alone. Measured, it is
only as good as that critic: +4.0 points where another training of it judged the re-executions at AUROC 0.81-0.87
(`docs/results/replan_place_grid.md`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.engine.policy_agent import PrimitiveOnEeDelta
from vla_flywheel.engine.rollout import EpisodeRecord, rollout
from vla_flywheel.envs.tabletop.controller import WaypointFollower
from vla_flywheel.envs.tabletop.env import STATE_NAMES
from vla_flywheel.envs.tabletop.experts import APPROACH_GAIN
from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF

SOURCE = "replanned"
OPENING = STATE_NAMES.index("gripper.opening")  # metres, in the tabletop's state
HELD_ABOVE = 0.02  # metres: fingers closed on a 4 cm block stop near 0.04, closed on nothing they meet at 0


class Replanned:
    """An agent that executes one pick/place (normalized pick x, y, yaw, place x, y) with the expert's waypoint
    controller, then parks, as the expert's episodes end."""

    def __init__(self, primitive: np.ndarray):
        self.primitive, self.follower = primitive, None

    def reset(self, env, seed: int) -> None:
        self.follower = None

    def act(self, env, obs) -> np.ndarray:
        if self.follower is None:
            self.follower = WaypointFollower(env.unwrapped.primitive_waypoints(self.primitive), gain=APPROACH_GAIN)
        if self.follower.done:
            return PrimitiveOnEeDelta.HOLD.copy()
        return self.follower.act(env.unwrapped.setpoint, env.unwrapped.tcp).astype(np.float32)


def closings(frames: dict) -> int:
    """How often an ee_delta episode's gripper command went from open to closed."""
    closed = np.asarray(frames[k.ACTION])[:, -1] > 0  # [T]
    return int(closed[0]) + int((~closed[:-1] & closed[1:]).sum())


def chosen_carry(frames: dict) -> tuple[int, int]:
    """(the frame the gripper closed at, the frame it opened at) of the span it was closed that carried furthest (a
    retried or spurious closing carries nothing). The episode must have closed it once."""
    closed = np.asarray(frames[k.ACTION])[:, -1] > 0  # [T]
    state = np.asarray(frames[k.OBS_STATE])  # [T, 5] x, y, z, yaw, opening
    edges = np.flatnonzero(np.diff(np.concatenate([[False], closed, [False]]).astype(np.int8)))  # [2S] starts, ends
    spans = [(c, min(o, len(closed) - 1)) for c, o in zip(edges[::2], edges[1::2], strict=True)]
    return max(spans, key=lambda span: np.linalg.norm(state[span[1], :2] - state[span[0], :2]))


def chosen_pick_place(frames: dict) -> np.ndarray:
    """[5] the pick/place an ee_delta episode performed, from the robot's own record: its chosen carry's start x, y,
    yaw and its end's x, y, in the primitive interface's normalized units."""
    close, release = chosen_carry(frames)
    state = np.asarray(frames[k.OBS_STATE])  # [T, 5] x, y, z, yaw, opening
    x, y, _, yaw, _ = state[close]
    return np.array([x / WORKSPACE_HALF, y / WORKSPACE_HALF, yaw / (np.pi / 2), *(state[release, :2] / WORKSPACE_HALF)],
                    np.float32).clip(-1.0, 1.0)  # fmt: skip


def held(frames: dict) -> bool:
    """Whether the gripper held something halfway through its chosen carry: its fingers stopped apart (about 4 cm on
    a block) instead of meeting. The robot's own proprioception; `--replan-when held` re-executes such an episode
    whatever the judge said of it."""
    if not closings(frames):
        return False
    close, release = chosen_carry(frames)
    return bool(np.asarray(frames[k.OBS_STATE])[(close + release) // 2, OPENING] > HELD_ABOVE)


def replan(env, frames: dict, seed: int, round_index: int) -> EpisodeRecord | None:
    """The episode `frames` (played from env.reset(seed)) executed again through its chosen pick/place; None when
    its gripper never closed (it chose nothing)."""
    if not closings(frames):
        return None
    return rollout(env, Replanned(chosen_pick_place(frames)), seed, source=SOURCE, round_index=round_index)


def replan_resume_point(path: Path) -> tuple[int, dict | None]:
    """(policy episodes a re-executing round has written, the frames of the last one when it was kept for a
    re-execution that was not written yet)."""
    if not (path / "meta" / "info.json").exists():
        return 0, None
    acted, last = 0, None
    for last in DatasetReader(path).iter_episodes():  # one at a time: a round holds up to thousands
        acted += last[k.SOURCE][0] != SOURCE
    waiting = last is not None and bool(np.asarray(last[k.REPLACED]).reshape(-1)[0])
    return acted, (last if waiting else None)
