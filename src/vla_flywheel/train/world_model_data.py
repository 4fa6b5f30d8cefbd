"""Training windows for the world model: K chunks of k actions, with the frames and states around them.

A window starting at row t holds the frames at t, t+k, ..., t+Kk (the model sees the first, predicts the rest), the
states at every row from t to t+Kk and the K*k actions in between. Rows follow LeRobot's convention (row t: the
observation at t and the action taken there; the observation after an episode's last action is not a row), so a
window must end by the episode's last row.

VLAW post-trains its world model on every real rollout, failures included: a model that has only seen the block land
on the pad will paint it there whatever the actions say. `successes_only` drops failed episodes, for the ablation
that measures exactly that (VLAW Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vla_flywheel.constants import ACTION, NEXT_SUCCESS, OBS_STATE, TASK
from vla_flywheel.data import DatasetReader
from vla_flywheel.errors import DatasetError
from vla_flywheel.models.world_model.modeling import ACTIONS, FRAMES, STATES


@dataclass
class Episode:
    images: np.ndarray  # uint8 [T, S, S, 3]
    states: np.ndarray  # float32 [T, D]
    actions: np.ndarray  # float32 [T, A]
    task: str
    success: bool  # the simulator's outcome (True without `next.success`: demonstrations); never a model input
    source: str  # dataset directory and episode index, for messages


def load_episodes(roots: list[Path], image_key: str, successes_only: bool = False) -> list[Episode]:
    """Every episode of the datasets in memory (a 64 px frame is 12 KB); failures dropped when `successes_only`."""
    episodes = []
    for root in roots:
        reader = DatasetReader(root)
        for key in (image_key, OBS_STATE, ACTION):
            if key not in reader.features:
                raise DatasetError(f"world model data: {root} has no {key!r}; record it or pass another dataset")
        for i in range(reader.num_episodes):
            e = reader.episode(i)
            success = bool(np.asarray(e[NEXT_SUCCESS]).reshape(-1)[-1]) if NEXT_SUCCESS in e else True
            if successes_only and not success:
                continue
            episodes.append(
                Episode(np.array(e[image_key]), np.array(e[OBS_STATE], np.float32),
                        np.array(e[ACTION], np.float32), e[TASK][0], success, f"{root} episode {i}")
            )  # fmt: skip
    if not episodes:
        what = "successful episodes" if successes_only else "episodes"
        raise DatasetError(f"world model data: no {what} in {', '.join(map(str, roots))}; collect some first")
    return episodes


class WorldModelWindows:
    """All episodes concatenated, and every row a window of `steps` chunks of `chunk` actions can start from."""

    def __init__(self, episodes: list[Episode], chunk: int, steps: int):
        self.chunk, self.steps = chunk, steps
        span = chunk * steps  # rows from a window's first frame to its last
        long_enough = [e for e in episodes if len(e.images) > span]
        if not long_enough:
            raise DatasetError(
                f"world model data: no episode is longer than {span} rows ({steps} chunks of {chunk}); "
                "lower --rollout-steps or collect longer episodes"
            )
        self.images = torch.from_numpy(np.concatenate([e.images for e in long_enough]))  # uint8 [N, S, S, 3]
        self.states = torch.from_numpy(np.concatenate([e.states for e in long_enough]))  # [N, D]
        self.actions = torch.from_numpy(np.concatenate([e.actions for e in long_enough]))  # [N, A]
        offsets = np.cumsum([0] + [len(e.images) for e in long_enough])
        self.starts = torch.from_numpy(
            np.concatenate([np.arange(o, o + len(e.images) - span) for o, e in zip(offsets, long_enough, strict=False)])
        )  # [W] first rows of every window that ends inside its episode
        self.episodes = len(long_enough)
        self.successes = sum(e.success for e in long_enough)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def frames(self) -> int:
        return len(self.images)

    def normalization(self) -> tuple[torch.Tensor, ...]:
        """(state mean, state std, action mean, action std) over every row."""
        return self.states.mean(0), self.states.std(0), self.actions.mean(0), self.actions.std(0)

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch of random windows: frames uint8 [B, K+1, S, S, 3], states [B, K*k+1, D], actions [B, K, k, A]."""
        first = self.starts[torch.randint(len(self.starts), (batch_size,), generator=generator)]  # [B]
        span = self.chunk * self.steps
        rows = first[:, None] + torch.arange(span + 1)  # [B, Kk+1]
        return {
            FRAMES: self.images[rows[:, :: self.chunk]],
            STATES: self.states[rows],
            ACTIONS: self.actions[rows[:, :-1]].unflatten(1, (self.steps, self.chunk)),
        }
