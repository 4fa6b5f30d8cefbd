"""Camera frames kept on disk while training, so memory stays flat however much data a flywheel accumulates.

Each round adds episodes, and a policy trains on all of them: holding every 64 px frame in memory (12 KB each) grows
a run's RSS round after round. A spool writes one camera's frames, raw, to an unlinked temporary file (nothing to
clean up after a crash) and a batch reads its rows back with positioned reads; in practice they come from the page
cache, which the kernel can reclaim, so the process's own memory holds only a batch.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import torch


class FrameSpool:
    """uint8 frames [N, S, S, 3] of one camera, appended episode by episode, read back by index."""

    def __init__(self, frame_shape: tuple[int, ...]):
        self.frame_shape = tuple(frame_shape)  # (S, S, 3)
        self.frame_bytes = int(np.prod(self.frame_shape))
        self._file = tempfile.TemporaryFile(prefix="vla-flywheel-frames-")  # noqa: SIM115 (lives as long as the spool)
        self._count = 0

    def append(self, frames: np.ndarray) -> None:
        """frames uint8 [T, S, S, 3] -> appended at rows count .. count+T-1."""
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if frames.shape[1:] != self.frame_shape:
            raise ValueError(f"frames of shape {frames.shape[1:]} in a spool of {self.frame_shape}")
        self._file.write(frames.tobytes())
        self._count += len(frames)

    def __len__(self) -> int:
        return self._count

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._count, *self.frame_shape)

    def __getitem__(self, indices: torch.Tensor) -> torch.Tensor:
        """indices [B] -> uint8 [B, S, S, 3]."""
        self._file.flush()
        fd, size = self._file.fileno(), self.frame_bytes
        rows = indices.reshape(-1).tolist()
        out = np.empty((len(rows), *self.frame_shape), np.uint8)
        for row, i in enumerate(rows):
            out[row] = np.frombuffer(os.pread(fd, size, i * size), np.uint8).reshape(self.frame_shape)
        return torch.from_numpy(out)

    def close(self) -> None:
        self._file.close()
