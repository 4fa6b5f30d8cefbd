"""Environments: the built-in MuJoCo tabletop and the Meta-World adapter (optional extra `[metaworld]`).

Importing this package picks the headless GL backend before MuJoCo is imported anywhere, so rendering works on a
machine without a display. Set MUJOCO_GL yourself to override (egl is the default; osmesa is the fallback).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from vla_flywheel.envs.registry import ENV_IDS, make_env, make_expert  # noqa: E402

__all__ = ["ENV_IDS", "make_env", "make_expert"]
