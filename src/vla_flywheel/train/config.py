"""What `flywheel train` does, validated up front and saved as `train_config.json` in every checkpoint."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vla_flywheel.config_check import check_fields, check_positive_ints
from vla_flywheel.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def warmup_cosine(step: int, lr: float, warmup_steps: int, steps: int, min_lr_ratio: float) -> float:
    """lr at 1-based `step`: linear warmup, then cosine to lr * min_lr_ratio at `steps`."""
    if step <= warmup_steps:
        return lr * step / max(warmup_steps, 1)
    progress = (step - warmup_steps) / max(steps - warmup_steps, 1)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * cosine)


@dataclass
class TrainConfig:
    """Training settings. Defaults train a 100-demo tabletop policy on a 2-core CPU in a few minutes.

    datasets: LeRobot v3.0 dataset directories (same interface and cameras).
    out: run directory (metrics.jsonl, checkpoints/<step>/, checkpoints/last).
    steps / batch_size: gradient steps and samples per step.
    max_episodes: use only the first N episodes of each dataset (learning curves); None = all.
    lr / min_lr_ratio / warmup_steps: AdamW learning rate, linear warmup then cosine decay to lr * min_lr_ratio.
    weight_decay / betas / grad_clip: AdamW and global-norm clipping (0 = no clipping).
    ema_decay: exponential moving average of the weights (0 = off); the saved policy is the average.
    bf16: bfloat16 autocast (CPU or CUDA), ~1.4x faster for the transformer on AVX-512 CPUs.
    device: auto (CUDA when present), cpu or cuda. threads: torch CPU threads.
    seed: seeds weights, batches and flow-matching noise; same seed, same run.
    save_every / log_every: checkpoint and metrics intervals in steps (a checkpoint is always written at the end).
    policy: PolicyConfig field overrides (e.g. {"chunk_size": 8, "primitive_param": "bins"}).
    init_from: fine-tune: start from this trained policy (its weights, tokenizer and normalization) instead of
        fresh weights; `policy` overrides do not apply.
    """

    datasets: tuple[Path, ...]
    out: Path
    steps: int = 3000
    batch_size: int = 32
    max_episodes: int | None = None
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    bf16: bool = False
    device: str = "auto"
    threads: int = 2
    seed: int = 0
    save_every: int = 1000
    log_every: int = 25
    policy: dict = field(default_factory=dict)
    init_from: Path | None = None

    def __post_init__(self):
        self.datasets = tuple(Path(d) for d in self.datasets)
        self.init_from = None if self.init_from is None else Path(self.init_from)
        self.out = Path(self.out)
        self.betas = tuple(self.betas)
        if not self.datasets:
            raise ConfigError("train: no dataset given; pass --dataset DIR (repeatable)")
        check_positive_ints("train", self, ("steps", "batch_size", "threads", "save_every", "log_every"),
                                            optional=("max_episodes",))  # fmt: skip
        for name in ("lr", "weight_decay", "grad_clip", "min_lr_ratio"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"train: {name}={value} must be a finite number >= 0")
        if self.lr == 0:
            raise ConfigError("train: lr=0 would not train; pass a positive --lr")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"train: ema_decay={self.ema_decay} must be in [0, 1)")
        if self.warmup_steps < 0:
            raise ConfigError(f"train: warmup_steps={self.warmup_steps} must be >= 0")
        if self.device not in DEVICES:
            raise ConfigError(f"train: device={self.device!r} is not one of {', '.join(DEVICES)}")
        if self.seed < 0:
            raise ConfigError(f"train: seed={self.seed} must be >= 0")
        from vla_flywheel.models.policy.config import PolicyConfig  # training imports the model anyway

        check_fields(PolicyConfig, self.policy, "train: policy overrides")

    def learning_rate(self, step: int) -> float:
        """lr at 1-based `step`: linear warmup, then cosine to lr * min_lr_ratio at `steps`."""
        return warmup_cosine(step, self.lr, self.warmup_steps, self.steps, self.min_lr_ratio)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["datasets"] = [str(d) for d in self.datasets]
        data["out"] = str(self.out)
        data["init_from"] = None if self.init_from is None else str(self.init_from)
        return data

    @classmethod
    def from_dict(cls, data: dict, where: str = "train config") -> TrainConfig:
        """A saved train_config.json back as a config; unknown keys and wrong types name `where`."""
        check_fields(cls, data, where)
        return cls(**data)
