"""Judges of whole episodes: who decides which rollouts the policy learns from, and how much each frame counts.

Every judge turns one rollout into a `Verdict` (score, keep, per-frame weights). The `oracle` reads the simulator's
success (filtered BC's upper bound); `keep-all` keeps everything (self-training, the ablation that shows why judging
matters); `success` is VLAW's trajectory classifier, P(success) > threshold; `critic` is VLAC's progress critic:
an episode is kept when its integrated value or its done head on the last frame pass the threshold, and each frame
is weighted by the progress its step made, negative progress masked (VLAC's data refinement, LeRobot's RA-BC).
Learned judges never see `next.success`; the engine compares their verdicts with it to measure them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vla_flywheel.engine.rollout import EpisodeRecord
from vla_flywheel.eval.judge_metrics import critic_keeps, integrate_progress
from vla_flywheel.train.judge_data import subsample

CRITIC_STRIDE = 5  # frames between the critic's pairs (0.5 s at 10 Hz)


@dataclass
class Verdict:
    score: float
    keep: bool
    weights: np.ndarray  # [T] per-frame training weight, 0 where the frame is not trained on
    values: list[float] | None = None  # the critic's value curve over the frames it compared
    progress: np.ndarray | None = None  # [T] the critic's frame weights whether or not it kept the episode


class OracleJudge:
    name = "oracle"

    def __call__(self, record: EpisodeRecord) -> Verdict:
        return Verdict(float(record.success), record.success, np.full(record.length, float(record.success)))


class KeepAllJudge:
    name = "keep-all"

    def __call__(self, record: EpisodeRecord) -> Verdict:
        return Verdict(1.0, True, np.ones(record.length))


class SuccessJudge:
    """VLAW's filter: the trajectory classifier's P(success) on frames subsampled from the episode."""

    name = "success"

    def __init__(self, model, threshold: float):
        self.model, self.threshold = model, threshold

    @torch.no_grad()
    def __call__(self, record: EpisodeRecord) -> Verdict:
        images = torch.from_numpy(np.asarray(record.frames[self.model.config.image_key]))  # [T, S, S, 3]
        clip = images[subsample(len(images), self.model.config.frames, None)][None]  # [1, F, S, S, 3]
        p = float(torch.sigmoid(self.model.success_logit(clip, [record.task]))[0])
        keep = p > self.threshold
        return Verdict(p, keep, np.full(record.length, float(keep)))


class CriticJudge:
    """VLAC's refinement: keep by integrated value or done; weight frames by progress, negatives masked."""

    name = "critic"

    def __init__(self, model, threshold: float, stride: int = CRITIC_STRIDE):
        self.model, self.threshold, self.stride = model, threshold, stride

    @torch.no_grad()
    def __call__(self, record: EpisodeRecord) -> Verdict:
        images = torch.from_numpy(np.asarray(record.frames[self.model.config.image_key]))  # [T, S, S, 3]
        t = len(images)
        idx = compared_frames(t, self.stride)  # [K]
        deltas = self.model.progress_along(images[idx], record.task)
        deltas = deltas.cpu().numpy()  # [K-1] signed progress between consecutive sampled frames
        values = integrate_progress(deltas)  # [K]
        value = float(values[-1])
        done = float(torch.sigmoid(self.model.done_logit(images[-1:], [record.task]))[0])
        keep = bool(critic_keeps(value, done, self.threshold))
        progress = progress_weights(deltas, idx, t)
        return Verdict(max(value, done), keep, progress if keep else np.zeros(t), values.tolist(), progress)


def compared_frames(t: int, stride: int = CRITIC_STRIDE) -> np.ndarray:
    """[K] the frames of a T-frame episode whose progress is compared: every stride-th and the last (the frame after
    the last action is not recorded, so the last observation stands in for it)."""
    return np.unique(np.r_[np.arange(0, t, stride), t - 1])


def progress_weights(deltas: np.ndarray, idx: np.ndarray, t: int, keep_held: bool = True) -> np.ndarray:
    """[T] per-frame weights from the progress deltas [K-1] between the frames idx [K]: the frames idx[k] ..
    idx[k+1]-1 made progress deltas[k], and weigh 0 when it is negative (VLAC's refinement masks those actions;
    RA-BC gives them weight 0), else 0.5 to 1 in proportion to it, so no kept step of progress counts for little.
    Progress exactly held (a grasp closing, to a simulator's stage-wise progress) weighs 0.5, or 0 without
    `keep_held`; a learned critic's deltas are never exactly 0."""
    weights = np.zeros(t)
    positive = deltas[deltas > 0]
    scale = positive.max() if len(positive) else 1.0
    for k, c in enumerate(deltas):
        masked = c < 0 or (c == 0 and not keep_held)
        weights[idx[k] : idx[k + 1]] = 0.0 if masked else 0.5 + 0.5 * c / scale
    weights[idx[-1] :] = weights[idx[-2]] if len(idx) > 1 else 1.0
    return weights


def make_judge(name: str, model, threshold: float):
    """The episode judge called `name` (a learned one needs its trained `model`)."""
    if name == "oracle":
        return OracleJudge()
    if name == "keep-all":
        return KeepAllJudge()
    if name == "success":
        return SuccessJudge(model, threshold)
    if name == "critic":
        return CriticJudge(model, threshold)
    raise ValueError(f"{name} does not judge whole episodes")
