"""Environment throughput: our rendered ee_delta step against a bare MuJoCo loop on the same compiled model.

The bare loop is the floor any env built on this scene pays: `mj_step` for one control period plus one 64 px
render from the same camera with the same renderer settings. Both loops run in this process, interleaved in
rounds so that both see the same machine state; the ratio is env rate / bare rate (target >= 0.8).
Also reports primitive-interface episodes/s with the scripted expert (one pick-and-place per episode).

Run: .venv/bin/python bench/env_throughput.py [--seconds 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: it picks its GL backend on import

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vla_flywheel.engine.rollout import rollout  # noqa: E402
from vla_flywheel.envs import make_env  # noqa: E402
from vla_flywheel.envs.rendering import make_renderer  # noqa: E402
from vla_flywheel.envs.tabletop.experts import ScriptedExpert  # noqa: E402


def env_steps_per_s(env, seconds: float, rng: np.random.Generator) -> float:
    steps, busy = 0, 0.0
    env.reset(seed=int(rng.integers(1 << 30)))
    while busy < seconds:
        actions = rng.uniform(-1, 1, (50, 5)).astype(np.float32)
        t0 = time.perf_counter()
        for a in actions:
            *_, terminated, truncated, _ = env.step(a)
            steps += 1
            if terminated or truncated:
                break
        busy += time.perf_counter() - t0
        if terminated or truncated:
            env.reset(seed=int(rng.integers(1 << 30)))
    return steps / busy


def bare_steps_per_s(model, data, renderer, camera: int, substeps: int, seconds: float) -> float:
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(50):
            mujoco.mj_step(model, data, nstep=substeps)
            renderer.update_scene(data, camera=camera)
            renderer.render()
        steps += 50
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--primitive-episodes", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)  # nothing here trains; keep the second core for the software rasterizer

    env = make_env(family="all", interface="ee_delta")
    env.reset(seed=0)
    data = mujoco.MjData(env.model)  # the same compiled model, its own state
    data.qpos[:] = env.data.qpos
    data.ctrl[:] = env.data.ctrl
    mujoco.mj_forward(env.model, data)
    renderer = make_renderer(env.model, env.config.image_size)
    camera = env.ids.camera["front"]
    rng = np.random.default_rng(0)

    bare, ours = [], []
    for _ in range(args.rounds):
        bare.append(bare_steps_per_s(env.model, data, renderer, camera, env.substeps, args.seconds))
        ours.append(env_steps_per_s(env, args.seconds, rng))
    b, o = statistics.median(bare), statistics.median(ours)
    print(
        f"bare mj_step x{env.substeps} + 64px render : {b:8.1f} control steps/s  (rounds: {[round(x) for x in bare]})"
    )
    print(f"TabletopEnv ee_delta step              : {o:8.1f} control steps/s  (rounds: {[round(x) for x in ours]})")
    print(f"ratio env / bare                       : {o / b:8.3f}  (target >= 0.8)")
    renderer.close()
    env.close()

    env = make_env(family="all", interface="primitive")
    expert = ScriptedExpert()
    t0 = time.perf_counter()
    wins = sum(rollout(env, expert, seed).success for seed in range(args.primitive_episodes))
    dt = time.perf_counter() - t0
    print(
        f"primitive episodes (expert, rendered)  : {args.primitive_episodes / dt:8.1f} episodes/s "
        f"({wins}/{args.primitive_episodes} successful)"
    )
    env.close()


if __name__ == "__main__":
    main()
