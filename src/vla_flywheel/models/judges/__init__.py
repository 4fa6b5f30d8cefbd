"""Judges: the progress critic with its done head, the success classifier, the explainer and the verifier."""

from vla_flywheel.models.judges.config import ROLES, JudgeConfig
from vla_flywheel.models.judges.ensemble import JudgeEnsemble
from vla_flywheel.models.judges.modeling import FlywheelJudge

__all__ = ["ROLES", "FlywheelJudge", "JudgeConfig", "JudgeEnsemble"]
