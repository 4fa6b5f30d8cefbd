"""Bad directories and bad episodes raise DatasetError with a message naming the problem and place."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from dataset_fixtures import IMAGE_KEY, make_episode, make_features

from vla_flywheel.data import DatasetReader, DatasetWriter, feature
from vla_flywheel.errors import DatasetError, FlywheelError

DATA = "data/chunk-000/file-000.parquet"


@pytest.fixture
def root(tmp_path, write_dataset):
    root, _ = write_dataset(tmp_path / "ds", [6, 4, 6])
    return root


def _edit_info(root, **changes):
    path = root / "meta/info.json"
    info = json.loads(path.read_text())
    info.update(changes)
    path.write_text(json.dumps(info))


# ---- reader -------------------------------------------------------------------------------------


def test_missing_info_json(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"meta/info.json missing — is this a LeRobot v3.0 dataset"):
        DatasetReader(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        DatasetReader(tmp_path / "nowhere")


def test_error_is_a_flywheel_error(tmp_path):
    with pytest.raises(FlywheelError):
        DatasetReader(tmp_path / "nowhere")


def test_wrong_codebase_version(root):
    _edit_info(root, codebase_version="v2.1")
    with pytest.raises(DatasetError, match=r"'v2.1' is not supported \(need 'v3.0'\).*convert_dataset_v21_to_v30"):
        DatasetReader(root)


def test_corrupted_info_json(root):
    (root / "meta/info.json").write_text('{"codebase_version": "v3.0", "fps": ')
    with pytest.raises(DatasetError, match=r"meta/info.json is not valid JSON"):
        DatasetReader(root)


def test_video_feature_rejected(root):
    info = json.loads((root / "meta/info.json").read_text())
    info["features"][IMAGE_KEY]["dtype"] = "video"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=f"feature '{IMAGE_KEY}' is stored as video"):
        DatasetReader(root)


def test_truncated_data_parquet(root):
    path = root / DATA
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=rf"{DATA} is not a readable parquet file \(truncated or corrupted\)"):
        DatasetReader(root)
    with pytest.raises(DatasetError, match="not a readable parquet file"):
        DatasetWriter.open(root)


def test_truncated_episodes_parquet(root):
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match="meta/episodes/chunk-000/file-000.parquet is not a readable parquet"):
        DatasetReader(root)


def test_missing_data_file(root):
    (root / DATA).unlink()
    with pytest.raises(DatasetError, match=f"{DATA} missing"):
        DatasetReader(root)


def test_missing_tasks_parquet(root):
    (root / "meta/tasks.parquet").unlink()
    with pytest.raises(DatasetError, match="meta/tasks.parquet missing"):
        DatasetReader(root)


def test_feature_missing_from_data_file(root):
    table = pq.read_table(root / DATA).drop_columns(["action"])
    pq.write_table(table, root / DATA)
    with pytest.raises(DatasetError, match=f"feature 'action' declared in meta/info.json is missing from {DATA}"):
        DatasetReader(root)


def test_feature_wrong_column_type(root):
    table = pq.read_table(root / DATA)
    table = table.set_column(table.column_names.index("round"), "round", table.column("round").cast("float32"))
    pq.write_table(table, root / DATA)
    with pytest.raises(DatasetError, match=f"column 'round' in {DATA} has type float"):
        DatasetReader(root)


def test_fewer_rows_than_committed(root):
    pq.write_table(pq.read_table(root / DATA).slice(0, 10), root / DATA)
    with pytest.raises(DatasetError, match=f"{DATA} holds 10 rows but meta/episodes commits 16 rows"):
        DatasetReader(root)


def test_info_declares_more_episodes(root):
    _edit_info(root, total_episodes=5)
    with pytest.raises(DatasetError, match="info.json declares 5 episodes but meta/episodes/ holds 3"):
        DatasetReader(root)


def test_rows_disagree_with_metadata(root):
    table = pq.read_table(root / DATA)
    pq.write_table(table.take(list(range(6, 16)) + list(range(6))), root / DATA)  # rows shuffled
    r = DatasetReader(root)
    with pytest.raises(DatasetError, match="rows of episode 0 .* data file and meta/episodes disagree"):
        r.episode(0)


def test_episode_index_out_of_range(root):
    with pytest.raises(IndexError, match="episode 3 out of range"):
        DatasetReader(root).episode(3)


# ---- writer -------------------------------------------------------------------------------------


def test_create_over_existing_dataset(root):
    with pytest.raises(DatasetError, match="already holds a dataset.*DatasetWriter.open"):
        DatasetWriter.create(root, fps=10, features=make_features())


@pytest.mark.parametrize(
    ("features", "words"),
    [
        ({"cam": feature("video", [64, 64, 3])}, "dtype 'video' is not supported"),
        ({"a/b": feature("float32", [2])}, "without '/'"),
        ({"x": feature("float16", [2])}, "unknown dtype 'float16'"),
        ({"img": feature("image", [64, 64])}, "must be [height, width, 3]"),
        ({"task": feature("string", [1])}, "'task' is reserved"),
        ({"index": feature("float32", [1])}, "'index' is a default feature"),
    ],
)
def test_create_rejects_bad_features(tmp_path, features, words):
    with pytest.raises(DatasetError) as e:
        DatasetWriter.create(tmp_path / "ds", fps=10, features=features)
    assert words in str(e.value)


def test_create_rejects_bad_fps(tmp_path):
    with pytest.raises(DatasetError, match="fps must be a positive int"):
        DatasetWriter.create(tmp_path / "ds", fps=0, features=make_features())


def _bad(frames, key, value):
    frames = dict(frames)
    if value is None:
        del frames[key]
    else:
        frames[key] = value
    return frames


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda f: {**f, "observation.wrist": f["action"]}, "unknown key 'observation.wrist'"),
        (lambda f: _bad(f, "action", None), "feature 'action' is missing from frames"),
        (
            lambda f: _bad(f, IMAGE_KEY, np.zeros((5, 32, 32, 3), np.uint8)),
            f"feature '{IMAGE_KEY}' has shape (5, 32, 32, 3), expected (T, 64, 64, 3)",
        ),
        (
            lambda f: _bad(f, IMAGE_KEY, f[IMAGE_KEY].astype(np.float32)),
            f"feature '{IMAGE_KEY}' has dtype float32, expected uint8",
        ),
        (
            lambda f: _bad(f, "action", np.where(np.arange(4) == 2, np.nan, f["action"]).astype(np.float32)),
            "feature 'action' holds non-finite values (NaN or inf) at frame 0",
        ),
        (lambda f: _bad(f, "action", f["action"][:3]), "feature 'action' has 3 frames but"),
        (lambda f: _bad(f, "action", np.zeros((5, 3), np.float32)), "feature 'action' has shape (5, 3)"),
        (lambda f: _bad(f, "round", np.zeros((5, 1), np.float32)), "feature 'round' has dtype float32, expected int64"),
        (lambda f: _bad(f, "next.success", np.zeros((5, 1), np.int64)), "expected bool"),
        (lambda f: _bad(f, "explanation", "one string"), "feature 'explanation' must be a list of str"),
        (lambda f: _bad(f, "action", f["action"].tolist()), "feature 'action' must be a numpy array"),
        (lambda f: {**f, "index": np.zeros((5, 1), np.int64)}, "key 'index' is filled by the writer"),
    ],
)
def test_add_episode_rejects_bad_frames(tmp_path, rng, mutate, words):
    frames = make_episode(rng, 5)
    with DatasetWriter.create(tmp_path / "ds", fps=10, features=make_features()) as w:
        with pytest.raises(DatasetError) as e:
            w.add_episode(mutate(frames), "task")
        message = str(e.value)
        assert words in message and "\n" not in message
        assert message.startswith(f"dataset {tmp_path / 'ds'}: add_episode:")
        assert w.add_episode(frames, "task") == 0  # a rejected episode leaves the writer usable
    assert DatasetReader(tmp_path / "ds").num_episodes == 1


def test_add_episode_rejects_empty_task(tmp_path, rng):
    with (
        DatasetWriter.create(tmp_path / "ds", fps=10, features=make_features()) as w,
        pytest.raises(DatasetError, match="task must be a non-empty string"),
    ):
        w.add_episode(make_episode(rng, 2), "  ")


def test_writer_closed(tmp_path, rng):
    w = DatasetWriter.create(tmp_path / "ds", fps=10, features=make_features())
    w.close()
    with pytest.raises(DatasetError, match="writer is closed"):
        w.add_episode(make_episode(rng, 2), "t")
