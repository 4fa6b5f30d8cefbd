"""The language-conditioned visuomotor policy: flow-matching action chunks and a primitive pick/place head."""

from vla_flywheel.models.policy.config import PolicyConfig
from vla_flywheel.models.policy.modeling import FlywheelPolicy

__all__ = ["FlywheelPolicy", "PolicyConfig"]
