"""PLD's residual specialist: a bounded Tanh-Gaussian correction on a frozen base policy, with twin Q critics."""

from vla_flywheel.models.residual.config import ResidualConfig
from vla_flywheel.models.residual.modeling import ResidualActorCritic

__all__ = ["ResidualActorCritic", "ResidualConfig"]
