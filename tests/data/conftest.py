"""Fixtures for the dataset tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_fixtures import make_episode, make_features

from vla_flywheel.data import DatasetWriter


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def write_dataset(rng: np.random.Generator) -> Callable[..., tuple[Path, list[dict[str, Any]]]]:
    """Write episodes of the given lengths/tasks; return (root, the frames written)."""

    def _write(
        root: Path, lengths: list[int], tasks: list[str] | None = None, **create_kwargs: Any
    ) -> tuple[Path, list[dict[str, Any]]]:
        tasks = tasks or [f"task {i % 2}" for i in range(len(lengths))]
        episodes = [make_episode(rng, n) for n in lengths]
        with DatasetWriter.create(root, fps=10, features=make_features(), **create_kwargs) as w:
            for frames, task in zip(episodes, tasks, strict=True):
                w.add_episode(frames, task)
        return root, episodes

    return _write
