"""A failure at any file write leaves exactly the committed episodes; reopening repairs and appends."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from dataset_fixtures import assert_episode_equal, make_episode, make_features

from vla_flywheel.data import DatasetReader, DatasetWriter
from vla_flywheel.errors import DatasetError

# Which file's os.replace fails while writing episode 2, and how many episodes are then committed:
# the episodes parquet is the commit point, info.json and stats.json are written after it.
CASES = [("data/", 2), ("tasks.parquet", 2), ("meta/episodes/", 2), ("info.json", 3), ("stats.json", 3)]


class Crash(RuntimeError):
    pass


@contextlib.contextmanager
def crash_when_replacing(monkeypatch, target: str):
    """While active, os.replace raises Crash for any destination path containing `target` (a killed writer)."""
    real_replace = os.replace

    def failing_replace(src, dst):
        if target in os.fspath(dst).replace(os.sep, "/"):
            raise Crash(f"simulated crash writing {dst}")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    try:
        yield
    finally:
        monkeypatch.setattr(os, "replace", real_replace)


@pytest.mark.parametrize(("target", "committed"), CASES)
def test_failed_write_keeps_committed_episodes(tmp_path, rng, monkeypatch, target, committed):
    root = tmp_path / "ds"
    episodes = [make_episode(rng, n) for n in (4, 6, 5)]
    with DatasetWriter.create(root, fps=10, features=make_features()) as w:
        w.add_episode(episodes[0], "pick")
        w.add_episode(episodes[1], "pick")
        with crash_when_replacing(monkeypatch, target), pytest.raises(Crash):
            w.add_episode(episodes[2], "place")  # a new task, so tasks.parquet is written too
        with pytest.raises(DatasetError, match="reopen"):
            w.add_episode(episodes[2], "place")

    r = DatasetReader(root)
    assert r.num_episodes == committed
    for i in range(committed):
        assert_episode_equal(r.episode(i), episodes[i])
    assert not [p for p in root.rglob("*") if ".tmp-" in p.name]

    with DatasetWriter.open(root) as w:
        assert w.num_episodes == committed
        if committed == 2:
            assert w.add_episode(episodes[2], "place") == 2
    r = DatasetReader(root)
    assert (r.num_episodes, r.num_frames, r.tasks) == (3, 15, ["pick", "place"])
    for i in range(3):
        assert_episode_equal(r.episode(i), episodes[i])
    index = pq.read_table(root / "data/chunk-000/file-000.parquet").column("index").to_pylist()
    assert index == list(range(15))  # no duplicated or orphaned rows
    assert r.info["total_episodes"] == 3 and r.stats["action"]["count"].tolist() == [15]


def test_uncommitted_rows_ignored_then_truncated(tmp_path, rng, monkeypatch):
    root = tmp_path / "ds"
    with DatasetWriter.create(root, fps=10, features=make_features()) as w:
        w.add_episode(make_episode(rng, 3), "t")

        with crash_when_replacing(monkeypatch, "meta/episodes"), pytest.raises(Crash):
            w.add_episode(make_episode(rng, 4), "t")
    data = root / "data/chunk-000/file-000.parquet"
    assert pq.read_metadata(data).num_rows == 7  # the uncommitted episode's rows are on disk...
    assert DatasetReader(root).num_frames == 3  # ...but not part of the dataset
    (data.parent / ".file-000.parquet.tmp-99999").write_bytes(b"left by a killed writer")
    DatasetWriter.open(root).close()
    assert pq.read_metadata(data).num_rows == 3
    assert [p.name for p in data.parent.iterdir()] == ["file-000.parquet"]


def test_orphan_rotated_file_removed(tmp_path, rng, monkeypatch):
    root = tmp_path / "ds"
    with DatasetWriter.create(root, fps=10, features=make_features(), data_files_size_in_mb=0.02) as w:
        w.add_episode(make_episode(rng, 2), "t")

        with crash_when_replacing(monkeypatch, "meta/episodes"), pytest.raises(Crash):
            w.add_episode(make_episode(rng, 2), "t")
    assert (root / "data/chunk-000/file-001.parquet").is_file()  # started, never committed
    assert DatasetReader(root).num_episodes == 1
    with DatasetWriter.open(root) as w:
        assert not (root / "data/chunk-000/file-001.parquet").exists()
        frames = make_episode(rng, 2)
        w.add_episode(frames, "t")
    r = DatasetReader(root)
    assert r.num_episodes == 2
    np.testing.assert_array_equal(r.episode(1)["action"], frames["action"])


def test_crash_before_first_commit_leaves_empty_dataset(tmp_path, rng, monkeypatch):
    root = tmp_path / "ds"
    w = DatasetWriter.create(root, fps=10, features=make_features())

    with crash_when_replacing(monkeypatch, "meta/episodes"), pytest.raises(Crash):
        w.add_episode(make_episode(rng, 2), "t")
    assert DatasetReader(root).num_episodes == 0
    with DatasetWriter.open(root) as w2:
        assert w2.num_episodes == 0 and w2.tasks == []
        w2.add_episode(make_episode(rng, 2), "u")
    r = DatasetReader(root)
    assert (r.num_episodes, r.tasks) == (1, ["u"])
