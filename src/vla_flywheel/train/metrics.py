"""Training metrics as JSON lines (always) and TensorBoard scalars (when `tensorboard` is installed)."""

from __future__ import annotations

import json
from pathlib import Path

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    def __init__(self, run: Path, resume_step: int = 0):
        """Open run/metrics.jsonl; on resume, drop lines past the checkpoint (steps that will be redone)."""
        self.path = run / METRICS_FILE
        if resume_step and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif not resume_step:
            self.path.write_text("")
        self._file = open(self.path, "a")  # noqa: SIM115  closed in close()
        self._tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(run / "tensorboard"), purge_step=resume_step + 1 or None)
        except ImportError:
            pass

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, float | int):
                    self._tensorboard.add_scalar(key, value, record["step"])

    def close(self) -> None:
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
