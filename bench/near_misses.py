"""What a residual specialist could fix on a primitive base: how near its failed attempts come to the right action.

A residual explores around the base's action, so it can turn into successes only the failures that were nearly right
(PLD's premise: the base gets close, the residual refines). This plays the base's first attempt on the fixed
evaluation seeds and measures, per attempt, how far its pick lands from the named block, its place from the goal,
and its grasp yaw from the block's faces (a square block looks the same every 90°). Failures whose pick and place
both lie within the tolerance are near misses; base success + near misses bounds what such a residual reaches.

    python bench/near_misses.py --base runs/pp_prim_20 --episodes 100
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: it picks its GL backend on import

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vla_flywheel.engine.residual_agent import BaseStep  # noqa: E402
from vla_flywheel.envs import make_env  # noqa: E402
from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF  # noqa: E402
from vla_flywheel.eval.intervals import wilson_interval  # noqa: E402
from vla_flywheel.eval.seeds import eval_seeds  # noqa: E402
from vla_flywheel.models.policy import FlywheelPolicy  # noqa: E402

QUARTER_TURN = math.pi / 2


def attempt_errors(env, base: BaseStep, seed: int) -> tuple[bool, float, float, float]:
    """One first attempt -> (success, pick error m, place error m, yaw error to the nearest face in degrees)."""
    obs, _ = env.reset(seed=seed)
    base.reset(seed)
    view = base(env, obs)
    a, task = view.base_action, env.unwrapped.task
    block_xy, goal_xy = view.privileged[:2], view.privileged[3:5]  # see TabletopEnv.privileged_state
    pick_error = float(np.linalg.norm(a[:2] * WORKSPACE_HALF - block_xy))
    place_error = float(np.linalg.norm(a[3:5] * WORKSPACE_HALF - goal_xy))
    off = (a[2] * QUARTER_TURN - env.unwrapped.block_yaws()[task.block]) % QUARTER_TURN
    yaw_error = math.degrees(min(off, QUARTER_TURN - off))
    _, _, _, _, info = env.step(a)
    return bool(info["success"]), pick_error, place_error, yaw_error


def percentiles(values: np.ndarray) -> list[float]:
    return np.percentile(values, [10, 50, 90]).round(1).tolist()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", type=Path, required=True, help="a primitive policy (run or pretrained_model dir)")
    p.add_argument("--family", default="pick_place")
    p.add_argument("--episodes", type=int, default=100, help="fixed evaluation seeds")
    p.add_argument("--tolerance-cm", type=float, default=3.0, help="a near miss picks and places within this")
    args = p.parse_args()
    torch.set_num_threads(1)
    policy = FlywheelPolicy.from_pretrained(args.base)
    if policy.config.head != "primitive":
        sys.exit(f"near_misses: {args.base} is a {policy.config.head} policy; pass a primitive one")
    env = make_env(family=args.family, interface="primitive", max_steps=1)
    base = BaseStep(policy)
    rows = np.array([attempt_errors(env, base, seed) for seed in eval_seeds(args.episodes)])  # [N, 4]
    env.close()
    success = rows[:, 0] == 1
    low, high = wilson_interval(int(success.sum()), len(rows))
    print(f"base, first attempt: {100 * success.mean():.1f}% [{100 * low:.1f}, {100 * high:.1f}] of {len(rows)}")
    for name, rows_of in (("successes", rows[success]), ("failures", rows[~success])):
        if len(rows_of):
            pick, place, yaw = (percentiles(rows_of[:, col] * scale) for col, scale in ((1, 100), (2, 100), (3, 1)))
            print(f"{name:9s} pick / place error cm (10/50/90th pct) {pick} / {place}; yaw off the faces deg {yaw}")
    failures = rows[~success]
    tol = args.tolerance_cm / 100
    near = failures[(failures[:, 1] < tol) & (failures[:, 2] < tol)]
    print(f"near misses (pick and place within {args.tolerance_cm:g} cm): {len(near)} of {len(failures)} failures; "
          f"their yaw off the faces deg {sorted(near[:, 3].round().astype(int).tolist())}")  # fmt: skip
    print(f"ceiling for a residual that fixes every near miss: {100 * (success.sum() + len(near)) / len(rows):.1f}%")


if __name__ == "__main__":
    main()
