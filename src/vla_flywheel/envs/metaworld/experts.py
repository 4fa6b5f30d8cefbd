"""Meta-World's shipped scripted experts behind the project's agent API (`reset(env, seed)`, `act(env, obs)`).

Each V3 task has a hand-written policy in `metaworld.policies` (e.g. `SawyerPickPlaceV3Policy`) that reads the
simulator's 39-d observation (true object and goal poses): the "human demonstrator" of the seed demos, as the
tabletop's ScriptedExpert reads the true block poses. Its proportional moves can exceed [-1, 1] (Meta-World clips
inside `step` and warns); here the action is clipped before it reaches the env, which is the same action.
Of the tabletop's noise kinds only `action_std` applies (Gaussian noise on every action dimension, seeded per episode).
"""

from __future__ import annotations

import warnings
from dataclasses import fields

import numpy as np

from vla_flywheel.envs.metaworld.tasks import require_metaworld
from vla_flywheel.envs.tabletop.experts import ExpertNoise
from vla_flywheel.errors import ConfigError


class MetaWorldExpert:
    """`reset(env, seed)` after each env reset, then `act(env, obs)` every step. It reads `env.raw_observation`."""

    def __init__(self, noise: ExpertNoise | None = None):
        self.noise = noise or ExpertNoise()
        unsupported = [f.name for f in fields(self.noise) if f.name != "action_std" and getattr(self.noise, f.name)]
        if unsupported:
            raise ConfigError(
                f"expert noise: {', '.join(unsupported)} is tabletop-only; the Meta-World expert takes action_std only"
            )
        self.rng = np.random.default_rng(0)
        self._task: str | None = None
        self._policy = None

    def reset(self, env, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 0x5EED])
        self._load(env)

    def replan(self, env) -> None:
        """Take over mid-episode (e.g. after `set_state` to a state a policy failed in): Meta-World's policies read
        only the current observation, so there is nothing to plan; noise, if any, is drawn as from seed 0."""
        self.rng = np.random.default_rng([0, 0x5EED])
        self._load(env)

    def _load(self, env) -> None:
        task = env.unwrapped.config.task_name
        if task != self._task:
            require_metaworld()  # a one-line error when the extra is missing
            from metaworld.policies import ENV_POLICY_MAP

            self._policy = ENV_POLICY_MAP[task]()
            self._task = task

    def act(self, env, obs=None) -> np.ndarray:
        with warnings.catch_warnings():  # "Constant(s) may be too high": the clip below is the env's own clip
            warnings.simplefilter("ignore", UserWarning)
            a = np.asarray(self._policy.get_action(env.unwrapped.raw_observation), dtype=np.float64)
        if self.noise.action_std:
            a = a + self.rng.normal(0.0, self.noise.action_std, size=a.shape)
        return np.clip(a, -1.0, 1.0).astype(np.float32)
