"""Collection scaling: whole-episode expert collection on each backend, 1 and 2 workers, episodes/s and 2-vs-1 ratios.

The workload is `flywheel collect`'s: the scripted expert on ee_delta pick_place, every control step rendered at 64 px,
one whole episode per job. Two numbers per backend:
- map: `backend.map` over N seeds with workers already started and warmed up (2 episodes each first), results
  received in seed order and dropped: the collection throughput itself;
- collect: `collect()` end to end into a fresh dataset, including starting the workers (and the Ray cluster) and
  writing every episode in the parent.
The target (issue 8): Ray with 2 workers >= 1.5x the episodes/s of 1. On a shared 2-core machine the numbers move with
the other jobs' load; the load average is printed next to them.

Run: .venv/bin/python bench/collection_scaling.py [--episodes 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: it picks its GL backend on import

from vla_flywheel.engine.backends import make_backend  # noqa: E402
from vla_flywheel.engine.collect import CollectConfig, _close_worker, _episode, _init_worker, collect  # noqa: E402
from vla_flywheel.envs.tabletop.config import TabletopConfig  # noqa: E402
from vla_flywheel.envs.tabletop.experts import ExpertNoise  # noqa: E402

CONFIGS = [("inprocess", 1), ("process", 1), ("process", 2), ("ray", 1), ("ray", 2)]


def map_rate(backend: str, workers: int, env: TabletopConfig, episodes: int) -> float:
    with make_backend(backend, workers, _init_worker, (env, ExpertNoise(), None)) as b:
        for _ in b.map(_episode, range(10_000, 10_000 + 2 * workers)):  # warm-up: every worker ready, caches hot
            pass
        start = time.perf_counter()
        frames = sum(record.length for record in b.map(_episode, range(episodes)))
        seconds = time.perf_counter() - start
    _close_worker()
    assert frames > 0
    return episodes / seconds


def collect_rate(backend: str, workers: int, env: TabletopConfig, episodes: int, root: Path) -> float:
    out = root / f"{backend}{workers}"
    cfg = CollectConfig(out=out, env=env, episodes=episodes, workers=workers, backend=backend)
    summary = collect(cfg, progress=False)
    shutil.rmtree(out)
    return episodes / summary.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=40)
    args = parser.parse_args()
    env = TabletopConfig(family="pick_place", interface="ee_delta", image_size=64)
    load_before = os.getloadavg()
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, workers in CONFIGS:
            rates[backend, workers] = (
                map_rate(backend, workers, env, args.episodes),
                collect_rate(backend, workers, env, args.episodes, Path(tmp)),
            )
            print(f"  {backend} x{workers}: map {rates[backend, workers][0]:.2f} ep/s, "
                  f"collect {rates[backend, workers][1]:.2f} ep/s", flush=True)  # fmt: skip
    load_after = os.getloadavg()
    print(f"\n{args.episodes} ee_delta pick_place expert episodes, 64 px, {os.cpu_count()} CPUs; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (the CPU is shared with other jobs)\n")  # fmt: skip
    print("| backend | workers | map ep/s (warm) | collect() ep/s (incl. startup + writing) |")
    print("|---|---|---|---|")
    for (backend, workers), (m, c) in rates.items():
        print(f"| {backend} | {workers} | {m:.2f} | {c:.2f} |")
    for backend in ("process", "ray"):
        (m1, c1), (m2, c2) = rates[backend, 1], rates[backend, 2]
        print(f"| **{backend} 2 vs 1** | | **{m2 / m1:.2f}x** | **{c2 / c1:.2f}x** |")


if __name__ == "__main__":
    main()
