"""Judge quality study: train every judge from scratch and measure it against the simulator on held-out seeds.

Data (all collected here, resumable: finished parts are skipped on a rerun):
- expert ee_delta pick_place demos (the critic's training data: successes only) and held-out expert episodes (VOC);
- weak policies: primitive policies trained on 10 and 20 demos, run on the ee_delta interface (they point, the
  controller moves), so their successes and failures are full videos; labelled rollouts on training seeds, with
  noise-injected expert episodes and the expert demos, train the success classifier; the 20-demo policy's rollouts
  on held-out seeds measure the critic's and the classifier's AUROC;
- noise-injected primitive episodes over all families (near-miss goals) for the explainer and the verifier, measured
  on held-out seeds twice: in the held-out wordings and colour-target pairs, and in the training ones.

Judges: the critic (VLAC labels, 5% mismatched instructions) and its ablation without mismatched negatives, a
two-member critic ensemble that also learns from the noise-injected episodes' successes, the success classifier with
and without grounding (--relation --grounding 1), and the explainer + verifier (one unified model with two roles).
Results go to --out as judges.json and judges.md. About 80 minutes on 2 CPU cores.

Run: .venv/bin/python bench/judges.py [--out runs/judges] [--steps N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vla_flywheel.engine.collect import CollectConfig, collect
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.envs.tabletop.experts import ExpertNoise
from vla_flywheel.eval.judge_eval import JUDGE_EVAL_FILE, JudgeEvalConfig, evaluate_judge, summary_lines
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.judge_loop import JudgeTrainConfig, train_judge
from vla_flywheel.train.loop import SUMMARY_FILE, train

# every video runs the full 10 s (no cut at success) and ends with the gripper parked, whoever acted: how long an
# episode lasted or where the gripper stopped must not give its outcome away to a judge
EE = TabletopConfig(family="pick_place", terminate_on_success=False)
HELDOUT_SEED = 50_000
STEPS = {"critic": 3000, "critic_members": 2000, "success": 5000, "explainer_verifier": 4000}
GROUNDED = {"relation": True, "grounding": 1.0}  # train-judge --relation --grounding 1


def dataset(out: Path, name: str, **kwargs) -> Path:
    path = out / "data" / name
    if not (path / "meta" / "episodes").exists():
        collect(CollectConfig(out=path, **kwargs))
    return path


def weak_policy(out: Path, demos: int) -> Path:
    """A primitive pick_place policy trained on the first `demos` of 100 expert demos."""
    env = TabletopConfig(family="pick_place", interface="primitive")
    prim = dataset(out, "primitive_demos", env=env, episodes=100)
    run = out / f"weak_policy_{demos:03d}"
    if not (run / SUMMARY_FILE).exists():
        train(TrainConfig(datasets=(prim,), out=run, steps=1000, save_every=1000, max_episodes=demos))
    return run


def video_data(out: Path) -> tuple[Path, Path, list[Path], Path]:
    """ee_delta pick_place videos ending with the gripper parked -> (100 expert demos, 800 noise-injected expert
    episodes, the 10- and 20-demo weak policies' 300 rollouts each on training seeds, the 20-demo policy's 200
    rollouts on held-out seeds)."""
    expert = dataset(out, "expert", env=EE, episodes=100)
    noisy = dataset(out, "expert_noisy", env=EE, episodes=800, seed=2000, noise=ExpertNoise(early_release=0.25,
                    wrong_target=0.35))  # fmt: skip
    weak = {demos: weak_policy(out, demos) for demos in (10, 20)}
    rollouts = [dataset(out, f"weak{demos}_rollouts", env=EE, episodes=300, seed=1000 + 500 * i, policy=policy)
                for i, (demos, policy) in enumerate(weak.items())]  # fmt: skip
    rollouts_eval = dataset(out, "weak20_rollouts_heldout", env=EE, episodes=200, seed=HELDOUT_SEED, policy=weak[20])
    return expert, noisy, rollouts, rollouts_eval


def judge(out: Path, name: str, data: dict, steps: int, **kwargs) -> Path:
    run = out / name
    if not (run / SUMMARY_FILE).exists():
        train_judge(JudgeTrainConfig(data=data, out=run, steps=steps, **kwargs))
    return run


def success_classifier(out: Path, steps: int = STEPS["success"], name: str = "success", **kwargs) -> Path:
    """The VLAW success classifier on every labelled training video of `video_data`."""
    expert, noisy, rollouts, _ = video_data(out)
    return judge(out, name, {"success": (noisy, *rollouts, expert)}, steps, **kwargs)


def measure(run: Path, data: dict, name: str = "eval") -> dict:
    if not (run / name / JUDGE_EVAL_FILE).exists():
        evaluate_judge(JudgeEvalConfig(judge=run, data=data, out=run / name))
    results = json.loads((run / name / JUDGE_EVAL_FILE).read_text())
    results["train_seconds"] = json.loads((run / SUMMARY_FILE).read_text())["seconds"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/judges"))
    parser.add_argument("--steps", type=int, default=None, help="gradient steps for every judge (default: STEPS)")
    args = parser.parse_args()
    steps = {name: args.steps or n for name, n in STEPS.items()}
    out = args.out
    expert, noisy, _, rollouts_eval = video_data(out)
    expert_eval = dataset(out, "expert_heldout", env=EE, episodes=50, seed=HELDOUT_SEED + 10_000)
    near_miss = ExpertNoise(action_std=0.03, wrong_target=0.5)
    primitive = dataset(out, "primitive_noisy", env=TabletopConfig(family="all", interface="primitive"),
                        episodes=1500, seed=3000, noise=near_miss)  # fmt: skip
    primitive_eval = {  # held-out seeds, in the held-out wordings and colour-target pairs, or in the training ones
        split: dataset(out, f"primitive_noisy_{split}_split", episodes=400, seed=HELDOUT_SEED + 30_000, noise=near_miss,
                       env=TabletopConfig(family="all", interface="primitive", split=split))
        for split in ("heldout", "train")
    }  # fmt: skip
    video_eval = {"expert": (expert_eval,), "rollouts": (rollouts_eval,)}
    lacy = judge(out, "lacy", {"explainer": (primitive,), "verifier": (primitive,)}, steps["explainer_verifier"])
    results = {
        "critic": measure(judge(out, "critic", {"critic": (expert,)}, steps["critic"]), video_eval),
        "critic_without_mismatch": measure(
            judge(out, "critic_without_mismatch", {"critic": (expert,)}, steps["critic"], mismatch=0.0), video_eval
        ),
        "critic, 2 members, + noise-injected episodes": measure(
            judge(out, "critic_members", {"critic": (expert, noisy)}, steps["critic_members"], judge={"members": 2}),
            video_eval,
        ),
        "success": measure(success_classifier(out, steps["success"]), video_eval),
        "success, grounded": measure(
            success_classifier(out, steps["success"], "success_grounded", judge=GROUNDED), video_eval
        ),
        "explainer_verifier, held-out wording": measure(lacy, {"primitive": (primitive_eval["heldout"],)}),
        "explainer_verifier, training wording": measure(
            lacy, {"primitive": (primitive_eval["train"],)}, "eval_training_wording"
        ),
    }
    (out / "judges.json").write_text(json.dumps(results, indent=2))
    lines = []
    for name, r in results.items():
        lines.append(f"## {name} (trained in {r['train_seconds'] / 60:.1f} min)")
        lines += [f"    {line}" for line in summary_lines(r)]
    (out / "judges.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
