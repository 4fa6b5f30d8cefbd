"""`flywheel compare RUN...`: recipes side by side, success per round with CI, budgets and wall time.

One row per run (`compare_rows`), printed as aligned text (`compare_lines`) or as a markdown table for
`docs/results/` (`compare_markdown`).
"""

from __future__ import annotations

from pathlib import Path

from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import CONFIG_FILE, RunConfig
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import read_rounds

HEADER = ("run", "recipe", "judge", "demos", "env eps", "grad steps",
          "success % per round [95% CI] (round 0 = base)", "gain pts", "judge precision %", "min")  # fmt: skip


def compare_rows(runs: list[Path]) -> list[tuple[str, ...]]:
    rows = []
    for path in runs:
        run = RunLayout(Path(path))
        if not (run.root / CONFIG_FILE).exists():
            raise ConfigError(f"compare: {path} is not a flywheel run (no {CONFIG_FILE}); pass run directories")
        config = RunConfig.load(run.root).to_dict()  # checked: a hand-edited config.json is one clear line
        rounds = read_rounds(run.rounds)
        if not rounds:
            raise ConfigError(f"compare: {path} has no finished round yet; run or --resume it first")
        cells = []
        for r in rounds:
            s = r["success"]["overall"]
            cells.append(f"{100 * s['rate']:.1f} [{100 * s['ci95'][0]:.0f},{100 * s['ci95'][1]:.0f}]")
        last = rounds[-1]
        spent = last["budgets"]["spent"]
        seconds = sum(sum(r["seconds"].values()) for r in rounds)
        precision = [r["judge_quality"].get("precision") for r in rounds[1:] if r.get("judge_quality")]
        gain = 100 * (last["success"]["overall"]["rate"] - rounds[0]["success"]["overall"]["rate"])
        recipe = config["recipe"] + (" + relabel" if config.get("relabel") else "")
        rows.append((run.root.name, recipe, config["judge"], str(spent["seed_demos"]),
                     str(spent["env_episodes"]), str(spent["gradient_steps"]), " | ".join(cells), f"{gain:+.1f}",
                     " ".join("–" if p is None else f"{100 * p:.0f}" for p in precision) or "–",
                     f"{seconds / 60:.1f}"))  # fmt: skip
    return rows


def compare_lines(runs: list[Path]) -> list[str]:
    rows = compare_rows(runs)
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*HEADER), fmt.format(*("-" * w for w in widths)), *(fmt.format(*row) for row in rows)]


def compare_markdown(runs: list[Path]) -> list[str]:
    """The same rows as a markdown table (round cells separated by "→": "|" would split the column)."""
    rows = [(*row[:6], row[6].replace(" | ", " → "), *row[7:]) for row in compare_rows(runs)]
    return ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER), *("| " + " | ".join(r) + " |" for r in rows)]
