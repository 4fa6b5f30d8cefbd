"""Meta-World MT10: the shipped scripted experts' success per task, through our adapter, with rendering speed.

Run: .venv/bin/python bench/metaworld_experts.py [--episodes 20] [--image-size 64]
Needs the optional extra (pip install -e '.[metaworld]'). Each task uses the MT10 benchmark's own variations (seed 0);
episode i starts from reset(seed=10_000 + i), renders every step (64 px front camera) and ends at the first success
or after 500 steps. Prints a markdown table: success with n and a 95% Wilson interval, mean steps to success, and the
rendered env's steps/s next to a bare `mj_step` loop on the same model measured in the same run (physics only, 5
substeps per env step), as a ratio.
"""

from __future__ import annotations

import argparse
import copy
import time

import mujoco

from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.envs.metaworld import MT10_FAMILIES, MetaWorldConfig
from vla_flywheel.eval.intervals import wilson_interval

SEED_BASE = 10_000


def bare_steps_per_second(env, steps: int = 500) -> float:
    """Env steps/s of physics alone: `frame_skip` mj_steps per step on a copy of the env's data, no rendering."""
    data = copy.copy(env.data)
    start = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(env.model, data, nstep=env.sim.frame_skip)
    return steps / (time.perf_counter() - start)


def run_task(family: str, episodes: int, image_size: int) -> dict:
    env = make_env(MetaWorldConfig(family=family, benchmark="MT10", image_size=image_size))
    expert = make_expert(env)
    start = time.perf_counter()
    records = [rollout(env, expert, SEED_BASE + i) for i in range(episodes)]
    seconds = time.perf_counter() - start
    env.reset(seed=SEED_BASE)
    bare = bare_steps_per_second(env)
    env.close()
    wins = [r for r in records if r.success]
    steps = sum(r.length for r in records)
    return {
        "task": family.removeprefix("mw/"),
        "instruction": records[0].task,
        "successes": len(wins),
        "n": episodes,
        "mean_steps": sum(r.length for r in wins) / len(wins) if wins else float("nan"),
        "env_sps": steps / seconds,
        "bare_sps": bare,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    print(
        "| task | instruction | expert success | n | 95% CI | mean steps to success | env steps/s "
        f"({args.image_size} px, rendered) | bare mj_step steps/s | ratio |\n|---|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    start, total_wins, total_n = time.perf_counter(), 0, 0
    for family in MT10_FAMILIES:
        r = run_task(family, args.episodes, args.image_size)
        lo, hi = wilson_interval(r["successes"], r["n"])
        total_wins, total_n = total_wins + r["successes"], total_n + r["n"]
        print(
            f"| {r['task']} | {r['instruction']} | {r['successes'] / r['n']:.0%} | {r['n']} | [{lo:.0%}, {hi:.0%}] | "
            f"{r['mean_steps']:.0f} | {r['env_sps']:.0f} | {r['bare_sps']:.0f} | {r['env_sps'] / r['bare_sps']:.3f} |",
            flush=True,
        )
    lo, hi = wilson_interval(total_wins, total_n)
    print(
        f"\nMT10 overall: {total_wins}/{total_n} = {total_wins / total_n:.1%} [{lo:.1%}, {hi:.1%}] "
        f"({time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
