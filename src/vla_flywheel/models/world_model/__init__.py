"""The action-conditioned world model VLAW imagines policy rollouts in (see `modeling`)."""

from vla_flywheel.models.world_model.config import WorldModelConfig
from vla_flywheel.models.world_model.modeling import FlywheelWorldModel

__all__ = ["FlywheelWorldModel", "WorldModelConfig"]
