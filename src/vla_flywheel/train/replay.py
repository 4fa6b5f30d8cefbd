"""A bounded replay buffer of vector transitions, and RLPD's symmetric sampling from two of them.

Transitions hold frozen base features, never images, so a buffer of `capacity` costs
capacity x (2·(F + S + A) + A + 2) x 4 bytes, allocated once: memory does not grow with training (at F = 133,
S = A = 5, 100k transitions are 118 MB). When full, the oldest transitions are overwritten.
"""

from __future__ import annotations

import numpy as np
import torch

FIELDS = ("features", "state", "base_action", "action", "reward", "done", "next_features", "next_state",
          "next_base_action")  # fmt: skip


class ReplayBuffer:
    def __init__(self, capacity: int, feature_dim: int, state_dim: int, action_dim: int):
        self.capacity, self.size, self._next = capacity, 0, 0
        shapes = {"features": feature_dim, "state": state_dim, "base_action": action_dim, "action": action_dim,
                  "reward": None, "done": None}  # fmt: skip
        shapes.update({f"next_{k}": shapes[k] for k in ("features", "state", "base_action")})
        self._data = {k: np.zeros((capacity,) if d is None else (capacity, d), np.float32) for k, d in shapes.items()}

    def __len__(self) -> int:
        return self.size

    def add(self, **transition) -> None:
        """One transition: every name in FIELDS; done = the episode terminated (not a time-limit truncation)."""
        i = self._next
        for key in FIELDS:
            self._data[key][i] = transition[key]
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """n transitions drawn uniformly with replacement, as float tensors ([n, d] or [n])."""
        index = rng.integers(0, self.size, n)
        return {k: torch.from_numpy(v[index]) for k, v in self._data.items()}

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self._data.values())


def symmetric_batch(online: ReplayBuffer, offline: ReplayBuffer, n: int, rng: np.random.Generator) -> dict:
    """Half of the batch from each buffer (RLPD; PLD's 50/50 replay); all from online when offline is empty."""
    if len(offline) == 0:
        return online.sample(n, rng)
    if len(online) == 0:
        return offline.sample(n, rng)
    a, b = online.sample(n // 2, rng), offline.sample(n - n // 2, rng)
    return {k: torch.cat([a[k], b[k]]) for k in a}
