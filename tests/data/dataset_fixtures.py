"""Synthetic episodes for the dataset tests: random 64x64 images and small vectors, built with numpy.

A uniquely named module (not conftest) so tests import it without clashing with other test dirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla_flywheel.data import feature

IMAGE_KEY = "observation.images.top"


def make_features() -> dict[str, dict[str, Any]]:
    """One feature of every dtype we support."""
    return {
        IMAGE_KEY: feature("image", [64, 64, 3]),
        "observation.state": feature("float32", [6], names=[f"q{i}" for i in range(6)]),
        "action": feature("float32", [4]),
        "next.reward": feature("float32", [1]),
        "next.success": feature("bool", [1]),
        "round": feature("int64", [1]),
        "explanation": feature("string", [1]),
    }


def make_episode(rng: np.random.Generator, length: int) -> dict[str, Any]:
    """frames for add_episode: every non-default feature with leading dim `length`."""
    return {
        IMAGE_KEY: rng.integers(0, 256, size=(length, 64, 64, 3), dtype=np.uint8),
        "observation.state": rng.normal(size=(length, 6)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(length, 4)).astype(np.float32),
        "next.reward": rng.normal(size=(length, 1)).astype(np.float32),
        "next.success": rng.random((length, 1)) < 0.5,
        "round": np.full((length, 1), 3, dtype=np.int64),
        "explanation": [f"frame {t} of {length}" for t in range(length)],
    }


def assert_episode_equal(got: dict[str, Any], frames: dict[str, Any]) -> None:
    """Everything we wrote comes back identical (images bit-exact, shapes [T, *shape])."""
    for key, want in frames.items():
        if isinstance(want, list):
            assert got[key] == want, key
        else:
            want = np.asarray(want)
            assert got[key].dtype == want.dtype, key
            np.testing.assert_array_equal(got[key], want, err_msg=key)
