"""One Meta-World V3 task as a Gymnasium environment with the tabletop's observation keys and info.

Observation (LeRobot keys, as the tabletop): `observation.images.<camera>` uint8 (S, S, 3), upright;
`observation.state` float32 (7,) = hand x, y, z (m), gripper opening (0 closed .. 1 open), goal x, y, z (m); `task`,
the task's instruction. The first four are Meta-World's proprioception (entries 0-3 of its 39-d observation). The
goal (entries 36-38) is added because it is part of the task, not of the scene: for reach, push and pick-place it
is a point in mid-air marked only by a 2 cm sphere (a pixel or two at 64 px, often behind the arm), and the
instruction does not say where it is, so without it a policy could not know where to go. Meta-World's MT
benchmarks put it in their observation too (its ML benchmarks hide it on purpose, as something to infer). Object
poses are left out: those a policy must get from the image, as on the tabletop.

Action: Meta-World's 4-d [-1, 1] action: Δx, Δy, Δz of the hand's mocap target (1 cm per step at |a| = 1) and the
gripper effort (-1 open, +1 closed), at 80 Hz.

`reset(seed=s)` picks one of the task's 50 variations (object and goal positions) from s, so the seed fully
determines the episode's start; `get_state()`/`set_state()` restore everything the future depends on. The reward is
the tabletop's: 1.0 on a success step, else 0 (Meta-World's shaped reward is in `info["metaworld.reward"]`).
`info["progress"]` is that shaped reward over its maximum of 10, in [0, 1]: Meta-World's own stage-wise score (reach,
grasp, move to the goal), the counterpart of the tabletop's `info["progress"]`, for analysis and for an RL
specialist's shaped reward; no learned judge trains on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from vla_flywheel.constants import OBS_IMAGES_PREFIX, OBS_STATE, TASK
from vla_flywheel.envs.guards import checked_action, instability
from vla_flywheel.envs.metaworld.camera import CameraRig
from vla_flywheel.envs.metaworld.config import CONTROL_HZ, WRIST_CAMERA, MetaWorldConfig
from vla_flywheel.envs.metaworld.language import CHARSET, INSTRUCTIONS
from vla_flywheel.envs.metaworld.tasks import env_class, variations

ACTION_NAMES = ["dx", "dy", "dz", "gripper"]
STATE_NAMES = ["hand.x", "hand.y", "hand.z", "gripper.opening", "goal.x", "goal.y", "goal.z"]
STATE_INDICES = [0, 1, 2, 3, 36, 37, 38]  # where they are in Meta-World's 39-d observation
MAX_SHAPED_REWARD = 10.0  # every V3 task's shaped reward lies in [0, 10], 10 once the task is done


@dataclass(frozen=True)
class MetaWorldTask:
    """What the current episode asks for: the task, its instruction and which of its variations was drawn."""

    family: str
    name: str
    instruction: str
    variation: int

    def to_dict(self) -> dict:
        return asdict(self)


class MetaWorldEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}
    robot_type = "metaworld_sawyer"

    def __init__(self, config: MetaWorldConfig | None = None, render_mode: str | None = None, **overrides):
        self.config = config if config is not None else MetaWorldConfig(**overrides)
        if config is not None and overrides:
            self.config = MetaWorldConfig(**{**config.to_dict(), **overrides})
        cfg = self.config
        self.render_mode = render_mode
        self._variations = variations(cfg.task_name, cfg.benchmark, cfg.task_seed, cfg.split)
        self.sim = env_class(cfg.task_name)()  # Meta-World's own env, no wrappers: we step, time and judge it
        self.model, self.data = self.sim.model, self.sim.data
        views = {c: cfg.front_camera if c == "front" else WRIST_CAMERA for c in cfg.cameras}
        self._cameras = CameraRig(self.model, self.data, views, cfg.image_size)
        size = cfg.image_size
        self.observation_space = gym.spaces.Dict(
            {
                **{OBS_IMAGES_PREFIX + c: gym.spaces.Box(0, 255, (size, size, 3), np.uint8) for c in cfg.cameras},
                OBS_STATE: gym.spaces.Box(-np.inf, np.inf, (len(STATE_NAMES),), np.float32),
                TASK: gym.spaces.Text(max_length=256, min_length=1, charset=CHARSET),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_names = ACTION_NAMES
        self.state_names = STATE_NAMES
        self.task: MetaWorldTask | None = None
        self._raw: np.ndarray | None = None  # Meta-World's 39-d observation after the last reset/step
        self._steps = 0

    # ---------------------------------------------------------------- reset / step
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._start(int(self.np_random.integers(len(self._variations))))
        return self.observe()

    def step(self, action):
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        if self._steps >= self.sim.max_path_length:
            raise RuntimeError(f"Meta-World episodes end after {self.sim.max_path_length} steps; call reset()")
        a = self._check_action(action)
        self._raw, shaped, _, _, mw_info = self.sim.step(a)
        self._steps += 1
        reason = self._instability()
        success = reason is None and bool(mw_info["success"])
        terminated = reason is not None or (success and self.config.terminate_on_success)
        truncated = not terminated and self._steps >= self.config.max_steps
        info = self._info(success)
        info.update({f"metaworld.{k}": float(v) for k, v in mw_info.items() if k != "success"})
        info["metaworld.reward"] = float(shaped)
        info["progress"] = float(shaped) / MAX_SHAPED_REWARD
        if reason is not None:
            info["failure_reason"] = reason
        if terminated or truncated:
            info["explanation"] = ""  # no ground-truth words for what a Meta-World episode did (the tabletop's A2L)
        return self._observation(), float(success), terminated, truncated, info

    # ---------------------------------------------------------------- state
    def get_state(self) -> dict[str, Any]:
        """Everything the future depends on, as arrays and JSON values (no pickle needed to save it)."""
        spec = mujoco.mjtState.mjSTATE_INTEGRATION  # includes the mocap target the actions move
        physics = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, physics, spec)
        return {
            "physics": physics,
            "variation": self.task.variation,
            "steps": self._steps,
            "raw": self._raw.copy(),
            "prev_obs": self.sim._prev_obs.copy(),  # Meta-World stacks the previous frame into its observation
        }

    def set_state(self, state: dict[str, Any]) -> None:
        # set_task + reset first: a variation also moves model parts (goal site, drawer, door) and sets the Python-side
        # values Meta-World's success test reads (initial object pose, target); then the physics is overwritten
        self._start(int(state["variation"]))
        mujoco.mj_setState(self.model, self.data, np.asarray(state["physics"]), mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.model, self.data)
        self._steps = int(state["steps"])
        self.sim.curr_path_length = self._steps
        self._raw = np.array(state["raw"], dtype=np.float64)
        self.sim._prev_obs = np.array(state["prev_obs"], dtype=np.float64)

    def observe(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(observation, info) of the current state, as `reset` returns them: what a learner restarted from a state
        restored by `set_state` sees first. Success and progress are Meta-World's verdict on it, the hand at rest."""
        shaped, mw_info = self.sim.evaluate_state(self._raw, np.zeros(4))
        return self._observation(), {**self._info(bool(mw_info["success"])), "progress": shaped / MAX_SHAPED_REWARD}

    # ---------------------------------------------------------------- readings
    def privileged_state(self) -> np.ndarray:
        """Meta-World's own 39-d observation (hand, gripper, object poses, goal) as float32, for learners that may read
        the simulator (an RL specialist's critic)."""
        return self._raw.astype(np.float32)

    @property
    def raw_observation(self) -> np.ndarray:
        """Meta-World's 39-d observation (hand, gripper, object poses, previous frame, goal): what its experts read."""
        return self._raw.copy()

    @property
    def tcp(self) -> np.ndarray:
        return self.sim.tcp_center.copy()

    def achieved_primitive(self) -> tuple[np.ndarray, np.ndarray]:
        """Meta-World has no pick/place primitive: zeros, as the tabletop reports an episode that picked nothing."""
        return np.zeros(3, np.float32), np.zeros(2, np.float32)

    def achieved_instructions(self) -> list[str]:
        """Nothing: a Meta-World env asks one instruction of one object, so there is nothing else to relabel to."""
        return []

    def render(self):
        if self.render_mode == "rgb_array":
            return self._cameras.render(self.data, self.config.cameras[0])
        return None

    def close(self):
        self._cameras.close()
        self.sim.close()

    # ---------------------------------------------------------------- internals
    def _start(self, variation: int) -> None:
        cfg = self.config
        self.sim.set_task(self._variations[variation])
        self._raw, _ = self.sim.reset()  # MuJoCo's data is reset too: nothing carries over from the last episode
        self._steps = 0
        self.task = MetaWorldTask(cfg.family, cfg.task_name, INSTRUCTIONS[cfg.task_name], variation)

    def _check_action(self, action) -> np.ndarray:
        return checked_action(action, 4, "Meta-World (dx, dy, dz, gripper)", self.config.action_bounds)

    def _instability(self) -> str | None:
        """Why the physics can no longer be trusted (envs/guards.py), or None; the episode then ends as a failure."""
        return instability(self.data)

    def _observation(self) -> dict[str, Any]:
        obs = {OBS_IMAGES_PREFIX + c: self._cameras.render(self.data, c) for c in self.config.cameras}
        obs[OBS_STATE] = self._raw[STATE_INDICES].astype(np.float32)
        obs[TASK] = self.task.instruction
        return obs

    def _info(self, success: bool) -> dict[str, Any]:
        return {
            "success": success,
            "task": self.task.instruction,
            "family": self.config.family,
            "variation": self.task.variation,
        }
