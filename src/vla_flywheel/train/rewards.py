"""Per-step rewards for the RL specialists: the task's sparse success, or success plus a progress potential's change.

`sparse` is PLD's reward: 1 on the success that ends the episode, 0 otherwise; every return lies in [0, 1].

`progress` adds the change of a progress potential Φ between consecutive observations, r = success + Φ(s') − Φ(s):
potential-based shaping (Ng et al. 1999), which leaves the optimal policy of the sparse task unchanged while telling
the learner at every step whether it moved towards the goal. VLAC's RL loop rewards exactly this with its critic's
progress (papers.md §4.3); here Φ is the simulator's own stage-wise progress (`info["progress"]`: the tabletop's
reach, hold, carry; Meta-World's shaped reward over its maximum), the dense ground truth such a critic estimates.
The discounted sum telescopes to about success + Φ(s_T) − Φ(s_0), so returns lie in [−1, 2].

`critic` is VLAC's own: a trained progress critic's signed progress between consecutive camera frames for the
instruction, plus 1 the first time its done head says the instruction is complete (once per episode, so hovering in
a done-looking state earns nothing more). The simulator's success is not read; it still ends the episode. The
pairwise progress does not telescope, so its returns are not bounded in advance, and a learner may earn more by
lingering where the critic's frame-to-frame readings jitter than by finishing.

`critic-value` shapes with the critic's integrated value instead: Φ = 1 − (1 − φ_t)/(1 − φ_0), VLAC's value of frame
t in the episode begun at frame 0 (the telescoped value integration of a potential critic, clipped to [−1, 1]), and
r = Φ(s') − Φ(s) plus the same one-time done bonus. Potential-based, so the jitter cancels along any path, the
sparse task's optimal policy is kept (Ng et al. 1999), and returns lie in [−2, 3]. Both critic rewards are only as
good as the critic: on Meta-World reach a critic trained on 5 demos pulled the residual away from the base under
either (README, "On Meta-World reach" under "The flywheel").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vla_flywheel.constants import TASK
from vla_flywheel.errors import ConfigError

REWARDS = ("sparse", "progress", "critic", "critic-value")
CRITIC_REWARDS = ("critic", "critic-value")
RETURN_BOUNDS = {"sparse": (0.0, 1.0), "progress": (-1.0, 2.0), "critic": None, "critic-value": (-2.0, 3.0)}


def check_reward(kind: str, has_critic: bool) -> None:
    """One clear error for a reward name that does not exist, or a critic given to (or missing from) a reward."""
    if kind not in REWARDS:
        raise ConfigError(f"specialist: reward={kind!r} is not one of {', '.join(REWARDS)}")
    if (kind in CRITIC_REWARDS) != has_critic:
        raise ConfigError(f"specialist: reward={kind!r}: the critic rewards ({', '.join(CRITIC_REWARDS)}) need a "
                          "trained critic (critic=<train-judge run>, --critic), and only they read one")  # fmt: skip


class StepReward:
    """`reset(obs, info)` after each env reset, then `__call__(obs, reward, info)` after each env step -> the
    learner's reward. `critic`: the trained judge the "critic" reward reads (a train-judge run's critic)."""

    def __init__(self, kind: str, critic=None):
        check_reward(kind, critic is not None)
        if kind == "critic-value" and critic.config.progress_reading != "potential":
            raise ConfigError(
                "specialist: reward='critic-value' integrates a critic read as potentials; this one "
                "reads pairs: use reward='critic', or a critic read as potentials (the default)"
            )
        self.kind, self.critic = kind, critic
        self._potential, self._frame, self._done_paid, self._first_phi = 0.0, None, False, 0.0

    @property
    def return_bounds(self) -> tuple[float, float] | None:
        """The least and greatest discounted return this reward allows (bounds the critics' bootstrapped targets)."""
        return RETURN_BOUNDS[self.kind]

    @property
    def least_return(self) -> float:
        """The least return this reward allows (-inf when unbounded): a return not yet known is taken to be this."""
        bounds = self.return_bounds
        return float("-inf") if bounds is None else bounds[0]

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        if self.kind == "critic":
            self._frame, self._done_paid = self._image(obs), False
        elif self.kind == "critic-value":
            self._first_phi, self._potential, self._done_paid = self._phi(self._image(obs), obs), 0.0, False
        else:
            self._potential = self._read(info)

    def __call__(self, obs: dict[str, Any], reward: float, info: dict[str, Any]) -> float:
        if self.kind == "sparse":
            return reward
        if self.kind == "critic":
            return self._critic_reward(obs)
        if self.kind == "critic-value":
            return self._critic_value_reward(obs)
        potential = self._read(info)
        shaped, self._potential = reward + potential - self._potential, potential
        return shaped

    @torch.no_grad()
    def _critic_reward(self, obs: dict[str, Any]) -> float:
        frame, task = self._image(obs), [obs[TASK]]
        progress = float(self.critic.progress(self._frame[None], frame[None], task)[0])  # before -> after
        self._frame = frame
        return progress + self._done_once(frame, task)

    @torch.no_grad()
    def _critic_value_reward(self, obs: dict[str, Any]) -> float:
        frame, task = self._image(obs), [obs[TASK]]
        value = 1.0 - (1.0 - self._phi(frame, obs)) / max(1.0 - self._first_phi, 1e-6)
        value = float(np.clip(value, -1.0, 1.0))
        shaped, self._potential = value - self._potential + self._done_once(frame, task), value
        return shaped

    def _done_once(self, frame: torch.Tensor, task: list[str]) -> float:
        """1 the first time in the episode the critic's done head fires on `frame`, else 0."""
        done = not self._done_paid and float(torch.sigmoid(self.critic.done_logit(frame[None], task))[0]) > 0.5
        self._done_paid = self._done_paid or done
        return float(done)

    @torch.no_grad()
    def _phi(self, frame: torch.Tensor, obs: dict[str, Any]) -> float:
        return float(self.critic.potential(frame[None], [obs[TASK]])[0])

    def _image(self, obs: dict[str, Any]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(obs[self.critic.config.image_key]))  # [S, S, 3] uint8

    def _read(self, info: dict[str, Any]) -> float:
        if self.kind == "sparse":
            return 0.0
        if "progress" not in info:
            raise ConfigError("specialist: reward='progress' needs an env that reports info['progress'] (the tabletop "
                              "and Meta-World do): use reward='sparse' with this one")  # fmt: skip
        return float(info["progress"])
