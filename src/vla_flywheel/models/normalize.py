"""Mean/std normalization of state and action, kept with the model (LeRobot's processor stats).

Stats are computed from the training data when a policy is made and saved as `normalization.safetensors` next to
the weights, so a loaded policy normalizes exactly as it was trained. A near-constant dimension (e.g. the gripper in
a dataset that never closes) gets std clamped to MIN_STD instead of dividing by zero.
"""

from __future__ import annotations

import torch
from torch import nn

MIN_STD = 1e-2


class Normalizer(nn.Module):
    def __init__(self, stats: dict[str, dict[str, torch.Tensor]]):
        """stats: feature key -> {"mean": [D], "std": [D]}."""
        super().__init__()
        self.keys = sorted(stats)
        for key in self.keys:
            self.register_buffer(self._name(key, "mean"), stats[key]["mean"].float().clone(), persistent=False)
            self.register_buffer(
                self._name(key, "std"), stats[key]["std"].float().clamp(min=MIN_STD).clone(), persistent=False
            )

    @staticmethod
    def _name(key: str, stat: str) -> str:
        return f"{key.replace('.', '__')}__{stat}"

    @classmethod
    def from_data(cls, data: dict[str, torch.Tensor]) -> Normalizer:
        """data: key -> [N, D] samples."""
        return cls({k: {"mean": v.float().mean(0), "std": v.float().std(0)} for k, v in data.items()})

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        return (x - getattr(self, self._name(key, "mean"))) / getattr(self, self._name(key, "std"))

    def unnormalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        return x * getattr(self, self._name(key, "std")) + getattr(self, self._name(key, "mean"))

    def tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor, for safetensors."""
        return {f"{key}/{stat}": getattr(self, self._name(key, stat)) for key in self.keys for stat in ("mean", "std")}

    @classmethod
    def from_tensors(cls, flat: dict[str, torch.Tensor]) -> Normalizer:
        stats: dict[str, dict[str, torch.Tensor]] = {}
        for name, value in flat.items():
            key, stat = name.rsplit("/", 1)
            stats.setdefault(key, {})[stat] = value
        return cls(stats)
