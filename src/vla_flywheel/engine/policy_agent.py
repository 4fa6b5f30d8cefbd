"""A trained policy as a rollout agent: env observations in, clipped env actions out, seeded sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vla_flywheel.constants import OBS_IMAGES_PREFIX, OBS_STATE, TASK


def observation_batch(obs: dict[str, Any]) -> dict[str, Any]:
    """One env observation -> a batch of one: images uint8 [1, S, S, 3], state [1, D], task [str]."""
    batch: dict[str, Any] = {
        k: torch.from_numpy(np.asarray(v))[None] for k, v in obs.items() if k.startswith(OBS_IMAGES_PREFIX)
    }
    batch[OBS_STATE] = torch.as_tensor(obs[OBS_STATE], dtype=torch.float32)[None]
    batch[TASK] = [obs[TASK]]
    return batch


class PolicyAgent:
    """Drives an env with `policy.select_action`.

    The sampling generator is re-seeded from the episode seed at every reset, so an episode's actions depend only on
    (policy, seed): evaluation is reproducible and independent of how episodes are spread over workers. Actions are
    clipped to the env's [-1, 1] box (a flow sample can overshoot slightly); non-finite ones are passed through so
    the env rejects them loudly instead of hiding a broken policy.
    """

    def __init__(self, policy):
        self.policy = policy
        self.generator = torch.Generator()

    def reset(self, env, seed: int) -> None:
        self.policy.reset()
        self.generator.manual_seed(seed)

    def act(self, env, obs: dict[str, Any]) -> np.ndarray:
        action = self.policy.select_action(observation_batch(obs), generator=self.generator)[0]
        action = action.detach().cpu().numpy().astype(np.float32)
        return np.clip(action, -1.0, 1.0) if np.isfinite(action).all() else action
