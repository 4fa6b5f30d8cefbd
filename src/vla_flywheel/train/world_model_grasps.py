"""Fit the world model's grasp odds (`WorldModelConfig.grasp_logit`) to the closings its training data recorded.

An imagined grasp is drawn, and whether the fingers hold decides whether the block travels with them: a wrong draw
moves a block that stayed put, or leaves one that was carried (README "VLAW": on a weak policy's full videos, grasps
drawn from the predicted opening lost to copying the first frame late in the episode, while the recorded grasps beat
it at every step). The state head's predicted opening barely ranks held against missed closings (AUROC 0.60 on 554
of them); the scene under the tool does (0.91 on 189 held-out ones): fingers closing off the block's centre, or over
a patch crowded with a block and a pad, miss. So each recorded closing (carry.BlockCarry's rule on the real states:
its scene, its evidence, and whether the recorded opening stayed at a block's width) is one row of a logistic
regression.

Data without a failed grasp (a world model trained on successes only) fit a large bias: P close to 1 at every
closing, the belief VLAW's Table 1 blames for imagined false positives. The L2 penalty keeps that fit finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vla_flywheel.models.world_model.carry import BlockCarry
from vla_flywheel.models.world_model.config import GRASP_FEATURES, WorldModelConfig
from vla_flywheel.train.world_model_data import Episode

MIN_CLOSINGS = 20  # fewer recorded closings than this: keep the predicted-opening rule
L2 = 1e-2  # on the bias and weights (one class only, e.g. successes-only data, would push the bias to infinity)


def recorded_closings(episodes: list[Episode], config: WorldModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Every closing BlockCarry sees when driven by the episodes' real states: (evidence [N, F], held [N] bool,
    held when the recorded opening after the closing chunk is at least half a block's width)."""
    from vla_flywheel.models.encoders import to_float_images

    projection = torch.tensor(config.camera_projection, dtype=torch.float32)
    k, features, held = config.action_chunk, [], []
    for e in episodes:
        first = to_float_images(torch.from_numpy(e.images[:1]))  # [1, 3, S, S]
        carry = BlockCarry(first, projection, config.state_xyz, config.opening_index, torch.Generator().manual_seed(0))
        states = torch.from_numpy(e.states).float()  # [T, D]
        for t in range(1, len(states) - k + 1, k):
            carry.after(states[None, t : t + k])  # [1, k, D]: the recorded opening near 0 or 1 decides the draw
        for evidence, p_from_opening in carry.closings:
            features.append(evidence)
            held.append(p_from_opening >= 0.5)
    return torch.tensor(features, dtype=torch.float32).reshape(-1, len(GRASP_FEATURES)), torch.tensor(held)


def fit_grasp_logit(episodes: list[Episode], config: WorldModelConfig,
                    min_closings: int = MIN_CLOSINGS) -> tuple[float, ...]:  # fmt: skip
    """(bias, *weights) of P(held | evidence) by L2-penalised logistic regression; () with fewer than
    `min_closings` closings or where the config cannot carry blocks."""
    if config.opening_index is None or config.camera_projection is None:
        return ()
    x, y = recorded_closings(episodes, config)
    if len(y) < min_closings:
        return ()
    w = torch.zeros(x.shape[1] + 1, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.binary_cross_entropy_with_logits(x @ w[1:] + w[0], y.float()) + L2 * w.pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return tuple(float(v) for v in w.detach())
