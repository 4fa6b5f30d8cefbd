"""A bounded replay buffer of vector transitions, and RLPD's symmetric sampling from two of them.

Transitions hold frozen base features, never images, so a buffer of `capacity` costs
capacity x (2·(F + S + A + P) + A + 3) x 4 bytes (P: the critics' privileged state, 0 without one), allocated once:
memory does not grow with training (at F = 133, S = A = 5, P = 9, 100k transitions are 119 MiB). When full, the
oldest transitions are overwritten.

Each transition also carries `mc_return`, the discounted return its episode actually collected from it on (Cal-QL's
lower bound on the value of the policy that collected it). It is 0 until the episode ends and `set_returns` fills
it in; until then it holds `pending_return`, the least return the reward allows, which keeps it a lower bound
meanwhile.
"""

from __future__ import annotations

import numpy as np
import torch

FIELDS = ("features", "state", "base_action", "action", "reward", "done", "next_features", "next_state",
          "next_base_action")  # fmt: skip
PRIVILEGED = ("privileged", "next_privileged")  # stored only when the buffer has a privileged size
RETURN = "mc_return"


class ReplayBuffer:
    def __init__(self, capacity: int, feature_dim: int, state_dim: int, action_dim: int, privileged_dim: int = 0,
                 pending_return: float = 0.0):  # fmt: skip
        self.capacity, self.size, self._next = capacity, 0, 0
        self.pending_return = pending_return
        self._fields = FIELDS + (PRIVILEGED if privileged_dim else ())
        shapes = {"features": feature_dim, "state": state_dim, "base_action": action_dim, "action": action_dim,
                  "reward": None, "done": None, RETURN: None}  # fmt: skip
        if privileged_dim:
            shapes["privileged"] = privileged_dim
        shapes.update(
            {f"next_{k}": shapes[k] for k in ("features", "state", "base_action", "privileged") if k in shapes}
        )
        self._data = {k: np.zeros((capacity,) if d is None else (capacity, d), np.float32) for k, d in shapes.items()}

    def __len__(self) -> int:
        return self.size

    def add(self, **transition) -> int:
        """One transition: every name in FIELDS (and PRIVILEGED if the buffer keeps them); done = the episode
        terminated (not a time-limit truncation). -> its slot, for `set_returns` once the episode is over."""
        i = self._next
        for key in self._fields:
            self._data[key][i] = transition[key]
        self._data[RETURN][i] = self.pending_return
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return i

    def set_returns(self, slots: list[int], rewards: list[float], gamma: float) -> None:
        """Fill in the discounted return-to-go of one finished episode's transitions (slots in time order)."""
        to_go = 0.0
        for slot, reward in zip(reversed(slots), reversed(rewards), strict=True):
            to_go = reward + gamma * to_go
            self._data[RETURN][slot] = to_go

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
