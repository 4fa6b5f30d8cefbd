"""Learning curves: success vs number of expert demos, per task family and action interface.

For each (family, interface): collect 100 expert demos once (seeds 0..99), train one policy per demo count on the
first N of them (nested subsets, same steps and seed), and evaluate each on the fixed held-out seed lists for the
training and held-out instruction splits (`--episodes` per number, 95% Wilson CIs). Everything lands in --out and
finished parts are skipped on a rerun, so an interrupted study continues where it stopped.

Run: .venv/bin/python bench/learning_curve.py [--families pick_place place_relative] [--interfaces primitive ee_delta]
     [--demos 10 20 50 100] [--episodes 200] [--workers 2] [--threads 2] [--out runs/learning_curve]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vla_flywheel.engine.collect import CollectConfig, collect
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.eval.evaluate import EVAL_INFO_FILE, EvalConfig, evaluate
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.loop import SUMMARY_FILE, train

STEPS = {"primitive": 1000, "ee_delta": 3000}


def run_point(out: Path, family: str, interface: str, demos: int, args) -> dict:
    data = out / "data" / f"{family}_{interface}"
    if not data.exists():
        collect(
            CollectConfig(out=data, env=TabletopConfig(family=family, interface=interface), episodes=max(args.demos))
        )
    run = out / "runs" / f"{family}_{interface}_{demos:03d}"
    if not (run / SUMMARY_FILE).exists():
        steps = args.steps or STEPS[interface]
        train(TrainConfig(datasets=(data,), out=run, steps=steps, max_episodes=demos, save_every=steps, log_every=50,
                          threads=args.threads))  # fmt: skip
    if not (run / "eval" / EVAL_INFO_FILE).exists():
        cfg = EvalConfig(policy=run, out=run / "eval", families=(family,), episodes=args.episodes, workers=args.workers,
                         videos=2)  # fmt: skip
        evaluate(cfg)
    summary = json.loads((run / SUMMARY_FILE).read_text())
    info = json.loads((run / "eval" / EVAL_INFO_FILE).read_text())
    groups = {g["split"]: g for g in info["groups"]}
    return {"family": family, "interface": interface, "demos": demos, "train_seconds": summary["seconds"],
            "steps": summary["steps"], "train": groups["train"], "heldout": groups["heldout"]}  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = ["| family | interface | demos | train split: success [95% CI] | held-out split: success [95% CI] | n each "
             "| train time |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        cells = []
        for split in ("train", "heldout"):
            g = r[split]
            cells.append(f"{100 * g['success_rate']:.1f}% [{100 * g['ci95'][0]:.1f}, {100 * g['ci95'][1]:.1f}]")
        lines.append(f"| {r['family']} | {r['interface']} | {r['demos']} | {cells[0]} | {cells[1]} | {r['train']['n']} "
                     f"| {r['train_seconds'] / 60:.1f} min ({r['steps']} steps) |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=["pick_place", "place_relative"])
    parser.add_argument("--interfaces", nargs="+", default=["primitive", "ee_delta"])
    parser.add_argument("--demos", nargs="+", type=int, default=[10, 20, 50, 100])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=None, help="override the per-interface step counts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training (1 when sharing the CPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/learning_curve"))
    args = parser.parse_args()
    rows = []
    for interface in args.interfaces:
        for family in args.families:
            for demos in args.demos:
                rows.append(run_point(args.out, family, interface, demos, args))
                (args.out / "learning_curve.json").write_text(json.dumps(rows, indent=1))
                (args.out / "learning_curve.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
