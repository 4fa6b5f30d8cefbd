"""World-model fidelity with and without failures in its training data (VLAW Table 1's question, CPU-sized).

Two world models train on the same budget (steps, batch, seed): one on expert demos + policy rollouts, successes and
failures alike; one on the same data with every failed episode dropped. Both replay the recorded actions of held-out
policy rollouts open loop, and print:
- PSNR / SSIM per horizon step next to the copy-last-frame baseline (the first real frame repeated);
- the outcome confusion: the success classifier (α = 0.8) on imagined frames vs the real outcome of the same start and
  actions (and on the real frames, the judge's own confusion, which bounds the imagined one);
- CPU wall times: training, open-loop replay, and closed-loop imagination with the policy acting on imagined frames
  from env.reset(seed) for the task horizon (100 ee_delta steps), plus the success rate the judge believes in
  imagination next to the real success rate of the same seeds.

Data (collected or trained when missing, under runs/wm/): 150 policy rollouts for training (seeds 10000+), 50 held-out
(seeds 20000+), of the ee_delta policy at --policy (~46% success); a success classifier trained on the demos and the
training rollouts. On a shared 2-core machine times move with the other jobs' load; the load average is printed.

Run: .venv/bin/python bench/world_model_fidelity.py [--steps 600] [--imagine 20]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: it picks its GL backend on import

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vla_flywheel.data import DatasetReader  # noqa: E402
from vla_flywheel.engine.collect import CollectConfig, collect  # noqa: E402
from vla_flywheel.engine.imagination import imagine_from_env  # noqa: E402
from vla_flywheel.engine.rollout import EpisodeRecord  # noqa: E402
from vla_flywheel.envs import make_env  # noqa: E402
from vla_flywheel.envs.tabletop.config import TabletopConfig  # noqa: E402
from vla_flywheel.eval.world_model_fidelity import THRESHOLD, evaluate_fidelity, fidelity_lines  # noqa: E402
from vla_flywheel.flywheel.judging import SuccessJudge  # noqa: E402
from vla_flywheel.models.judges import FlywheelJudge  # noqa: E402
from vla_flywheel.models.policy import FlywheelPolicy  # noqa: E402
from vla_flywheel.models.world_model import FlywheelWorldModel  # noqa: E402
from vla_flywheel.train.judge_loop import JudgeTrainConfig, train_judge  # noqa: E402
from vla_flywheel.train.world_model_data import load_episodes  # noqa: E402
from vla_flywheel.train.world_model_loop import WorldModelTrainConfig, train_world_model  # noqa: E402

ROOT = Path("runs/wm")
DEMOS = Path("runs/learning_curve_ee/data/pick_place_ee_delta")
POLICY = Path("runs/learning_curve_ee/runs/pick_place_ee_delta_050")
TRAIN_SEED, HELDOUT_SEED = 10_000, 20_000
ENV = TabletopConfig(family="pick_place", interface="ee_delta")


def ensure_rollouts(out: Path, policy: Path, episodes: int, seed: int) -> Path:
    if not out.exists():
        collect(CollectConfig(out=out, env=ENV, episodes=episodes, seed=seed, policy=policy), progress=True)
    return out


def ensure_judge(out: Path, datasets: list[Path], steps: int) -> Path:
    if not (out / "train_summary.json").exists():
        train_judge(JudgeTrainConfig(data={"success": tuple(datasets)}, out=out, steps=steps, threads=1))
    return out


def imagination(model: FlywheelWorldModel, policy, judge, seeds: list[int]) -> dict:
    """Closed-loop imagination from the held-out seeds' real starts: wall time and the judge's verdicts."""
    env = make_env(ENV)
    began = time.perf_counter()
    episodes = imagine_from_env(model, policy, env, seeds)
    seconds = time.perf_counter() - began
    env.close()
    success_judge = SuccessJudge(judge, THRESHOLD)
    believed = [
        success_judge(EpisodeRecord({judge.config.image_key: e.frames}, e.task, False, e.length, e.seed)).keep
        for e in episodes
    ]
    return {"episodes": len(episodes), "steps": int(sum(e.length for e in episodes)), "seconds": seconds,
            "believed_success": float(np.mean(believed))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=600, help="gradient steps per world model")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rollout-steps", type=int, default=4)
    parser.add_argument("--judge-steps", type=int, default=1500)
    parser.add_argument("--imagine", type=int, default=20, help="closed-loop imagined episodes per world model")
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    train_data = ensure_rollouts(ROOT / "data" / "policy_train", args.policy, 150, TRAIN_SEED)
    heldout = ensure_rollouts(ROOT / "data" / "policy_heldout", args.policy, 50, HELDOUT_SEED)
    judge_dir = ensure_judge(ROOT / f"judge_success_{args.judge_steps}", [DEMOS, train_data], args.judge_steps)
    judge = FlywheelJudge.from_pretrained(judge_dir)
    policy = FlywheelPolicy.from_pretrained(args.policy)
    episodes = load_episodes([heldout], "observation.images.front")
    reader = DatasetReader(heldout)
    seeds = [HELDOUT_SEED + i for i in range(min(args.imagine, reader.num_episodes))]
    real_success = float(np.mean([e.success for e in episodes[: len(seeds)]]))

    stamp = time.strftime("%Y%m%d-%H%M%S")
    results, report = {}, {}
    for name, successes_only in (("with failures", False), ("successes only", True)):
        out = args.out / f"{stamp}-{'all' if not successes_only else 'successes'}"
        cfg = WorldModelTrainConfig(datasets=(DEMOS, train_data), out=out, steps=args.steps,
                                    batch_size=args.batch_size, rollout_steps=args.rollout_steps,
                                    successes_only=successes_only)  # fmt: skip
        trained = train_world_model(cfg, progress=True)
        model = FlywheelWorldModel.from_pretrained(out)
        began = time.perf_counter()
        results[name] = evaluate_fidelity(model, episodes, judge)
        replay_seconds = time.perf_counter() - began
        imagined = imagination(model, policy, judge, seeds)
        report[name] = {"train_seconds": trained.seconds, "train_episodes": trained.episodes,
                        "train_successes": trained.successes, "parameters": trained.parameters,
                        "replay_seconds": replay_seconds, "imagination": imagined,
                        "fidelity": results[name].to_dict()}  # fmt: skip

    print()
    print("\n".join(fidelity_lines(results)))
    print()
    print(f"{'world model':<16} {'train data':>22} {'train s':>8} {'replay s':>9} {'imagine s/ep':>13} "
          f"{'believed success':>17}")  # fmt: skip
    for name, r in report.items():
        i = r["imagination"]
        data = f"{r['train_episodes']} ep ({r['train_successes']} ok)"
        print(f"{name:<16} {data:>22} {r['train_seconds']:>8.1f} {r['replay_seconds']:>9.1f} "
              f"{i['seconds'] / i['episodes']:>13.2f} {i['believed_success']:>17.1%}")  # fmt: skip
    print(f"real success rate of the same {len(seeds)} seeds (policy in the simulator): {real_success:.1%}")
    params = next(iter(report.values()))["parameters"]
    print(f"model: {params:,} parameters; {args.steps} steps x batch {args.batch_size}, {args.rollout_steps} chunks "
          f"unrolled; imagination horizon {ENV.max_steps or 100} steps; load average {load_before[0]:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}-results.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out / f'{stamp}-results.json'}")


if __name__ == "__main__":
    main()
