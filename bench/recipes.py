"""The recipes head to head at equal budget, from one shared base, written as a markdown table under docs/results/.

A suite fixes the tasks, interface and budget; the first recipe's run trains the base (seed demos, base policy, base
evaluation) and every other recipe starts from a copy of it (`--base-from`), then spends the same autonomous env
episodes and gradient steps. The table has success per round with 95% CIs, the gain over the base, each judge's
precision against the simulator's truth per round, and wall time; a second table gives per-task success, base vs
last round. Finished runs are reused (`--resume`), so an interrupted study continues where it stopped.

Suites:
  tabletop    pick_place on the primitive interface: filtered-bc (oracle), self-train (keep-all), lacy (verifier)
  tabletop20  the same from 20 demos; filtered-bc and lacy also with hindsight relabelling (`<recipe>+relabel`)
  mt10        Meta-World MT10 on ee_delta, 10 expert demos per task: filtered-bc, self-train, vlac (critic)
  reach5      Meta-World reach on ee_delta from 5 expert demos (a base near 50%): the same three recipes

Run: .venv/bin/python bench/recipes.py --suite mt10 [--recipes ...] [--judge-model RUN] [--out runs/recipes]
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import date
from pathlib import Path

import torch

from vla_flywheel.envs.metaworld.language import MT10
from vla_flywheel.flywheel.compare import compare_lines, compare_markdown
from vla_flywheel.flywheel.config import CONFIG_FILE, RECIPES, RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import read_rounds

SUITES: dict[str, dict] = {
    "tabletop": {
        "recipes": ["filtered-bc", "self-train", "lacy"],
        "run": {"interface": "primitive", "families": ("pick_place",), "seed_demos": 10, "rounds": 3,
                "episodes_per_round": 1000, "base_steps": 1000, "round_steps": 600, "eval_episodes": 200},
    },
    "tabletop20": {
        "recipes": ["filtered-bc", "filtered-bc+relabel", "self-train", "lacy", "lacy+relabel"],
        "run": {"interface": "primitive", "families": ("pick_place",), "seed_demos": 20, "rounds": 3,
                "episodes_per_round": 1000, "base_steps": 1000, "round_steps": 600, "eval_episodes": 200},
    },
    "mt10": {
        "recipes": ["filtered-bc", "self-train", "vlac"],
        "run": {"interface": "ee_delta", "families": tuple(f"mw/{task}" for task in MT10), "seed_demos": 10,
                "rounds": 2, "episodes_per_round": 200, "base_steps": 2000, "round_steps": 500,
                "eval_episodes": 20, "max_steps": 150},
    },
    "reach5": {
        "recipes": ["filtered-bc", "self-train", "vlac"],
        "run": {"interface": "ee_delta", "families": ("mw/reach-v3",), "seed_demos": 5, "rounds": 3,
                "episodes_per_round": 100, "base_steps": 1000, "round_steps": 500, "eval_episodes": 200,
                "max_steps": 150},
    },
}  # fmt: skip
LEARNED = ("lacy", "vlac")


def run_suite(suite: str, recipes: list[str], out: Path, judge_model: Path | None, threads: int) -> list[Path]:
    runs: list[Path] = []
    for name in recipes:
        path = out / name
        recipe, _, variant = name.partition("+")
        if (path / CONFIG_FILE).exists():
            run_flywheel(resume=path)
        else:
            run_flywheel(RunConfig(
                out=path, recipe=recipe, threads=threads, eval_workers=1, base_from=runs[0] if runs else None,
                judge_model=judge_model if recipe in LEARNED else None, relabel=variant == "relabel",
                **SUITES[suite]["run"],
            ))  # fmt: skip
        runs.append(path)
    return runs


def per_task_markdown(runs: list[Path]) -> list[str]:
    """Per (family/split) success: the base and each run's last round, n per cell as in the main table."""
    finals = {path.name: read_rounds(RunLayout(path).rounds)[-1]["success"] for path in runs}
    base = read_rounds(RunLayout(runs[0]).rounds)[0]["success"]
    groups = [g for g in base if g != "overall"]
    lines = ["| task | n | base % | " + " | ".join(f"{name} %" for name in finals) + " |",
             "|---|---|---|" + "---|" * len(finals)]  # fmt: skip
    for g in groups:
        cells = [f"{100 * finals[name][g]['rate']:.0f}" for name in finals]
        lines.append(f"| {g} | {base[g]['n']} | {100 * base[g]['rate']:.0f} | " + " | ".join(cells) + " |")
    return lines


def write_markdown(suite: str, runs: list[Path], path: Path, command: str, note: str | None) -> None:
    settings = ", ".join(f"{k}={v if not isinstance(v, tuple) else len(v)}" for k, v in SUITES[suite]["run"].items())
    text = [
        f"# Recipes head to head: {suite}",
        "",
        f"Measured {date.today()} on {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, Python {platform.python_version()}. Every run starts from the first run's base "
        f"policy and spends the same budget ({settings}). Success is on the fixed evaluation seeds, with 95% Wilson "
        "intervals; judge precision is against the simulator's success per round; minutes are the runs' own stage "
        "times (the base counted once per run, as it was copied).",
        "",
        *compare_markdown(runs),
        "",
        "## Per task: base and last round",
        "",
        *per_task_markdown(runs),
        "",
        f"Reproduce: `{command}`",
        "",
        *([note, ""] if note else []),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", choices=list(SUITES), default="tabletop")
    p.add_argument("--recipes", nargs="+", default=None, choices=[*RECIPES, *(f"{r}+relabel" for r in RECIPES)],
                   help="default: the suite's; <recipe>+relabel adds hindsight relabelling")  # fmt: skip
    p.add_argument("--judge-model", type=Path, default=None, help="a trained judge for lacy / vlac (default: trained "
                   "on the seed demos)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch threads for training")
    p.add_argument("--out", type=Path, default=Path("runs/recipes"), help="runs go to OUT/<suite>/<recipe>")
    p.add_argument("--table", type=Path, default=None, help="default: docs/results/recipes_<suite>.md")
    p.add_argument("--note", default=None, help="a paragraph for the table's file: where the judge came from, how "
                   "busy the machine was")  # fmt: skip
    args = p.parse_args()
    runs = run_suite(args.suite, args.recipes or SUITES[args.suite]["recipes"], args.out / args.suite,
                     args.judge_model, args.threads)  # fmt: skip
    print("\n".join(compare_lines(runs)))
    table = args.table or Path(__file__).resolve().parent.parent / "docs" / "results" / f"recipes_{args.suite}.md"
    command = f"python bench/recipes.py --suite {args.suite} --out {args.out}" + (
        f" --judge-model {args.judge_model}" if args.judge_model else ""
    )
    write_markdown(args.suite, runs, table, command, args.note)
    print(f"wrote {table}")


if __name__ == "__main__":
    main()
