"""Judge metrics agree with their definitions."""

import itertools

import numpy as np
import pytest

from vla_flywheel.eval.judge_metrics import auroc, confusion, critic_keeps, integrate_progress, spearman


def test_auroc_is_the_probability_a_positive_outranks_a_negative():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=40).round(1), rng.random(40) < 0.4
    pairs = [(p, n) for p, n in itertools.product(scores[labels], scores[~labels])]
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert auroc(scores, labels) == pytest.approx(brute)
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [True, True])


def test_spearman_sees_order_not_scale():
    t = np.arange(10)
    assert spearman(t, np.exp(t)) == pytest.approx(1.0)
    assert spearman(t, -(t**3)) == pytest.approx(-1.0)
    assert spearman(t, np.ones(10)) == 0.0


def test_value_integration_inverts_the_progress_labels():
    last = 10
    label = lambda i, j: (j - i) / (last - i)  # noqa: E731  VLAC's c = Δt / (T - i)
    forward = integrate_progress([label(i, i + 1) for i in range(last)])
    assert forward == pytest.approx(np.arange(last + 1) / last)
    v = integrate_progress([label(0, 6), label(6, 4)])  # forward to 6, then back to 4
    assert v.tolist() == pytest.approx([0.0, 0.6, 0.4])
    backwards = integrate_progress([-0.3] * 5)
    assert (np.diff(backwards) < 0).all()


def test_confusion_counts_and_rates():
    c = confusion([True, True, False, False], [True, False, True, False])
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (1, 1, 1, 1)
    assert c["precision"] == c["recall"] == c["accuracy"] == 0.5


def test_the_critic_keeps_an_episode_when_its_value_or_its_done_head_clears_the_threshold():
    value, done = [0.9, 0.1, 0.1, 0.8], [0.1, 0.9, 0.1, 0.8]
    assert critic_keeps(value, done, 0.8).tolist() == [True, True, False, False]  # strictly above, as P > alpha
