"""Checks on an episode handed to `DatasetWriter.add_episode`, before anything touches the disk.

Each problem raises DatasetError with one line naming the key and what is wrong, because a bad
array caught here costs one episode, while one written to disk poisons every later training run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla_flywheel.data.features import default_features
from vla_flywheel.errors import DatasetError

# Numeric kinds (numpy dtype.kind) each dtype accepts; values are cast losslessly-enough afterwards.
_KINDS = {"float32": "f", "int64": "iu", "bool": "b"}


def _check_array(key: str, ft: dict[str, Any], value: Any, where: str) -> np.ndarray:
    """Return `value` as a [T, *shape] array of the feature's dtype, or raise DatasetError."""
    dtype, shape = ft["dtype"], tuple(ft["shape"])
    if not isinstance(value, np.ndarray):
        raise DatasetError(f"{where}: feature '{key}' must be a numpy array, got {type(value).__name__}")
    if value.ndim == 0:
        raise DatasetError(f"{where}: feature '{key}' must have a leading time dimension, got a scalar")
    t = value.shape[0]
    want = f"(T, {', '.join(map(str, shape))})"
    if dtype == "image":
        if value.shape[1:] != shape:
            raise DatasetError(f"{where}: feature '{key}' has shape {value.shape}, expected {want}")
        if value.dtype != np.uint8:
            raise DatasetError(f"{where}: feature '{key}' has dtype {value.dtype}, expected uint8 images")
        return value
    if value.shape[1:] != shape and not (shape == (1,) and value.ndim == 1):
        raise DatasetError(f"{where}: feature '{key}' has shape {value.shape}, expected {want}")
    if value.dtype.kind not in _KINDS[dtype]:
        raise DatasetError(f"{where}: feature '{key}' has dtype {value.dtype}, expected {dtype}")
    if dtype == "float32":
        bad = ~np.isfinite(value.reshape(t, -1)).all(axis=1)  # [T]
        if bad.any():
            raise DatasetError(
                f"{where}: feature '{key}' holds non-finite values (NaN or inf) at frame {int(np.argmax(bad))}"
            )
    return value.reshape(t, *shape).astype(np.dtype(dtype), copy=False)


def _check_strings(key: str, value: Any, where: str) -> list[str]:
    if isinstance(value, np.ndarray) and value.dtype.kind in "UO":
        value = value.tolist()
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise DatasetError(f"{where}: feature '{key}' must be a list of str (one per frame)")
    return list(value)


def validate_episode(
    features: dict[str, dict[str, Any]], frames: dict[str, Any], task: Any, where: str
) -> tuple[int, dict[str, Any]]:
    """Check `frames` against the declared features; return (T, columns as [T, *shape] values).

    `where` prefixes every message (e.g. "dataset /x: add_episode") so the user knows which call failed.
    """
    if not isinstance(task, str) or not task.strip():
        raise DatasetError(f"{where}: task must be a non-empty string, got {task!r}")
    if not isinstance(frames, dict):
        raise DatasetError(f"{where}: frames must be a dict of feature key -> array")
    defaults = default_features()
    expected = [k for k in features if k not in defaults]
    for key in frames:
        if key in defaults:
            raise DatasetError(f"{where}: key '{key}' is filled by the writer; remove it from frames")
        if key not in features:
            raise DatasetError(
                f"{where}: unknown key '{key}' is not a declared feature (declared: {', '.join(expected)})"
            )
    for key in expected:
        if key not in frames:
            raise DatasetError(f"{where}: feature '{key}' is missing from frames")
    columns: dict[str, Any] = {}
    length: int | None = None
    first = ""
    for key in expected:
        ft = features[key]
        if ft["dtype"] == "string":
            col: Any = _check_strings(key, frames[key], where)
        else:
            col = _check_array(key, ft, frames[key], where)
        if length is None:
            length, first = len(col), key
        elif len(col) != length:
            raise DatasetError(f"{where}: feature '{key}' has {len(col)} frames but '{first}' has {length}")
        columns[key] = col
    if not length:
        raise DatasetError(f"{where}: an episode needs at least one frame (got 0)")
    return length, columns
