"""One checked optimizer step, shared by policy, judge and world-model training.

Zero the gradients, backpropagate, clip the global gradient norm (0 or None = no clip), and refuse to step on a
non-finite loss or gradient: stepping would write NaN into every weight, and the checkpoint saved next would hold
them. The caller says where (its step, role) and what to do (e.g. which checkpoint is still good).
"""

from __future__ import annotations

import math

import torch

from vla_flywheel.errors import FlywheelError


class TrainingDiverged(FlywheelError):
    """The loss or gradient became non-finite."""


def checked_step(module: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                 grad_clip: float | None, where: str, fix: str) -> tuple[float, float]:  # fmt: skip
    """-> (loss value, gradient norm before clipping); instead of stepping when either is not finite, raises
    TrainingDiverged("{where}: loss=..., grad norm=...; {fix}")."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip or math.inf))
    loss_value = loss.item()
    if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
        raise TrainingDiverged(f"{where}: loss={loss_value}, grad norm={grad_norm}; {fix}")
    optimizer.step()
    return loss_value, grad_norm
