"""Feature declarations (info.json `features`) and how each dtype maps to a parquet column.

Column conventions follow LeRobot's `get_hf_features_from_features`: a feature of shape [1] is a
plain scalar column (`datasets.Value`), a feature of shape [n] is a fixed-size list of n values
(`datasets.Sequence(length=n)`), an image is a `datasets.Image` struct<bytes, path>. Readers also
accept variable-size lists, which some LeRobot tools write. Arrays handed to and returned by this
layer are always [T, *shape] (so a shape-[1] feature is [T, 1]), whatever the column layout.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pyarrow as pa

from vla_flywheel.constants import EPISODE_INDEX, FRAME_INDEX, INDEX, TASK, TASK_INDEX, TIMESTAMP
from vla_flywheel.data.images import IMAGE_STRUCT, images_from_arrow, images_to_arrow
from vla_flywheel.errors import DatasetError

DTYPES = ("float32", "int64", "bool", "string", "image")
_ARROW_SCALAR = {"float32": pa.float32(), "int64": pa.int64(), "bool": pa.bool_(), "string": pa.string()}
_NUMPY = {"float32": np.float32, "int64": np.int64, "bool": np.bool_}


def feature(dtype: str, shape: tuple[int, ...] | list[int], names: Any = None) -> dict[str, Any]:
    """One info.json feature entry; images default to LeRobot's names [height, width, channels]."""
    if dtype == "image" and names is None:
        names = ["height", "width", "channels"]
    return {"dtype": dtype, "shape": [int(s) for s in shape], "names": names}


def default_features() -> dict[str, dict[str, Any]]:
    """The five per-frame bookkeeping features LeRobot puts in every dataset (utils DEFAULT_FEATURES)."""
    return {
        TIMESTAMP: feature("float32", [1]),
        FRAME_INDEX: feature("int64", [1]),
        EPISODE_INDEX: feature("int64", [1]),
        INDEX: feature("int64", [1]),
        TASK_INDEX: feature("int64", [1]),
    }


