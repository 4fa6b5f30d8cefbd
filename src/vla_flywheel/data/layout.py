"""Where things live in a LeRobotDataset v3.0 directory, and how files get there safely.

The path templates and defaults are LeRobot's (`lerobot/datasets/utils.py`: DEFAULT_DATA_PATH,
DEFAULT_EPISODES_PATH, DEFAULT_TASKS_PATH, DEFAULT_CHUNK_SIZE), so a LeRobot user finds every file
where their reader looks. Every write goes through a temporary file in the same directory followed by
`os.replace`, which is atomic on POSIX: a reader sees the old file or the new one, never half of one.
Temporary names start with a dot and do not end in `.parquet`, so LeRobot's `data/*/*.parquet` glob
never picks one up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
FLYWHEEL_SCHEMA_VERSION = 1
"""Version of our own additions to info.json (extra keys, provenance features); bump on change."""

DEFAULT_CHUNKS_SIZE = 1000  # files per chunk directory, as in LeRobot
DEFAULT_DATA_FILES_SIZE_IN_MB = 16  # smaller than LeRobot's 100: we rewrite the open file per episode
DEFAULT_VIDEO_FILES_SIZE_IN_MB = 200

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"

TMP_MARKER = ".tmp-"


def data_file(chunk_index: int, file_index: int) -> str:
    """Relative path of a data parquet file."""
    return DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)


def episodes_file(chunk_index: int, file_index: int) -> str:
    """Relative path of an episodes-metadata parquet file."""
    return EPISODES_PATH.format(chunk_index=chunk_index, file_index=file_index)


def next_file(chunk_index: int, file_index: int, chunks_size: int) -> tuple[int, int]:
    """The (chunk, file) after this one: a chunk directory holds `chunks_size` files, as in LeRobot."""
    if file_index + 1 >= chunks_size:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1


def parquet_files(root: Path, subdir: str) -> list[Path]:
    """Committed-looking parquet files under `root/subdir/chunk-*/`, in (chunk, file) order.

    Zero-padded names sort in index order, which is also the order LeRobot concatenates them in.
    """
    return sorted((root / subdir).glob("chunk-*/file-*.parquet"))


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}")


def _commit(tmp: Path, path: Path) -> None:
    """Flush `tmp` to disk and move it over `path` in one atomic step."""
    try:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # a full disk can surface only here, when the data is flushed
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_tmp(tmp: Path, write) -> None:
    """Run `write(tmp)`; if it fails (a full disk mid-file), the partial temporary is removed, not left behind."""
    try:
        write(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON (indent 4, UTF-8, like LeRobot's write_json) so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    _write_tmp(tmp, lambda t: t.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8"))
    _commit(tmp, path)


def write_parquet_atomic(path: Path, table: pa.Table) -> None:
    """Write a parquet file (snappy, as LeRobot writes) so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    _write_tmp(tmp, lambda t: pq.write_table(table, t, compression="snappy"))
    _commit(tmp, path)


def remove_tmp_files(root: Path) -> None:
    """Delete temporaries a crashed writer left behind; they are never part of the dataset."""
    for p in root.rglob(f".*{TMP_MARKER}*"):
        if p.is_file():
            p.unlink(missing_ok=True)


def dataset_size_bytes(root: str | Path) -> int:
    """Total size in bytes of all files under `root` (for summaries; includes metadata)."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
