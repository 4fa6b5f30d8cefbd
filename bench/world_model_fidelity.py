"""World-model fidelity with and without failures in its training data (VLAW Table 1's question, CPU-sized).

Two world models train on the same budget (steps, batch, seed): one on expert demos + weak-policy rollouts, successes
and failures alike; one on the same data with every failed episode dropped. Both replay the recorded actions of
held-out policy rollouts open loop, and print:
- PSNR / SSIM per horizon step next to the copy-last-frame baseline (the first real frame repeated);
- the outcome confusion: the success classifier (α = 0.8) on imagined frames vs the real outcome of the same start and
  actions (and on the real frames, the judge's own confusion, which bounds the imagined one);
- CPU wall times of training and open-loop replay; with --policy (an ee_delta policy run), also closed-loop
  imagination with the policy acting on imagined frames from env.reset(seed) for the task horizon (100 steps), and
  the success rate the judge believes in imagination next to the real success rate of the same seeds.

Data: `bench/judges.py`'s, collected or trained here when missing and shared with it under --data-root. Every video
runs the full 10 s and ends with the gripper parked, so its last frames show the outcome (an episode cut at its
success ends with the block hidden in the hand, and no classifier can read it: README "VLAW"). Training: the 100
expert demos and the 600 rollouts of the 10- and 20-demo weak policies; held-out: the 20-demo policy's rollouts on
seeds 50000+ (--heldout of its 200); judge: judges.py's success classifier (noise-injected expert episodes, the weak
rollouts and the demos; 5000 steps). On a shared 2-core machine times move with the other jobs' load; the load
average is printed.

The world models train under --out and are reused on a rerun; `--models NAME` lets two jobs train one each.
`--draws K` replays every held-out episode with K grasp draws: one draw gives a handful of false positives per model,
too few to compare (5 and 5 of 174 failures); K draws and a paired bootstrap over episodes measure the difference.

Run: .venv/bin/python bench/world_model_fidelity.py [--steps 800] [--seed 0] [--heldout 200] [--draws 8]
     [--policy RUN]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: it picks its GL backend on import
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from judges import EE, success_classifier, video_data  # noqa: E402
from vla_flywheel.data.layout import write_json_atomic  # noqa: E402
from vla_flywheel.engine.imagination import imagine_from_env  # noqa: E402
from vla_flywheel.engine.rollout import EpisodeRecord  # noqa: E402
from vla_flywheel.envs import make_env  # noqa: E402
from vla_flywheel.eval.intervals import paired_bootstrap_interval  # noqa: E402
from vla_flywheel.eval.world_model_fidelity import THRESHOLD, Fidelity, evaluate_fidelity, fidelity_lines  # noqa: E402
from vla_flywheel.flywheel.judging import SuccessJudge  # noqa: E402
from vla_flywheel.models.judges import FlywheelJudge  # noqa: E402
from vla_flywheel.models.policy import FlywheelPolicy  # noqa: E402
from vla_flywheel.models.world_model import FlywheelWorldModel  # noqa: E402
from vla_flywheel.train.checkpoint import TRAIN_CONFIG_FILE  # noqa: E402
from vla_flywheel.train.loop import SUMMARY_FILE  # noqa: E402
from vla_flywheel.train.world_model_data import load_episodes  # noqa: E402
from vla_flywheel.train.world_model_grasps import describe_grasp_fit  # noqa: E402
from vla_flywheel.train.world_model_loop import WorldModelTrainConfig, train_world_model  # noqa: E402

HELDOUT_SEED = 50_000  # judges.py's weak20_rollouts_heldout


def imagination(model: FlywheelWorldModel, policy, judge, seeds: list[int]) -> dict:
    """Closed-loop imagination from the held-out seeds' real starts: wall time and the judge's verdicts."""
    env = make_env(EE)
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


MODELS = {"with failures": False, "successes only": True}  # name -> successes_only


def trained_world_model(args, name: str, datasets: tuple[Path, ...]) -> dict:
    """Train `name`'s world model under --out unless it finished there before (its summary is written last)."""
    out = args.out / name.replace(" ", "-")
    if not (out / SUMMARY_FILE).exists():
        train_world_model(WorldModelTrainConfig(datasets=datasets, out=out, steps=args.steps,
                                                batch_size=args.batch_size, rollout_steps=args.rollout_steps,
                                                successes_only=MODELS[name], seed=args.seed),
                           progress=True)  # fmt: skip
    summary = json.loads((out / SUMMARY_FILE).read_text())
    seed = json.loads((out / TRAIN_CONFIG_FILE).read_text())["seed"]
    if (summary["steps"], seed) != (args.steps, args.seed):
        raise SystemExit(f"world_model_fidelity: {out} was trained for {summary['steps']} steps with seed {seed}, "
                         f"not --steps {args.steps} --seed {args.seed}; pass those or another --out")  # fmt: skip
    return {"dir": out, "train_seconds": summary["seconds"], "train_episodes": summary["episodes"],
            "train_successes": summary["successes"], "parameters": summary["parameters"],
            "grasp_odds": summary.get("grasp_odds", {})}  # fmt: skip


