"""LACY's proposal step (papers.md §1.3): L2A samples candidates, A2L explains them, the vote and L2C decide.

For one scene and instruction the policy (L2A) draws `samples` pick/place candidates from its heatmaps (the first
is its argmax). The explainer (A2L) says in words what each would do; candidates vote by the *meaning* of their
explanation (block, relation, reference), and the winning meaning's share is the scene's confidence. The verifier
(L2C) then scores whether that explanation is consistent with the instruction, given the image. The engine acts on
the least confident scenes (LACY's active augmentation) and keeps the triplets L2C accepts; no simulator outcome is
read to decide.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import torch

from vla_flywheel.constants import TASK
from vla_flywheel.engine.policy_agent import observation_batch
from vla_flywheel.envs.tabletop.describe import parse_description

TEMPERATURE = 1.0  # heatmap sampling temperature for the candidates


@dataclass
class Proposal:
    family: str
    seed: int
    action: list[float]  # [5] pick x, y, yaw, place x, y (normalized)
    explanation: str  # A2L's words for `action`
    agreement: float  # share of candidates whose explanation means the same (the scene's confidence)
    consistency: float  # L2C's P(explanation is consistent with the instruction)

    def to_dict(self) -> dict:
        return asdict(self)


def meaning_key(text: str) -> tuple:
    """What a description means (block, relation, reference); unparsable text only agrees with itself."""
    meaning = parse_description(text)
    return tuple(meaning) if meaning is not None else ("unparsed", text)


@torch.no_grad()
def propose(policy, judge, env, family: str, seed: int, samples: int) -> Proposal:
    """One scene (env.reset(seed)) -> the voted candidate with its explanation, agreement and consistency."""
    obs, _ = env.reset(seed=seed)
    one = observation_batch(obs)
    batch = {k: (v * samples if k == TASK else v.expand(samples, *v.shape[1:])) for k, v in one.items()}
    generator = torch.Generator().manual_seed(seed)
    candidates = policy.sample_primitives(batch, TEMPERATURE, generator).cpu()  # [K, 5]
    candidates[0] = policy.predict_action_chunk(one)[0, 0].cpu()  # the argmax votes too
    candidates = candidates.clamp(-1, 1)
    frame = torch.from_numpy(np.asarray(obs[judge.config.image_key]))  # [S, S, 3]
    words = judge.explain(frame.expand(samples, *frame.shape), candidates)  # K sentences
    keys = [meaning_key(w) for w in words]
    counts = Counter(keys)
    best = max(counts.values())
    winner = next(k for k in keys if counts[k] == best)  # ties go to the earliest (the argmax first)
    chosen = keys.index(winner)
    consistency = torch.sigmoid(judge.verify_logit(frame[None], [obs[TASK]], [words[chosen]]))[0]
    return Proposal(family, seed, candidates[chosen].tolist(), words[chosen], best / samples, float(consistency))


def least_confident(proposals: list[Proposal], n: int) -> list[Proposal]:
    """The n proposals with the lowest agreement (ties by seed), in seed order."""
    chosen = sorted(proposals, key=lambda p: (p.agreement, p.seed))[:n]
    return sorted(chosen, key=lambda p: (p.family, p.seed))


class FixedAction:
    """An agent that performs one given action (a LACY proposal executed once)."""

    def __init__(self, action):
        self.action = np.asarray(action, np.float32)

    def reset(self, env, seed: int) -> None:
        pass

    def act(self, env, obs) -> np.ndarray:
        return self.action
