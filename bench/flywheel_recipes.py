"""The recipes side by side at equal budget, from one shared weak base: the flywheel's headline table.

The first recipe's run trains the base (seed demos, base policy, base evaluation); every other run starts from a
copy of it (`--base-from`), then spends the same autonomous env episodes and gradient steps. Prints the
`flywheel compare` table: success per round with 95% CIs, the gain over the base, and each judge's precision
against the simulator's truth per round. Finished runs are reused (`--resume`), so an interrupted study continues.

Run: .venv/bin/python bench/flywheel_recipes.py [--recipes filtered-bc self-train lacy] [--interface primitive]
     [--seed-demos 10] [--rounds 3] [--episodes-per-round 1000] [--judge-model RUN] [--out runs/flywheel_recipes]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vla_flywheel.flywheel.compare import compare_lines
from vla_flywheel.flywheel.config import CONFIG_FILE, RECIPES, RunConfig
from vla_flywheel.flywheel.engine import run_flywheel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", nargs="+", default=["filtered-bc", "self-train", "lacy"], choices=list(RECIPES))
    p.add_argument("--interface", default="primitive", choices=["primitive", "ee_delta"])
    p.add_argument("--families", nargs="+", default=["pick_place"])
    p.add_argument("--seed-demos", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--episodes-per-round", type=int, default=1000)
    p.add_argument("--base-steps", type=int, default=1000)
    p.add_argument("--round-steps", type=int, default=600)
    p.add_argument("--judge-model", type=Path, default=None, help="a trained judge for the learned-judge recipes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("runs/flywheel_recipes"))
    args = p.parse_args()
    runs = []
    for recipe in args.recipes:
        out = args.out / recipe
        runs.append(out)
        if (out / CONFIG_FILE).exists():
            run_flywheel(resume=out)
            continue
        learned = recipe in ("lacy", "vlac")
        run_flywheel(RunConfig(
            out=out, recipe=recipe, interface=args.interface, families=tuple(args.families),
            seed_demos=args.seed_demos, rounds=args.rounds, episodes_per_round=args.episodes_per_round,
            base_steps=args.base_steps, round_steps=args.round_steps, threads=args.threads,
            judge_model=args.judge_model if learned else None, base_from=runs[0] if len(runs) > 1 else None,
        ))  # fmt: skip
    print("\n".join(compare_lines(runs)))


if __name__ == "__main__":
    main()