def false_positives(fidelity: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per real failure: the share of its draws the judge believed (P > α) and its mean P(success) imagined."""
    failed = [s["p_imagined"] for s in fidelity["scores"] if not s["success"]]
    believed = np.array([np.mean(np.array(p) > fidelity["threshold"]) for p in failed])
    return believed, np.array([np.mean(p) for p in failed])


def compare_false_positives(report: dict) -> list[str]:
    """VLAW Table 1's question with its noise measured: on the same real failures, does the world model that saw
    failures imagine fewer of them as successes? Paired over episodes (same starts, actions and grasp seeds)."""
    (a_name, a), (b_name, b) = report.items()
    a_fp, a_p = false_positives(a["fidelity"])
    b_fp, b_p = false_positives(b["fidelity"])
    draws = a["fidelity"]["draws"]
    lines = [
        f"false positives on the {len(a_fp)} real failures x {draws} grasp draws (paired 95% bootstrap over episodes)",
        f"{'world model':<16} {'FP rate':>8} {'mean P(success)':>16} {'failures ever believed':>23}",
    ]
    for name, fp, p in ((a_name, a_fp, a_p), (b_name, b_fp, b_p)):
        lines.append(f"{name:<16} {fp.mean():>8.2%} {p.mean():>16.3f} {int((fp > 0).sum()):>23}")
    lo, hi = paired_bootstrap_interval(a_fp, b_fp)
    plo, phi = paired_bootstrap_interval(a_p, b_p)
    lines.append(f"{a_name} - {b_name}: FP rate {a_fp.mean() - b_fp.mean():+.2%} [{lo:+.2%}, {hi:+.2%}], "
                 f"mean P(success) {a_p.mean() - b_p.mean():+.3f} [{plo:+.3f}, {phi:+.3f}]")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=800, help="gradient steps per world model")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rollout-steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="the world models' training seed (and their grasp odds')")
    parser.add_argument("--heldout", type=int, default=200, help="held-out rollouts replayed (of 200)")
    parser.add_argument("--draws", type=int, default=1, help="grasp draws (imagined outcomes) per held-out episode")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=list(MODELS),
        help="which world models to train and measure (two jobs can split them; a rerun reuses both)",
    )
    parser.add_argument("--policy", type=Path, default=None, help="an ee_delta policy run: also imagine closed loop")
    parser.add_argument("--imagine", type=int, default=20, help="closed-loop imagined episodes per world model")
    parser.add_argument("--data-root", type=Path, default=Path("runs/judges"), help="bench/judges.py's --out")
    parser.add_argument(
        "--judge",
        type=Path,
        default=None,
        help="a trained success classifier to judge with (default: judges.py's, trained if missing)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/wm/bench"),
        help="world models and their measurements; finished ones are reused on a rerun",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    expert, _, rollouts, heldout = video_data(args.data_root)
    judge_dir = args.judge or success_classifier(args.data_root, threads=1)
    judge = FlywheelJudge.from_pretrained(judge_dir)
    episodes = load_episodes([heldout], "observation.images.front")[: args.heldout]
    seeds = [HELDOUT_SEED + i for i in range(min(args.imagine, len(episodes)))]
    real_success = float(np.mean([e.success for e in episodes[: len(seeds)]]))

    results, report = {}, {}
    for name in args.models:
        report[name] = trained_world_model(args, name, (expert, *rollouts))
        measured = report[name]["dir"] / f"fidelity-{judge_dir.name}-{len(episodes)}x{args.draws}.json"
        entry = json.loads(measured.read_text()) if measured.exists() else {}
        if not entry or (args.policy is not None and "imagination" not in entry):
            model = FlywheelWorldModel.from_pretrained(report[name]["dir"])
            if not entry:
                began = time.perf_counter()
                fidelity = evaluate_fidelity(model, episodes, judge, draws=args.draws)
                entry = {"replay_seconds": time.perf_counter() - began, "fidelity": fidelity.to_dict()}
            if args.policy is not None:
                entry["imagination"] = imagination(model, FlywheelPolicy.from_pretrained(args.policy), judge, seeds)
            write_json_atomic(measured, entry)
        report[name].update(entry)
        results[name] = Fidelity.from_dict(report[name]["fidelity"])

    print()
    print("\n".join(fidelity_lines(results)))
    if len(report) == 2:
        print()
        print("\n".join(compare_false_positives(report)))
    print()
    print(f"{'world model':<16} {'train data':>22} {'train s':>8} {'replay s':>9} {'imagine s/ep':>13} "
          f"{'believed success':>17}")  # fmt: skip
    for name, r in report.items():
        i = r.get("imagination")
        data = f"{r['train_episodes']} ep ({r['train_successes']} ok)"
        imagined = f"{'-':>13} {'-':>17}"
        if i:
            imagined = f"{i['seconds'] / i['episodes']:>13.2f} {i['believed_success']:>17.1%}"
        print(f"{name:<16} {data:>22} {r['train_seconds']:>8.1f} {r['replay_seconds']:>9.1f} {imagined}")
    for name, r in report.items():
        print(f"grasp odds of {name}: {describe_grasp_fit(r['grasp_odds'])}")
    if args.policy is not None:
        print(f"real success rate of the same {len(seeds)} seeds (policy in the simulator): {real_success:.1%}")
    params = next(iter(report.values()))["parameters"]
    print(f"model: {params:,} parameters; {args.steps} steps x batch {args.batch_size}, {args.rollout_steps} chunks "
          f"unrolled; {len(episodes)} held-out episodes of {EE.max_steps or 100} steps x {args.draws} draw(s); load "
          f"average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")  # fmt: skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    write_json_atomic(args.out / f"{stamp}-results.json", {n: {k: v for k, v in r.items() if k != "dir"}
                                                           for n, r in report.items()})  # fmt: skip
    print(f"wrote {args.out / f'{stamp}-results.json'}")


if __name__ == "__main__":
    main()
