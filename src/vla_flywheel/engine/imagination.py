"""Closed-loop imagination: the policy acts on the world model's frames and states instead of the simulator's.

VLAW's step 3 (papers.md §2.2): start from a real initial observation, then a_t ~ π(·|ŝ_t, I), ŝ_t+k ~ M(ŝ_t, a_t:t+k)
for the whole task horizon; the imagined episodes are then judged by the success classifier and the ones it believes
become training data. Here the real start is `env.reset(seed)` and several starts are imagined as one batch (the
policy and the world model both take batches, and one batch of B costs far less than B batches of one).

The world model steps in the policy's chunks (n_action_steps actions at a time): the policy only looks at an
observation when its action queue is empty, so the frames inside a chunk are never seen by it. The episode's rows
inside a chunk therefore repeat the chunk's first frame, and carry the states the world model predicts after each
action; row t still holds the observation before action t, as in a recorded episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vla_flywheel.constants import OBS_STATE, TASK
from vla_flywheel.engine.policy_agent import finite_action
from vla_flywheel.errors import ConfigError
from vla_flywheel.models.encoders import to_float_images
from vla_flywheel.models.world_model.modeling import FlywheelWorldModel, check_chunk, to_uint8_images


@dataclass
class ImaginedEpisode:
    frames: np.ndarray  # uint8 [T, S, S, 3]; row 0 is the real first frame
    states: np.ndarray  # float32 [T, D]; row 0 is the real first state
    actions: np.ndarray  # float32 [T, A], what the policy did
    task: str
    seed: int  # the env.reset seed of the real start
    final_frame: np.ndarray  # uint8 [S, S, 3]: the imagined frame after the last action (not a row)

    @property
    def length(self) -> int:
        return len(self.actions)


def check_pairing(world_model: FlywheelWorldModel, policy) -> None:
    """The policy must see only what the world model imagines, and act in its chunks; else one clear line."""
    c, who = policy.config, f"policy {getattr(policy, 'source', None) or type(policy).__name__}"
    if c.head != "flow":
        raise ConfigError(f"imagination: {who} has a {c.head} head; the world model imagines ee_delta (flow) policies")
    missing = [key for key in c.image_keys if key != world_model.config.image_key]
    if missing:
        raise ConfigError(
            f"imagination: {who} looks at {', '.join(missing)} but the world model imagines only "
            f"{world_model.config.image_key}; train the world model on that camera or use a single-camera policy"
        )
    if c.state_dim != world_model.config.state_dim or c.action_dim != world_model.config.action_dim:
        raise ConfigError(
            f"imagination: {who} has state/action sizes {c.state_dim}/{c.action_dim} but the world model "
            f"{world_model.config.state_dim}/{world_model.config.action_dim}; train it on the policy's interface"
        )
    check_chunk(world_model, min(c.n_action_steps, c.chunk_size), f"imagination: {who}")


@torch.no_grad()
def imagine(world_model: FlywheelWorldModel, policy, observations: list[dict[str, Any]], horizon: int,
            seeds: list[int] | None = None, seed: int = 0) -> list[ImaginedEpisode]:  # fmt: skip
    """Roll `policy` out in `world_model` from real observations (env.reset outputs) for `horizon` steps each,
    rounded up to whole chunks (the world model cannot stop mid-chunk).

    Flow-matching noise comes from one generator seeded with `seed`, so the same starts give the same episodes.
    """
    check_pairing(world_model, policy)
    if horizon < 1 or not observations:
        raise ConfigError(f"imagination: horizon={horizon} and {len(observations)} starts; need at least one of each")
    key, k = world_model.config.image_key, world_model.config.action_chunk
    tasks = [obs[TASK] for obs in observations]
    image = torch.from_numpy(np.stack([obs[key] for obs in observations]))  # uint8 [B, S, S, 3]
    state = torch.from_numpy(np.stack([obs[OBS_STATE] for obs in observations])).float()  # [B, D]
    z, scene = world_model.encode(image), world_model.scene(to_float_images(image).to(world_model.device), seed)
    generator = torch.Generator().manual_seed(seed)
    policy.reset()
    frames, states, actions = [], [], []  # per row: [B, S, S, 3], [B, D], [B, A]
    for _ in range(math.ceil(horizon / k)):
        batch = {key: image, OBS_STATE: state, TASK: tasks}
        chunk = torch.stack([_act(policy, batch, generator) for _ in range(k)], dim=1)  # [B, k, A]
        z, chunk_states = world_model.step(z, state.to(world_model.device), chunk.to(world_model.device))
        chunk_states = chunk_states.cpu()  # [B, k, D] after each action
        for j in range(k):
            frames.append(image)
            states.append(state if j == 0 else chunk_states[:, j - 1])
            actions.append(chunk[:, j])
        state = chunk_states[:, -1]
        context = scene.after(chunk_states.to(world_model.device))  # [B, 3, S, S]: held blocks moved
        image = to_uint8_images(world_model.decode(z, state.to(world_model.device), context)).cpu()
    frames, states, actions = (torch.stack(rows, dim=1).numpy() for rows in (frames, states, actions))  # [B, T, ...]
    seeds = list(seeds) if seeds is not None else [-1] * len(observations)
    return [
        ImaginedEpisode(frames[i], states[i], actions[i], tasks[i], seeds[i], image[i].numpy())
        for i in range(len(observations))
    ]


def _act(policy, batch: dict, generator: torch.Generator) -> torch.Tensor:
    """The policy's next action for every episode, clipped to the env's box; a non-finite one is one clear line."""
    action = policy.select_action(batch, generator=generator).detach().cpu().float()  # [B, A]
    for row, task in zip(action.numpy(), batch[TASK], strict=True):
        finite_action(policy, row, {TASK: task})
    return action.clamp(-1.0, 1.0)


def imagine_from_env(world_model: FlywheelWorldModel, policy, env, seeds: list[int], horizon: int | None = None,
                     seed: int = 0) -> list[ImaginedEpisode]:  # fmt: skip
    """Imagine one episode per seed from `env.reset(seed=s)`, for the env's horizon unless `horizon` is given."""
    observations = [env.reset(seed=s)[0] for s in seeds]
    horizon = horizon or int(env.unwrapped.config.max_steps)
    return imagine(world_model, policy, observations, horizon, seeds, seed)
