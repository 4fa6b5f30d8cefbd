"""The residual actor, its twin Q critics and their targets, and the entropy temperature, as one saved module.

Inputs are small vectors (frozen base features, state, base action), never images: the base policy's encoder is
frozen, so the RL learner trains only MLPs and its replay buffer holds vectors (PLD trains on frozen encoder features
for the same reason). The executed action is ā = clip(a_b + a_δ, −1, 1) with a_δ = ξ·tanh(u), u ~ N(μ, σ); the
critics score (input, ā), so the TD target bootstraps through the combined policy (PLD §3.2 step 8).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import nn

from vla_flywheel.models.loading import load_weights, read_model_config, save_model
from vla_flywheel.models.residual.config import ResidualConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LOAD_FIX = "pass a `flywheel train-specialist` run's specialist directory (retrain if damaged)"


def mlp(cin: int, hidden: int, layers: int, cout: int) -> nn.Sequential:
    """`layers` hidden Linear-LayerNorm-ReLU blocks then a linear output (LayerNorm keeps Q targets tame early)."""
    parts: list[nn.Module] = []
    for i in range(layers):
        parts += [nn.Linear(cin if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.ReLU()]
    parts.append(nn.Linear(hidden, cout))
    return nn.Sequential(*parts)


class ResidualActorCritic(nn.Module):
    name = "flywheel_residual"

    def __init__(self, config: ResidualConfig):
        super().__init__()
        self.config = c = config
        self.actor = mlp(c.input_dim, c.hidden, c.layers, 2 * c.action_dim)
        nn.init.zeros_(self.actor[-1].weight)  # start as "no correction", σ = e^-2: the base leads early on
        nn.init.zeros_(self.actor[-1].bias)
        self.q1 = mlp(c.input_dim + c.critic_extra_dim + c.action_dim, c.hidden, c.layers, 1)
        self.q2 = mlp(c.input_dim + c.critic_extra_dim + c.action_dim, c.hidden, c.layers, 1)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        for p in [*self.q1_target.parameters(), *self.q2_target.parameters()]:
            p.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros(()))  # PLD: initial temperature 1.0
        corrected = torch.ones(c.action_dim)
        corrected[list(c.fixed_dims)] = 0.0
        self.register_buffer("corrected", corrected, persistent=False)  # [A] 1 where the residual acts

    @property
    def target_entropy(self) -> float:
        return -float(self.corrected.sum())  # −|A| over the corrected dimensions (SAC's heuristic, PLD Table 5)

    def inputs(self, features: torch.Tensor, state: torch.Tensor, base_action: torch.Tensor,
               privileged: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """[B, F], [B, S], [B, A], [B, P] (read only by a privileged actor) -> [B, input_dim]."""
        parts = [features, state] + ([base_action] if self.config.use_base else [])
        return torch.cat(parts + ([privileged] if self.config.actor_privileged else []), dim=-1)

    def residual(self, x: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None):
        """x [B, input_dim] -> (a_δ [B, A] in [−ξ, ξ], log π(a_δ / ξ | x) [B]).

        The log-probability is of the unit-box action a_δ / ξ (tanh's change of variables, not ξ's), so the entropy
        target −|A| means the same for every ξ, as for SAC on a [−1, 1] action box. Dimensions the residual does
        not correct are 0 and left out of it.
        """
        c = self.config
        mean, log_std = self.actor(x).chunk(2, dim=-1)  # [B, A] each
        log_std = c.log_std_min + 0.5 * (c.log_std_max - c.log_std_min) * (torch.tanh(log_std) + 1)
        if deterministic:
            u = mean
        else:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            u = mean + log_std.exp() * noise
        squashed = torch.tanh(u)
        gaussian = -0.5 * (((u - mean) / log_std.exp()) ** 2) - log_std - 0.5 * math.log(2 * math.pi)
        log_prob = ((gaussian - torch.log(1 - squashed.pow(2) + 1e-6)) * self.corrected).sum(-1)
        return c.xi * squashed * self.corrected, log_prob

    def executed(self, base_action: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """ā = clip(a_b + a_δ) [B, A]; without a base, the residual is the whole action."""
        total = base_action + residual if self.config.use_base else residual
        return total.clamp(-1.0, 1.0)

    def q(self, x: torch.Tensor, action: torch.Tensor, privileged: torch.Tensor | None = None,
          target: bool = False) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """x [B, input_dim], executed action [B, A], privileged [B, P] (None when P = 0) -> (Q1, Q2), each [B]."""
        extra = privileged is not None and self.config.critic_extra_dim > 0  # a privileged actor's x holds it already
        xa = torch.cat([x, privileged, action] if extra else [x, action], dim=-1)
        q1, q2 = (self.q1_target, self.q2_target) if target else (self.q1, self.q2)
        return q1(xa).squeeze(-1), q2(xa).squeeze(-1)

    @torch.no_grad()
    def update_targets(self, tau: float) -> None:
        """Polyak averaging: target ← (1 − τ)·target + τ·online."""
        for online, target in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
            for p, tp in zip(online.parameters(), target.parameters(), strict=True):
                tp.lerp_(p, tau)

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        directory = save_model(directory, self.config.to_dict(), self, WEIGHTS_FILE)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ResidualActorCritic:
        """Load a saved specialist, every file checked before use (see `models.loading`)."""
        directory = Path(directory)
        path = directory / CONFIG_FILE
        config = ResidualConfig.from_dict(read_model_config(path, cls.name, "residual specialist", LOAD_FIX), str(path))
        model = cls(config)
        load_weights(model, directory / WEIGHTS_FILE, LOAD_FIX)
        return model.eval()
