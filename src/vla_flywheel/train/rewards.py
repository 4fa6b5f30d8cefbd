"""Per-step rewards for the RL specialists: the task's sparse success, or success plus a progress potential's change.

`sparse` is PLD's reward: 1 on the success that ends the episode, 0 otherwise; every return lies in [0, 1].

`progress` adds the change of a progress potential Φ between consecutive observations, r = success + Φ(s') − Φ(s):
potential-based shaping (Ng et al. 1999), which leaves the optimal policy of the sparse task unchanged while telling
the learner at every step whether it moved towards the goal. VLAC's RL loop rewards exactly this with its critic's
progress (papers.md §4.3); here Φ is the simulator's own stage-wise progress (`info["progress"]`: reach, hold,
carry), the dense ground truth such a critic estimates. The discounted sum telescopes to about success + Φ(s_T) −
Φ(s_0), so returns lie in [−1, 2].
"""

from __future__ import annotations

from typing import Any

from vla_flywheel.errors import ConfigError

REWARDS = ("sparse", "progress")
RETURN_BOUNDS = {"sparse": (0.0, 1.0), "progress": (-1.0, 2.0)}


class StepReward:
    """`reset(info)` after each env reset, then `__call__(reward, info)` after each env step -> the learner's reward."""

    def __init__(self, kind: str):
        if kind not in REWARDS:
            raise ConfigError(f"specialist: reward={kind!r} is not one of {', '.join(REWARDS)}")
        self.kind = kind
        self._potential = 0.0

    @property
    def return_bounds(self) -> tuple[float, float]:
        """The least and greatest discounted return this reward allows (bounds the critics' bootstrapped targets)."""
        return RETURN_BOUNDS[self.kind]

    def reset(self, info: dict[str, Any]) -> None:
        self._potential = self._read(info)

    def __call__(self, reward: float, info: dict[str, Any]) -> float:
        if self.kind == "sparse":
            return reward
        potential = self._read(info)
        shaped, self._potential = reward + potential - self._potential, potential
        return shaped

    def _read(self, info: dict[str, Any]) -> float:
        if self.kind == "sparse":
            return 0.0
        if "progress" not in info:
            raise ConfigError("specialist: reward='progress' needs an env that reports info['progress'] (the tabletop "
                              "does; Meta-World does not): use reward='sparse' there")  # fmt: skip
        return float(info["progress"])
