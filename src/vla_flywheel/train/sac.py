"""Soft actor-critic updates for the residual specialist (PLD §3.2, hyperparameters from its Table 5).

Clipped double-Q with Polyak-averaged targets; the TD target bootstraps through the combined policy: the next
executed action is the next base action plus a fresh residual sample. The actor maximises min(Q1, Q2) minus the
temperature-weighted log-probability, with no behaviour-cloning term (so the specialist can exceed its base; VLAC's
demonstration replay adds one, `bc_weight`, see train.expert_help), and the temperature is tuned to keep the entropy
near −|A|. `critic_per_actor` critic updates run per actor update.

Two settings matter for a sparse 0/1 reward on a short budget. `backup_entropy` off (RLPD's and SERL's option)
keeps the entropy bonus out of the TD target: summed over a 100-step horizon it would outweigh the one success
reward, and Q stays in reward units. An actor that starts moving before its critic has seen the base's successes
follows a random Q gradient and wrecks the base (the early "dip" PLD reports, which on a few thousand steps is
most of the run), so `update(..., actor=False)` trains the critics alone.

Critics trained only on the base's successes still extrapolate: away from the actions in the buffer an MLP's Q is
arbitrary, often higher, and the actor climbs to it (measured: the residual's entropy rose to that of a uniform
box while its success fell to 0). `conservative` > 0 adds Cal-QL's regulariser (Nakamoto et al. 2023, which PLD
uses to pre-train its critics): CQL's logsumexp of Q over `conservative_samples` uniform and policy residuals per
state, minus Q on the buffer's action, with each policy action's Q first raised to at least the return its
transition's episode really collected (the calibration: Q of the policy's own actions is never pushed below a
value the data proves, so the penalty does not unlearn what the base does well). Its weight is in units of Q: the
penalty lifts Q of the buffer's actions by up to `conservative` above their TD target, so against returns in [0, 1]
it must be small (measured with weight 1 and 5: the critic loss rose to 1.1 and 3.5 and success fell to 10% and 33%
within 7.5k steps). `return_bounds` clips the bootstrapped value to the returns the reward allows (a sparse success
that ends the episode: [0, 1]; see train.rewards): measured without it, the mean Q of the specialist's critic
climbed to 1.35 while its success fell from 47% to 10%.

`residual_penalty` adds the mean squared residual (in units of ξ) to the actor's loss, TD3+BC's idea with the base as
the behaviour (Fujimoto & Gu 2021): the residual leaves zero only where Q's gain outweighs it. Measured on the
tabletop (README "PLD and VLAC's RL loop"): it is the one setting that kept the specialist from collapsing to 0-2%
within 5k env steps, and with weight 1 or 0.2 the specialist then stayed within its base's interval for 10k steps.

`mc_floor` raises each TD target to at least the Monte-Carlo return the transition's episode collected, a lower
bound on the optimal value (the learner can always do what the data did; self-imitation learning, Oh et al. 2018).
Without it, a success 50 steps away reaches Q only through ~50 chained TD backups, each lagging behind Polyak targets
that move 0.5% per update: measured on the tabletop, after 2.5k env steps (1000 critic-only updates) the critics'
mean Q on data whose returns average ~1 was still -0.2 to -0.3, and the actor that started following it fell from
52% to 0% success.
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
    actor_lr: float | None = None  # None: lr
    grad_clip: float = 1.0
    critic_per_actor: int = 2
    init_temperature: float = 1.0
    backup_entropy: bool = False
    conservative: float = 0.0
    conservative_samples: int = 4
    return_bounds: tuple[float, float] | None = None
    bc_weight: float = 0.0
    mc_floor: bool = False
    residual_penalty: float = 0.0


class SacLearner:
    """The optimizers of one residual actor-critic and its update step."""

    def __init__(self, model: ResidualActorCritic, settings: SacSettings):
        self.model, self.s = model, settings
        with torch.no_grad():
            model.log_alpha.fill_(math.log(settings.init_temperature))
        self.critic_opt = torch.optim.AdamW([*model.q1.parameters(), *model.q2.parameters()], lr=settings.lr)
        self.actor_opt = torch.optim.AdamW(model.actor.parameters(), lr=settings.actor_lr or settings.lr)
        self.alpha_opt = torch.optim.AdamW([model.log_alpha], lr=settings.lr, weight_decay=0.0)

    def update(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None, actor: bool = True,
               demos: dict[str, torch.Tensor] | None = None) -> dict[str, float]:  # fmt: skip
        """`critic_per_actor` critic steps on `batch` split in as many parts, then (with `actor`) one actor and
        temperature step, its loss with a behaviour-cloning term on `demos` when given (`bc_weight`)."""
        logs: dict[str, float] = {}
        parts = [{k: v[i :: self.s.critic_per_actor] for k, v in batch.items()} for i in range(self.s.critic_per_actor)]
        for part in parts:
            logs.update(self._critic_step(part, generator))
        if actor:
            logs.update(self._actor_step(batch, generator, demos))
        return logs

    def _critic_step(self, b: dict[str, torch.Tensor], generator) -> dict[str, float]:
        m = self.model
        x = m.inputs(b["features"], b["state"], b["base_action"], b.get("privileged"))  # [B, I]
        with torch.no_grad():
            x_next = m.inputs(b["next_features"], b["next_state"], b["next_base_action"], b.get("next_privileged"))
            residual, log_prob = m.residual(x_next, generator=generator)  # [B, A], [B]
            q1, q2 = m.q(x_next, m.executed(b["next_base_action"], residual), b.get("next_privileged"), target=True)
            soft = torch.min(q1, q2) - (m.log_alpha.exp() * log_prob if self.s.backup_entropy else 0.0)
            if self.s.return_bounds is not None:  # no return the reward allows lies outside them
                soft = soft.clamp(*self.s.return_bounds)
            target = b["reward"] + self.s.gamma * (1 - b["done"]) * soft  # [B]
            if self.s.mc_floor:  # never below what the data's own episode collected from here (self-imitation)
                target = torch.maximum(target, b["mc_return"])
        q1, q2 = m.q(x, b["action"], b.get("privileged"))
        loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
        logs = {"critic_loss": loss.item(), "q": q1.mean().item()}
        if self.s.conservative > 0:
            gap = self._conservative_gap(x, b, q1, q2, generator)
            loss = loss + self.s.conservative * gap
            logs["conservative_gap"] = gap.item()
        self._step(self.critic_opt, loss, [*m.q1.parameters(), *m.q2.parameters()])
        m.update_targets(self.s.tau)
        return logs

    def _conservative_gap(self, x: torch.Tensor, b: dict[str, torch.Tensor], q1: torch.Tensor, q2: torch.Tensor,
                          generator) -> torch.Tensor:  # fmt: skip
        """Cal-QL: mean over both critics of logsumexp_a [Q(s, a) − log μ(a)] − Q(s, a_data), over n uniform and n
        policy residuals per state (importance-weighted by their densities in the unit box), the policy ones
        floored at the transition's Monte-Carlo return."""
        m, n = self.model, self.s.conservative_samples
        batch, dims = x.shape[0], self.model.config.action_dim
        xs, base = x.repeat_interleave(n, 0), b["base_action"].repeat_interleave(n, 0)  # [B·n, I], [B·n, A]
        privileged = b.get("privileged")
        privileged = None if privileged is None else privileged.repeat_interleave(n, 0)  # [B·n, P]
        with torch.no_grad():
            policy, log_prob = m.residual(xs, generator=generator)  # [B·n, A], [B·n]
            uniform = (torch.rand(policy.shape, generator=generator) * 2 - 1) * m.config.xi  # [B·n, A]
        floor = b["mc_return"][:, None]  # [B, 1]
        policy_q = m.q(xs, m.executed(base, policy), privileged)  # 2 x [B·n]
        uniform_q = m.q(xs, m.executed(base, uniform), privileged)
        gap = 0.0
        for i, data_q in enumerate((q1, q2)):
            scored = torch.cat(
                [
                    uniform_q[i].view(batch, n) + dims * math.log(2.0),  # − log μ, μ = 2^−A (unit box)
                    torch.maximum(policy_q[i].view(batch, n), floor) - log_prob.view(batch, n),
                ],
                dim=1,
            )
            gap = gap + (torch.logsumexp(scored, dim=1) - math.log(2 * n) - data_q).mean()  # [B] -> []
        return gap / 2

    def _actor_step(self, b: dict[str, torch.Tensor], generator, demos: dict[str, torch.Tensor] | None) -> dict:
        m = self.model
        x = m.inputs(b["features"], b["state"], b["base_action"], b.get("privileged"))
        residual, log_prob = m.residual(x, generator=generator)
        q1, q2 = m.q(x, m.executed(b["base_action"], residual), b.get("privileged"))
        alpha = m.log_alpha.exp().detach()
        loss = (alpha * log_prob - torch.min(q1, q2)).mean()
        logs = {}
        if self.s.residual_penalty > 0:  # stay near the base unless Q clearly pays for moving away
            size = (residual / m.config.xi).pow(2).sum(-1).mean()
            loss = loss + self.s.residual_penalty * size
            logs["residual_size"] = size.item()
        if demos is not None and self.s.bc_weight > 0:
            bc = self._demo_error(demos)
            loss = loss + self.s.bc_weight * bc
            logs["bc"] = bc.item()
        self._step(self.actor_opt, loss, list(m.actor.parameters()))
        alpha_loss = -(m.log_alpha * (log_prob.detach() + m.target_entropy)).mean()
        self._step(self.alpha_opt, alpha_loss, [m.log_alpha])
        return {"actor_loss": loss.item(), "alpha": alpha.item(), "entropy": -log_prob.mean().item(), **logs}

    def _demo_error(self, d: dict[str, torch.Tensor]) -> torch.Tensor:
        """Squared distance of the executed mean action, base + residual, from the demonstrated one, summed over the
        dimensions the residual corrects, averaged over the batch (VLAC's demonstration replay)."""
        m = self.model
        x = m.inputs(d["features"], d["state"], d["base_action"], d.get("privileged"))
        residual, _ = m.residual(x, deterministic=True)  # [B, A]
        executed = m.executed(d["base_action"], residual)  # [B, A]
        return ((executed - d["action"]).pow(2) * m.corrected).sum(-1).mean()

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, self.s.grad_clip)
        optimizer.step()

    def state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in ("critic_opt", "actor_opt", "alpha_opt")}
