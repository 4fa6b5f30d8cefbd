"""Were VLAW's imagined successes real? Replay a vlaw run's imagined plans in the simulator.

A vlaw round imagines N episodes from real starts `env.reset(seed)` and keeps those its success classifier believes
(P > α). Nothing in the run says whether a kept episode would have succeeded for real: the policy acted on imagined
frames. This bench executes each imagined episode's recorded actions open loop in the real env from the same seed
and compares the simulator's outcome with the classifier's verdict on the imagined frames: a confusion matrix of
the imagined data the policy was fine-tuned on (kept and real success = a true positive).

Open loop is a lower bound on what the plan would do for real: a real policy would see real frames and correct its
course. A kept episode whose actions fail open loop may still be close to a success; one that succeeds is one the
world model predicted right.

Run: .venv/bin/python bench/imagined_replay.py RUN [--round 1] [--max-episodes N] [--out outcomes.json]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: it picks its GL backend on import

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from vla_flywheel.data.layout import write_json_atomic  # noqa: E402
from vla_flywheel.data.reader import DatasetReader  # noqa: E402
from vla_flywheel.envs import make_env  # noqa: E402
from vla_flywheel.eval.intervals import wilson_interval  # noqa: E402
from vla_flywheel.eval.judge_metrics import auroc, confusion  # noqa: E402
from vla_flywheel.flywheel.config import RunConfig  # noqa: E402
from vla_flywheel.flywheel.layout import RunLayout  # noqa: E402
from vla_flywheel.flywheel.stages import dataset_episodes  # noqa: E402


def replay_outcome(env, seed: int, actions: np.ndarray, task: str) -> bool:
    """Reset to the imagined episode's real start, execute its actions [T, action_dim] open loop -> success."""
    _, info = env.reset(seed=seed)
    if info["task"] != task:
        raise SystemExit(f"imagined_replay: seed {seed} resets to '{info['task']}', the episode says '{task}'")
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return bool(info["success"])  # the last step's, as a real rollout is labelled (engine/rollout.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a vlaw flywheel run")
    parser.add_argument("--round", type=int, default=1, help="whose imagined episodes (data/round-XXX-imagined)")
    parser.add_argument("--max-episodes", type=int, default=None, help="the first N imagined episodes only")
    parser.add_argument("--out", type=Path, default=None, help="write each episode's seed, P, verdict and outcome")
    args = parser.parse_args()
    cfg, layout = RunConfig.load(args.run), RunLayout(args.run)
    path = layout.imagined_data(args.round)
    if not dataset_episodes(path):
        raise SystemExit(f"imagined_replay: {path} holds no imagined episodes; pass a vlaw run and a round it finished")
    reader = DatasetReader(path)
    count = min(reader.num_episodes, args.max_episodes or reader.num_episodes)
    envs, seeds, kept, score, real, start = {}, [], [], [], [], time.perf_counter()
    for i in tqdm(range(count), desc="replay imagined plans", unit="ep"):
        ep, family = reader.episode(i), cfg.families[i % len(cfg.families)]  # as vlaw.py assigns them
        if family not in envs:
            envs[family] = make_env(family=family, interface=cfg.interface, **cfg.ee_overrides)
        first = {key: np.asarray(ep[key]).reshape(-1)[0] for key in ("judge.keep", "judge.score", "episode.seed")}
        kept.append(bool(first["judge.keep"]))  # per-episode columns, repeated on every row
        score.append(float(first["judge.score"]))
        seeds.append(int(first["episode.seed"]))
        real.append(replay_outcome(envs[family], seeds[-1], ep["action"], ep["task"][0]))
    c = confusion(kept, real)
    if args.out is not None:
        episodes = [{"episode": i, "seed": seed, "score": p, "kept": k, "real_success": s}
                    for i, (seed, p, k, s) in enumerate(zip(seeds, score, kept, real, strict=True))]  # fmt: skip
        counts = {k: c[k] for k in ("tp", "fp", "fn", "tn")}  # precision and recall are NaN when undefined
        write_json_atomic(args.out, {"run": str(args.run), "round": args.round, "counts": counts, "episodes": episodes})
    print(f"{args.run} round {args.round}: {count} imagined episodes replayed open loop in "
          f"{time.perf_counter() - start:.0f} s; real successes {sum(real)} ({np.mean(real):.1%})")  # fmt: skip
    print(f"  kept by the classifier: {c['tp'] + c['fp']}, of them real successes: {c['tp']}", end="")
    if c["tp"] + c["fp"]:
        low, high = wilson_interval(c["tp"], c["tp"] + c["fp"])
        print(f" (precision {c['precision']:.3f} [{low:.2f}, {high:.2f}])", end="")
    print(f"\n  confusion: tp {c['tp']} fp {c['fp']} fn {c['fn']} tn {c['tn']}")
    if 0 < sum(real) < count:
        print(f"  AUROC of the classifier's P on imagined frames vs the real outcome: {auroc(score, real):.3f}")


if __name__ == "__main__":
    main()
