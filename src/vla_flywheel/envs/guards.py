"""What every environment checks so a bad action never reaches MuJoCo and a diverged simulation never passes as data.

MuJoCo does not raise on divergence: when qpos, qvel or qacc turns NaN/inf or huge it bumps a warning counter and
silently resets the data to the model's default pose, so objects teleport and a run would go on learning from
nonsense. `instability` reports each such warning (and any non-finite state) so the episode ends as a failure with
the reason, and `checked_action` refuses a non-finite, misshapen or (unless clipping was asked for) out-of-range
action before it is applied.
"""

from __future__ import annotations

import mujoco
import numpy as np

from vla_flywheel.errors import InvalidActionError

UNSTABLE_WARNINGS = {  # MuJoCo warnings after which it has reset the simulation behind our back
    mujoco.mjtWarning.mjWARN_BADQPOS: "bad position",
    mujoco.mjtWarning.mjWARN_BADQVEL: "bad velocity",
    mujoco.mjtWarning.mjWARN_BADQACC: "bad acceleration",
}


def checked_action(action, size: int, what: str, bounds: str) -> np.ndarray:
    """action -> float64 [size] in [-1, 1]; `what` names the env and the layout in errors; bounds: reject | clip."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (size,):
        raise InvalidActionError(f"{what} action has shape {a.shape}; expected ({size},)")
    if not np.isfinite(a).all():
        raise InvalidActionError(
            f"{what} action {a.tolist()} is not finite; a policy produced NaN/inf — check its outputs"
        )
    if np.abs(a).max() > 1.0 + 1e-6:
        if bounds == "reject":
            raise InvalidActionError(
                f"{what} action {np.round(a, 4).tolist()} is outside [-1, 1]; clip it, or make the env with "
                "action_bounds='clip'"
            )
        a = np.clip(a, -1.0, 1.0)
    return a


def instability(data: mujoco.MjData) -> str | None:
    """Why the physics can no longer be trusted, or None; a reported warning is cleared (the next episode is clean)."""
    if not np.isfinite(data.qpos).all() or not np.isfinite(data.qvel).all():
        return "simulator instability: non-finite state"
    for warning, what in UNSTABLE_WARNINGS.items():
        if data.warning[warning].number:
            for w in UNSTABLE_WARNINGS:
                data.warning[w].number = 0
            return f"simulator instability: {what} (MuJoCo warning {warning.name.removeprefix('mjWARN_')})"
    return None
