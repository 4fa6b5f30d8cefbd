import pytest

from vla_flywheel.eval.intervals import wilson_interval


def test_wilson_interval_matches_known_values_and_stays_in_bounds():
    lo, hi = wilson_interval(200, 200)
    assert hi == 1.0 and lo == pytest.approx(0.9812, abs=1e-4)
    lo, hi = wilson_interval(50, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson_interval(0, 10)[0] == 0.0
    with pytest.raises(ValueError, match="n > 0"):
        wilson_interval(0, 0)
