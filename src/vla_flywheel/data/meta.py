"""Loading and checking the `meta/` files of a dataset, shared by the reader and `DatasetWriter.open`.

The episodes parquet is the source of truth: an episode exists once its row is there (that write is
the writer's commit point). info.json, tasks.parquet and stats.json are derived from it and may lag one
episode behind after a crash; rows in data files past the last committed episode are ignored. Every
other inconsistency raises DatasetError naming the file and the problem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vla_flywheel.data import layout
from vla_flywheel.data.features import DTYPES, column_type_problem, default_features
from vla_flywheel.errors import DatasetError

DAMAGED = "restore the dataset from a copy or collect it again"
EPISODE_COLUMNS = (
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
)


def fail(root: Path, problem: str) -> DatasetError:
    """A DatasetError whose message starts with the dataset directory."""
    return DatasetError(f"dataset {root}: {problem}")


def read_parquet(root: Path, rel: str, columns: list[str] | None = None) -> pa.Table:
    """Read a whole parquet file, turning any failure into a DatasetError that names it."""
    path = root / rel
    if not path.exists():
        raise fail(root, f"{rel} missing")
    if not path.is_file():
        raise fail(root, f"{rel} is not a file; {DAMAGED}")
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as e:
        raise fail(root, f"{rel} is not a readable parquet file (truncated or corrupted): {e}; {DAMAGED}") from None


def load_info(root: Path) -> dict[str, Any]:
    """Parse and check meta/info.json."""
    path = root / layout.INFO_PATH
    hint = "is this a LeRobot v3.0 dataset directory? (create one with `flywheel collect`)"
    if not root.exists():
        raise fail(root, f"directory does not exist — {hint}")
    if not root.is_dir():
        raise fail(root, f"is a file, not a dataset directory — {hint}")
    if not os.access(root, os.R_OK | os.X_OK):
        raise fail(root, "cannot be read (permission denied); fix its permissions, e.g. chmod -R u+rX on it")
    if not path.exists():
        raise fail(root, f"{layout.INFO_PATH} missing — {hint}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise fail(root, f"{layout.INFO_PATH} cannot be read ({e.strerror}); it must be a readable file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(root, f"{layout.INFO_PATH} is not valid JSON ({e}); the file is corrupted") from None
    if not isinstance(info, dict):
        raise fail(root, f"{layout.INFO_PATH} must hold a JSON object, got {type(info).__name__}")
    version = info.get("codebase_version")
    if version != layout.CODEBASE_VERSION:
        problem = f"codebase_version {version!r} is not supported (need {layout.CODEBASE_VERSION!r})"
        if str(version).startswith("v2"):
            problem += "; convert it with LeRobot's convert_dataset_v21_to_v30"
        raise fail(root, problem)
    for key in ("fps", "features", "data_path"):
        if key not in info:
            raise fail(root, f"{layout.INFO_PATH} lacks the required key '{key}'")
    features = info["features"]
    if not isinstance(features, dict):
        raise fail(root, f"{layout.INFO_PATH}: 'features' must be an object")
    for key, ft in features.items():
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            raise fail(root, f"{layout.INFO_PATH}: feature '{key}' lacks 'dtype' or 'shape'")
        if ft["dtype"] == "video":
            raise fail(root, f"feature '{key}' is stored as video; only image-in-parquet datasets are supported")
        if ft["dtype"] not in DTYPES:
            raise fail(root, f"{layout.INFO_PATH}: feature '{key}' has unsupported dtype {ft['dtype']!r}")
        ft["shape"] = [int(s) for s in ft["shape"]]
    for key in default_features():
        if key not in features:
            raise fail(root, f"{layout.INFO_PATH}: default feature '{key}' is not declared")
    return info


def load_tasks(root: Path) -> list[str]:
    """meta/tasks.parquet -> task strings ordered by task_index (which must be 0..n-1)."""
    table = read_parquet(root, layout.TASKS_PATH)
    for col in ("task_index", "task"):
        if col not in table.column_names:
            raise fail(root, f"{layout.TASKS_PATH} lacks the column '{col}'")
    pairs = sorted(zip(table["task_index"].to_pylist(), table["task"].to_pylist(), strict=True))
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise fail(root, f"{layout.TASKS_PATH}: task_index values must be 0..{len(pairs) - 1}")
    return [str(t) for _, t in pairs]


def load_episodes(root: Path, tasks: list[str] | None) -> list[dict[str, Any]]:
    """All episode rows (stats columns included), checked for contiguous indices and known tasks."""
    files = layout.parquet_files(root, layout.EPISODES_DIR)
    rows: list[dict[str, Any]] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        table = read_parquet(root, rel)
        for col in EPISODE_COLUMNS:
            if col not in table.column_names:
                raise fail(root, f"{rel} lacks the column '{col}'")
        for row in table.to_pylist():
            row["_meta_file"] = rel
            rows.append(row)
    known = set(tasks or [])
    prev_to, prev_file = 0, (-1, -1)
    for i, row in enumerate(rows):
        where = f"{row['_meta_file']} (episode row {i})"
        if row["episode_index"] != i:
            raise fail(root, f"{where}: episode_index is {row['episode_index']}, expected {i}")
        start, stop, length = row["dataset_from_index"], row["dataset_to_index"], row["length"]
        if start != prev_to or stop - start != length or length <= 0:
            raise fail(
                root,
                f"{where}: frame range [{start}, {stop}) with length {length} does not follow the "
                f"previous episode's end {prev_to}",
            )
        file_key = (row["data/chunk_index"], row["data/file_index"])
        if file_key < prev_file:
            raise fail(root, f"{where}: data file {file_key} comes before the previous episode's {prev_file}")
        if not row["tasks"]:
            raise fail(root, f"{where}: 'tasks' is empty")
        missing = [t for t in row["tasks"] if t not in known]
        if missing:
            raise fail(root, f"{where}: task {missing[0]!r} is not in {layout.TASKS_PATH}")
        prev_to, prev_file = stop, file_key
    return rows


def data_file_ranges(info: dict[str, Any], episodes: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Each referenced data file -> (global index of its first row, committed row count)."""
    out: dict[str, tuple[int, int]] = {}
    for ep in episodes:
        rel = info["data_path"].format(chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"])
        first, count = out.get(rel, (ep["dataset_from_index"], 0))
        out[rel] = (first, count + ep["length"])
    return out


def check_data_file(root: Path, rel: str, features: dict[str, Any], committed: int) -> int:
    """Check a data file's footer and schema without reading its rows; return its row count."""
    path = root / rel
    if not path.exists():
        raise fail(root, f"{rel} missing (referenced by meta/episodes)")
    if not path.is_file():
        raise fail(root, f"{rel} is not a file; {DAMAGED}")
    try:
        meta = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise fail(root, f"{rel} is not a readable parquet file (truncated or corrupted): {e}; {DAMAGED}") from None
    for key, ft in features.items():
        if key not in schema.names:
            raise fail(root, f"feature '{key}' declared in {layout.INFO_PATH} is missing from {rel}")
        problem = column_type_problem(ft, schema.field(key).type)
        if problem:
            raise fail(root, f"column '{key}' in {rel} {problem}")
    if meta.num_rows < committed:
        raise fail(root, f"{rel} holds {meta.num_rows} rows but meta/episodes commits {committed} rows to it")
    return meta.num_rows


def tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet content: columns task_index, task, plus the pandas metadata LeRobot relies on.

    LeRobot writes a DataFrame indexed by task string (`pd.DataFrame({"task_index": ...},
    index=pd.Index(tasks, name="task"))`) and reads it back with `pd.read_parquet`; the `pandas`
    schema metadata below tells pandas to restore the `task` column as that index.
    """
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    schema = pa.schema(
        [pa.field("task_index", pa.int64()), pa.field("task", pa.string())],
        metadata={b"pandas": json.dumps(pandas_meta).encode()},
    )
    return pa.Table.from_arrays(
        [pa.array(range(len(tasks)), type=pa.int64()), pa.array(tasks, type=pa.string())], schema=schema
    )
