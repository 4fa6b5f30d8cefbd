"""RL specialists on one frozen base: sparse vs dense rewards, and each level of VLAC's graded expert help.

Every configuration trains a residual SAC specialist (`train.specialist`) on the same base with the same learner
settings and env-step budget, and differs only in its reward (`sparse` success, the simulator's `progress`, or a
trained `critic`) and its expert help (`none`, `demo-replay`, `return-explore`, `expert-guided`). The table gives
success of the specialist's mean action at each curve point (fixed evaluation seeds, 95% Wilson CIs), the episodes
it took to first reach `--target` (online RL episodes plus demonstrations; "not reached" otherwise), what the help
cost (demonstration episodes, restarts, expert-led env steps) and wall time. `scratch+expert-guided` is the RLPD
baseline PLD compares against: SAC without the base action, given the same data and help. Finished runs are reused,
so an interrupted study continues where it stopped; the table goes to docs/results/rl_help.md (the tabletop) or
docs/results/rl_help_<task>.md (a Meta-World task).

Run: .venv/bin/python bench/rl_help.py --base RUN [--critic JUDGE_RUN] [--env-steps 10000] [--target 0.6]
     .venv/bin/python bench/rl_help.py --base RUN --family mw/reach-v3 --max-steps 150 --env-steps 20000 \
         --eval-every 4000 --target 0.95 --configs sparse progress progress+demo-replay progress+return-explore \
         progress+expert-guided scratch+expert-guided
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import date
from pathlib import Path

import torch

from vla_flywheel.train.specialist import CURVE_FILE, SUMMARY_FILE, SpecialistConfig, train_specialist

# the learner settings every configuration shares (README "PLD and VLAC's RL loop": the settings that do not collapse).
# The tabletop's leave yaw and the gripper to the base and hold the residual close to it; on Meta-World, whose
# bases get close (README "On Meta-World reach"), the residual is held less and corrects all four dimensions.
LEARNERS = {
    "tabletop": {"xi": 0.5, "actor_privileged": True, "fixed_dims": (3, 4), "mc_floor": True, "actor_lr": 1e-4,
                 "log_std_max": -1.0, "conservative": 0.0, "residual_penalty": 1.0},
    "metaworld": {"xi": 0.5, "actor_privileged": True, "mc_floor": True, "conservative": 0.0, "residual_penalty": 0.1},
}  # fmt: skip
CONFIGS = {  # name -> (reward, expert help, from scratch)
    "sparse": ("sparse", "none", False),
    "progress": ("progress", "none", False),
    "critic": ("critic", "none", False),
    "sparse+demo-replay": ("sparse", "demo-replay", False),
    "progress+demo-replay": ("progress", "demo-replay", False),
    "progress+return-explore": ("progress", "return-explore", False),
    "progress+expert-guided": ("progress", "expert-guided", False),
    "scratch+expert-guided": ("progress", "expert-guided", True),
}
DEFAULT_CONFIGS = ["sparse", "progress", "critic", "progress+demo-replay", "progress+return-explore",
                   "progress+expert-guided"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the frozen ee_delta base policy")
    parser.add_argument("--family", default="pick_place", help="the task family (tabletop or mw/<task>)")
    parser.add_argument("--max-steps", type=int, default=None, help="episode horizon (default: the env's)")
    parser.add_argument("--critic", type=Path, default=None, help="a trained critic (train-judge run) for 'critic'")
    parser.add_argument("--demos", type=Path, default=None,
                        help="demo replay's demonstrations: a flywheel run's seed demos, replayed (default: new "
                        "episodes of the scripted expert)")  # fmt: skip
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, choices=list(CONFIGS))
    parser.add_argument("--env-steps", type=int, default=10_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--target", type=float, default=0.6, help="success the episodes-to-target column counts to")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/rl_help[_<task>]")
    parser.add_argument("--doc", type=Path, default=None, help="default: docs/results/rl_help[_<task>].md")
    args = parser.parse_args()
    metaworld = args.family.startswith("mw/")
    suffix = "_" + args.family.removeprefix("mw/").split("-v")[0].replace("-", "_") if metaworld else ""
    out_root = args.out or Path(f"runs/rl_help{suffix}")
    doc = args.doc or Path(f"docs/results/rl_help{suffix}.md")
    learner = LEARNERS["metaworld" if metaworld else "tabletop"]
    rows = []
    for name in args.configs:
        reward, assistance, from_scratch = CONFIGS[name]
        if reward == "critic" and args.critic is None:
            print(f"skip {name}: pass --critic")
            continue
        out = out_root / name
        if not (out / SUMMARY_FILE).exists():
            print(f"== {name}")
            critic = args.critic if reward == "critic" else None
            train_specialist(SpecialistConfig(base=args.base, out=out, family=args.family, max_steps=args.max_steps,
                                              env_steps=args.env_steps, reward=reward, critic=critic,
                                              expert_help=assistance, from_scratch=from_scratch, demos=args.demos,
                                              eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                                              **learner))  # fmt: skip
        rows.append((name, reward, assistance, out))
    table = markdown(rows, args.target, args.eval_every)
    print(table)
    doc.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    doc.write_text(f"# RL specialists on {args.family}: rewards and expert help ({date.today()}, {machine})\n\n"
                   f"Base: `{args.base}`. Learner: {learner}.\n\n{table}\n")  # fmt: skip
    print(f"wrote {doc}")


def episodes_to(curve: list[dict], target: float, demos: int) -> str:
    """Online RL episodes (plus demonstrations) at the first curve point whose success reaches `target`."""
    for point in curve:
        if point["success"]["rate"] >= target:
            return str(point["episodes"] + demos)
    return f"not reached ({curve[-1]['episodes'] + demos} used)"


def markdown(rows: list[tuple], target: float, every: int) -> str:
    """One row per configuration; curve point k (taken once k·`every` env steps were spent, an episode's end past it)
    goes in column k."""
    curves = {name: [json.loads(line) for line in (out / CURVE_FILE).read_text().splitlines()]
              for name, _, _, out in rows}  # fmt: skip
    steps = [k * every for k in range(max(len(c) for c in curves.values()))]
    head = "| config | reward | help | " + " | ".join(f"~{s / 1000:g}k steps" for s in steps)
    head += f" | episodes to {100 * target:.0f}% | demos / restarts / expert steps | minutes |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, reward, assistance, out in rows:
        summary = json.loads((out / SUMMARY_FILE).read_text())
        cells = [_rate(p["success"]) for p in curves[name]] + ["–"] * (len(steps) - len(curves[name]))
        demos, online = summary.get("demos", {}).get("episodes", 0), summary["online"]
        cost = f"{demos} / {online.get('restarts', 0)} / {online.get('expert_env_steps', 0)}"
        lines.append(
            f"| {name} | {reward} | {assistance} | "
            + " | ".join(cells)
            + f" | {episodes_to(curves[name], target, demos)} | {cost} | {summary['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


def _rate(s: dict) -> str:
    return f"{100 * s['rate']:.0f}% [{100 * s['ci95'][0]:.0f}, {100 * s['ci95'][1]:.0f}]"


if __name__ == "__main__":
    main()
