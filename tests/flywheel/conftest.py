import os
import subprocess
import sys

import pytest

from vla_flywheel.failpoints import ENV
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel

TINY = dict(seed_demos=4, rounds=1, episodes_per_round=12, base_steps=60, round_steps=30, eval_episodes=10,
            threads=1, videos=2, eval_workers=1)  # fmt: skip


@pytest.fixture(scope="session")
def filtered_bc_run(tmp_path_factory):
    """A whole (tiny) filtered-BC run on the primitive interface: demos, base, one round, evaluation, report."""
    out = tmp_path_factory.mktemp("flywheel") / "filtered-bc"
    run_flywheel(RunConfig(out=out, recipe="filtered-bc", **TINY), progress=False)
    return out


def flywheel_cli(args: list[str], failpoint: str | None) -> subprocess.CompletedProcess:
    """`flywheel run ARGS` in a fresh process, SIGKILLed at `failpoint` (vla_flywheel.failpoints) when one is given."""
    env = {**os.environ, "MUJOCO_GL": "egl"}
    env.pop(ENV, None)
    if failpoint:
        env[ENV] = failpoint
    command = [sys.executable, "-m", "vla_flywheel.cli", "run", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
