"""The tabletop as a Gymnasium environment with a language instruction and two action interfaces.

Observation (LeRobot keys): `observation.images.<camera>` uint8 (H, W, 3), `observation.state` float32 (5,) =
TCP x, y, z (m), yaw (rad), finger opening (m), and `task` (the instruction string).

`ee_delta` actions move a setpoint that position actuators track: Δxyz of up to 5 cm and Δyaw of up to 0.25 rad per
step at |a| = 1, and an absolute gripper command (-1 open, +1 closed). `primitive` actions are
(pick x, pick y, pick yaw, place x, place y) in normalized table coordinates (x, y in [-1, 1] span ±0.25 m; yaw in
[-1, 1] spans ±pi/2), executed by the built-in waypoint controller without rendering in between.

`reset(seed=s)` fully determines the scene and instruction; `get_state()`/`set_state()` restore everything the
future depends on, so the same actions then give the same trajectory.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from vla_flywheel.constants import OBS_IMAGES_PREFIX, OBS_STATE, TASK
from vla_flywheel.envs.guards import checked_action, instability
from vla_flywheel.envs.rendering import make_renderer
from vla_flywheel.envs.tabletop import controller as ctl
from vla_flywheel.envs.tabletop.config import ALL_FAMILIES, TabletopConfig
from vla_flywheel.envs.tabletop.describe import describe_placement, picked_block
from vla_flywheel.envs.tabletop.hindsight import satisfied_instructions
from vla_flywheel.envs.tabletop.language import FAMILIES
from vla_flywheel.envs.tabletop.scene import (
    BLOCK_HALF,
    FINGER_OPEN,
    MAX_BLOCKS,
    MAX_PADS,
    PALETTE,
    PARK_Z,
    WORKSPACE_HALF,
    build_model,
    parked_position,
)
from vla_flywheel.envs.tabletop.tasks import (
    SPEED_TOL,
    Scene,
    Task,
    progress,
    sample_task,
    success_xy,
)

PHYSICS_HZ = 500
SETPOINT_LOW = np.array([-0.3, -0.3, 0.01, -math.pi])
SETPOINT_HIGH = np.array([0.3, 0.3, 0.45, math.pi])
HOME = np.array([0.0, 0.1, 0.42, 0.0])  # above and behind the front camera's view: it never hides a block
PRIMITIVE_MAX_CONTROL_STEPS = 80
ACTION_NAMES = {
    "ee_delta": ["dx", "dy", "dz", "dyaw", "gripper"],
    "primitive": ["pick.x", "pick.y", "pick.yaw", "place.x", "place.y"],
}
STATE_NAMES = ["tcp.x", "tcp.y", "tcp.z", "tcp.yaw", "gripper.opening"]
TEXT_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.'-")


class TabletopEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    robot_type = "vla_flywheel_tabletop_gripper"  # LeRobot's robot_type of the datasets it fills

    def __init__(self, config: TabletopConfig | None = None, render_mode: str | None = None, **overrides):
        self.config = config if config is not None else TabletopConfig(**overrides)
        if config is not None and overrides:
            self.config = TabletopConfig(**{**config.to_dict(), **overrides})
        cfg = self.config
        self.render_mode = render_mode
        self.model, self.ids = build_model(wrist_camera="wrist" in cfg.cameras)
        self.data = mujoco.MjData(self.model)
        self.substeps = PHYSICS_HZ // cfg.control_hz
        self._renderer = make_renderer(self.model, cfg.image_size)
        size = cfg.image_size
        self.observation_space = gym.spaces.Dict(
            {
                **{OBS_IMAGES_PREFIX + c: gym.spaces.Box(0, 255, (size, size, 3), np.uint8) for c in cfg.cameras},
                OBS_STATE: gym.spaces.Box(-np.inf, np.inf, (5,), np.float32),
                TASK: gym.spaces.Text(max_length=256, min_length=1, charset=TEXT_CHARSET),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
        self.action_names = ACTION_NAMES[cfg.interface]
        self.state_names = STATE_NAMES
        self.scene: Scene | None = None
        self.task: Task | None = None
        self._setpoint = HOME.copy()
        self._grip = ctl.OPEN
        self._steps = 0
        self._start_dist = 1.0
        self._pick: np.ndarray | None = None  # (x, y, yaw) where the first held block was grasped
        self._picked: int | None = None

    # ---------------------------------------------------------------- reset / step
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        cfg = self.config
        family = cfg.family
        if family == ALL_FAMILIES:
            family = FAMILIES[int(self.np_random.integers(len(FAMILIES)))]
        self.scene, self.task = sample_task(self.np_random, family, cfg.split, cfg.num_blocks, cfg.num_pads)
        self._apply_scene(self.scene)
        mujoco.mj_resetData(self.model, self.data)
        for i in range(MAX_BLOCKS):
            q = self.ids.block_qpos[i]
            if i < len(self.scene.block_colours):
                xy, yaw = self.scene.block_xy[i], self.scene.block_yaw[i]
                self.data.qpos[q : q + 3] = [xy[0], xy[1], BLOCK_HALF]
                self.data.qpos[q + 3 : q + 7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
            else:
                self.data.qpos[q : q + 3] = parked_position(i)
                self.data.qpos[q + 3 : q + 7] = [1, 0, 0, 0]
        self._setpoint = HOME.copy()
        self._grip = ctl.OPEN
        self.data.qpos[self.ids.hand_qpos : self.ids.hand_qpos + 4] = HOME
        self.data.qpos[list(self.ids.finger_qpos)] = FINGER_OPEN
        self._write_ctrl()
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        self._pick, self._picked = None, None
        self._start_dist = float(np.linalg.norm(self.scene.block_xy[self.task.block] - self.task.goal_xy))
        return self._observation(), self._info(success=False)

    def step(self, action):
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        if self.config.interface == "ee_delta":
            self._control_step(a)
            reason = self._instability()
        else:
            before = self._describe_primitive(a)
            reason = self._execute_primitive(a)
        self._steps += 1
        success = reason is None and self._success()
        terminated = reason is not None or (success and self.config.terminate_on_success)
        truncated = not terminated and self._steps >= self.config.max_steps
        info = self._info(success)
        if reason is not None:
            info["failure_reason"] = reason
        if self.config.interface == "primitive":
            info["explanation"] = before
        elif terminated or truncated:
            info["explanation"] = self.achieved_explanation()
        return self._observation(), float(success), terminated, truncated, info

    # ---------------------------------------------------------------- state
    def get_state(self) -> dict[str, Any]:
        """Everything the future depends on, as arrays and JSON values (no pickle needed to save it)."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, physics, spec)
        return {
            "physics": physics,
            "setpoint": self._setpoint.copy(),
            "grip": float(self._grip),
            "steps": self._steps,
            "start_dist": self._start_dist,
            "pick": None if self._pick is None else self._pick.copy(),
            "picked": self._picked,
            "scene": self.scene.to_dict(),
            "task": self.task.to_dict(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.scene = Scene.from_dict(state["scene"])
        self.task = Task.from_dict(state["task"])
        self._apply_scene(self.scene)
        mujoco.mj_setState(self.model, self.data, np.asarray(state["physics"]), mujoco.mjtState.mjSTATE_INTEGRATION)
        self._setpoint = np.array(state["setpoint"], float)
        self._grip = float(state["grip"])
        self._steps = int(state["steps"])
        self._start_dist = float(state["start_dist"])
        self._pick = None if state["pick"] is None else np.array(state["pick"], float)
        self._picked = state["picked"]
        mujoco.mj_forward(self.model, self.data)

    def observe(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(observation, info) of the current state, as `reset` returns them: what a learner restarted from a state
        restored by `set_state` sees first."""
        return self._observation(), self._info(success=self._success())

    # ---------------------------------------------------------------- readings
    @property
    def tcp(self) -> np.ndarray:
        return self.data.qpos[self.ids.hand_qpos : self.ids.hand_qpos + 3].copy()

    @property
    def setpoint(self) -> np.ndarray:
        return self._setpoint.copy()

    def privileged_state(self) -> np.ndarray:
        """[9] float32: the task block's centre (3), its goal (2), the tool centre (3) and whether the block is held
        (1). What the images only imply, for learners that may read the simulator (an RL specialist's critic)."""
        held = self._picked is not None and self.held_block() == self.task.block
        block = self.block_positions()[self.task.block]
        return np.array([*block, *self.task.goal_xy, *self.tcp, float(held)], dtype=np.float32)

    def block_positions(self) -> np.ndarray:
        """(n, 3) centres of the scene's blocks, metres."""
        n = len(self.scene.block_colours)
        return np.array([self.data.qpos[self.ids.block_qpos[i] : self.ids.block_qpos[i] + 3] for i in range(n)])

    def block_yaws(self) -> np.ndarray:
        n = len(self.scene.block_colours)
        q = [self.data.qpos[self.ids.block_qpos[i] + 3 : self.ids.block_qpos[i] + 7] for i in range(n)]
        return np.array([2 * math.atan2(w[3], w[0]) for w in q])

    def held_block(self) -> int | None:
        """The block touched by both fingers, if any."""
        left, right = self._finger_contacts()
        held = [i for i, g in enumerate(self.ids.block_geom[: len(self.scene.block_colours)]) if g in left & right]
        return held[0] if held else None

    def _finger_contacts(self) -> tuple[set[int], set[int]]:
        """Geoms touching the left and the right finger right now (one pass over the contact list)."""
        contacts = self.data.contact.geom[: self.data.ncon]  # (ncon, 2) geom ids
        sides = []
        for finger in self.ids.finger_geoms:
            sides.append(
                set(contacts[contacts[:, 0] == finger, 1].tolist())
                | set(contacts[contacts[:, 1] == finger, 0].tolist())
            )
        return sides[0], sides[1]

    def achieved_explanation(self) -> str:
        """A2L ground truth for what the episode did: the first grasped block and where it ended up."""
        if self._picked is None:
            return "pick up nothing"
        xy = self.block_positions()[:, :2]
        return describe_placement(self.scene, self._picked, xy[self._picked], xy)

    def achieved_instructions(self) -> list[str]:
        """The family's instructions the episode's first picked block satisfies where it rests now (hindsight
        relabelling's truth, `hindsight.satisfied_instructions`); empty when nothing was picked or it still moves."""
        if self._picked is None or not self._resting(self._picked):
            return []
        pos = self.block_positions()
        return satisfied_instructions(self.scene, self.task.family, self._picked, pos[:, :2], pos[:, 2])

    def achieved_primitive(self) -> tuple[np.ndarray, np.ndarray]:
        """(pick (x, y, yaw), place (x, y)) of the episode so far in normalized coordinates; zeros if nothing held."""
        if self._picked is None:
            return np.zeros(3, np.float32), np.zeros(2, np.float32)
        place = self.block_positions()[self._picked, :2] / WORKSPACE_HALF
        pick = np.array([*(self._pick[:2] / WORKSPACE_HALF), self._pick[2] / (math.pi / 2)])
        return pick.astype(np.float32), place.astype(np.float32)

    def render(self):
        if self.render_mode == "rgb_array":
            return self._render("front")
        return None

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ---------------------------------------------------------------- internals
    def _apply_scene(self, scene: Scene) -> None:
        m, ids = self.model, self.ids
        for i, colour in enumerate(scene.block_colours):
            m.geom_rgba[ids.block_geom[i], :3] = PALETTE[colour]
        for i in range(MAX_PADS):
            if i < len(scene.pad_colours):
                m.geom_rgba[ids.pad_geom[i], :3] = PALETTE[scene.pad_colours[i]]
                m.geom_pos[ids.pad_geom[i]] = [*scene.pad_xy[i], 0.0005]
            else:
                m.geom_pos[ids.pad_geom[i]] = [1.0 + 0.1 * i, -1.0, PARK_Z]

    def _check_action(self, action) -> np.ndarray:
        return checked_action(action, 5, f"tabletop {self.config.interface}", self.config.action_bounds)

    def _write_ctrl(self) -> None:
        finger = FINGER_OPEN * (1.0 - self._grip) / 2.0
        self.data.ctrl[:] = [*self._setpoint, finger, finger]

    def _control_step(self, a: np.ndarray) -> None:
        self._setpoint[:3] += a[:3] * ctl.MAX_DXYZ
        self._setpoint[3] += a[3] * ctl.MAX_DYAW
        np.clip(self._setpoint, SETPOINT_LOW, SETPOINT_HIGH, out=self._setpoint)
        self._grip = float(a[4])
        self._write_ctrl()
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self._track_pick()

    def _track_pick(self) -> None:
        if self._picked is not None:
            return
        held = self.held_block()
        if held is not None and self.data.qpos[self.ids.block_qpos[held] + 2] > BLOCK_HALF + 0.01:
            self._picked = held
            x, y = self.scene.block_xy[held]  # where it stood when grasped
            self._pick = np.array([x, y, float(self.data.qpos[self.ids.hand_qpos + 3])])

    def primitive_waypoints(self, a: np.ndarray) -> list[ctl.Waypoint]:
        """The controller's waypoints for a primitive action (normalized pick x, y, yaw, place x, y), ending home.

        Heights come from the blocks under the pick and place points (what a depth sensor would tell), so a
        primitive policy can also be run on the ee_delta interface, waypoint by waypoint.
        """
        pick_xy = a[:2] * WORKSPACE_HALF
        place_xy = a[3:5] * WORKSPACE_HALF
        yaw = float(a[2] * math.pi / 2)
        blocks = self.block_positions()
        pick_z = self._surface_height(pick_xy, blocks) - BLOCK_HALF
        target = picked_block(blocks[:, :2], pick_xy)
        others = blocks if target is None else np.delete(blocks, target, axis=0)
        place_z = self._surface_height(place_xy, others) + BLOCK_HALF + 0.004
        waypoints = ctl.pick_place_waypoints(
            np.array([*pick_xy, max(pick_z, BLOCK_HALF)]), yaw, np.array([*place_xy, place_z])
        )
        # back home, out of the camera's view, so the next observation shows the whole scene
        waypoints.append(ctl.Waypoint(HOME[:3].copy(), float(HOME[3]), ctl.RELEASE))
        return waypoints

    def _execute_primitive(self, a: np.ndarray) -> str | None:
        follower = ctl.WaypointFollower(self.primitive_waypoints(a))
        for _ in range(PRIMITIVE_MAX_CONTROL_STEPS):
            if follower.done:
                break
            self._control_step(follower.act(self._setpoint, self.tcp))
            if (reason := self._instability()) is not None:
                return reason
        for _ in range(3):  # let the released block settle before judging
            self._control_step(np.array([0, 0, 0, 0, ctl.OPEN]))
        return self._instability()

    def _describe_primitive(self, a: np.ndarray) -> str:
        blocks = self.block_positions()[:, :2]
        block = picked_block(blocks, a[:2] * WORKSPACE_HALF)
        return describe_placement(self.scene, block, a[3:5] * WORKSPACE_HALF, blocks)

    @staticmethod
    def _surface_height(xy: np.ndarray, blocks: np.ndarray) -> float:
        """Height of the highest block top under xy (table = 0): what a depth sensor would tell the controller."""
        under = blocks[np.abs(blocks[:, :2] - xy).max(axis=1) < 2 * BLOCK_HALF] if len(blocks) else blocks
        return float(under[:, 2].max() + BLOCK_HALF) if len(under) else 0.0

    def _instability(self) -> str | None:
        """Why the physics can no longer be trusted (envs/guards.py), or None; the episode then ends as a failure."""
        return instability(self.data)

    def _resting(self, b: int) -> bool:
        """Block b is released and still: success (and hindsight) judge only where a block came to rest."""
        q = self.ids.block_qvel[b]
        return bool(
            np.linalg.norm(self.data.qvel[q : q + 3]) <= SPEED_TOL
            and self.ids.block_geom[b] not in set.union(*self._finger_contacts())
        )

    def _success(self) -> bool:
        pos = self.block_positions()
        return self._resting(self.task.block) and success_xy(self.scene, self.task, pos[:, :2], pos[:, 2])

    def _render(self, camera: str) -> np.ndarray:
        self._renderer.update_scene(self.data, camera=self.ids.camera[camera])
        return self._renderer.render()

    def _observation(self) -> dict[str, Any]:
        q = self.ids.hand_qpos
        opening = self.data.qpos[self.ids.finger_qpos[0]] + self.data.qpos[self.ids.finger_qpos[1]]
        state = np.array([*self.data.qpos[q : q + 4], opening], dtype=np.float32)
        obs = {OBS_IMAGES_PREFIX + c: self._render(c) for c in self.config.cameras}
        obs[OBS_STATE] = state
        obs[TASK] = self.task.instruction
        return obs

    def _info(self, success: bool) -> dict[str, Any]:
        pos = self.block_positions()
        b = self.task.block
        held = self._picked is not None and self.held_block() == b
        return {
            "success": success,
            "progress": progress(self.task, self.tcp, pos[b], held, self._start_dist, success),
            "task": self.task.instruction,
            "family": self.task.family,
        }