def check_features(features: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate user features and return them followed by the default ones (LeRobot's order).

    Raises DatasetError naming the offending key, so a typo in a feature spec fails at `create`,
    not after an hour of collection.
    """
    defaults = default_features()
    out: dict[str, dict[str, Any]] = {}
    for key, ft in features.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise DatasetError(f"feature name {key!r} is invalid: use a non-empty string without '/'")
        if key == TASK:
            raise DatasetError(f"feature name '{TASK}' is reserved: pass the task string to add_episode")
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            raise DatasetError(f"feature '{key}' must be a dict with 'dtype' and 'shape' (see feature())")
        dtype, shape = ft["dtype"], list(ft["shape"])
        if dtype == "video":
            raise DatasetError(f"feature '{key}': dtype 'video' is not supported; store frames as 'image'")
        if dtype not in DTYPES:
            raise DatasetError(f"feature '{key}': unknown dtype {dtype!r} (supported: {', '.join(DTYPES)})")
        if not shape or any(not isinstance(s, int) or s <= 0 for s in shape):
            raise DatasetError(f"feature '{key}': shape {shape} must be a list of positive ints")
        if dtype == "image" and (len(shape) != 3 or shape[2] != 3):
            raise DatasetError(f"feature '{key}': image shape {shape} must be [height, width, 3]")
        if dtype == "string" and shape != [1]:
            raise DatasetError(f"feature '{key}': string features must have shape [1], got {shape}")
        if dtype in _NUMPY and len(shape) != 1:
            raise DatasetError(f"feature '{key}': {dtype} features must be 1-D ([n]), got {shape}")
        entry = copy.deepcopy(ft)
        entry["shape"] = shape
        entry.setdefault("names", None)
        if key in defaults:
            if (dtype, shape) != (defaults[key]["dtype"], defaults[key]["shape"]):
                raise DatasetError(f"feature '{key}' is a default feature and must be {defaults[key]}")
            continue
        out[key] = entry
    out.update(defaults)
    return out


def arrow_type(ft: dict[str, Any]) -> pa.DataType:
    """The parquet column type we write for a feature."""
    dtype, shape = ft["dtype"], list(ft["shape"])
    if dtype == "image":
        return IMAGE_STRUCT
    if shape == [1]:
        return _ARROW_SCALAR[dtype]
    return pa.list_(_ARROW_SCALAR[dtype], shape[0])


def _hf_feature(ft: dict[str, Any]) -> dict[str, Any]:
    dtype, shape = ft["dtype"], list(ft["shape"])
    if dtype == "image":
        return {"_type": "Image"}
    value = {"dtype": dtype, "_type": "Value"}
    if shape == [1]:
        return value
    return {"feature": value, "length": shape[0], "_type": "Sequence"}


def hf_schema_metadata(features: dict[str, dict[str, Any]]) -> dict[bytes, bytes]:
    """The `huggingface` schema metadata `datasets` writes, so it decodes our image columns as images."""
    hf = {key: _hf_feature(ft) for key, ft in features.items()}
    return {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}


def column_type_problem(ft: dict[str, Any], typ: pa.DataType) -> str | None:
    """Why a parquet column of type `typ` cannot hold feature `ft`, or None if it can."""
    dtype, shape = ft["dtype"], list(ft["shape"])
    if dtype == "image":
        ok = pa.types.is_struct(typ) and typ.get_field_index("bytes") >= 0
        return None if ok else f"has type {typ}, expected struct<bytes: binary, path: string>"
    want = pa.large_string() if dtype == "string" else _ARROW_SCALAR[dtype]
    scalar_ok = typ == _ARROW_SCALAR[dtype] or typ == want
    if shape == [1] and scalar_ok:
        return None
    is_list = pa.types.is_list(typ) or pa.types.is_fixed_size_list(typ) or pa.types.is_large_list(typ)
    if is_list and typ.value_type == _ARROW_SCALAR.get(dtype):
        if pa.types.is_fixed_size_list(typ) and typ.list_size != int(np.prod(shape)):
            return f"is a list of {typ.list_size} values, expected {shape}"
        return None
    return f"has type {typ}, expected {arrow_type(ft)}"


def to_arrow(ft: dict[str, Any], values: np.ndarray | list[str]) -> pa.Array:
    """[T, *shape] values (already validated) -> a parquet column of T rows."""
    dtype, shape = ft["dtype"], list(ft["shape"])
    if dtype == "image":
        return images_to_arrow(values)  # uint8 [T, H, W, 3]
    if dtype == "string":
        return pa.array(list(values), type=pa.string())
    arr = np.ascontiguousarray(values, dtype=_NUMPY[dtype]).reshape(len(values), *shape)  # [T, n]
    if shape == [1]:
        return pa.array(arr[:, 0], type=_ARROW_SCALAR[dtype])
    flat = pa.array(arr.reshape(-1), type=_ARROW_SCALAR[dtype])  # [T * n]
    return pa.FixedSizeListArray.from_arrays(flat, shape[0])


def from_arrow(ft: dict[str, Any], column: pa.Array | pa.ChunkedArray) -> np.ndarray | list[str]:
    """A parquet column of T rows -> [T, *shape] numpy array (images uint8 [T, H, W, 3]) or list[str]."""
    dtype, shape = ft["dtype"], list(ft["shape"])
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if dtype == "image":
        return images_from_arrow(column)
    if dtype == "string":
        return [str(s) for s in column.to_pylist()]
    n = len(column)
    if column.null_count:
        raise ValueError(f"holds {column.null_count} null values")
    typ = column.type
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        lengths = column.value_lengths().to_numpy(zero_copy_only=False)  # [T]
        if n and (lengths != int(np.prod(shape))).any():
            raise ValueError(f"list lengths {sorted(set(lengths.tolist()))} do not match shape {shape}")
        column = column.flatten()  # [T * n], honours slicing offsets
    arr = column.to_numpy(zero_copy_only=False).astype(_NUMPY[dtype], copy=False)
    return arr.reshape(n, *shape)
