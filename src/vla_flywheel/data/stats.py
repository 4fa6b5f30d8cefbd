"""Per-episode and dataset statistics in LeRobot's layout (mean, std, min, max, count, q01…q99).

Numeric features get stats shaped like the feature ([n]); images get per-channel stats of shape
[3, 1, 1] with pixel values scaled to [0, 1], as LeRobot's `compute_stats.py` does; strings get none.

The writer keeps one small stats dict per episode and re-aggregates them after each episode, so adding
episode k never re-decodes the images of episodes 0..k-1. Aggregation is exact for count, min, max,
mean and std (parallel-variance formula). Quantiles cannot be merged exactly from summaries, so the
dataset quantile is the count-weighted mean of the per-episode quantiles — the same approximation
LeRobot's `aggregate_stats` makes. Image stats use at most `MAX_IMAGE_SAMPLES` evenly spaced frames per
episode (LeRobot also subsamples), which keeps stats cheap for long episodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_KEYS = ("mean", "std", "min", "max", "count", *QUANTILES)
MAX_IMAGE_SAMPLES = 100

Stats = dict[str, np.ndarray]


def _summarize(x: np.ndarray) -> Stats:
    """x: float64 [N, d] samples -> stats of shape [d] (count [1])."""
    q = np.quantile(x, list(QUANTILES.values()), axis=0)  # [5, d]
    out: Stats = {
        "mean": x.mean(axis=0),
        "std": x.std(axis=0),
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "count": np.array([x.shape[0]], dtype=np.int64),
    }
    for i, name in enumerate(QUANTILES):
        out[name] = q[i]
    return out


def feature_stats(ft: dict[str, Any], values: np.ndarray | list[str]) -> Stats | None:
    """Stats of one feature over one episode; None for strings (LeRobot skips them too)."""
    dtype = ft["dtype"]
    if dtype == "string":
        return None
    if dtype == "image":
        frames = np.asarray(values)  # uint8 [T, H, W, 3]
        if len(frames) > MAX_IMAGE_SAMPLES:
            idx = np.round(np.linspace(0, len(frames) - 1, MAX_IMAGE_SAMPLES)).astype(int)
            frames = frames[idx]
        pixels = frames.reshape(-1, 3).astype(np.float64) / 255.0  # [S*H*W, 3]
        stats = _summarize(pixels)
        count = np.array([len(values)], dtype=np.int64)  # frames, not pixels, as LeRobot counts
        return {k: (count if k == "count" else v.reshape(3, 1, 1)) for k, v in stats.items()}
    arr = np.asarray(values).astype(np.float64).reshape(len(values), -1)  # [T, n]
    return _summarize(arr)


def episode_stats(features: dict[str, dict[str, Any]], columns: dict[str, Any]) -> dict[str, Stats]:
    """Stats of every non-string feature of one episode; `columns` maps key -> [T, *shape] values."""
    out = {}
    for key, ft in features.items():
        s = feature_stats(ft, columns[key])
        if s is not None:
            out[key] = s
    return out


def aggregate(per_episode: list[dict[str, Stats]]) -> dict[str, Stats]:
    """Dataset stats from per-episode stats (exact except quantiles; see module docstring)."""
    keys = list(dict.fromkeys(k for ep in per_episode for k in ep))
    out: dict[str, Stats] = {}
    for key in keys:
        eps = [ep[key] for ep in per_episode if key in ep]
        counts = np.array([int(e["count"][0]) for e in eps], dtype=np.float64)  # [E]
        w = counts / counts.sum()
        shape = (len(eps),) + (1,) * eps[0]["mean"].ndim
        w = w.reshape(shape)  # [E, 1, ...] broadcasts over the stat's own shape
        means = np.stack([e["mean"] for e in eps])  # [E, *s]
        mean = (w * means).sum(axis=0)
        var = (w * (np.stack([e["std"] for e in eps]) ** 2 + (means - mean) ** 2)).sum(axis=0)
        agg: Stats = {
            "mean": mean,
            "std": np.sqrt(var),
            "min": np.stack([e["min"] for e in eps]).min(axis=0),
            "max": np.stack([e["max"] for e in eps]).max(axis=0),
            "count": np.array([int(counts.sum())], dtype=np.int64),
        }
        for name in QUANTILES:
            agg[name] = (w * np.stack([e[name] for e in eps])).sum(axis=0)
        out[key] = agg
    return out


def to_json(stats: dict[str, Stats]) -> dict[str, dict[str, list]]:
    """Nested lists for stats.json (float64 values, count as int)."""
    return {k: {s: np.asarray(v).tolist() for s, v in st.items()} for k, st in stats.items()}


def from_json(data: dict[str, dict[str, Any]]) -> dict[str, Stats]:
    """stats.json -> numpy arrays."""
    return {k: {s: np.asarray(v) for s, v in st.items()} for k, st in data.items()}


def flatten(stats: dict[str, Stats]) -> dict[str, list]:
    """Per-episode stats as the `stats/<feature>/<stat>` columns of the episodes parquet."""
    return {f"stats/{k}/{s}": np.asarray(v).tolist() for k, st in stats.items() for s, v in st.items()}


def unflatten(row: dict[str, Any]) -> dict[str, Stats]:
    """`stats/<feature>/<stat>` columns of one episodes-parquet row -> nested numpy stats.

    Feature names never contain '/', so the stat name is whatever follows the last '/'.
    """
    out: dict[str, Stats] = {}
    for col, value in row.items():
        if not col.startswith("stats/") or value is None:
            continue
        key, _, stat = col[len("stats/") :].rpartition("/")
        out.setdefault(key, {})[stat] = np.asarray(value)
    return out
