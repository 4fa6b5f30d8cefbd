"""How faithful is the world model? Replay recorded actions open loop and compare with what really happened.

Two measures, after VLAW Table 1 (papers.md §2.4):

- Video: PSNR and SSIM of every imagined frame against the real one, per horizon step, next to the copy-last-frame
  baseline (the first real frame repeated: what a model that predicts nothing scores). On a tabletop most pixels
  never change, so the baseline is high; beating it means the model moves the gripper and the block where they went.
- Outcome: the success classifier (VLAW's reward model, P(success) > α = 0.8) judges the imagined episode, and its
  verdict is compared with the real outcome of the same start and actions. A false positive is a world model that
  shows a success the real world did not deliver: exactly the imagined data that would teach the policy wrong, and
  what VLAW saw drop from 11 to 1 in 20 when failures joined the world model's training data.

The judge's verdict on the real frames is reported too: the imagined confusion can be no better than the judge's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from vla_flywheel.engine.rollout import EpisodeRecord
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.judge_metrics import auroc
from vla_flywheel.flywheel.judging import SuccessJudge
from vla_flywheel.models.encoders import to_float_images
from vla_flywheel.models.world_model.modeling import FlywheelWorldModel
from vla_flywheel.train.world_model_data import Episode

SSIM_WINDOW, SSIM_SIGMA = 7, 1.5  # a 7 px Gaussian window: 64 px frames are small
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2
MAX_PSNR = 100.0  # identical frames (MSE 0) count as this instead of inf
THRESHOLD = 0.8  # VLAW's α


def mse(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """uint8 [N, S, S, 3] pairs -> [N] mean squared error (images in [0, 1])."""
    return (to_float_images(predicted) - to_float_images(target)).pow(2).flatten(1).mean(1)


def psnr(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """uint8 [N, S, S, 3] pairs -> [N] PSNR in dB (images in [0, 1])."""
    return to_psnr(mse(predicted, target))


def to_psnr(error: torch.Tensor | np.ndarray):
    """Mean squared error -> PSNR in dB, capped at MAX_PSNR where the frames are identical."""
    if isinstance(error, torch.Tensor):
        return (10 * torch.log10(1 / error.clamp_min(1e-10))).clamp(max=MAX_PSNR)
    return np.minimum(10 * np.log10(1 / np.maximum(error, 1e-10)), MAX_PSNR)


def ssim(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """uint8 [N, S, S, 3] pairs -> [N] SSIM (Wang et al. 2004; Gaussian window, channels averaged, no padding)."""
    x, y = to_float_images(predicted), to_float_images(target)  # [N, 3, S, S]
    r = torch.arange(SSIM_WINDOW, dtype=torch.float32) - SSIM_WINDOW // 2
    g = torch.exp(-(r**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, window, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mx**2 + my**2 + SSIM_C1) * (vx + vy + SSIM_C2))
    return s.flatten(1).mean(1)


@dataclass
class Replay:
    """One held-out episode replayed open loop: the frames at rows k, 2k, ..., Nk, real and imagined."""

    steps: np.ndarray  # [N] env steps after the first frame (k, 2k, ...)
    psnr: np.ndarray  # [N] imagined vs real
    ssim: np.ndarray
    copy_psnr: np.ndarray  # [N] the first real frame vs real
    copy_ssim: np.ndarray
    mse: np.ndarray  # [N] imagined vs real
    copy_mse: np.ndarray  # [N] the first real frame vs real (0 where nothing visible changed)
    imagined_rows: torch.Tensor  # uint8 [T, S, S, 3]: row 0 real, then each row's latest imagined frame


def recorded_chunks(frames: int, k: int, horizon: int | None = None) -> int:
    """Chunks of k actions whose end frame was recorded, within the first `horizon` env steps when given."""
    return (frames - 1 if horizon is None else min(frames - 1, horizon)) // k


@torch.no_grad()
def replay(model: FlywheelWorldModel, episode: Episode, horizon: int | None = None, seed: int = 0) -> Replay:
    """Imagine the episode from its first frame and state under its recorded actions, and score every chunk
    (the first `horizon` env steps' worth only, when given: VLAW scores 5 s clips); `seed` draws the grasps."""
    k = model.config.action_chunk
    t = len(episode.images) if horizon is None else min(len(episode.images), horizon + 1)
    n = recorded_chunks(len(episode.images), k, horizon)
    images = torch.from_numpy(episode.images)  # uint8 [T, S, S, 3]
    state = torch.from_numpy(episode.states[:1])  # [1, D]
    actions = torch.from_numpy(episode.actions[: n * k]).reshape(1, n, k, -1)  # [1, N, k, A]
    frames, _ = model.rollout(images[:1], state, actions, seed)  # [1, N, S, S, 3]
    frames = frames[0].cpu()
    real = images[k : n * k + 1 : k]  # [N, S, S, 3]
    first = images[:1].expand_as(real)
    # row r shows the imagined frame of the latest chunk end at or before r (the policy only looks at chunk ends)
    latest = torch.clamp(torch.arange(t) // k, max=n)  # [T] 0 = the real first frame
    rows = torch.cat([images[:1], frames])[latest]
    error, copy_error = mse(frames, real), mse(first, real)
    return Replay(np.arange(1, n + 1) * k, to_psnr(error).numpy(), ssim(frames, real).numpy(),
                  to_psnr(copy_error).numpy(), ssim(first, real).numpy(), error.numpy(), copy_error.numpy(),
                  rows)  # fmt: skip


@dataclass
class Confusion:
    tp: int = 0
    fn: int = 0
    tn: int = 0
    fp: int = 0

    def add(self, predicted: bool, real: bool) -> None:
        if real:
            self.tp += predicted
            self.fn += not predicted
        else:
            self.fp += predicted
            self.tn += not predicted

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fn + self.tn + self.fp
        return (self.tp + self.tn) / total if total else float("nan")


@dataclass
class Fidelity:
    """Per-step means over the held-out episodes still running at that step (`count` of them).

    The mean PSNR is the usual video-prediction aggregate, but a real frame identical to the first one (an episode
    where nothing visible moved, or everything went back) gives copying the MAX_PSNR cap, which no learned decoder
    reaches, so a few such episodes decide the comparison by the cap's value. `pooled_psnr` is the cap-free one: the
    PSNR of the per-step mean squared error; `copy_exact` says how many frames were identical."""

    steps: list[int]
    count: list[int]
    psnr: list[float]
    ssim: list[float]
    copy_psnr: list[float]
    copy_ssim: list[float]
    episodes: int
    mse: list[float] = field(default_factory=list)  # per-step mean squared error (absent in older results)
    copy_mse: list[float] = field(default_factory=list)
    copy_exact: list[float] = field(default_factory=list)  # share of real frames identical to the first frame
    threshold: float = THRESHOLD
    draws: int = 1  # imagined outcomes per episode (grasp draws), each counted in `imagined`
    imagined: Confusion | None = None  # the judge on imagined frames vs the real outcome (episodes x draws)
    real: Confusion | None = None  # the judge on the real frames vs the real outcome
    scores: list[dict] = field(default_factory=list)  # per episode: real outcome, P(success) real and per draw
    auroc_imagined: float | None = None  # threshold-free: does P(success) on imagined frames rank real outcomes?
    auroc_real: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Fidelity:
        """The inverse of `to_dict` (a measurement read back from its JSON)."""
        confusions = {k: Confusion(**data[k]) if data.get(k) else None for k in ("imagined", "real")}
        return cls(**{**data, **confusions})

    def mean(self, name: str, until: int | None = None) -> float:
        """Mean of a per-step series over the steps up to `until`, weighting each step by its episodes."""
        values, counts = np.asarray(getattr(self, name)), np.asarray(self.count)
        keep = np.asarray(self.steps) <= (until if until is not None else max(self.steps))
        return float((values[keep] * counts[keep]).sum() / counts[keep].sum())

    def pooled_psnr(self, name: str = "mse") -> np.ndarray:
        """[steps] PSNR of the mean squared error over the episodes at each step (`name`: mse or copy_mse)."""
        return to_psnr(np.asarray(getattr(self, name)))

    def steps_ahead(self, pooled: bool = False) -> int | None:
        """Steps at which the model's PSNR beats copying's: the mean PSNR, or the PSNR of the mean error (`pooled`;
        None for a measurement made before the error was kept)."""
        if pooled:
            return int((self.pooled_psnr() > self.pooled_psnr("copy_mse")).sum()) if self.mse else None
        return int((np.asarray(self.psnr) > np.asarray(self.copy_psnr)).sum())


def evaluate_fidelity(model: FlywheelWorldModel, episodes: list[Episode], judge=None, threshold: float = THRESHOLD,
                      horizon: int | None = None, draws: int = 1) -> Fidelity:  # fmt: skip
    """Replay every episode (its first `horizon` steps when given); with a success-classifier `judge`, also the
    outcome confusion (which needs whole episodes: leave `horizon` unset).

    A world model that draws its grasps imagines one outcome per seed; `draws` > 1 replays each episode with seeds
    0..draws-1 and counts every draw, so a false-positive rate of a few percent is measured on episodes x draws
    outcomes instead of one draw's handful (PSNR/SSIM average over the draws too)."""
    if judge is not None and horizon is not None:
        raise ConfigError("world model fidelity: the outcome confusion judges whole episodes; drop the horizon")
    if draws < 1:
        raise ConfigError(f"world model fidelity: draws={draws} must be at least 1")
    k = model.config.action_chunk
    chunks = max(recorded_chunks(len(e.images), k, horizon) for e in episodes)
    sums = {name: np.zeros(chunks) for name in ("psnr", "ssim", "copy_psnr", "copy_ssim", "mse", "copy_mse")}
    exact = np.zeros(chunks)
    count = np.zeros(chunks, int)
    success_judge = SuccessJudge(judge, threshold) if judge is not None else None
    imagined, real, scores = Confusion(), Confusion(), []
    for e in episodes:  # each episode's draws are judged as they come: only its scores are kept
        drawn = [replay(model, e, horizon, seed) for seed in range(draws)]
        for r in drawn:
            count[: len(r.steps)] += 1
            for name, total in sums.items():
                total[: len(r.steps)] += getattr(r, name)
            exact[: len(r.steps)] += r.copy_mse == 0
        if success_judge is not None:
            p_real = success_judge(_record(e, torch.from_numpy(e.images), judge.config.image_key)).score
            p_imagined = [success_judge(_record(e, r.imagined_rows, judge.config.image_key)).score for r in drawn]
            real.add(p_real > threshold, e.success)
            for p in p_imagined:
                imagined.add(p > threshold, e.success)
            scores.append({"success": e.success, "p_real": p_real, "p_imagined": p_imagined})
    means = {name: (total / np.maximum(count, 1)).tolist() for name, total in sums.items()}
    result = Fidelity(
        [int(s) for s in np.arange(1, chunks + 1) * k],
        count.tolist(),
        **means,
        copy_exact=(exact / np.maximum(count, 1)).tolist(),
        episodes=len(episodes),
        draws=draws,
    )
    result.threshold = threshold
    if success_judge is not None:
        result.imagined, result.real, result.scores = imagined, real, scores
        labels = np.array([e.success for e in episodes])
        if 0 < labels.sum() < len(labels):  # imagined: every draw ranked against its episode's real outcome
            result.auroc_imagined = auroc(np.array([p for x in scores for p in x["p_imagined"]]),
                                          np.repeat(labels, draws))  # fmt: skip
            result.auroc_real = auroc(np.array([x["p_real"] for x in scores]), labels)
    return result


def _record(episode: Episode, frames: torch.Tensor, image_key: str) -> EpisodeRecord:
    """The minimal episode record a SuccessJudge reads: the frames, the instruction and the outcome."""
    return EpisodeRecord({image_key: frames.numpy()}, episode.task, episode.success, len(frames), seed=-1)


def fidelity_lines(results: dict[str, Fidelity], every: int = 10) -> list[str]:
    """Side-by-side tables: PSNR/SSIM per step (every `every` env steps) vs copy-last-frame, then the confusion."""
    names = list(results)
    first = results[names[0]]
    head = f"{'step':>5} {'n':>4} " + " ".join(f"{n[:16]:>16}" for n in names) + f" {'copy-last-frame':>16}"
    lines = ["PSNR dB / SSIM per horizon step (open-loop replay of recorded actions)", head]
    for i, step in enumerate(first.steps):
        if step % every and i not in (0, len(first.steps) - 1):
            continue
        cells = " ".join(f"{r.psnr[i]:7.2f} / {r.ssim[i]:.3f}" for r in results.values())
        lines.append(f"{step:>5} {first.count[i]:>4} {cells} {first.copy_psnr[i]:7.2f} / {first.copy_ssim[i]:.3f}")
    means = " ".join(f"{r.mean('psnr'):7.2f} / {r.mean('ssim'):.3f}" for r in results.values())
    lines.append(f"{'mean':>5} {'':>4} {means} {first.mean('copy_psnr'):7.2f} / {first.mean('copy_ssim'):.3f}")

    def ahead(pooled: bool) -> str:
        counts = [f"{r.steps_ahead(pooled):>8} of {len(r.steps):<4}" for r in results.values()]
        return f"{'ahead':>5} {'':>4} " + " ".join(counts)

    lines.append(ahead(pooled=False))
    if first.mse:
        lines += ["", "PSNR of the mean squared error per step (no cap: a frame identical to the first one does not"
                  " give copying 100 dB)", head + f" {'identical':>9}"]  # fmt: skip
        pooled, copied = [r.pooled_psnr() for r in results.values()], first.pooled_psnr("copy_mse")
        for i, step in enumerate(first.steps):
            if step % every and i not in (0, len(first.steps) - 1):
                continue
            cells = " ".join(f"{p[i]:16.2f}" for p in pooled)
            lines.append(f"{step:>5} {first.count[i]:>4} {cells} {copied[i]:16.2f} {first.copy_exact[i]:>9.1%}")
        lines.append(ahead(pooled=True))
    if first.imagined is not None:
        lines += ["", f"outcome confusion: success judge at α={first.threshold} vs the real outcome "
                  f"({first.episodes} held-out episodes; imagined: {first.draws} grasp draw(s) each)",
                  f"{'frames judged':<34} {'TP':>4} {'FN':>4} {'TN':>4} "
                  f"{'FP':>4} {'acc':>6} {'AUROC':>6}"]  # fmt: skip
        rows = [("real frames", first.real, first.auroc_real)]
        rows += [(f"imagined, {n}", r.imagined, r.auroc_imagined) for n, r in results.items()]
        for label, c, area in rows:
            shown = f"{area:>6.3f}" if area is not None else f"{'-':>6}"
            lines.append(f"{label[:34]:<34} {c.tp:>4} {c.fn:>4} {c.tn:>4} {c.fp:>4} {c.accuracy:>6.1%} {shown}")
    return lines
