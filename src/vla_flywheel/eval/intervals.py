"""Confidence intervals for success rates and for paired differences."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion; unlike p ± 1.96·se it stays in [0, 1] at p = 0 or 1."""
    if n <= 0:
        raise ValueError(f"wilson_interval needs n > 0 episodes, got n={n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_bootstrap_interval(a, b, seed: int = 0, resamples: int = 10_000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(a) - mean(b) where a[i] and b[i] are measured on the same unit
    (e.g. one held-out episode imagined by two world models): resampling units keeps each pair together, so what
    the units share cancels and only the two arms' disagreement is left."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired_bootstrap_interval needs equal-length non-empty 1-d arrays, got {a.shape}, {b.shape}")
    diff = a - b
    picks = np.random.default_rng(seed).integers(0, len(diff), (resamples, len(diff)))  # [R, n]
    means = diff[picks].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))
