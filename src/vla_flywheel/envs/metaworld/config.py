"""Configuration of a Meta-World environment, validated on construction (without importing `metaworld`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from vla_flywheel.envs.config_fields import check_choice, check_int_range, config_from_dict, config_to_dict
from vla_flywheel.envs.metaworld.language import FAMILIES, MT10, PREFIX
from vla_flywheel.errors import ConfigError

WHAT = "metaworld config"  # how errors name this config

INTERFACES = ("ee_delta",)
SPLITS = ("train", "heldout")
BENCHMARKS = ("MT1", "MT10")
CAMERAS = ("front", "wrist")
# fixed cameras of Meta-World's scene that can be the "front" camera (the corner ones are mounted upside down; the
# env turns their images upright)
FRONT_CAMERAS = ("corner", "corner2", "corner3", "corner4", "topview")
WRIST_CAMERA = "gripperPOV"  # Meta-World's camera on the gripper, looking down between the fingers
ACTION_BOUNDS = ("reject", "clip")
MAX_PATH_LENGTH = 500  # Meta-World's task horizon (SawyerXYZEnv.max_path_length)
CONTROL_HZ = 80  # every Sawyer env: frame_skip 5 x timestep 2.5 ms = 12.5 ms per step


@dataclass
class MetaWorldConfig:
    """Every value that shapes a Meta-World episode.

    family: "mw/<task>", a Meta-World V3 task, e.g. "mw/pick-place-v3" (all 50 MT50 tasks; `MT10` lists ten).
    interface: "ee_delta" only: Meta-World's 4-d action (Δx, Δy, Δz of the hand's mocap target, gripper effort),
        each in [-1, 1]. Accepted as a field so code that passes the tabletop's interface works unchanged.
    split: "train" = the benchmark's 50 variations (object and goal positions) of the task, drawn with `task_seed`;
        "heldout" = 50 other variations, drawn with `task_seed + 1` (how Meta-World's ML1 draws its test goals).
    benchmark: whose variation list to use: "MT1" (built for this task alone, 0.7 s) or "MT10" (the MT10 benchmark's
        own variations of the task, ~5 s to build once per process; the task must be one of MT10's).
    task_seed: the seed Meta-World draws the variations with (its benchmark seed). `reset(seed=s)` then picks one.
    image_size: square camera images, pixels.
    cameras: which cameras to render into `observation.images.<camera>`: "front" (`front_camera`) and/or "wrist".
    front_camera: the Meta-World camera behind `observation.images.front`. corner4 (default) looks at the workspace
        from the front right, 1.1 m away: for all 50 variations of every MT10 task the object, the goal and the
        hand project inside its frame (at least 6 of 64 px from the edge). corner2 (LeRobot's choice) looks the same
        way from 1.7x further, so everything covers about a third as many pixels; topview loses object heights.
    max_steps: episode horizon in steps; None = Meta-World's max_path_length (500). At most 500.
    action_bounds: what an action outside [-1, 1] does: "reject" raises InvalidActionError, "clip" clips it.
        Non-finite actions are always rejected: they never reach MuJoCo.
    terminate_on_success: end the episode on the first step where Meta-World reports `info["success"]`.
    """

    family: str = PREFIX + "pick-place-v3"
    interface: str = "ee_delta"
    split: str = "train"
    benchmark: str = "MT1"
    task_seed: int = 0
    image_size: int = 64
    cameras: tuple[str, ...] = ("front",)
    front_camera: str = "corner4"
    max_steps: int | None = None
    action_bounds: str = "reject"
    terminate_on_success: bool = True

    def __post_init__(self):
        self.cameras = tuple(self.cameras)
        if self.family not in FAMILIES:
            close = difflib.get_close_matches(str(self.family), FAMILIES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"metaworld config: unknown task {self.family!r}{hint}; choose from {', '.join(FAMILIES)}"
            )
        if self.interface not in INTERFACES:
            raise ConfigError(
                f"metaworld config: interface={self.interface!r} is not available; Meta-World has only ee_delta "
                "(Δxyz + gripper); use interface='ee_delta'"
            )
        check_choice(WHAT, "split", self.split, SPLITS)
        check_choice(WHAT, "benchmark", self.benchmark, BENCHMARKS)
        if self.benchmark == "MT10" and self.task_name not in MT10:
            raise ConfigError(
                f"metaworld config: {self.family} is not an MT10 task; use benchmark='MT1' or one of "
                + ", ".join(PREFIX + t for t in MT10)
            )
        check_choice(WHAT, "action_bounds", self.action_bounds, ACTION_BOUNDS)
        check_choice(WHAT, "front_camera", self.front_camera, FRONT_CAMERAS)
        for camera in self.cameras:
            check_choice(WHAT, "cameras", camera, CAMERAS)
        if not self.cameras:
            raise ConfigError("metaworld config: cameras is empty; name at least one of " + ", ".join(CAMERAS))
        check_int_range(WHAT, "task_seed", self.task_seed, 0, 2**31 - 2)
        check_int_range(WHAT, "image_size", self.image_size, 16, 480)
        if self.max_steps is None:
            self.max_steps = MAX_PATH_LENGTH
        check_int_range(WHAT, "max_steps", self.max_steps, 1, MAX_PATH_LENGTH)

    @property
    def task_name(self) -> str:
        """Meta-World's name of the task, e.g. "pick-place-v3"."""
        return self.family.removeprefix(PREFIX)

    @property
    def control_hz(self) -> int:
        """Steps per second of simulated time (the dataset fps); fixed by Meta-World."""
        return CONTROL_HZ

    @classmethod
    def from_dict(cls, d: dict) -> MetaWorldConfig:
        return config_from_dict(cls, d, WHAT)

    def to_dict(self) -> dict:
        return config_to_dict(self)
