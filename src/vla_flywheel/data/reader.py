"""Reading LeRobotDataset v3.0 directories (image-in-parquet) into numpy, with no LeRobot dependency.

Opening validates the metadata and every referenced data file's footer and schema (no rows are
read), so a truncated or mismatched file is reported when the dataset is opened, naming the file.
Episodes are read from the data file tables, of which the last two are cached, so iterating over
all episodes reads each file once.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vla_flywheel.constants import EPISODE_INDEX, INDEX, TASK, TASK_INDEX
from vla_flywheel.data import layout, meta, stats
from vla_flywheel.data.features import from_arrow

Episode = dict[str, np.ndarray | list[str]]
_CACHED_FILES = 2


class DatasetReader:
    """Read-only view of the committed episodes of a dataset directory."""

    def __init__(self, root: str | Path):
        """Open and validate `root`; raises DatasetError naming what is wrong and where."""
        self.root = Path(root)
        self._info = meta.load_info(self.root)
        episode_files = layout.parquet_files(self.root, layout.EPISODES_DIR)
        declared = int(self._info.get("total_episodes", 0) or 0)
        if not episode_files:
            if declared > 0:
                raise meta.fail(
                    self.root,
                    f"{layout.EPISODES_DIR}/ holds no parquet file but info.json declares {declared} episodes",
                )
            self._tasks: list[str] = []
            self._episodes: list[dict[str, Any]] = []
        else:
            self._tasks = meta.load_tasks(self.root)
            self._episodes = meta.load_episodes(self.root, self._tasks)
        if declared > len(self._episodes):
            raise meta.fail(
                self.root,
                f"info.json declares {declared} episodes but {layout.EPISODES_DIR}/ holds "
                f"{len(self._episodes)} — the episodes metadata is incomplete",
            )
        self._ranges = meta.data_file_ranges(self._info, self._episodes)  # rel -> (first index, rows)
        for rel, (_, committed) in self._ranges.items():
            meta.check_data_file(self.root, rel, self.features, committed)
        self._stats: dict[str, stats.Stats] | None = None
        self._cache: OrderedDict[str, pa.Table] = OrderedDict()

    # ---- metadata -----------------------------------------------------------------------------

    @property
    def info(self) -> dict[str, Any]:
        """Parsed meta/info.json (totals may lag the episodes metadata by one after a crash)."""
        return self._info

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        """Feature key -> {"dtype", "shape", "names"}, defaults included."""
        return self._info["features"]

    @property
    def fps(self) -> int:
        """Frames per second."""
        return int(self._info["fps"])

    @property
    def num_episodes(self) -> int:
        """Committed episodes."""
        return len(self._episodes)

    @property
    def num_frames(self) -> int:
        """Committed frames."""
        return self._episodes[-1]["dataset_to_index"] if self._episodes else 0

    @property
    def tasks(self) -> list[str]:
        """Task strings by task_index."""
        return list(self._tasks)

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """meta/stats.json as numpy arrays ({} for a dataset with no episodes)."""
        if self._stats is None:
            path = self.root / layout.STATS_PATH
            if not path.is_file():
                self._stats = {}
            else:
                try:
                    self._stats = stats.from_json(json.loads(path.read_text(encoding="utf-8")))
                except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
                    raise meta.fail(self.root, f"{layout.STATS_PATH} is not valid stats JSON ({e})") from None
        return self._stats

    def episode_meta(self, i: int) -> dict[str, Any]:
        """Episode i's metadata row: indices, length, tasks, file location, and "stats" (numpy)."""
        row = self._episodes[self._check_index(i)]
        out = {k: v for k, v in row.items() if not k.startswith("stats/") and k != "_meta_file"}
        out["stats"] = stats.unflatten(row)
        return out

    def _check_index(self, i: int) -> int:
        if not isinstance(i, int | np.integer) or not 0 <= i < len(self._episodes):
            raise IndexError(f"episode {i} out of range: dataset {self.root} has {len(self._episodes)} episodes")
        return int(i)

    # ---- data ---------------------------------------------------------------------------------

    def _table(self, rel: str) -> pa.Table:
        """The data file's table, from a small LRU cache (episodes are usually read in order)."""
        if rel in self._cache:
            self._cache.move_to_end(rel)
            return self._cache[rel]
        table = meta.read_parquet(self.root, rel)
        self._cache[rel] = table
        while len(self._cache) > _CACHED_FILES:
            self._cache.popitem(last=False)
        return table

    def episode(self, i: int) -> Episode:
        """All features of episode i as [T, *shape] arrays (images uint8 [T, H, W, 3], strings list[str]),
        plus "task": the task string of each frame."""
        ep = self._episodes[self._check_index(i)]
        rel = self._info["data_path"].format(chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"])
        first, _ = self._ranges[rel]
        rows = self._table(rel).slice(ep["dataset_from_index"] - first, ep["length"])
        out: Episode = {}
        for key, ft in self.features.items():
            try:
                out[key] = from_arrow(ft, rows.column(key))
            except (ValueError, OSError, pa.ArrowException) as e:
                raise meta.fail(self.root, f"episode {i}, column '{key}' in {rel} cannot be decoded: {e}") from None
        self._check_rows(i, rel, ep, out)
        out[TASK] = [self._tasks[int(t)] for t in np.asarray(out[TASK_INDEX]).reshape(-1)]
        return out

    def _check_rows(self, i: int, rel: str, ep: dict[str, Any], out: Episode) -> None:
        """The rows found must be the episode's: catches data files that disagree with the metadata."""
        ep_col = np.asarray(out[EPISODE_INDEX]).reshape(-1)
        idx_col = np.asarray(out[INDEX]).reshape(-1)
        expected = np.arange(ep["dataset_from_index"], ep["dataset_to_index"])
        if (ep_col != i).any() or not np.array_equal(idx_col, expected):
            raise meta.fail(
                self.root,
                f"rows of episode {i} in {rel} hold episode_index {int(ep_col[0])} / "
                f"index {int(idx_col[0])}, "
                f"expected {i} / {expected[0]} — data file and meta/episodes disagree",
            )
        task_idx = np.asarray(out[TASK_INDEX]).reshape(-1)
        if ((task_idx < 0) | (task_idx >= len(self._tasks))).any():
            raise meta.fail(self.root, f"episode {i} in {rel} has a task_index outside {layout.TASKS_PATH}")

    def iter_episodes(self) -> Iterator[Episode]:
        """Episodes 0..N-1 in order (each data file is read once)."""
        for i in range(self.num_episodes):
            yield self.episode(i)

    def __len__(self) -> int:
        return self.num_episodes

    def __repr__(self) -> str:
        return f"DatasetReader({str(self.root)!r}, episodes={self.num_episodes}, frames={self.num_frames})"
