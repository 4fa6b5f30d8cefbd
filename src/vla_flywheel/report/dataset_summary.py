"""`flywheel dataset info`: what a dataset holds, in a dozen lines."""

from __future__ import annotations

from collections import Counter

import numpy as np

from vla_flywheel.constants import NEXT_SUCCESS, SOURCE
from vla_flywheel.data import DatasetReader, dataset_size_bytes


def summary_lines(reader: DatasetReader) -> list[str]:
    info = reader.info
    lines = [
        f"dataset     {reader.root}",
        f"format      LeRobotDataset {info['codebase_version']} "
        f"(robot_type={info.get('robot_type')}, fps={reader.fps})",
        f"episodes    {reader.num_episodes}",
        f"frames      {reader.num_frames}",
        f"tasks       {len(reader.tasks)} distinct instructions",
        f"size        {dataset_size_bytes(reader.root) / 1e6:.2f} MB",
    ]
    if reader.num_episodes:
        outcomes, sources = [], Counter()
        for episode in reader.iter_episodes():
            if NEXT_SUCCESS in episode:
                outcomes.append(bool(episode[NEXT_SUCCESS][-1, 0]))
            if SOURCE in episode:
                sources.update(episode[SOURCE][:1])
        if outcomes:
            lines.append(f"success     {np.mean(outcomes):.1%} of episodes (simulator outcome)")
        if sources:
            lines.append("sources     " + ", ".join(f"{s}={n}" for s, n in sorted(sources.items())))
    lines.append("features")
    for key, ft in reader.features.items():
        lines.append(f"  {key:28s} {ft['dtype']:8s} {ft['shape']}")
    if reader.tasks:
        lines.append("examples    " + " / ".join(reader.tasks[:3]))
    return lines
