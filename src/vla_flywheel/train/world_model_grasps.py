"""Fit the world model's grasp odds (grasp_odds.GraspOdds) to the closings its training data recorded.

An imagined grasp is drawn, and whether the fingers hold decides whether the block travels with them: a wrong draw
moves a block that stayed put, or leaves one that was carried (README "VLAW": on a weak policy's full videos, grasps
drawn from the predicted opening lost to copying the first frame late in the episode, while the recorded grasps beat
it at every step). Each recorded closing (carry.BlockCarry's rule on the real states) gives one example: the scene
under the tool, and whether the recorded opening stayed at a block's width (held) or closed on nothing.

Every fifth episode's closings are held out, so the fit reports how well it ranks closings it never saw. Data
without a failed grasp (a world model trained on successes only) fit P close to 1 at every closing: the belief VLAW's
Table 1 blames for imagined false positives. Weight decay keeps that fit finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vla_flywheel.eval.judge_metrics import auroc
from vla_flywheel.models.encoders import to_float_images
from vla_flywheel.models.world_model.carry import BlockCarry
from vla_flywheel.models.world_model.config import WorldModelConfig
from vla_flywheel.models.world_model.grasp_odds import GRASP_PATCH, GraspOdds
from vla_flywheel.models.world_model.tool import project
from vla_flywheel.train.world_model_data import Episode

MIN_CLOSINGS = 20  # fewer recorded closings than this to fit on: keep the predicted-opening rule
HELD_OUT_EVERY = 5  # every fifth episode's closings measure the fit
FIT_STEPS, FIT_BATCH, FIT_LR, FIT_WEIGHT_DECAY = 1500, 64, 3e-3, 1e-3


@dataclass
class GraspFit:
    odds: GraspOdds
    closings: int  # fitted on
    held: int
    held_out: int  # closings of the held-out episodes
    held_out_auroc: float | None  # None when the held-out closings all held, or all missed

    def summary(self) -> dict:
        return {"closings": self.closings, "held": self.held, "held_out": self.held_out,
                "held_out_auroc": self.held_out_auroc}  # fmt: skip


def describe_grasp_fit(summary: dict) -> str:
    """One line of a GraspFit.summary() (a train_summary.json's `grasp_odds`; empty when none was fitted)."""
    if not summary:
        return "none fitted: a carried block's grasps are drawn with P = predicted opening / 4 cm"
    score = summary["held_out_auroc"]
    score = "n/a (one outcome only)" if score is None else f"{score:.3f}"
    return (f"scene under the tool, fitted to {summary['closings']} recorded closings ({summary['held']} held); "
            f"AUROC on {summary['held_out']} held-out closings {score}")  # fmt: skip


@dataclass
class Closing:
    chunk: int  # the episode's chunk n whose states t = 1 + n*k .. n*k + k closed the fingers (frame n*k before it)
    scene: torch.Tensor  # [3, P, P] the scene under the tool (the first frame, blocks carried before moved)
    uv: torch.Tensor  # [2] the pixel the tool projects to at the closing
    held: bool  # the recorded opening after the closing chunk is at least half a block's width


def episode_closings(episode: Episode, config: WorldModelConfig) -> list[Closing]:
    """Every closing BlockCarry sees when driven by the episode's real states (their openings decide each draw)."""
    projection = torch.tensor(config.camera_projection, dtype=torch.float32)
    first = to_float_images(torch.from_numpy(episode.images[:1]))  # [1, 3, S, S]
    carry = BlockCarry(first, projection, config.state_xyz, config.opening_index, torch.Generator().manual_seed(0))
    states, k, out = torch.from_numpy(episode.states).float(), config.action_chunk, []  # states [T, D]
    for n, t in enumerate(range(1, len(states) - k + 1, k)):
        before = len(carry.closings)
        carry.after(states[None, t : t + k])  # [1, k, D]: the recorded opening near 0 or 1 decides the draw
        if len(carry.closings) > before:
            scene, p_from_opening = carry.closings[-1]
            uv, _ = project(projection, states[None, t + k - 1, list(config.state_xyz)])  # [1, 2]
            out.append(Closing(n, scene, uv[0], p_from_opening >= 0.5))
    return out


def recorded_closings(episodes: list[Episode], config: WorldModelConfig) -> tuple[torch.Tensor, torch.Tensor,
                                                                                    torch.Tensor]:  # fmt: skip
    """Every recorded closing of the episodes (episode_closings): (scene under the tool [N, 3, P, P], held [N] bool,
    the episode's index [N])."""
    closings = [(index, c) for index, e in enumerate(episodes) for c in episode_closings(e, config)]
    if not closings:
        return torch.zeros(0, 3, GRASP_PATCH, GRASP_PATCH), torch.zeros(0, dtype=torch.bool), torch.zeros(0).long()
    return (torch.stack([c.scene for _, c in closings]), torch.tensor([c.held for _, c in closings]),
            torch.tensor([index for index, _ in closings]))  # fmt: skip


def fit_grasp_odds(episodes: list[Episode], config: WorldModelConfig, seed: int = 0, steps: int = FIT_STEPS,
                   min_closings: int = MIN_CLOSINGS) -> GraspFit | None:  # fmt: skip
    """Train GraspOdds on the closings of all but every fifth episode (binary cross-entropy, AdamW, batches drawn
    from `seed`); None with fewer than `min_closings` of them or where the config cannot carry blocks."""
    if config.opening_index is None or config.camera_projection is None:
        return None
    x, y, owner = recorded_closings(episodes, config)
    train = owner % HELD_OUT_EVERY != HELD_OUT_EVERY - 1
    if int(train.sum()) < min_closings:
        return None
    odds = train_grasp_odds(x[train], y[train], seed, steps)
    held_out = y[~train]
    score = None
    if 0 < int(held_out.sum()) < len(held_out):
        with torch.no_grad():
            score = auroc(odds(x[~train]).tolist(), held_out.tolist())
    return GraspFit(odds, int(train.sum()), int(y[train].sum()), len(held_out), score)


def train_grasp_odds(patches: torch.Tensor, held: torch.Tensor, seed: int = 0, steps: int = FIT_STEPS) -> GraspOdds:
    """(patches [N, 3, P, P], held [N] bool) -> GraspOdds fitted by binary cross-entropy (AdamW, batches and the
    initial weights drawn from `seed`), in eval mode."""
    y = held.float()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        odds = GraspOdds()
    optimizer = torch.optim.AdamW(odds.parameters(), lr=FIT_LR, weight_decay=FIT_WEIGHT_DECAY)
    for _ in range(steps):
        batch = torch.randint(len(y), (FIT_BATCH,), generator=generator)
        loss = F.binary_cross_entropy_with_logits(odds(patches[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return odds.eval()
