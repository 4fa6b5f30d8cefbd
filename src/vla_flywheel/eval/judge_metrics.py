"""Judge quality metrics: value-order correlation, AUROC, a thresholded confusion matrix, and the critic's keep rule.

VOC (VLAC's value-order correlation) is Spearman's rank correlation between a value curve and time: 1 when the
critic's value rises monotonically along a successful episode.
"""

from __future__ import annotations

import numpy as np


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties given their average rank."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    out = np.empty(len(x))
    out[order] = np.arange(len(x))
    for value in np.unique(x):
        tied = x == value
        out[tied] = out[tied].mean()
    return out


def spearman(x, y) -> float:
    """Spearman's rho; 0 when either side is constant (no order to agree with)."""
    rx, ry = ranks(np.asarray(x)), ranks(np.asarray(y))
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def auroc(scores, labels) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counting half."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    if labels.all() or not labels.any():
        raise ValueError(f"AUROC needs both classes; got {labels.sum()} positives of {len(labels)}")
    r = ranks(scores) + 1
    positives = labels.sum()
    return float((r[labels].sum() - positives * (positives + 1) / 2) / (positives * (~labels).sum()))


def confusion(predicted, labels) -> dict:
    """Counts and precision/recall of binary predictions against the truth."""
    predicted, labels = np.asarray(predicted, bool), np.asarray(labels, bool)
    tp, fp = int((predicted & labels).sum()), int((predicted & ~labels).sum())
    fn, tn = int((~predicted & labels).sum()), int((~predicted & ~labels).sum())
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "accuracy": (tp + tn) / max(len(labels), 1),
    }  # fmt: skip


def integrate_progress(deltas) -> np.ndarray:
    """Value curve from pairwise progress by VLAC's eq. 7, v_0 = 0 and v += c (1 - v), for either sign of c.

    That is exactly the inverse of the critic's labels: if c = (j - i) / (T - i) and v_i = i / T then v_j = j / T,
    backwards too. Values are not clipped at 0, so a video played backwards descends instead of sticking at 0.
    """
    v, out = 0.0, [0.0]
    for c in deltas:
        v = v + c * (1 - v)
        out.append(v)
    return np.asarray(out)


def critic_keeps(value, done, threshold: float) -> np.ndarray:
    """The vlac recipe's verdict on an episode: its integrated final value or its last frame's P(done) above the
    threshold. One definition, so eval-judge measures the rule the flywheel filters with."""
    return (np.asarray(value) > threshold) | (np.asarray(done) > threshold)
