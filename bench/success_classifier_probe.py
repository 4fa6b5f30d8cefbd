"""Why the VLAW success classifier fails on `ee_delta` pick_place: can it see the outcome, and has it enough successes?

Re-simulates expert demos and a base policy's rollouts, keeping per episode the recorded frames, the frame after the
last action (which a LeRobot dataset does not hold) and a "let go and lift" frame: after the episode the gripper opens
for 3 steps and rises for 5, so a block put on its pad is no longer hidden under the hand. It then trains the success
classifier (`FlywheelJudge`, the `success` role, `SuccessExamples` as `train-judge` makes them) on each view and prints
its AUROC on held-out rollouts of the same policy every 250 steps, so memorising shows as the training loss falls
while the held-out AUROC does not rise.

    python bench/success_classifier_probe.py --policy runs/vlaw_study/filtered-bc/checkpoints/policy/round-000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vla_flywheel.engine.policy_agent import policy_agent
from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.envs.tabletop.describe import explanation_corpus
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.eval.judge_metrics import auroc
from vla_flywheel.flywheel.stages import pretrained
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig
from vla_flywheel.models.policy import FlywheelPolicy
from vla_flywheel.models.tokenizer import WordTokenizer
from vla_flywheel.train.config import warmup_cosine
from vla_flywheel.train.judge_data import Episode, SuccessExamples, subsample
from vla_flywheel.train.optimizer_step import checked_step

IMAGE = "observation.images.front"
OPEN, LIFT = np.array([0, 0, 0, 0, -1], np.float32), np.array([0, 0, 1, 0, -1], np.float32)
VIEWS = {  # name -> (what is appended to the recorded frames, frames the classifier sees)
    "recorded, 8 frames": (None, 8),
    "+ frame after the last action, last only": ("final", 1),
    "+ let go and lift, last only": ("lifted", 1),
    "+ let go and lift, 8 frames": ("lifted", 8),
}


def episodes(agent_of, env, seeds: range, desc: str) -> list[dict]:
    """Each episode's recorded frames [T, S, S, 3], its final and lifted frames, instruction and outcome."""
    out = []
    for seed in tqdm(seeds, desc=desc, unit="ep"):
        record = rollout(env, agent_of(env), seed)
        for action in [OPEN] * 3 + [LIFT] * 5:
            obs, *_ = env.step(action)
        out.append({"frames": np.asarray(record.frames[IMAGE]), "final": record.final_images[IMAGE],
                    "lifted": obs[IMAGE], "task": record.task, "success": record.success})  # fmt: skip
    return out


def as_examples(raw: list[dict], extra: str | None) -> list[Episode]:
    out = []
    for e in raw:
        images = e["frames"] if extra is None else np.concatenate([e["frames"], e[extra][None]])
        t = len(images)
        row_success = [False] * (t - 1) + [e["success"]]
        out.append(Episode(torch.from_numpy(images), e["task"], e["success"], torch.zeros(t, 5), row_success, [""] * t))
    return out


def clip_of(images: torch.Tensor, frames: int) -> torch.Tensor:
    """[T, S, S, 3] -> [F, S, S, 3] as the classifier reads it (one frame: the last)."""
    return images[-1:] if frames == 1 else images[subsample(len(images), frames, None)]


def train_and_score(train: list[Episode], heldout: list[Episode], frames: int, steps: int, seed: int) -> list[tuple]:
    """-> (step, training loss, held-out AUROC, mean P on held-out successes, on failures) every 250 steps."""
    torch.manual_seed(seed)
    config = JudgeConfig(roles=("success",), frames=frames)
    tasks = {e.task for e in train + heldout}
    judge = FlywheelJudge(config, WordTokenizer.from_corpus([*corpus(), *explanation_corpus(), *tasks],
                                                            config.max_text_length)).train()  # fmt: skip
    # one frame means the last: sample two (the last is always among them) and keep it
    examples, rng = SuccessExamples(train, max(frames, 2)), np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(judge.parameters(), lr=1e-3, weight_decay=1e-4, foreach=False)
    labels = np.array([e.success for e in heldout])
    rows = []
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, 1e-3, 100, steps, 0.05)
        batch = examples.sample(rng, 12)
        if frames == 1:
            batch["frames"] = batch["frames"][:, -1:]
        loss, _ = judge({**batch, "role": "success"})
        loss_value, _ = checked_step(judge, optimizer, loss, 1.0, f"probe step {step}", "lower the learning rate")
        if step % 250 == 0:
            with torch.no_grad():
                judge.eval()
                p = np.array([float(torch.sigmoid(judge.success_logit(clip_of(e.images, frames)[None], [e.task]))[0])
                              for e in heldout])  # fmt: skip
                judge.train()
            rows.append((step, loss_value, auroc(p, labels), p[labels].mean(), p[~labels].mean()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", type=Path, required=True, help="the base policy's training run")
    parser.add_argument("--demos", type=int, default=30)
    parser.add_argument("--extra-demos", type=int, default=300, help="a second training set with this many more")
    parser.add_argument("--rollouts", type=int, default=120, help="labelled training rollouts (seeds 10000 up)")
    parser.add_argument("--heldout", type=int, default=150, help="held-out rollouts (seeds 20000 up)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = TabletopConfig(family="pick_place", interface="ee_delta")
    env = make_env(cfg)
    policy = policy_agent(FlywheelPolicy.from_pretrained(pretrained(args.policy)), cfg.interface)
    began = time.perf_counter()
    demos = episodes(make_expert, env, range(args.demos), "expert demos")
    more = episodes(make_expert, env, range(100, 100 + args.extra_demos), "extra demos") if args.extra_demos else []
    labelled = episodes(lambda _: policy, env, range(10000, 10000 + args.rollouts), "labelled rollouts")
    heldout = episodes(lambda _: policy, env, range(20000, 20000 + args.heldout), "held-out rollouts")
    env.close()
    print(f"simulated in {time.perf_counter() - began:.0f} s; successes: labelled "
          f"{sum(e['success'] for e in labelled)}/{len(labelled)}, held-out {sum(e['success'] for e in heldout)}/"
          f"{len(heldout)}")  # fmt: skip
    sets = {f"{args.demos} demos": demos, f"{args.demos + len(more)} demos": demos + more} if more else {
        f"{args.demos} demos": demos}  # fmt: skip
    print("| training set | view | final loss | held-out AUROC (every 250 steps) | P success / failure (last) |")
    print("|---|---|---|---|---|")
    for set_name, seed_demos in sets.items():
        for view, (extra, frames) in VIEWS.items():
            rows = train_and_score(as_examples(seed_demos + labelled, extra), as_examples(heldout, extra), frames,
                                   args.steps, args.seed)  # fmt: skip
            curve = " ".join(f"{r[2]:.2f}" for r in rows)
            print(f"| {set_name} + {len(labelled)} rollouts | {view} | {rows[-1][1]:.3f} | {curve} | "
                  f"{rows[-1][3]:.3f} / {rows[-1][4]:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
