import numpy as np
import pytest

from vla_flywheel.eval.intervals import paired_bootstrap_interval, wilson_interval


def test_wilson_interval_matches_known_values_and_stays_in_bounds():
    lo, hi = wilson_interval(200, 200)
    assert hi == 1.0 and lo == pytest.approx(0.9812, abs=1e-4)
    lo, hi = wilson_interval(50, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson_interval(0, 10)[0] == 0.0
    with pytest.raises(ValueError, match="n > 0"):
        wilson_interval(0, 0)


def test_paired_bootstrap_cancels_what_the_pairs_share_and_covers_the_true_difference():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 1, 400)  # per-unit difficulty, far larger than the arms' difference
    a, b = shared + 0.1 + rng.normal(0, 0.05, 400), shared + rng.normal(0, 0.05, 400)
    lo, hi = paired_bootstrap_interval(a, b)
    assert lo < 0.1 < hi and hi - lo < 0.03  # paired: the unit spread cancels
    unpaired = paired_bootstrap_interval(a, rng.permutation(b))
    assert unpaired[1] - unpaired[0] > 5 * (hi - lo)
    assert paired_bootstrap_interval([1, 0, 1], [1, 0, 1]) == (0.0, 0.0)
    assert paired_bootstrap_interval(a, b, seed=3) == paired_bootstrap_interval(a, b, seed=3)
    with pytest.raises(ValueError, match="equal-length"):
        paired_bootstrap_interval([1, 0], [1])
