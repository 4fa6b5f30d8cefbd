"""Soft actor-critic updates for the residual specialist (PLD §3.2, hyperparameters from its Table 5).

Clipped double-Q with Polyak-averaged targets; the TD target bootstraps through the combined policy: the next
executed action is the next base action plus a fresh residual sample. The actor maximises min(Q1, Q2) minus the
temperature-weighted log-probability, with no behaviour-cloning term (so the specialist can exceed its base), and
the temperature is tuned to keep the entropy near −|A|. `critic_per_actor` critic updates run per actor update.

Two settings matter for a sparse 0/1 reward on a short budget. `backup_entropy` off (RLPD's and SERL's option)
keeps the entropy bonus out of the TD target: summed over a 100-step horizon it would outweigh the one success
reward, and Q stays in reward units. An actor that starts moving before its critic has seen the base's successes
follows a random Q gradient and wrecks the base (the early "dip" PLD reports, which on a few thousand steps is
most of the run), so `update(..., actor=False)` trains the critics alone; PLD pre-trains them on the offline
successes with Cal-QL for the same reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vla_flywheel.models.residual import ResidualActorCritic


@dataclass
class SacSettings:
    gamma: float = 0.99
    tau: float = 0.005
    lr: float = 3e-4
    grad_clip: float = 1.0
    critic_per_actor: int = 2
    init_temperature: float = 1.0
    backup_entropy: bool = False


class SacLearner:
    """The optimizers of one residual actor-critic and its update step."""

    def __init__(self, model: ResidualActorCritic, settings: SacSettings):
        self.model, self.s = model, settings
        with torch.no_grad():
            model.log_alpha.fill_(math.log(settings.init_temperature))
        self.critic_opt = torch.optim.AdamW([*model.q1.parameters(), *model.q2.parameters()], lr=settings.lr)
        self.actor_opt = torch.optim.AdamW(model.actor.parameters(), lr=settings.lr)
        self.alpha_opt = torch.optim.AdamW([model.log_alpha], lr=settings.lr, weight_decay=0.0)

    def update(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None,
               actor: bool = True) -> dict[str, float]:  # fmt: skip
        """`critic_per_actor` critic steps on `batch` split in as many parts, then (with `actor`) one actor and
        temperature step."""
        logs: dict[str, float] = {}
        parts = [{k: v[i :: self.s.critic_per_actor] for k, v in batch.items()} for i in range(self.s.critic_per_actor)]
        for part in parts:
            logs.update(self._critic_step(part, generator))
        if actor:
            logs.update(self._actor_step(batch, generator))
        return logs

    def _critic_step(self, b: dict[str, torch.Tensor], generator) -> dict[str, float]:
        m = self.model
        x = m.inputs(b["features"], b["state"], b["base_action"])  # [B, I]
        with torch.no_grad():
            x_next = m.inputs(b["next_features"], b["next_state"], b["next_base_action"])
            residual, log_prob = m.residual(x_next, generator=generator)  # [B, A], [B]
            q1, q2 = m.q(x_next, m.executed(b["next_base_action"], residual), target=True)
            soft = torch.min(q1, q2) - (m.log_alpha.exp() * log_prob if self.s.backup_entropy else 0.0)
            target = b["reward"] + self.s.gamma * (1 - b["done"]) * soft  # [B]
        q1, q2 = m.q(x, b["action"])
        loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
        self._step(self.critic_opt, loss, [*m.q1.parameters(), *m.q2.parameters()])
        m.update_targets(self.s.tau)
        return {"critic_loss": loss.item(), "q": q1.mean().item()}

    def _actor_step(self, b: dict[str, torch.Tensor], generator) -> dict[str, float]:
        m = self.model
        x = m.inputs(b["features"], b["state"], b["base_action"])
        residual, log_prob = m.residual(x, generator=generator)
        q1, q2 = m.q(x, m.executed(b["base_action"], residual))
        alpha = m.log_alpha.exp().detach()
        loss = (alpha * log_prob - torch.min(q1, q2)).mean()
        self._step(self.actor_opt, loss, list(m.actor.parameters()))
        alpha_loss = -(m.log_alpha * (log_prob.detach() + m.target_entropy)).mean()
        self._step(self.alpha_opt, alpha_loss, [m.log_alpha])
        return {"actor_loss": loss.item(), "alpha": alpha.item(), "entropy": -log_prob.mean().item()}

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, self.s.grad_clip)
        optimizer.step()

    def state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in ("critic_opt", "actor_opt", "alpha_opt")}
