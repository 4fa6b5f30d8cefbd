"""Every value that shapes a residual specialist, validated when it is made and saved as `config.json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vla_flywheel.config_check import check_counts, check_fields, check_positive_ints
from vla_flywheel.errors import ConfigError


@dataclass
class ResidualConfig:
    """A residual actor-critic (PLD §3.2): the actor sees what the frozen base sees and does, and adds a_δ ∈ [−ξ, ξ].

    feature_dim: frozen base-policy features per step (its act readout and latched pick/place points; see
        engine.residual_agent.BaseStep).
    state_dim / action_dim: sizes of the env's state and action.
    xi: bound of the residual action, in action units (PLD: 0.5 on LIBERO, 0.1 on SimplerEnv). A residual larger
        than the base's own actions can override it entirely; "from scratch" SAC is xi = 1 with no base action.
    hidden / layers: the MLPs of the actor and of each Q (PLD Table 5: 3 layers of 256, LayerNorm).
    use_base: the inputs include the base action and the executed action is base + residual; False is SAC from
        scratch on the same inputs (RLPD), the baseline PLD compares against.
    log_std_min / log_std_max: bounds of the actor's pre-tanh log standard deviation.
    fixed_dims: action dimensions the residual leaves to the base (its output there is 0). The tabletop's gripper
        command (dimension 4) is absolute and sets the finger opening: a residual of -0.2 on a closed grip already
        opens the fingers a tenth, so exploring on it drops carried blocks; a yaw residual (dimension 3) turns the
        gripper off the block's faces.
    privileged_dim: size of the simulator task state the critics read (0 = none; see
        engine.residual_agent.critic_state).
    actor_privileged: the actor reads that state too, a privileged teacher (Chen et al. 2019, "Learning by
        Cheating"): PLD's actor sees only the base's features, but a base that reaches for the wrong block or carries
        to the wrong pad leaves nothing in them that says where the right one is. The specialist is discarded after
        distillation, so what it read in simulation never reaches the generalist, which learns from images.
    """

    feature_dim: int
    state_dim: int = 5
    action_dim: int = 5
    xi: float = 0.5
    hidden: int = 256
    layers: int = 3
    use_base: bool = True
    log_std_min: float = -5.0
    log_std_max: float = 1.0
    privileged_dim: int = 0
    actor_privileged: bool = False
    fixed_dims: tuple[int, ...] = ()
    type: str = field(default="flywheel_residual", init=False)

    def __post_init__(self):
        check_positive_ints("residual", self, ("feature_dim", "state_dim", "action_dim", "hidden", "layers"))
        if not 0 < self.xi <= 1:
            raise ConfigError(f"residual: xi={self.xi} must be in (0, 1] (action units; 1 = the whole action box)")
        check_counts("residual", self, ("privileged_dim",))
        if self.actor_privileged and not self.privileged_dim:
            raise ConfigError("residual: actor_privileged needs privileged_dim > 0 (an env with a privileged state)")
        self.fixed_dims = tuple(int(d) for d in self.fixed_dims)
        if any(not 0 <= d < self.action_dim for d in self.fixed_dims) or len(set(self.fixed_dims)) == self.action_dim:
            raise ConfigError(f"residual: fixed_dims={list(self.fixed_dims)} must be distinct action dimensions in "
                              f"[0, {self.action_dim}) and leave at least one to correct")  # fmt: skip
        if not self.log_std_min < self.log_std_max:
            raise ConfigError("residual: log_std_min must be below log_std_max")

    @property
    def input_dim(self) -> int:
        """[features | state | base action | privileged] (base action with a base, privileged for a privileged
        actor)."""
        return (self.feature_dim + self.state_dim + (self.action_dim if self.use_base else 0)
                + (self.privileged_dim if self.actor_privileged else 0))  # fmt: skip

    @property
    def critic_extra_dim(self) -> int:
        """Privileged state the critics read beyond the actor's inputs."""
        return 0 if self.actor_privileged else self.privileged_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "residual config") -> ResidualConfig:
        data = {k: v for k, v in data.items() if k != "type"}
        check_fields(cls, data, where)
        return cls(**data)
