"""Checkpoints in LeRobot's layout, written atomically, holding everything an exact resume needs.

    <run>/checkpoints/<step:06d>/pretrained_model/   config.json, model.safetensors, normalization.safetensors,
                                                    tokenizer.json, train_config.json  (what `from_pretrained` loads)
    <run>/checkpoints/<step:06d>/training_state/     optimizer_state.safetensors, optimizer_param_groups.json,
                                                    rng_state.safetensors, scheduler_state.json, training_step.json,
                                                    train_model.safetensors (raw weights, only when EMA is on)
    <run>/checkpoints/last -> <step:06d>

A checkpoint is written into a hidden temporary directory and renamed into place, then `last` is swapped by an atomic
rename, so a crash mid-save leaves the previous checkpoint and pointer intact. With EMA on, pretrained_model holds
the averaged weights (what evaluation should use) and the raw weights go to training_state.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vla_flywheel.errors import ConfigError

CHECKPOINTS_DIR = "checkpoints"
LAST = "last"
PRETRAINED_DIR = "pretrained_model"
STATE_DIR = "training_state"
TRAIN_CONFIG_FILE = "train_config.json"


def checkpoint_dir(run: Path, step: int) -> Path:
    return run / CHECKPOINTS_DIR / f"{step:06d}"


def last_checkpoint(run: Path) -> Path:
    """The checkpoint `last` points to; a clear error when the run has none."""
    link = run / CHECKPOINTS_DIR / LAST
    if not link.exists():
        raise ConfigError(f"{run} has no checkpoint to resume from ({link} is missing); train without --resume")
    return link.resolve()


@dataclass
class TrainingState:
    step: int
    optimizer: dict
    rng: dict[str, torch.Tensor]
    train_weights: dict[str, torch.Tensor] | None  # raw weights when EMA is on


def save_checkpoint(run: Path, step: int, policy, train_config: dict, optimizer, rng: dict, raw_weights=None) -> Path:
    """Write checkpoints/<step> and point `last` at it. `policy` is what gets published (EMA weights if on)."""
    final = checkpoint_dir(run, step)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pretrained, state = tmp / PRETRAINED_DIR, tmp / STATE_DIR
    policy.save_pretrained(pretrained)
    (pretrained / TRAIN_CONFIG_FILE).write_text(json.dumps(train_config, indent=2))
    state.mkdir(parents=True)
    tensors, groups = _flatten_optimizer(optimizer.state_dict())
    save_file(tensors, state / "optimizer_state.safetensors")
    (state / "optimizer_param_groups.json").write_text(json.dumps(groups, indent=1))
    save_file({k: v.contiguous() for k, v in rng.items()}, state / "rng_state.safetensors")
    schedule = {"type": "warmup_cosine", "lr": train_config["lr"], "warmup_steps": train_config["warmup_steps"]}
    (state / "scheduler_state.json").write_text(json.dumps({**schedule, "step": step}))
    (state / "training_step.json").write_text(json.dumps({"step": step, "batch_size": train_config["batch_size"]}))
    if raw_weights is not None:
        save_file({k: v.detach().cpu().contiguous() for k, v in raw_weights.items()}, state / "train_model.safetensors")
    _fsync_tree(tmp)
    if final.exists():  # re-saving a step (resume that repeats it): replace whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    link_tmp = run / CHECKPOINTS_DIR / f".{LAST}.tmp"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(final.name)
    os.replace(link_tmp, run / CHECKPOINTS_DIR / LAST)
    return final


def load_training_state(checkpoint: Path) -> TrainingState:
    state = checkpoint / STATE_DIR
    try:
        step = json.loads((state / "training_step.json").read_text())["step"]
        tensors = load_file(state / "optimizer_state.safetensors")
        groups = json.loads((state / "optimizer_param_groups.json").read_text())
        rng = load_file(state / "rng_state.safetensors")
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(
            f"checkpoint {checkpoint} is incomplete or corrupted ({e}); resume from an earlier one"
        ) from e
    raw = state / "train_model.safetensors"
    return TrainingState(step, _unflatten_optimizer(tensors, groups), rng, load_file(raw) if raw.exists() else None)


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """torch optimizer state -> ({"<param>.<name>": tensor}, param_groups) for safetensors + JSON."""
    tensors = {
        f"{index}.{name}": (value if torch.is_tensor(value) else torch.tensor(value)).detach().cpu().contiguous()
        for index, entries in state_dict["state"].items()
        for name, value in entries.items()
    }
    return tensors, state_dict["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for group in groups:
        group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
