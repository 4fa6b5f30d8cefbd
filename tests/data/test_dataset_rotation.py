"""Data and episodes files rotate at data_files_size_in_mb, chunk directories at chunks_size."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from dataset_fixtures import assert_episode_equal, make_episode

from vla_flywheel.data import DatasetReader, DatasetWriter

LENGTHS = [2, 3, 2, 4, 1, 3, 2]


def test_rotation_by_size(tmp_path, write_dataset):
    # 64x64 random PNGs are ~12 KB each, so a 0.05 MB cap holds only a few frames per file.
    root, written = write_dataset(tmp_path / "ds", LENGTHS, data_files_size_in_mb=0.05)
    data_files = sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*.parquet"))
    assert len(data_files) >= 4
    assert data_files[0] == "data/chunk-000/file-000.parquet"
    r = DatasetReader(root)
    assert r.num_episodes == len(LENGTHS) and r.num_frames == sum(LENGTHS)
    for i, frames in enumerate(written):
        assert_episode_equal(r.episode(i), frames)
    # Each episode's metadata points at the file that really holds its rows, and nothing is split.
    rows_per_file: dict[str, int] = {}
    for i in range(r.num_episodes):
        m = r.episode_meta(i)
        rel = f"data/chunk-{m['data/chunk_index']:03d}/file-{m['data/file_index']:03d}.parquet"
        indices = pq.read_table(root / rel, columns=["index"]).column("index").to_pylist()
        assert set(range(m["dataset_from_index"], m["dataset_to_index"])) <= set(indices)
        rows_per_file[rel] = rows_per_file.get(rel, 0) + m["length"]
    assert sorted(rows_per_file) == data_files
    assert all(pq.read_metadata(root / rel).num_rows == n for rel, n in rows_per_file.items())
    # The episodes metadata rotates under the same cap; each row names the file it lives in.
    for path in sorted((root / "meta/episodes").rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            rel = f"chunk-{row['meta/episodes/chunk_index']:03d}/file-{row['meta/episodes/file_index']:03d}"
            assert path.as_posix().endswith(f"meta/episodes/{rel}.parquet")


def test_chunk_directory_rotation(tmp_path, write_dataset, rng):
    root, written = write_dataset(tmp_path / "ds", [2], data_files_size_in_mb=0.02)
    info_path = root / "meta/info.json"
    info = json.loads(info_path.read_text())
    info["chunks_size"] = 2  # two files per chunk directory, to see chunk-001 appear
    info_path.write_text(json.dumps(info))
    extra = [make_episode(rng, 2) for _ in range(3)]
    with DatasetWriter.open(root) as w:
        for frames in extra:
            w.add_episode(frames, "task 0")
    assert (root / "data/chunk-001/file-000.parquet").is_file()
    assert (root / "data/chunk-001/file-001.parquet").is_file()
    r = DatasetReader(root)
    for i, frames in enumerate([*written, *extra]):
        assert_episode_equal(r.episode(i), frames)
