"""Flow matching over action chunks, in openpi's convention (t = 1 is noise, t = 0 is data).

    t ~ Beta(1.5, 1) * 0.999 + 0.001          one time per sample
    x_t = t * eps + (1 - t) * a               a: normalized action chunk [B, H, A], eps ~ N(0, I)
    u_t = eps - a                             the velocity the network learns
    sample: x_1 = eps, x_{t+dt} = x_t + dt * v(x_t, t), dt = -1 / num_steps, until t = 0

The context (image, language, state) is encoded once per sample; only this small velocity MLP reruns per Euler step,
so 10 integration steps cost little more than one.
"""

from __future__ import annotations

import torch
from torch import nn

from vla_flywheel.models.encoders import sinusoidal_embedding

TIME_FEATURES = 64


class VelocityField(nn.Module):
    """v(x_t, t | context): [B, H, A] x [B] x [B, D] -> [B, H, A]."""

    def __init__(self, context_dim: int, horizon: int, action_dim: int, hidden: int):
        super().__init__()
        self.horizon, self.action_dim = horizon, action_dim
        self.net = nn.Sequential(
            nn.Linear(context_dim + TIME_FEATURES + horizon * action_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, horizon * action_dim),
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        time = sinusoidal_embedding(t, TIME_FEATURES).to(context.dtype)
        v = self.net(torch.cat([context, time, x_t.flatten(1).to(context.dtype)], dim=-1))
        return v.view(-1, self.horizon, self.action_dim)


def sample_time(batch: int, alpha: float, beta: float, scale: float, offset: float, device=None) -> torch.Tensor:
    """[B] times in (offset, offset + scale], Beta-distributed so that noisier times are seen more often."""
    t = torch.distributions.Beta(torch.tensor(alpha), torch.tensor(beta)).sample((batch,))
    return (t * scale + offset).to(device)


def flow_matching_loss(
    velocity: VelocityField, actions: torch.Tensor, context: torch.Tensor, t: torch.Tensor, pad: torch.Tensor
) -> torch.Tensor:
    """Mean squared velocity error over real (unpadded) steps; actions [B, H, A], pad [B, H] True = padding."""
    noise = torch.randn_like(actions)
    t_ = t[:, None, None]
    x_t = t_ * noise + (1 - t_) * actions
    error = (velocity(x_t, t, context).float() - (noise - actions)) ** 2  # [B, H, A]
    keep = (~pad).to(error.dtype)[..., None]
    return (error * keep).sum() / (keep.sum() * actions.shape[-1]).clamp(min=1.0)


@torch.no_grad()
def euler_sample(
    velocity: VelocityField, context: torch.Tensor, steps: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Integrate from x_1 = noise to x_0: [B, D] context -> [B, H, A] normalized actions."""
    shape = (context.shape[0], velocity.horizon, velocity.action_dim)
    x = torch.randn(shape, generator=generator, device=generator.device if generator else None).to(context.device)
    dt = -1.0 / steps
    for i in range(steps):
        t = torch.full((shape[0],), 1.0 + i * dt, device=context.device)
        x = x + dt * velocity(x, t, context).float()
    return x
