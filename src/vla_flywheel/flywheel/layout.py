"""Where a flywheel run keeps things (DESIGN.md §3 "Runs"), and the seeds each kind of episode starts from.

Seed ranges never overlap: seed demos count up from 0, round r's episode i starts from
ROLLOUT_SEED_BASE + r * ROUND_SEED_STRIDE + i, and evaluation uses the fixed lists from EVAL_SEED_BASE (1e6) up,
so no round ever trains on a scene it is evaluated on. VLAW's imagined episodes start from real initial frames of
their own (IMAGINED_SEED_BASE, 3e6 up: never a real rollout's or an evaluation's scene), and the real episodes its
world-model fidelity check compares them with from FIDELITY_SEED_BASE (2e6 up).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROLLOUT_SEED_BASE = 100_000
ROUND_SEED_STRIDE = 20_000
ROUNDS_FILE = "rounds.jsonl"
STAGES_FILE = "stages.jsonl"
REPORT_FILE = "report.html"
FIDELITY_SEED_BASE = 2_000_000
IMAGINED_SEED_BASE = 3_000_000
IMAGINED_ROUND_STRIDE = 100_000  # so also the most imagined episodes a round may have


def rollout_seed(round_index: int, i: int) -> int:
    return ROLLOUT_SEED_BASE + round_index * ROUND_SEED_STRIDE + i


def imagined_seed(round_index: int, i: int) -> int:
    """The env.reset seed of the real initial frame VLAW's imagined episode i of round r starts from."""
    return IMAGINED_SEED_BASE + round_index * IMAGINED_ROUND_STRIDE + i


def fidelity_seed(round_index: int, i: int) -> int:
    """The seed of the real episode i that round r's world-model fidelity check replays and imagines from."""
    return FIDELITY_SEED_BASE + round_index * ROUND_SEED_STRIDE + i


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def demos(self) -> Path:
        return self.root / "data" / "demos"

    def round_data(self, r: int) -> Path:
        return self.root / "data" / f"round-{r:03d}"

    def imagined_data(self, r: int) -> Path:
        """VLAW's imagined episodes of round r (all of them, each with the success classifier's verdict)."""
        return self.root / "data" / f"round-{r:03d}-imagined"

    def labelled_data(self, r: int) -> Path:
        """Round r's real rollouts with their success labels and no verdicts: what VLAW's classifier trains on."""
        return self.root / "data" / f"round-{r:03d}-labelled"

    def world_model(self, r: int) -> Path:
        """VLAW's world model post-trained in round r (a train-world-model run)."""
        return self.root / "checkpoints" / "world_model" / f"round-{r:03d}"

    def world_model_eval(self, r: int) -> Path:
        """Round r's world-model fidelity: fidelity.json and the imagined-vs-real strips."""
        return self.root / "eval" / "world_model" / f"round-{r:03d}"

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
