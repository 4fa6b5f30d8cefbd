"""One episode of an agent in an environment, as dataset frames with provenance.

Frames follow LeRobot's convention: row t holds the observation at t, the action taken at t and the outcome of that
action under `next.*`; the observation after the last action is not a row. Agents (scripted experts today,
policies later) share one small API: `reset(env, seed)` then `act(env, obs) -> action`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vla_flywheel import constants as k
from vla_flywheel.data import feature


class Agent(Protocol):
    def reset(self, env, seed: int) -> None: ...

    def act(self, env, obs: dict[str, Any]) -> np.ndarray: ...


@dataclass
class EpisodeRecord:
    frames: dict[str, Any]  # feature key -> [T, ...] array or list of T strings
    task: str
    success: bool
    length: int
    seed: int
    failure_reason: str | None = None
    final_images: dict[str, np.ndarray] | None = None  # camera key -> the frame after the last action (not a row)
    achieved: tuple[str, ...] = ()  # instructions the end state satisfies (hindsight relabelling's truth)


def dataset_features(env) -> dict[str, dict]:
    """The dataset features an env's episodes fill: observations, action, outcome and flywheel provenance."""
    space = env.observation_space
    images = {key: feature("image", space[key].shape) for key in space if key.startswith(k.OBS_IMAGES_PREFIX)}
    return {
        **images,
        k.OBS_STATE: feature("float32", space[k.OBS_STATE].shape, env.state_names),
        k.ACTION: feature("float32", env.action_space.shape, env.action_names),
        k.NEXT_REWARD: feature("float32", [1]),
        k.NEXT_DONE: feature("bool", [1]),
        k.NEXT_SUCCESS: feature("bool", [1]),
        k.SOURCE: feature("string", [1]),
        k.ROUND: feature("int64", [1]),
        k.EXPLANATION: feature("string", [1]),
        k.PRIMITIVE_PICK: feature("float32", [3], ["x", "y", "yaw"]),
        k.PRIMITIVE_PLACE: feature("float32", [2], ["x", "y"]),
    }


def rollout(env, agent: Agent, seed: int, source: str = "expert", round_index: int = 0) -> EpisodeRecord:
    """Run one episode from `env.reset(seed=seed)` until it terminates or truncates."""
    obs, info = env.reset(seed=seed)
    agent.reset(env, seed)
    rows: dict[str, list] = {key: [] for key in obs if key != k.TASK}
    actions, rewards, dones, successes, explanations = [], [], [], [], []
    done = False
    while not done:
        action = np.asarray(agent.act(env, obs), dtype=np.float32)
        for key in rows:
            rows[key].append(obs[key])
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        actions.append(action)
        rewards.append(reward)
        dones.append(done)
        successes.append(info["success"])
        explanations.append(info.get("explanation"))
    t = len(actions)
    pick, place = _episode_primitive(env, actions)
    # ee_delta explains the whole episode at its end; primitive explains each attempt (the last one is what stands)
    explanation = explanations[-1] or ""
    frames = {key: np.stack(v) for key, v in rows.items()}
    frames.update(
        {
            k.ACTION: np.stack(actions),
            k.NEXT_REWARD: np.asarray(rewards, np.float32)[:, None],
            k.NEXT_DONE: np.asarray(dones)[:, None],
            k.NEXT_SUCCESS: np.asarray(successes)[:, None],
            k.SOURCE: [source] * t,
            k.ROUND: np.full((t, 1), round_index, np.int64),
            k.EXPLANATION: [e or explanation for e in explanations],
            k.PRIMITIVE_PICK: np.repeat(pick[None], t, axis=0),
            k.PRIMITIVE_PLACE: np.repeat(place[None], t, axis=0),
        }
    )
    final = {key: obs[key] for key in obs if key.startswith(k.OBS_IMAGES_PREFIX)}
    return EpisodeRecord(frames, env.task.instruction, bool(successes[-1]), t, seed, info.get("failure_reason"), final,
                         tuple(env.achieved_instructions()))  # fmt: skip


def _episode_primitive(env, actions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The pick/place an episode performed: the last commanded one (primitive) or the achieved one (ee_delta)."""
    if env.config.interface == "primitive":
        return actions[-1][:3].copy(), actions[-1][3:5].copy()
    return env.achieved_primitive()
