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
from safetensors.torch import save_file

from vla_flywheel.config_check import read_json
from vla_flywheel.errors import ConfigError
from vla_flywheel.failpoints import failpoint
from vla_flywheel.models.loading import read_tensors

CHECKPOINTS_DIR = "checkpoints"
LAST = "last"
PRETRAINED_DIR = "pretrained_model"
STATE_DIR = "training_state"
TRAIN_CONFIG_FILE = "train_config.json"


def checkpoint_dir(run: Path, step: int) -> Path:
    return run / CHECKPOINTS_DIR / f"{step:06d}"


def last_checkpoint(run: Path) -> Path:
    """The checkpoint `last` points to; a clear error when the run has none.

    A checkpoint is renamed into place before `last` is pointed at it, so a crash between the two leaves the newest
    complete checkpoint unlinked: it is the last one then, and `last` is repaired to say so.
    """
    link = run / CHECKPOINTS_DIR / LAST
    if link.exists():
        return link.resolve()
    saved = sorted(p for p in (run / CHECKPOINTS_DIR).glob("[0-9]*") if p.name.isdigit())
    if not saved:
        raise ConfigError(f"{run} has no checkpoint to resume from ({link} is missing); train without --resume")
    _point_last(run, saved[-1])
    return saved[-1]


def has_checkpoint(run: Path) -> bool:
    """Whether `run` holds a complete checkpoint (a run killed before its first one holds only temporary files)."""
    try:
        last_checkpoint(run)
    except ConfigError:
        return False
    return True


def _point_last(run: Path, final: Path) -> None:
    link_tmp = run / CHECKPOINTS_DIR / f".{LAST}.tmp"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(final.name)
    os.replace(link_tmp, run / CHECKPOINTS_DIR / LAST)


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
    try:
        _write_checkpoint(tmp, step, policy, train_config, optimizer, rng, raw_weights)
    except BaseException:  # a full disk mid-save: no half-written checkpoint is left to be mistaken for one
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # re-saving a step (resume that repeats it): replace whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    failpoint("checkpoint.link")
    _point_last(run, final)
    return final


def _write_checkpoint(tmp: Path, step: int, policy, train_config: dict, optimizer, rng: dict, raw_weights) -> None:
    """Every file of one checkpoint into `tmp`, flushed to disk."""
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
    failpoint("checkpoint.save")


def load_training_state(checkpoint: Path) -> TrainingState:
    """The optimizer, RNG and step of a checkpoint, from safetensors and JSON only; damage is one clear line."""
    state = checkpoint / STATE_DIR
    fix = "point checkpoints/last at an earlier checkpoint, or train anew without --resume"
    step = read_json(state / "training_step.json", fix).get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"{state / 'training_step.json'}: step={step!r} must be a positive integer; {fix}")
    tensors = read_tensors(state / "optimizer_state.safetensors", fix)
    groups_path = state / "optimizer_param_groups.json"
    try:
        groups = json.loads(groups_path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{groups_path} cannot be read ({e}); {fix}") from None
    rng = read_tensors(state / "rng_state.safetensors", fix)
    raw = state / "train_model.safetensors"
    return TrainingState(
        step, _unflatten_optimizer(tensors, groups), rng, read_tensors(raw, fix) if raw.exists() else None
    )


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
