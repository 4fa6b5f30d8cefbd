"""Every value that shapes a world model, validated when it is made and saved as `config.json`."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

from vla_flywheel.config_check import check_fields, check_positive_ints
from vla_flywheel.errors import ConfigError

WORLD_MODEL_TYPE = "flywheel_world_model"
# fields of configs saved by earlier versions that no longer mean anything: dropped, with a warning, when loading
RETIRED_FIELDS = {
    "grasp_logit": "the logistic grasp odds (bias, centroid offset, crowded) of 2026-12-07 gave way to grasp_odds, a "
    "classifier of the scene under the tool; this model draws its grasps from the predicted opening. Retrain it with "
    "`flywheel train-world-model` (or --init-from it) to fit one",
}


@dataclass
class WorldModelConfig:
    """An action-conditioned world model over chunks of ee_delta actions (VLAW's Ctrl-World, CPU-sized).

    image_key / image_size: the camera it predicts and its side in pixels (a multiple of 8: three stride-2 convs
        take 64 px to the 8x8 latent grid).
    state_dim / action_dim: sizes of `observation.state` and `action`.
    action_chunk: env steps per model step. One step consumes `action_chunk` actions and predicts the frame after
        them; it must equal the policy's `n_action_steps` for closed-loop imagination, since the policy only looks
        at the frames where it predicts a new chunk.
    channels: conv widths of the encoder at 32, 16 and 8 px (the decoder mirrors them).
    latent_channels: channels of the 8x8 latent grid the dynamics steps on.
    dynamics_blocks: residual conv blocks per dynamics step.
    hidden: width of the action/state embedding and the state head.
    camera_projection: optional 3x4 pinhole matrix taking (x, y, z, 1) of the tool, in state units, to homogeneous
        pixels (u s, v s, s) of this camera at image_size. With it the decoder is told where the state puts the tool
        (see tool.ToolMarker); train-world-model fills it in for the tabletop, whose camera is known.
    state_xyz: indices of the tool's x, y, z in the state (needed with camera_projection).
    setpoint_moves: rows (action index, state index, gain, low, high): that action, clipped to [-1, 1], moves that
        state by gain per unit each step, and the result is clipped to [low, high] (an ee_delta controller's setpoint).
        The state head then predicts only what this kinematic prior misses (contacts, lag); train-world-model fills
        it in for the tabletop's ee_delta interface. Empty: the state head predicts the whole change.
    opening_index: index of the gripper's finger opening (metres) in the state. With camera_projection, a block the
        fingers close on moves with the tool in imagined frames (carry.BlockCarry); train-world-model fills it in for
        the tabletop. None (and configs saved before it existed): blocks stay where the first frame shows them.
    grasp_odds: the weights include a classifier of P(the closing fingers hold a block) from the scene under the
        tool (grasp_odds.GraspOdds), which train-world-model fits to the recorded closings of its data
        (train/world_model_grasps.py). False (too few closings, or configs saved before it): P = the predicted
        opening / 4 cm.
    """

    image_key: str = "observation.images.front"
    image_size: int = 64
    state_dim: int = 5
    action_dim: int = 5
    action_chunk: int = 2
    channels: tuple[int, int, int] = (16, 32, 48)
    latent_channels: int = 32
    dynamics_blocks: int = 2
    hidden: int = 128
    camera_projection: tuple[tuple[float, ...], ...] | None = None
    state_xyz: tuple[int, int, int] | None = None
    setpoint_moves: tuple[tuple[float, ...], ...] = ()
    opening_index: int | None = None
    grasp_odds: bool = False
    type: str = field(default=WORLD_MODEL_TYPE, init=False)

    def __post_init__(self):
        self.channels = tuple(self.channels)
        check_positive_ints("world model", self, ("image_size", "state_dim", "action_dim", "action_chunk",
                                                  "latent_channels", "dynamics_blocks", "hidden"))  # fmt: skip
        if self.image_size % 8:
            raise ConfigError(f"world model: image_size={self.image_size} must be a multiple of 8 (e.g. 64)")
        if len(self.channels) != 3 or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels
        ):
            raise ConfigError(f"world model: channels={list(self.channels)} must be three positive integers")

        if (self.camera_projection is None) != (self.state_xyz is None):
            raise ConfigError("world model: camera_projection and state_xyz go together; set both or neither")
        if self.camera_projection is not None:
            self.camera_projection = tuple(tuple(float(v) for v in row) for row in self.camera_projection)
            self.state_xyz = tuple(self.state_xyz)
            if len(self.camera_projection) != 3 or any(len(row) != 4 for row in self.camera_projection):
                raise ConfigError("world model: camera_projection must be a 3x4 matrix (rows of 4 numbers)")
            if len(self.state_xyz) != 3 or any(not 0 <= i < self.state_dim for i in self.state_xyz):
                raise ConfigError(
                    f"world model: state_xyz={list(self.state_xyz)} must be 3 indices into the {self.state_dim}-d state"
                )

        if self.opening_index is not None and (self.camera_projection is None or isinstance(self.opening_index, bool)
                                               or self.opening_index not in range(self.state_dim)):  # fmt: skip
            raise ConfigError(
                f"world model: opening_index={self.opening_index!r} must index the {self.state_dim}-d "
                "state, with camera_projection set (a carried block is drawn where the tool projects)"
            )
        if self.grasp_odds not in (True, False) or (self.grasp_odds and self.opening_index is None):
            raise ConfigError(
                f"world model: grasp_odds={self.grasp_odds!r} must be true or false, and true only with opening_index "
                "set (the odds decide whether a closing holds a block)"
            )
        self.setpoint_moves = tuple(tuple(float(v) for v in row) for row in self.setpoint_moves)
        for row in self.setpoint_moves:
            indices_ok = len(row) == 5 and row[0] in range(self.action_dim) and row[1] in range(self.state_dim)
            if not indices_ok or not row[3] < row[4]:
                raise ConfigError(
                    f"world model: setpoint_moves row {list(row)} must be (action index < {self.action_dim}, state "
                    f"index < {self.state_dim}, gain, low, high) with low < high"
                )

    @property
    def latent_grid(self) -> int:
        """Side of the latent grid: the image after three stride-2 convs."""
        return self.image_size // 8

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "world model config") -> WorldModelConfig:
        if data.get("type", WORLD_MODEL_TYPE) != WORLD_MODEL_TYPE:
            raise ConfigError(f"{where}: type={data['type']!r} is not {WORLD_MODEL_TYPE}; pass a world model")
        for name in RETIRED_FIELDS.keys() & data.keys():
            warnings.warn(f"{where}: {name} is ignored: {RETIRED_FIELDS[name]}", stacklevel=2)
        data = {k: v for k, v in data.items() if k not in RETIRED_FIELDS}
        check_fields(cls, data, where)
        return cls(**{k: v for k, v in data.items() if k != "type"})
