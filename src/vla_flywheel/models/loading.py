"""Loading saved models without trusting the files: JSON and safetensors only, checked before anything uses them.

A checkpoint directory is whatever a user points a command at, so every file in it may be missing, truncated,
of another model type or from another configuration. Nothing here unpickles (safetensors holds raw tensors and a
JSON header; configs are JSON), and every tensor's name, shape, dtype and finiteness is compared with the model the
config builds before `load_state_dict` runs, so a bad file is one `ConfigError` naming the file and the tensor
instead of a torch traceback or, worse, a model that loads and acts on garbage.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vla_flywheel.config_check import read_json
from vla_flywheel.errors import ConfigError

MAX_LISTED = 3  # names listed in a message before "..."


def read_model_config(path: Path, expected_type: str, what: str, fix: str) -> dict:
    """A model's config.json, refused unless its `type` is `expected_type` (a judge is not a policy)."""
    data = read_json(path, fix)
    kind = data.get("type")
    if kind != expected_type:
        holds = f"a {kind} model" if isinstance(kind, str) else "no model type"
        raise ConfigError(f"{path} holds {holds}, not a {what} ({expected_type}); {fix}")
    return data


def read_tensors(path: Path, fix: str) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file; a missing, truncated or garbage file is one line naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} is missing or not a file; {fix}")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        reason = " ".join(str(e).split())
        raise ConfigError(
            f"{path} is not a readable safetensors file ({reason}): truncated or corrupted; {fix}"
        ) from None


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def check_tensors(path: Path, tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], fix: str) -> None:
    """Every expected tensor present with the same shape and dtype, nothing extra, and no NaN/inf.

    Non-finite weights are refused too: a model holding them only ever outputs NaN (a diverged run saved late).
    """
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise ConfigError(f"{path} lacks tensor(s) {_listed(missing)} that the config's model needs; {fix}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise ConfigError(f"{path} holds tensor(s) {_listed(extra)} that the config's model does not have; {fix}")
    for name, want in expected.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(want.shape):
            raise ConfigError(
                f"{path}: tensor {name!r} has shape {list(got.shape)} but the config's model expects "
                f"{list(want.shape)}; {fix}"
            )
        if got.dtype != want.dtype:
            raise ConfigError(
                f"{path}: tensor {name!r} has dtype {got.dtype} but the model expects {want.dtype}; {fix}"
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise ConfigError(
                f"{path}: tensor {name!r} holds NaN or inf (a diverged run?); use an earlier checkpoint or retrain"
            )


def load_weights(module: torch.nn.Module, path: Path, fix: str) -> None:
    """Load `path` into `module` after checking it against the module's own state dict."""
    tensors = read_tensors(path, fix)
    check_tensors(path, tensors, module.state_dict(), fix)
    module.load_state_dict(tensors)


def save_model(directory: Path, config: dict, module: torch.nn.Module, weights_file: str = "model.safetensors") -> Path:
    """A model's `config.json` and its weights as safetensors (the two files every loader above checks); -> the
    directory. Models with more files (normalization, tokenizer) write those next to these."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, directory / weights_file)
    return directory
