"""Training data: every frame of one or more datasets, sampled as (observation, action chunk) batches.

States, actions and indices are small and live in memory, so sampling is a tensor index. Camera frames (~12 KB each
at 64 px) go to an on-disk spool (train/frame_spool.py) as they are read, so memory stays flat while a flywheel's
data grows round after round; a batch reads back its 32 rows.

Chunks follow LeRobot: frame t's target is actions t .. t+H-1 of its episode; steps past the episode's end repeat
the last action and are flagged in `action_is_pad` so the loss ignores them.

Flywheel round datasets carry a per-frame `judge.weight`: frames of weight 0 (what the judge rejected) are not
loaded, and batches draw the rest in proportion to their weight (filtered BC is binary weights; VLAC's data
refinement weights frames by their progress).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vla_flywheel.constants import (
    ACTION,
    JUDGE_WEIGHT,
    OBS_IMAGES_PREFIX,
    OBS_LANG_MASK,
    OBS_LANG_TOKENS,
    OBS_STATE,
    PRIMITIVE_PICK,
    PRIMITIVE_PLACE,
)
from vla_flywheel.data import DatasetReader
from vla_flywheel.errors import DatasetError
from vla_flywheel.models.policy.modeling import ACTION_IS_PAD
from vla_flywheel.models.tokenizer import WordTokenizer
from vla_flywheel.train.frame_spool import FrameSpool


@dataclass
class TrainingData:
    images: dict[str, FrameSpool]  # key -> uint8 [N, S, S, 3] on disk, indexed by a tensor of frame indices
    state: torch.Tensor  # [N, state_dim]
    action: torch.Tensor  # [N, action_dim]
    points: torch.Tensor | None  # [N, 5] the episode's pick (x, y, yaw) and place (x, y), when recorded
    last_index: torch.Tensor  # [N] index of the last frame of each frame's episode
    task_index: torch.Tensor  # [N] row of `tasks`
    weight: torch.Tensor | None  # [N] sampling weight of each frame; None = uniform
    tasks: list[str]
    action_names: tuple[str, ...]
    state_names: tuple[str, ...]
    fps: int
    robot_type: str
    episodes: int

    @classmethod
    def load(cls, roots: list[Path], max_episodes: int | None = None) -> TrainingData:
        """Read the first `max_episodes` episodes of each dataset (all when None); the datasets must agree."""
        images: dict[str, FrameSpool] = {}
        state, action, points, last, task_index, tasks, weights = [], [], [], [], [], [], []
        first: DatasetReader | None = None
        count = offset = 0
        for root in roots:
            reader = DatasetReader(root)
            first = first or reader
            _check_compatible(first, reader)
            n = reader.num_episodes if max_episodes is None else min(max_episodes, reader.num_episodes)
            for i in range(n):
                episode = reader.episode(i)
                length = len(episode[ACTION])
                weight = np.asarray(episode.get(JUDGE_WEIGHT, np.ones((length, 1))), np.float32).reshape(-1)
                if not (weight > 0).any():
                    continue  # the judge rejected the whole episode
                for key in first.features:
                    if key.startswith(OBS_IMAGES_PREFIX):
                        frames = np.asarray(episode[key])  # [T, S, S, 3]
                        images.setdefault(key, FrameSpool(frames.shape[1:])).append(frames)
                state.append(episode[OBS_STATE])
                action.append(episode[ACTION])
                if PRIMITIVE_PICK in episode and PRIMITIVE_PLACE in episode:
                    points.append(np.concatenate([episode[PRIMITIVE_PICK], episode[PRIMITIVE_PLACE]], axis=1))
                last.append(np.full(length, offset + length - 1))
                task = episode["task"][0]
                if task not in tasks:
                    tasks.append(task)
                task_index.append(np.full(length, tasks.index(task)))
                weights.append(weight)
                offset += length
                count += 1
        if first is None or count == 0:
            raise DatasetError(
                f"training data: no episodes to train on in {', '.join(map(str, roots)) or 'no dataset given'} "
                "(empty, or every episode weighted 0); add some with `flywheel collect --append --out DIR`"
            )
        features = first.features
        weight = np.concatenate(weights)
        return cls(
            images=images,
            state=torch.from_numpy(np.concatenate(state)).float(),
            action=torch.from_numpy(np.concatenate(action)).float(),
            points=torch.from_numpy(np.concatenate(points)).float() if len(points) == count else None,
            last_index=torch.from_numpy(np.concatenate(last)).long(),
            task_index=torch.from_numpy(np.concatenate(task_index)).long(),
            weight=None if (weight == 1).all() else torch.from_numpy(weight),
            tasks=tasks,
            action_names=tuple(features[ACTION].get("names") or ()),
            state_names=tuple(features[OBS_STATE].get("names") or ()),
            fps=first.fps,
            robot_type=str(first.info.get("robot_type", "")),
            episodes=count,
        )

    def __len__(self) -> int:
        return len(self.state)

    def sample_indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """[batch_size] frame indices: uniform, or in proportion to `weight` when the data is weighted."""
        if self.weight is None:
            return torch.randint(len(self), (batch_size,), generator=generator)
        return torch.multinomial(self.weight, batch_size, replacement=True, generator=generator)

    @property
    def image_size(self) -> int:
        return int(next(iter(self.images.values())).shape[1])

    def batch(self, indices: torch.Tensor, horizon: int, tokenizer: WordTokenizer) -> dict[str, torch.Tensor]:
        """indices [B] -> a policy batch with action chunks [B, horizon, A] and `action_is_pad` [B, horizon]."""
        steps = indices[:, None] + torch.arange(horizon)[None]  # [B, H]
        pad = steps > self.last_index[indices][:, None]
        steps = torch.minimum(steps, self.last_index[indices][:, None])
        tokens, mask = tokenizer([self.tasks[i] for i in self.task_index[indices].tolist()])
        extra = {}
        if self.points is not None:
            extra = {PRIMITIVE_PICK: self.points[indices, :3], PRIMITIVE_PLACE: self.points[indices, 3:]}
        return {
            **extra,
            **{key: images[indices] for key, images in self.images.items()},
            OBS_STATE: self.state[indices],
            OBS_LANG_TOKENS: tokens,
            OBS_LANG_MASK: mask,
            ACTION: self.action[steps],
            ACTION_IS_PAD: pad,
        }


def _check_compatible(first: DatasetReader, other: DatasetReader) -> None:
    for key in (ACTION, OBS_STATE):
        if key not in other.features:
            raise DatasetError(f"training data: {other.root} has no {key!r} feature; a policy needs it")
    a, b = first.features, other.features
    for key in sorted(set(a) | set(b)):
        if not (key.startswith(OBS_IMAGES_PREFIX) or key in (ACTION, OBS_STATE)):
            continue
        mine, theirs = a.get(key, {}), b.get(key, {})
        if (mine.get("shape"), mine.get("names")) != (theirs.get("shape"), theirs.get("names")):
            raise DatasetError(
                f"training data: {other.root} and {first.root} disagree on {key!r} "
                f"({theirs} vs {mine}); train on datasets of one interface and camera setup"
            )
