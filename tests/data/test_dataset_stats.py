"""Aggregated per-episode stats equal stats over all frames (quantiles approximately)."""

from __future__ import annotations

import numpy as np

from vla_flywheel.data import DatasetReader
from vla_flywheel.data.stats import aggregate, feature_stats


def test_aggregate_matches_direct_computation(tmp_path, write_dataset):
    root, written = write_dataset(tmp_path / "ds", [7, 12, 5, 9])
    stats = DatasetReader(root).stats
    for key in ("action", "observation.state", "next.reward"):
        allv = np.concatenate([e[key] for e in written]).astype(np.float64)  # [N, n]
        s = stats[key]
        np.testing.assert_allclose(s["mean"], allv.mean(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(s["std"], allv.std(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(s["min"], allv.min(0))
        np.testing.assert_allclose(s["max"], allv.max(0))
        assert s["count"].tolist() == [33]
        assert (s["q01"] <= s["q50"]).all() and (s["q50"] <= s["q99"]).all()
        assert np.abs(s["q50"] - np.median(allv, 0)).max() < 0.5 * allv.std(0).max()


def test_image_stats_per_channel():
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    frames[..., 0] = 255  # red channel full, others zero
    s = feature_stats({"dtype": "image", "shape": [8, 8, 3]}, frames)
    assert s["mean"].shape == (3, 1, 1)
    np.testing.assert_allclose(s["mean"].ravel(), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(s["q99"].ravel(), [1.0, 0.0, 0.0])
    assert s["count"].tolist() == [4]


def test_aggregate_quantiles_are_count_weighted():
    ft = {"dtype": "float32", "shape": [1]}
    a = feature_stats(ft, np.zeros((1, 1)))
    b = feature_stats(ft, np.ones((3, 1)))
    agg = aggregate([{"x": a}, {"x": b}])["x"]
    np.testing.assert_allclose(agg["q50"], [0.75])
    np.testing.assert_allclose(agg["mean"], [0.75])
    np.testing.assert_allclose(agg["std"], [np.sqrt(0.1875)])
