"""Bringing a dataset back to exactly its committed episodes before appending to it.

A writer that died mid-episode can leave: temp files, rows at the tail of the last data file (or a
whole new data file) that no episode row claims, a trailing task no episode uses, and info.json /
stats.json one episode behind. `recover` removes or truncates all of these, so the directory equals
what the episodes parquet commits, and the next episode is appended right after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vla_flywheel.data import layout, meta
from vla_flywheel.data.features import check_features
from vla_flywheel.errors import DatasetError


def recover(root: Path) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Repair `root` in place and return (info, tasks, committed episode rows)."""
    info = meta.load_info(root)
    if info["data_path"] != layout.DATA_PATH:
        raise meta.fail(root, f"cannot append: data_path {info['data_path']!r} is not {layout.DATA_PATH!r}")
    try:
        info["features"] = check_features(info["features"])
    except DatasetError as e:
        raise meta.fail(root, f"cannot append: {e}") from None
    layout.remove_tmp_files(root)

    has_episodes = bool(layout.parquet_files(root, layout.EPISODES_DIR))
    tasks = meta.load_tasks(root) if has_episodes else []
    episodes = meta.load_episodes(root, tasks) if has_episodes else []
    ranges = meta.data_file_ranges(info, episodes)
    for rel, (_, committed) in ranges.items():
        meta.check_data_file(root, rel, info["features"], committed)

    last_rel = layout.data_file(episodes[-1]["data/chunk_index"], episodes[-1]["data/file_index"]) if episodes else ""
    for path in layout.parquet_files(root, layout.DATA_DIR):
        rel = path.relative_to(root).as_posix()
        if rel > last_rel:  # a file started for an episode that never committed
            path.unlink()
    if last_rel:
        committed = ranges[last_rel][1]
        table = meta.read_parquet(root, last_rel)
        if table.num_rows > committed:
            layout.write_parquet_atomic(root / last_rel, table.slice(0, committed))

    used = {t for ep in episodes for t in ep["tasks"]}
    keep = max((i + 1 for i, t in enumerate(tasks) if t in used), default=0)
    if keep < len(tasks):
        tasks = tasks[:keep]
        if tasks:
            layout.write_parquet_atomic(root / layout.TASKS_PATH, meta.tasks_table(tasks))
        else:
            (root / layout.TASKS_PATH).unlink(missing_ok=True)
    if not episodes:
        (root / layout.TASKS_PATH).unlink(missing_ok=True)
        (root / layout.STATS_PATH).unlink(missing_ok=True)
        tasks = []

    for row in episodes:
        row.setdefault("meta/episodes/chunk_index", 0)
        row.setdefault("meta/episodes/file_index", 0)
    return info, tasks, episodes
