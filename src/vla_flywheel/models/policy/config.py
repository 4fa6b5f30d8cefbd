"""Every value that shapes the policy, validated when it is made and saved as `config.json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vla_flywheel.config_check import check_counts, check_fields, check_positive_ints
from vla_flywheel.errors import ConfigError

HEADS = ("flow", "primitive")
PRIMITIVE_PARAMS = ("heatmap", "bins")


@dataclass
class PolicyConfig:
    """The policy's architecture and sampling settings. Defaults are sized for a 2-core CPU.

    head: "flow" predicts chunks of ee_delta actions by flow matching; "primitive" predicts one
        pick(x, y, yaw) / place(x, y) action (LACY's L2A).
    image_keys: camera observations the policy reads; all share one encoder. The first is the one the primitive
        heatmap points into.
    image_size: square image side in pixels; must be a multiple of 16.
    state_dim / action_dim: sizes of `observation.state` and `action`.
    action_names: names of the action dimensions, as recorded in the dataset (tells ee_delta from primitive).
    chunk_size: actions predicted per flow-matching sample (openpi's action horizon).
    n_action_steps: actions of each chunk executed before predicting again (select_action's queue length).
    num_inference_steps: Euler steps from noise (t = 1) to action (t = 0).
    time_beta_alpha / time_beta_beta / time_scale / time_offset: t ~ Beta(alpha, beta) * scale + offset (openpi).
    dim / depth / num_heads / ff_mult: the transformer over [readouts, state, keypoints, image, text] tokens.
    channels: conv encoder widths at 1/2 and 1/4 resolution.
    pooled_grid: image tokens per side (the 1/4-resolution map is average-pooled to pooled_grid^2 tokens).
    keypoints: spatial-softmax keypoints summarised into one token.
    flow_hidden: width of the velocity MLP (256 was too small to fit the servo law precisely from 100 demos).
    primitive_param: "heatmap" (a pixel heatmap mapped to the table by `workspace_homography`) or "bins"
        (classification over coordinate bins from a readout token).
    coordinate_bins / yaw_bins: resolution of the bins parameterization and of the pick yaw.
    workspace_homography: 3x3 map from normalized table (x, y) to pixels of the first camera (heatmap only).
    max_text_length: tokens per instruction.
    flow_pointing: the flow head also trains the heatmap pick/place head (on the episodes' `primitive.pick` /
        `primitive.place`) and conditions its velocity on the predicted points: localizing blocks by pointing is
        translation-equivariant, which a global readout is not, and that is what makes few-demo ee_delta work.
        Needs workspace_homography; ignored without it.
    teacher_point_noise: with flow pointing, training conditions the velocity on the true pick/place points plus
        Gaussian noise of this std (normalized table units; 0.04 = 1 cm). Default 0: the demonstrations go to the true
        point, so noisy points teach the velocity that a centimetre of offset needs no correction (a dead band that
        left the tool 1.5-3 cm off the block); with exact points it servos to wherever the head points.
    state_table_xy: indices of the tool's table x, y (metres) in the state; with flow pointing the velocity then
        also sees target-minus-tool offsets. table_half_extent: metres per normalized table unit.
    flow_readout: the velocity is conditioned on the transformer's act readout (image + instruction features). Off (the
        default) and with flow pointing, the velocity sees only the pointed pick/place points, their offsets from the
        tool and the state, so it cannot memorize the demonstrations' scenes from image features and generalizes to
        new scenes as well as the pointing head does (100 pick_place demos: the readout-conditioned velocity drove
        the tool into wrong phases on unseen scenes). Without flow pointing the readout is always used.
    flow_translation_invariant: with flow pointing and state_table_xy, the velocity sees the points only relative to
        the tool (plus the pick yaw) and the state without the tool's table x, y: nothing that tells where on the table
        things are, so with few demonstrations it cannot memorize each episode by its absolute coordinates and has to
        learn the servo law, which is the same everywhere.
    flow_state_noise: per state dimension, the std (state units) of Gaussian noise added to the state the velocity
        sees in training (empty = none). Noise on the finger opening teaches the velocity not to read a slightly
        closed gripper (its own imprecise gripper command) as a later phase of the task.
    latch_points: with flow pointing, `select_action` points once per episode, at the first observation after
        `reset()` (the gripper is parked out of the camera's view then), and keeps those pick/place points: training
        conditions on one pair of points per episode too, and later images show the gripper over (or holding) the
        block.
    flow_samples: (noise, time) draws per observation in a training batch. The velocity MLP costs little next to
        the image encoder, so several draws per encoded image lower the variance of the flow gradient almost free.
    augment_shift: during training, images are translated by up to this many pixels (replicating the border) and
        pixel targets move with them; it stops a few-demo policy from memorizing where things were.
    """

    head: str = "flow"
    image_keys: tuple[str, ...] = ("observation.images.front",)
    image_size: int = 64
    state_dim: int = 5
    action_dim: int = 5
    action_names: tuple[str, ...] = ("dx", "dy", "dz", "dyaw", "gripper")
    chunk_size: int = 4
    n_action_steps: int = 2
    num_inference_steps: int = 10
    time_beta_alpha: float = 1.5
    time_beta_beta: float = 1.0
    time_scale: float = 0.999
    time_offset: float = 0.001
    dim: int = 128
    depth: int = 2
    num_heads: int = 4
    ff_mult: int = 2
    channels: tuple[int, int] = (32, 64)
    pooled_grid: int = 4
    keypoints: int = 16
    flow_hidden: int = 512
    primitive_param: str = "heatmap"
    coordinate_bins: int = 64
    yaw_bins: int = 36
    workspace_homography: tuple[tuple[float, ...], ...] | None = None
    max_text_length: int = 16
    flow_pointing: bool = True
    flow_samples: int = 8
    flow_readout: bool = False
    flow_translation_invariant: bool = True
    flow_state_noise: tuple[float, ...] = ()
    latch_points: bool = True
    teacher_point_noise: float = 0.0
    state_table_xy: tuple[int, int] | None = None
    table_half_extent: float = 0.25
    augment_shift: int = 4
    type: str = field(default="flywheel_vla", init=False)

    def __post_init__(self):
        self.image_keys = tuple(self.image_keys)
        self.action_names = tuple(self.action_names)
        self.channels = tuple(self.channels)
        if not (self.teacher_point_noise >= 0 and self.table_half_extent > 0):
            raise ConfigError("policy: teacher_point_noise must be >= 0 and table_half_extent > 0")
        if self.state_table_xy is not None:
            self.state_table_xy = tuple(int(i) for i in self.state_table_xy)
            if len(self.state_table_xy) != 2 or not all(0 <= i < self.state_dim for i in self.state_table_xy):
                raise ConfigError(
                    f"policy: state_table_xy={self.state_table_xy} must be two indices into the "
                    f"{self.state_dim}-d state"
                )
        self.flow_state_noise = tuple(float(v) for v in self.flow_state_noise)
        if self.flow_state_noise and (
            len(self.flow_state_noise) != self.state_dim or not all(v >= 0 for v in self.flow_state_noise)
        ):
            raise ConfigError(f"policy: flow_state_noise needs {self.state_dim} stds >= 0, got {self.flow_state_noise}")
        if self.workspace_homography is not None:
            self.workspace_homography = tuple(tuple(float(v) for v in row) for row in self.workspace_homography)
        if self.head not in HEADS:
            raise ConfigError(f"policy: head={self.head!r} is not one of {', '.join(HEADS)}")
        if self.primitive_param not in PRIMITIVE_PARAMS:
            raise ConfigError(f"policy: primitive_param={self.primitive_param!r} is not one of {PRIMITIVE_PARAMS}")
        if not self.image_keys:
            raise ConfigError("policy: image_keys is empty; the policy needs at least one camera")
        if self.image_size < 16 or self.image_size % 16:
            raise ConfigError(f"policy: image_size={self.image_size} must be a positive multiple of 16")
        check_positive_ints("policy", self, ("state_dim", "action_dim", "chunk_size", "n_action_steps",
                                             "num_inference_steps", "dim", "depth", "num_heads", "ff_mult",
                                             "pooled_grid", "keypoints", "flow_hidden", "flow_samples",
                                             "coordinate_bins", "yaw_bins", "max_text_length"))  # fmt: skip
        check_counts("policy", self, ("augment_shift",))
        if self.n_action_steps > self.chunk_size:
            raise ConfigError(
                f"policy: n_action_steps={self.n_action_steps} exceeds chunk_size={self.chunk_size}; "
                "a chunk cannot supply more actions than it holds"
            )
        if self.dim % self.num_heads:
            raise ConfigError(f"policy: dim={self.dim} must be divisible by num_heads={self.num_heads}")
        if (self.image_size // 4) % self.pooled_grid:
            raise ConfigError(f"policy: pooled_grid={self.pooled_grid} must divide image_size/4={self.image_size // 4}")
        if len(self.action_names) != self.action_dim:
            raise ConfigError(f"policy: {len(self.action_names)} action_names for action_dim={self.action_dim}")
        if self.head == "primitive":
            if self.action_dim != 5:
                raise ConfigError(
                    f"policy: the primitive head needs action_dim 5 (pick x, y, yaw, place x, y), got {self.action_dim}"
                )
            if self.primitive_param == "heatmap" and self.workspace_homography is None:
                raise ConfigError("policy: the heatmap primitive head needs workspace_homography (the env provides it)")
        if not (self.time_scale > 0 and self.time_offset >= 0 and self.time_scale + self.time_offset <= 1):
            raise ConfigError("policy: time_scale/time_offset must keep t inside (0, 1]")

    @property
    def uses_pointing(self) -> bool:
        """Whether the model has the heatmap pick/place head (the primitive policy, or flow with pointing)."""
        heatmap = self.primitive_param == "heatmap" and self.workspace_homography is not None
        return heatmap and (self.head == "primitive" or self.flow_pointing)

    @property
    def flow_uses_readout(self) -> bool:
        """Whether the velocity sees the act readout: always, unless flow pointing supplies points and it is off."""
        return self.flow_readout or not (self.head == "flow" and self.uses_pointing)

    @property
    def action_horizon(self) -> int:
        """Actions per prediction: the chunk for flow, one pick/place for the primitive head."""
        return self.chunk_size if self.head == "flow" else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "policy config") -> PolicyConfig:
        """A saved config.json back as a config: its type first (a judge's config is not a policy's), then keys."""
        if data.get("type", "flywheel_vla") != "flywheel_vla":
            raise ConfigError(f"{where}: type={data['type']!r} is not flywheel_vla; pass a policy, not a judge")
        check_fields(cls, data, where)
        return cls(**{k: v for k, v in data.items() if k != "type"})
