"""A trained policy as a rollout agent: env observations in, clipped env actions out, seeded sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vla_flywheel.constants import OBS_IMAGES_PREFIX, OBS_STATE, TASK
from vla_flywheel.envs.tabletop.controller import WaypointFollower
from vla_flywheel.errors import ConfigError, InvalidActionError


def observation_batch(obs: dict[str, Any]) -> dict[str, Any]:
    """One env observation -> a batch of one: images uint8 [1, S, S, 3], state [1, D], task [str]."""
    batch: dict[str, Any] = {
        k: torch.from_numpy(np.asarray(v))[None] for k, v in obs.items() if k.startswith(OBS_IMAGES_PREFIX)
    }
    batch[OBS_STATE] = torch.as_tensor(obs[OBS_STATE], dtype=torch.float32)[None]
    batch[TASK] = [obs[TASK]]
    return batch


def finite_action(policy, action: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
    """`action` if every entry is finite; else an InvalidActionError naming the policy, so NaN never reaches MuJoCo.

    A policy that outputs NaN once (finite weights that overflow, a bad normalization) is broken for every episode;
    stopping with its name beats recording a pile of failures that hide the cause.
    """
    if np.isfinite(action).all():
        return action
    raise InvalidActionError(
        f"policy {getattr(policy, 'source', None) or type(policy).__name__} output a non-finite action "
        f"{np.round(action, 4).tolist()} for {obs[TASK]!r}; its weights or normalization overflow — use an earlier "
        "checkpoint or retrain with a lower --lr"
    )


class PolicyAgent:
    """Drives an env with `policy.select_action`.

    The sampling generator is re-seeded from the episode seed at every reset, so an episode's actions depend only on
    (policy, seed): evaluation is reproducible and independent of how episodes are spread over workers. Actions are
    clipped to the env's [-1, 1] box (a flow sample can overshoot slightly); a non-finite one stops the rollout with
    one line naming the policy (`finite_action`) instead of being clipped into something that looks valid.
    """

    def __init__(self, policy):
        self.policy = policy
        self.generator = torch.Generator()

    def reset(self, env, seed: int) -> None:
        self.policy.reset()
        self.generator.manual_seed(seed)

    def act(self, env, obs: dict[str, Any]) -> np.ndarray:
        action = self.policy.select_action(observation_batch(obs), generator=self.generator)[0]
        action = finite_action(self.policy, action.detach().cpu().numpy().astype(np.float32), obs)
        return np.clip(action, -1.0, 1.0)


class PrimitiveOnEeDelta:
    """Drives an `ee_delta` env with a primitive (pick/place) policy: the policy points, the controller moves.

    The policy is asked for a pick/place on the observation with the gripper parked; the env's waypoint controller
    then executes it one ee_delta step at a time and parks the gripper again, and the policy may try again (up to
    `attempts`, like the primitive interface). The result is an ordinary ee_delta episode, every control step
    rendered, so a primitive policy's successes and failures become videos a trajectory judge can learn from.
    """

    HOLD = np.array([0.0, 0.0, 0.0, 0.0, -1.0], np.float32)  # stay put, gripper open

    def __init__(self, policy, attempts: int = 3):
        self.policy = policy
        self.attempts = attempts
        self.generator = torch.Generator()
        self._follower = None
        self._tried = 0

    def reset(self, env, seed: int) -> None:
        self.policy.reset()
        self.generator.manual_seed(seed)
        self._follower, self._tried = None, 0

    def act(self, env, obs: dict[str, Any]) -> np.ndarray:
        if self._follower is None or self._follower.done:
            if self._tried >= self.attempts:
                return self.HOLD.copy()
            primitive = self.policy.predict_action_chunk(observation_batch(obs), generator=self.generator)[0, 0]
            primitive = np.clip(finite_action(self.policy, primitive.detach().cpu().numpy(), obs), -1.0, 1.0)
            self._follower = WaypointFollower(env.unwrapped.primitive_waypoints(primitive))
            self._tried += 1
        return self._follower.act(env.unwrapped.setpoint, env.unwrapped.tcp).astype(np.float32)


def policy_agent(policy, interface: str, attempts: int = 3):
    """The agent that runs `policy` on an env of `interface`: its own interface, or a primitive policy on ee_delta."""
    head = policy.config.head
    if (head == "flow") == (interface == "ee_delta"):
        return PolicyAgent(policy)
    if head == "primitive" and interface == "ee_delta":
        return PrimitiveOnEeDelta(policy, attempts)
    raise ConfigError(
        f"a {head} policy cannot act on the {interface} interface; run it on an ee_delta env or use a primitive policy"
    )
