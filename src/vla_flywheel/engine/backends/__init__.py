"""Where whole episodes run: in this process, in spawned processes, or on Ray actors, behind one interface.

    with make_backend("ray", workers=2, init=_init_worker, init_args=(policy_dir, 1)) as backend:
        for result in backend.map(_run_episode, jobs):  # results in job order
            ...

`init` and `fn` are module-level functions (they travel by reference): each worker runs `init(*init_args)` once (load
a policy, make an env) and then `fn(job)` per job, one whole episode each. Since an episode depends only on what
`init` loaded and on its job (seeded agents, seeded resets), every backend and worker count gives the same results.

- inprocess: one worker, this process (`init` runs here, so its errors raise at once).
- process: a spawned process-pool executor (fork hangs with GL contexts).
- ray: one Ray actor per worker, on a local cluster started for the run or on an existing one (RAY_ADDRESS); a worker
  that dies has its unfinished jobs run again on a fresh actor (optional extra: `pip install -e ".[ray]"`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vla_flywheel.engine.backends.base import Backend
from vla_flywheel.errors import ConfigError

BACKENDS = ("inprocess", "process", "ray")
AUTO = "auto"  # inprocess for one worker, process otherwise

__all__ = ["AUTO", "BACKENDS", "Backend", "check_backend", "make_backend", "resolve_backend"]


def resolve_backend(name: str, workers: int, where: str = "backend") -> str:
    """The concrete backend for `name` ("auto" picks by worker count); a bad name or combination is one line."""
    if name == AUTO:
        return "inprocess" if workers == 1 else "process"
    if name not in BACKENDS:
        raise ConfigError(f"{where}: unknown backend {name!r}; choose from {AUTO}, {', '.join(BACKENDS)}")
    if name == "inprocess" and workers != 1:
        raise ConfigError(f"{where}: backend 'inprocess' runs one worker, not {workers}; pass --workers 1 or "
                          "--backend process (or ray)")  # fmt: skip
    return name


def check_backend(name: str, workers: int, where: str) -> str:
    """`resolve_backend`, and for ray also that the extra is installed (config validation, before any work)."""
    resolved = resolve_backend(name, workers, where)
    if resolved == "ray":
        from vla_flywheel.engine.backends.ray_actors import require_ray

        require_ray(where)
    return resolved


def make_backend(
    name: str,
    workers: int,
    init: Callable[..., None],
    init_args: Sequence = (),
    *,
    address: str | None = None,
    max_retries: int = 3,
) -> Backend:
    """A started backend with `workers` workers, each initialised once with `init(*init_args)`.

    address (ray only): a cluster to connect to ("auto", "ray://host:10001", ...); None uses RAY_ADDRESS when set,
        else starts a local cluster of `workers` CPUs for this backend (shut down on close).
    max_retries (ray only): how many times a job lost with its worker is run again before the map fails.
    """
    resolved = resolve_backend(name, workers)
    if resolved == "inprocess":
        from vla_flywheel.engine.backends.inprocess import InProcessBackend

        return InProcessBackend(init, init_args)
    if resolved == "process":
        from vla_flywheel.engine.backends.process_pool import ProcessPoolBackend

        return ProcessPoolBackend(workers, init, init_args)
    from vla_flywheel.engine.backends.ray_actors import RayBackend

    return RayBackend(workers, init, init_args, address=address, max_retries=max_retries)
