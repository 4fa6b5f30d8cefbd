"""Configuration of the tabletop environment, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from vla_flywheel.envs.config_fields import check_choice, check_int_range, config_from_dict, config_to_dict
from vla_flywheel.envs.tabletop.language import FAMILIES, SPLITS
from vla_flywheel.errors import ConfigError

WHAT = "tabletop config"  # how errors name this config

INTERFACES = ("primitive", "ee_delta")
CAMERAS = ("front", "wrist")
ACTION_BOUNDS = ("reject", "clip")
ALL_FAMILIES = "all"  # a family drawn per episode


@dataclass
class TabletopConfig:
    """Every value that shapes a tabletop episode.

    family: one of FAMILIES, or "all" to draw one per reset.
    interface: "primitive" (one step = pick(x, y, yaw) then place(x, y), normalized table coordinates) or
        "ee_delta" (Δx, Δy, Δz, Δyaw, gripper in [-1, 1] at `control_hz`).
    split: "train" or "heldout" (unseen colour/target pairs and paraphrases).
    image_size: square camera images, pixels.
    cameras: which cameras to render into `observation.images.<camera>`.
    num_blocks: inclusive range of blocks per scene (3..6).
    num_pads: target pads per scene (1..3).
    max_steps: episode horizon in steps; None means 100 for ee_delta and 3 pick/place attempts for primitive.
    control_hz: ee_delta control rate; the physics runs at 500 Hz.
    action_bounds: what an action outside [-1, 1] does: "reject" raises InvalidActionError, "clip" clips it.
        Non-finite actions are always rejected: they never reach MuJoCo.
    terminate_on_success: end the episode on the first step whose outcome is a success.
    """

    family: str = "pick_place"
    interface: str = "ee_delta"
    split: str = "train"
    image_size: int = 64
    cameras: tuple[str, ...] = ("front",)
    num_blocks: tuple[int, int] = (3, 6)
    num_pads: int = 2
    max_steps: int | None = None
    control_hz: int = 10
    action_bounds: str = "reject"
    terminate_on_success: bool = True

    def __post_init__(self):
        self.cameras = tuple(self.cameras)
        self.num_blocks = tuple(self.num_blocks)  # type: ignore[assignment]
        check_choice(WHAT, "family", self.family, (*FAMILIES, ALL_FAMILIES))
        check_choice(WHAT, "interface", self.interface, INTERFACES)
        check_choice(WHAT, "split", self.split, SPLITS)
        check_choice(WHAT, "action_bounds", self.action_bounds, ACTION_BOUNDS)
        for camera in self.cameras:
            check_choice(WHAT, "cameras", camera, CAMERAS)
        if not self.cameras:
            raise ConfigError("tabletop config: cameras is empty; name at least one of " + ", ".join(CAMERAS))
        check_int_range(WHAT, "image_size", self.image_size, 16, 512)
        check_int_range(WHAT, "num_pads", self.num_pads, 1, 3)
        check_int_range(WHAT, "control_hz", self.control_hz, 1, 50)
        lo, hi = self.num_blocks
        if not (3 <= lo <= hi <= 6):
            raise ConfigError(f"tabletop config: num_blocks={self.num_blocks} must satisfy 3 <= low <= high <= 6")
        if self.max_steps is None:
            self.max_steps = 100 if self.interface == "ee_delta" else 3
        check_int_range(WHAT, "max_steps", self.max_steps, 1, 10_000)

    @classmethod
    def from_dict(cls, d: dict) -> TabletopConfig:
        return config_from_dict(cls, d, WHAT)

    def to_dict(self) -> dict:
        return config_to_dict(self)
