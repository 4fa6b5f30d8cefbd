"""Meta-World's task variations ("tasks" in its API; scenes here) and its simulator classes, imported lazily.

A Meta-World benchmark draws, per task, 50 variations: a random vector of object and goal positions, pickled into a
`metaworld.Task` that `env.set_task` applies before `env.reset`. The draws depend only on the benchmark and its seed,
so they are built once per process and cached.
"""

from __future__ import annotations

from functools import cache

from vla_flywheel.errors import ConfigError

EXTRA_HINT = "install the optional extra: pip install -e '.[metaworld]' (or pip install metaworld==3.1.1)"


def require_metaworld():
    """The `metaworld` module, or a one-line ConfigError saying how to install it."""
    try:
        import metaworld
    except ImportError as e:
        raise ConfigError(f"Meta-World tasks need the metaworld package, which could not be imported ({e}); "
                          f"{EXTRA_HINT}") from None  # fmt: skip
    return metaworld


def env_class(task: str):
    """The Meta-World simulator class of a V3 task (`SawyerPickPlaceEnvV3` for "pick-place-v3")."""
    return require_metaworld().env_dict.ALL_V3_ENVIRONMENTS[task]


def variations(task: str, benchmark: str, task_seed: int, split: str) -> tuple:
    """The task's variations (`metaworld.Task`s) in a fixed order: `benchmark` drawn with `task_seed` for "train",
    with `task_seed + 1` for "heldout"."""
    seed = task_seed + (1 if split == "heldout" else 0)
    return _benchmark_tasks(benchmark, task if benchmark == "MT1" else None, seed)[task]


@cache
def _benchmark_tasks(benchmark: str, task: str | None, seed: int) -> dict[str, tuple]:
    metaworld = require_metaworld()
    bench = metaworld.MT1(task, seed=seed) if benchmark == "MT1" else metaworld.MT10(seed=seed)
    grouped: dict[str, list] = {}
    for t in bench.train_tasks:
        grouped.setdefault(t.env_name, []).append(t)
    return {name: tuple(ts) for name, ts in grouped.items()}
