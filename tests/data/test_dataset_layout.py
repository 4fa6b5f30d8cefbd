"""What we write matches the LeRobotDataset v3.0 layout field by field (ecosystem.md §1.3)."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_fixtures import IMAGE_KEY
from PIL import Image

from vla_flywheel.data import DatasetReader, default_features

STAT_KEYS = {"mean", "std", "min", "max", "count", "q01", "q10", "q50", "q90", "q99"}
LENGTHS = [5, 8, 3]


@pytest.fixture
def root(tmp_path, write_dataset):
    root, _ = write_dataset(tmp_path / "ds", LENGTHS, tasks=["a", "b", "a"], robot_type="sim_arm")
    return root


def test_info_json(root):
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["fps"] == 10 and info["robot_type"] == "sim_arm"
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, 16, 2)
    assert info["chunks_size"] == 1000
    assert info["data_files_size_in_mb"] == 16 and info["video_files_size_in_mb"] == 200
    assert info["splits"] == {"train": "0:3"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["flywheel_schema_version"] == 1
    feats = info["features"]
    assert list(feats)[-5:] == ["timestamp", "frame_index", "episode_index", "index", "task_index"]
    assert feats["timestamp"] == {"dtype": "float32", "shape": [1], "names": None}
    for key in ("frame_index", "episode_index", "index", "task_index"):
        assert feats[key] == {"dtype": "int64", "shape": [1], "names": None}
    assert {k: feats[k] for k in default_features()} == default_features()
    assert feats[IMAGE_KEY] == {"dtype": "image", "shape": [64, 64, 3], "names": ["height", "width", "channels"]}


def test_tasks_parquet(root):
    table = pq.read_table(root / "meta/tasks.parquet")
    assert table.column_names == ["task_index", "task"]
    assert table.schema.field("task_index").type == pa.int64()
    assert table.schema.field("task").type == pa.string()
    assert table.to_pylist() == [{"task_index": 0, "task": "a"}, {"task_index": 1, "task": "b"}]
    pandas_meta = json.loads(table.schema.metadata[b"pandas"])
    assert pandas_meta["index_columns"] == ["task"]  # LeRobot reads tasks with pd.read_parquet, indexed by task


def test_episodes_parquet(root):
    table = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet")
    base = [
        "episode_index",
        "tasks",
        "length",
        "data/chunk_index",
        "data/file_index",
        "dataset_from_index",
        "dataset_to_index",
        "meta/episodes/chunk_index",
        "meta/episodes/file_index",
    ]
    assert table.column_names[: len(base)] == base
    assert table.schema.field("tasks").type == pa.list_(pa.string())
    rows = table.to_pylist()
    assert [r["episode_index"] for r in rows] == [0, 1, 2]
    assert [r["tasks"] for r in rows] == [["a"], ["b"], ["a"]]
    assert [r["length"] for r in rows] == LENGTHS
    assert [(r["dataset_from_index"], r["dataset_to_index"]) for r in rows] == [(0, 5), (5, 13), (13, 16)]
    assert all(r["data/chunk_index"] == 0 and r["data/file_index"] == 0 for r in rows)
    assert all(r["meta/episodes/chunk_index"] == 0 and r["meta/episodes/file_index"] == 0 for r in rows)
    stats_cols = {c for c in table.column_names if c.startswith("stats/")}
    for key in ("action", "observation.state", "timestamp", "index", IMAGE_KEY):
        assert {f"stats/{key}/{s}" for s in STAT_KEYS} <= stats_cols
    assert not any(c.startswith("stats/explanation/") for c in stats_cols)  # strings have no stats
    assert rows[1]["stats/action/count"] == [8]
    assert np.asarray(rows[0]["stats/observation.state/mean"]).shape == (6,)
    assert np.asarray(rows[0][f"stats/{IMAGE_KEY}/mean"]).shape == (3, 1, 1)


def test_stats_json(root):
    stats = json.loads((root / "meta/stats.json").read_text())
    shapes = {
        "observation.state": (6,),
        "action": (4,),
        "next.reward": (1,),
        "next.success": (1,),
        "round": (1,),
        "timestamp": (1,),
        "index": (1,),
        IMAGE_KEY: (3, 1, 1),
    }
    for key, shape in shapes.items():
        assert set(stats[key]) == STAT_KEYS, key
        for s in STAT_KEYS - {"count"}:
            assert np.asarray(stats[key][s]).shape == shape, (key, s)
        assert stats[key]["count"] == [16]
    assert "explanation" not in stats
    img = {s: np.asarray(v) for s, v in stats[IMAGE_KEY].items()}
    assert (img["min"] >= 0).all() and (img["max"] <= 1).all()  # scaled to [0, 1]
    assert np.allclose(img["mean"], 0.5, atol=0.02)  # uniform random pixels
    assert stats["index"]["min"] == [0.0] and stats["index"]["max"] == [15.0]
    r = DatasetReader(root)
    np.testing.assert_allclose(r.stats["index"]["mean"], [7.5])


def test_data_parquet_columns(root):
    table = pq.read_table(root / "data/chunk-000/file-000.parquet")
    schema = table.schema
    assert table.num_rows == 16
    assert schema.field(IMAGE_KEY).type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert schema.field("observation.state").type == pa.list_(pa.float32(), 6)
    assert schema.field("next.reward").type == pa.float32()  # shape [1] -> scalar column, like LeRobot
    assert schema.field("next.success").type == pa.bool_()
    assert schema.field("explanation").type == pa.string()
    for key in ("frame_index", "episode_index", "index", "task_index"):
        assert schema.field(key).type == pa.int64()
    assert schema.field("timestamp").type == pa.float32()
    hf = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert hf[IMAGE_KEY] == {"_type": "Image"}
    assert hf["observation.state"]["length"] == 6
    cell = table.column(IMAGE_KEY)[0].as_py()
    assert cell["path"] is None and cell["bytes"].startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(cell["bytes"])) as im:
        assert (im.format, im.size, im.mode) == ("PNG", (64, 64), "RGB")
    assert table.column("index").to_pylist() == list(range(16))
    assert table.column("episode_index").to_pylist() == [0] * 5 + [1] * 8 + [2] * 3


def test_no_temp_files_left(root):
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "data/chunk-000/file-000.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
    ]
