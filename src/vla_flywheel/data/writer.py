"""Appending episodes to a LeRobotDataset v3.0 directory, one atomic episode at a time.

An episode is written in this order, each file via temp file + `os.replace`:
  1. the current data parquet, rewritten with the episode's rows appended (or a new file on rotation);
  2. meta/tasks.parquet, if the task is new (an unused trailing task is harmless);
  3. the current episodes parquet with the episode's row appended — the commit point;
  4. meta/info.json and meta/stats.json (derived; `open` rebuilds them if a crash skipped this).
A crash before step 3 leaves extra rows at the tail of the last data file that no episode claims;
readers ignore them and `DatasetWriter.open` truncates them. The current data file and episodes file
are kept in memory, so each episode costs one rewrite of files capped at `data_files_size_in_mb`.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa

from vla_flywheel.constants import EPISODE_INDEX, FRAME_INDEX, INDEX, TASK_INDEX, TIMESTAMP
from vla_flywheel.data import layout, meta, stats
from vla_flywheel.data.features import arrow_type, check_features, hf_schema_metadata, to_arrow
from vla_flywheel.data.recovery import recover
from vla_flywheel.data.validate import validate_episode
from vla_flywheel.errors import DatasetError
from vla_flywheel.failpoints import failpoint

_MB = 1024 * 1024


class DatasetWriter:
    """Writes episodes into a dataset; use `create` or `open`, ideally as a context manager."""

    def __init__(self, root: Path, info: dict[str, Any], tasks: list[str], episodes: list[dict[str, Any]]):
        """Internal: use `DatasetWriter.create` or `DatasetWriter.open`."""
        self.root = root
        self.info = info
        self.features: dict[str, dict[str, Any]] = info["features"]
        self.fps = int(info["fps"])
        self._limit = float(info.get("data_files_size_in_mb", layout.DEFAULT_DATA_FILES_SIZE_IN_MB)) * _MB
        self._chunks_size = int(info.get("chunks_size", layout.DEFAULT_CHUNKS_SIZE))
        self._schema = pa.schema(
            [pa.field(k, arrow_type(ft)) for k, ft in self.features.items()],
            metadata=hf_schema_metadata(self.features),
        )
        self._tasks = list(tasks)
        self._ep_stats = [stats.unflatten(row) for row in episodes]
        # dataset stats kept up to date one episode at a time: merging by counts is what aggregating all would give,
        # without re-reading every episode's stats at every write (which made long collections quadratic)
        self._stats = stats.aggregate(self._ep_stats) if self._ep_stats else {}
        self._num_frames = episodes[-1]["dataset_to_index"] if episodes else 0
        self._data_pos = (0, 0)
        self._data_table: pa.Table | None = None
        self._meta_pos = (0, 0)
        self._meta_rows: list[dict[str, Any]] = []
        if episodes:
            last = episodes[-1]
            self._data_pos = (last["data/chunk_index"], last["data/file_index"])
            table = meta.read_parquet(root, layout.data_file(*self._data_pos))
            self._data_table = self._conform(table, layout.data_file(*self._data_pos))
            self._meta_pos = (last["meta/episodes/chunk_index"], last["meta/episodes/file_index"])
            self._meta_rows = [
                {k: v for k, v in row.items() if k != "_meta_file"}
                for row in episodes
                if (row["meta/episodes/chunk_index"], row["meta/episodes/file_index"]) == self._meta_pos
            ]
        self._broken = False
        self._closed = False

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        root: str | Path,
        fps: int,
        features: dict[str, Any],
        robot_type: str | None = None,
        data_files_size_in_mb: float = layout.DEFAULT_DATA_FILES_SIZE_IN_MB,
    ) -> DatasetWriter:
        """Start a new, empty dataset at `root` (which must not already hold one)."""
        root = Path(root)
        if (root / layout.INFO_PATH).exists():
            raise DatasetError(
                f"dataset {root}: already holds a dataset; append with DatasetWriter.open, or choose a new directory"
            )
        for sub in ("meta", "data"):
            if (root / sub).exists():
                raise DatasetError(f"dataset {root}: '{sub}/' already exists; choose an empty directory")
        if not isinstance(fps, int) or isinstance(fps, bool) or fps <= 0:
            raise DatasetError(f"dataset {root}: fps must be a positive int, got {fps!r}")
        if not data_files_size_in_mb > 0:
            raise DatasetError(f"dataset {root}: data_files_size_in_mb must be > 0, got {data_files_size_in_mb}")
        info = {
            "codebase_version": layout.CODEBASE_VERSION,
            "robot_type": robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": layout.DEFAULT_CHUNKS_SIZE,
            "data_files_size_in_mb": data_files_size_in_mb,
            "video_files_size_in_mb": layout.DEFAULT_VIDEO_FILES_SIZE_IN_MB,
            "fps": fps,
            "splits": {"train": "0:0"},
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH,
            "features": check_features(features),
            "flywheel_schema_version": layout.FLYWHEEL_SCHEMA_VERSION,
        }
        with _disk_errors(root, "creating meta/info.json", 0):
            layout.write_json_atomic(root / layout.INFO_PATH, info)
        return cls(root, info, [], [])

    @classmethod
    def open(cls, root: str | Path) -> DatasetWriter:
        """Re-open a dataset to append episodes, first discarding anything a crash left uncommitted."""
        root = Path(root)
        info, tasks, episodes = recover(root)
        writer = cls(root, info, tasks, episodes)
        if not writer._derived_current():
            writer._write_derived()
        return writer

    def _derived_current(self) -> bool:
        """Whether info.json and stats.json already describe the committed episodes, so opening writes nothing.

        Rewriting them anyway would change stats.json's last digits (aggregating all episodes at once rounds
        differently from adding them one by one) and would fail on a full disk before anything new is written.
        """
        try:
            on_disk = json.loads((self.root / layout.INFO_PATH).read_text(encoding="utf-8"))
            counts = {
                int(s["count"][0])
                for s in json.loads((self.root / layout.STATS_PATH).read_text(encoding="utf-8")).values()
            } if self.num_episodes else {0}  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return False
        n = self.num_episodes
        totals = {"total_episodes": n, "total_frames": self._num_frames, "total_tasks": len(self._tasks),
                  "splits": {"train": f"0:{n}"}}  # fmt: skip
        return all(on_disk.get(k) == v for k, v in totals.items()) and counts == {self._num_frames}

    def _conform(self, table: pa.Table, rel: str) -> pa.Table:
        """An existing data file's table in our exact schema, so new episodes can be appended to it."""
        extra = [c for c in table.column_names if c not in self.features]
        if extra:
            raise DatasetError(f"dataset {self.root}: cannot append: {rel} has undeclared column '{extra[0]}'")
        try:
            return table.select(list(self.features)).cast(self._schema)
        except (pa.ArrowException, KeyError) as e:
            raise DatasetError(f"dataset {self.root}: cannot append to {rel}: {e}") from None

    # ---- properties ---------------------------------------------------------------------------

    @property
    def num_episodes(self) -> int:
        """Committed episodes."""
        return len(self._ep_stats)

    @property
    def num_frames(self) -> int:
        """Committed frames."""
        return self._num_frames

    @property
    def tasks(self) -> list[str]:
        """Task strings by task_index."""
        return list(self._tasks)

    # ---- writing ------------------------------------------------------------------------------

    def add_episode(self, frames: dict[str, np.ndarray | list[str]], task: str) -> int:
        """Validate and append one episode atomically; return its episode index.

        `frames` maps every non-default feature key to [T, *shape] values (images uint8 [T, H, W, 3],
        strings a list of T str). Default features (timestamp, indices) are filled here.
        """
        if self._closed or self._broken:
            state = "closed" if self._closed else "in an unknown state after a failed write"
            raise DatasetError(f"dataset {self.root}: writer is {state}; reopen with DatasetWriter.open")
        length, columns = validate_episode(self.features, frames, task, f"dataset {self.root}: add_episode")
        ep_index, start = self.num_episodes, self._num_frames
        new_task = task not in self._tasks
        tasks = [*self._tasks, task] if new_task else self._tasks
        self._fill_defaults(columns, length, ep_index, start, tasks.index(task))
        arrays = [to_arrow(ft, columns[k]) for k, ft in self.features.items()]
        ep_table = pa.Table.from_arrays(arrays, schema=self._schema)
        ep_stats = stats.episode_stats(self.features, columns)

        data_pos, data_table = self._data_pos, self._data_table
        # Rotate before a file would pass the cap; an episode never spans two files (as in LeRobot).
        data_bytes = self._file_bytes(layout.data_file(*data_pos))
        if data_table is not None and data_bytes + ep_table.nbytes > self._limit:
            data_pos, data_table = layout.next_file(*data_pos, self._chunks_size), None
        data_table = ep_table if data_table is None else pa.concat_tables([data_table, ep_table])

        row: dict[str, Any] = {
            "episode_index": ep_index,
            "tasks": [task],
            "length": length,
            "data/chunk_index": data_pos[0],
            "data/file_index": data_pos[1],
            "dataset_from_index": start,
            "dataset_to_index": start + length,
        }
        meta_pos, meta_rows = self._meta_pos, self._meta_rows
        row_bytes = pa.Table.from_pylist([{**row, **stats.flatten(ep_stats)}]).nbytes
        if meta_rows and self._file_bytes(layout.episodes_file(*meta_pos)) + row_bytes > self._limit:
            meta_pos, meta_rows = layout.next_file(*meta_pos, self._chunks_size), []
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = meta_pos
        row.update(stats.flatten(ep_stats))

        self._broken = True  # until every file below is in place
        with _disk_errors(self.root, f"writing episode {ep_index}", ep_index):
            layout.write_parquet_atomic(self.root / layout.data_file(*data_pos), data_table)
            failpoint("dataset.write")
            if new_task:
                layout.write_parquet_atomic(self.root / layout.TASKS_PATH, meta.tasks_table(tasks))
            layout.write_parquet_atomic(
                self.root / layout.episodes_file(*meta_pos), pa.Table.from_pylist([*meta_rows, row])
            )
        # Committed: mirror it in memory, then refresh the derived files.
        self._tasks, self._num_frames = tasks, start + length
        self._data_pos, self._data_table = data_pos, data_table
        self._meta_pos, self._meta_rows = meta_pos, [*meta_rows, row]
        self._ep_stats.append(ep_stats)
        self._stats = stats.aggregate([self._stats, ep_stats] if self._stats else [ep_stats])
        self._write_derived()
        self._broken = False
        return ep_index

    def _fill_defaults(self, columns: dict[str, Any], length: int, ep_index: int, start: int, task_index: int) -> None:
        """Add LeRobot's five bookkeeping columns, each [T, 1]; timestamp = frame_index / fps."""
        t = np.arange(length, dtype=np.int64)  # [T]
        columns[TIMESTAMP] = (t / self.fps).astype(np.float32).reshape(length, 1)
        columns[FRAME_INDEX] = t.reshape(length, 1)
        columns[EPISODE_INDEX] = np.full((length, 1), ep_index, dtype=np.int64)
        columns[INDEX] = (start + t).reshape(length, 1)
        columns[TASK_INDEX] = np.full((length, 1), task_index, dtype=np.int64)

    def _file_bytes(self, rel: str) -> int:
        path = self.root / rel
        return path.stat().st_size if path.exists() else 0

    def _write_derived(self) -> None:
        """Rewrite info.json totals and stats.json from the committed episodes."""
        n = self.num_episodes
        self.info.update(
            total_episodes=n,
            total_frames=self._num_frames,
            total_tasks=len(self._tasks),
            splits={"train": f"0:{n}"},
        )
        with _disk_errors(self.root, "updating meta/info.json and meta/stats.json", n):
            layout.write_json_atomic(self.root / layout.INFO_PATH, self.info)
            if n:
                layout.write_json_atomic(self.root / layout.STATS_PATH, stats.to_json(self._stats))

    def close(self) -> None:
        """Finalize info.json and stats.json; idempotent. A writer left broken by a failed write skips
        this: the files on disk already describe exactly the committed episodes. Nor is anything rewritten
        when they already do (a command that fails before adding an episode leaves the dataset byte-identical)."""
        if not self._closed and not self._broken and not self._derived_current():
            self._write_derived()
        self._closed = True
        self._data_table = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def _disk_errors(root: Path, what: str, committed: int):
    """An OSError while writing (a full disk, lost permissions) becomes one line that says what is still safe.

    Every file is replaced atomically, so whatever failed left the previous version in place: the committed
    episodes are intact and a later `DatasetWriter.open` (or `flywheel collect --append`) continues after them.
    """
    try:
        yield
    except OSError as e:
        reason = e.strerror or str(e)
        raise DatasetError(
            f"dataset {root}: {what} failed ({reason}); the {committed} episodes committed before are intact — "
            "free disk space (or fix permissions), then append with `flywheel collect --append`"
        ) from None
