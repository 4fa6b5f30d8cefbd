"""A frozen base policy plus a residual specialist as a rollout agent (PLD's probing and hybrid rollouts).

`BaseStep` gives, per env step, what the residual learner sees: the base's action and its frozen features (the act
readout of its last chunk prediction and its latched pick/place points) with the normalized state. `ResidualAgent`
lets the base act alone for the first `takeover` steps of an episode and then executes base + residual; with
`takeover` drawn from U[0, αT] per episode this is PLD's hybrid rollout, with 0 the specialist from the start.

Each view also carries the simulator's own task state (`critic_state`: where the block and its goal are, whether it
is held), which only the critics read: an asymmetric actor-critic (Pinto et al. 2018). The actor, and so everything
the specialist does, still sees only what the base sees; the specialist is a data source that is discarded after
distillation, so what its critic reads in simulation never reaches the generalist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vla_flywheel.constants import OBS_STATE
from vla_flywheel.engine.policy_agent import finite_action, observation_batch
from vla_flywheel.models.residual import ResidualActorCritic


@dataclass
class StepView:
    features: np.ndarray  # [F] float32
    state: np.ndarray  # [S] float32, normalized with the base's statistics
    base_action: np.ndarray  # [A] float32 in [-1, 1]
    privileged: np.ndarray  # [P] float32, the simulator's task state (critics only; P = 0 if the env has none)


def critic_state(env) -> np.ndarray:
    """The env's `privileged_state()` ([P] float32), or an empty vector for an env that offers none."""
    read = getattr(env.unwrapped, "privileged_state", None)
    return np.zeros(0, np.float32) if read is None else read()


class BaseStep:
    """The frozen base policy, one env step at a time, with the generator re-seeded per episode like PolicyAgent."""

    def __init__(self, policy):
        self.policy = policy
        self.generator = torch.Generator()

    @property
    def feature_dim(self) -> int:
        return self.policy.feature_dim

    def reset(self, seed: int) -> None:
        self.policy.reset()
        self.generator.manual_seed(seed)

    @torch.no_grad()
    def __call__(self, env, obs: dict[str, Any]) -> StepView:
        batch = observation_batch(obs)
        action = self.policy.select_action(batch, generator=self.generator)[0].cpu().numpy().astype(np.float32)
        action = np.clip(finite_action(self.policy, action, obs), -1.0, 1.0)
        state = self.policy.normalizer.normalize(OBS_STATE, batch[OBS_STATE])[0]
        features = self.policy.acting_features[0]
        return StepView(features.cpu().numpy().astype(np.float32), state.cpu().numpy().astype(np.float32), action,
                        critic_state(env))  # fmt: skip


class ResidualAgent:
    """Agent protocol (`reset(env, seed)`, `act(env, obs)`): base alone until `takeover(seed)` steps, then base +
    residual (sampled, or its mean with `deterministic`); without a residual the base acts throughout. The last
    step's view, executed action and whether it came after the takeover (a step a learner stores; probing steps
    before it are not) are kept in `last`."""

    def __init__(self, base: BaseStep, residual: ResidualActorCritic | None, takeover: Callable[[int], int],
                 deterministic: bool = False):  # fmt: skip
        self.base, self.residual, self.takeover, self.deterministic = base, residual, takeover, deterministic
        self.generator = torch.Generator()
        self.t, self._takeover = 0, 0
        self.last: tuple[StepView, np.ndarray, bool] | None = None  # (view, executed action, after takeover)

    def reset(self, env, seed: int) -> None:
        self.base.reset(seed)
        self.generator.manual_seed(seed + 1)
        self.t, self._takeover = 0, self.takeover(seed)

    @torch.no_grad()
    def act(self, env, obs: dict[str, Any]) -> np.ndarray:
        view = self.base(env, obs)
        after_takeover = self.t >= self._takeover
        action = view.base_action
        if after_takeover and self.residual is not None:
            m = self.residual
            x = m.inputs(*(torch.from_numpy(v)[None] for v in (view.features, view.state, view.base_action,
                                                                view.privileged)))  # fmt: skip
            residual, _ = m.residual(x, deterministic=self.deterministic, generator=self.generator)
            action = m.executed(torch.from_numpy(view.base_action)[None], residual)[0].numpy()
        self.t += 1
        self.last = (view, action, after_takeover)
        return action
