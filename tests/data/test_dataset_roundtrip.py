"""Write episodes, read them back: every value identical, bookkeeping columns correct."""

from __future__ import annotations

import numpy as np
from dataset_fixtures import IMAGE_KEY, assert_episode_equal, make_episode, make_features

from vla_flywheel.data import DatasetReader, DatasetWriter, dataset_size_bytes


def test_round_trip_three_episodes(tmp_path, write_dataset):
    lengths = [5, 9, 3]
    root, written = write_dataset(tmp_path / "ds", lengths, tasks=["pick red", "place blue", "pick red"])
    r = DatasetReader(root)
    assert (r.num_episodes, r.num_frames, r.fps) == (3, 17, 10)
    assert r.tasks == ["pick red", "place blue"]
    start = 0
    for i, (n, frames) in enumerate(zip(lengths, written, strict=True)):
        ep = r.episode(i)
        assert_episode_equal(ep, frames)
        assert ep[IMAGE_KEY].shape == (n, 64, 64, 3) and ep[IMAGE_KEY].dtype == np.uint8
        np.testing.assert_array_equal(ep["frame_index"], np.arange(n).reshape(n, 1))
        np.testing.assert_array_equal(ep["episode_index"], np.full((n, 1), i))
        np.testing.assert_array_equal(ep["index"], np.arange(start, start + n).reshape(n, 1))
        np.testing.assert_allclose(ep["timestamp"], (np.arange(n) / 10).reshape(n, 1).astype(np.float32))
        assert ep["timestamp"].dtype == np.float32 and ep["index"].dtype == np.int64
        assert ep["task"] == [["pick red", "place blue", "pick red"][i]] * n
        np.testing.assert_array_equal(ep["task_index"], np.full((n, 1), [0, 1, 0][i]))
        meta = r.episode_meta(i)
        assert (meta["dataset_from_index"], meta["dataset_to_index"], meta["length"]) == (start, start + n, n)
        assert meta["stats"]["action"]["count"].tolist() == [n]
        start += n
    assert [e["action"].shape[0] for e in r.iter_episodes()] == lengths
    assert dataset_size_bytes(root) > 17 * 64 * 64  # random images barely compress


def test_reopen_and_append(tmp_path, write_dataset, rng):
    root, written = write_dataset(tmp_path / "ds", [4, 6])
    extra = make_episode(rng, 5)
    with DatasetWriter.open(root) as w:
        assert (w.num_episodes, w.num_frames) == (2, 10)
        assert w.add_episode(extra, "task 0") == 2
    r = DatasetReader(root)
    assert r.num_episodes == 3 and r.tasks == ["task 0", "task 1"]
    for i, frames in enumerate([*written, extra]):
        assert_episode_equal(r.episode(i), frames)
    np.testing.assert_array_equal(r.episode(2)["index"].ravel(), np.arange(10, 15))


def test_shape_one_accepts_flat_arrays_and_float64(tmp_path, rng):
    frames = make_episode(rng, 4)
    frames["next.reward"] = rng.normal(size=4)  # [T] float64 for a [1] float32 feature
    with DatasetWriter.create(tmp_path / "ds", fps=5, features=make_features()) as w:
        w.add_episode(frames, "t")
    got = DatasetReader(tmp_path / "ds").episode(0)["next.reward"]
    assert got.shape == (4, 1) and got.dtype == np.float32
    np.testing.assert_allclose(got.ravel(), frames["next.reward"].astype(np.float32))


def test_empty_dataset_opens(tmp_path):
    DatasetWriter.create(tmp_path / "ds", fps=10, features=make_features()).close()
    r = DatasetReader(tmp_path / "ds")
    assert (r.num_episodes, r.num_frames, r.tasks, r.stats) == (0, 0, [], {})
