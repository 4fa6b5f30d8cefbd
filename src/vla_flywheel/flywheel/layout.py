"""Where a flywheel run keeps things (DESIGN.md §3 "Runs"), and the seeds each kind of episode starts from.

Seed ranges never overlap: seed demos count up from 0, round r's episode i starts from
ROLLOUT_SEED_BASE + r * ROUND_SEED_STRIDE + i, and evaluation uses the fixed lists from EVAL_SEED_BASE (1e6) up,
so no round ever trains on a scene it is evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROLLOUT_SEED_BASE = 100_000
ROUND_SEED_STRIDE = 20_000
ROUNDS_FILE = "rounds.jsonl"
STAGES_FILE = "stages.jsonl"
REPORT_FILE = "report.html"


def rollout_seed(round_index: int, i: int) -> int:
    return ROLLOUT_SEED_BASE + round_index * ROUND_SEED_STRIDE + i


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def demos(self) -> Path:
        return self.root / "data" / "demos"

    def round_data(self, r: int) -> Path:
        return self.root / "data" / f"round-{r:03d}"

    def proposals(self, r: int) -> Path:
        return self.root / "data" / f"round-{r:03d}.proposals.json"

    def policy(self, r: int) -> Path:
        return self.root / "checkpoints" / "policy" / f"round-{r:03d}"

    @property
    def specialists(self) -> Path:
        return self.root / "checkpoints" / "specialists"

    def specialist(self, r: int, family: str) -> Path:
        """PLD's residual specialist for `family`, trained on round r-1's policy in round r (a slash-free name)."""
        return self.specialists / f"round-{r:03d}" / family.replace("/", "_")

    def judge(self, r: int) -> Path:
        return self.root / "checkpoints" / "judge" / f"round-{r:03d}"

    def eval(self, r: int) -> Path:
        return self.root / "eval" / f"round-{r:03d}"

    @property
    def rounds(self) -> Path:
        return self.root / ROUNDS_FILE

    @property
    def stages(self) -> Path:
        return self.root / STAGES_FILE

    @property
    def report(self) -> Path:
        return self.root / REPORT_FILE
