"""Ray actors as workers: one per worker, each initialised once, jobs (whole episodes) two at a time per actor.

Without an address (and without RAY_ADDRESS) a local cluster of `workers` CPUs is started for the backend and shut
down on close; with one, the backend connects to that cluster and leaves it running. A Ray session this process
already has (`ray.init` by the caller) is used as is.

A worker that dies (killed, out of memory, a crash in native code) loses the jobs it held: they go back to the front
of the queue, a fresh actor takes its place, and the map goes on; a job lost `max_retries` times ends the map with
one line. An exception raised by `fn` itself is not retried: it is re-raised here as it was raised there.
"""

from __future__ import annotations

import logging
import os
from collections import deque

from vla_flywheel.engine.backends.base import Backend, call, init_worker
from vla_flywheel.errors import ConfigError, FlywheelError

IN_FLIGHT = 2  # jobs queued per actor: the next episode starts while the driver receives the last one
FORWARDED_ENV = ("MUJOCO_GL", "PYOPENGL_PLATFORM")  # how to render, for workers on a cluster started elsewhere


def require_ray(where: str = "backend"):
    try:
        import ray
    except ImportError:
        raise ConfigError(f'{where}: the ray backend needs Ray; install it with pip install -e ".[ray]"') from None
    return ray


class EpisodeWorker:
    """The actor: `init` once, then jobs."""

    def __init__(self, init, init_args):
        init_worker(init, init_args)

    def run(self, fn, job):
        return call(fn, job)


class RayBackend(Backend):
    name = "ray"

    def __init__(self, workers: int, init, init_args=(), address: str | None = None, max_retries: int = 3):
        ray = require_ray()
        self.workers, self.max_retries, self.restarts = workers, max_retries, 0
        self._started_ray = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            try:
                if address:
                    ray.init(address=address, logging_level=logging.WARNING)
                else:
                    # "local": a cluster of our own, even where `ray start` left one (or its stale address file)
                    ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                fix = "start one with `ray start --head` or unset RAY_ADDRESS to start a local one"
                if "auth" in repr(e.__cause__).lower():  # `ray start` enables token authentication by default
                    fix = "it wants its token: set RAY_AUTH_MODE=token (the token is in ~/.ray/auth_token)"
                raise FlywheelError(f"ray backend: cannot start or reach {where} ({_one_line(e)}); {fix}") from None
            self._started_ray = True
        self._actors: list = []
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < workers:
            self.close()
            raise ConfigError(f"ray backend: the cluster has {cpus:g} CPUs, fewer than the {workers} workers asked "
                              "for (one CPU each); pass fewer --workers or add nodes")  # fmt: skip
        # the driver's rendering settings, set in the actor's process before anything (MuJoCo) is imported there
        env = {key: os.environ[key] for key in FORWARDED_ENV if key in os.environ}
        runtime_env = {"env_vars": env} if env else None
        self._actor_class = ray.remote(num_cpus=1)(EpisodeWorker).options(runtime_env=runtime_env)
        self._actor_args = (init, tuple(init_args))
        self._actors = [self._spawn() for _ in range(workers)]

    def _spawn(self):
        return self._actor_class.remote(*self._actor_args)

    def map(self, fn, jobs):
        import ray
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        jobs = list(jobs)
        queue = deque(range(len(jobs)))
        lost = [0] * len(jobs)  # times each job was lost with its worker
        in_flight: dict = {}  # ObjectRef -> (job index, actor slot)
        done: dict[int, object] = {}
        next_out = 0
        while next_out < len(jobs):
            for slot, actor in enumerate(self._actors):
                while queue and sum(s == slot for _, s in in_flight.values()) < IN_FLIGHT:
                    i = queue.popleft()
                    in_flight[actor.run.remote(fn, jobs[i])] = (i, slot)
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            i, slot = in_flight.pop(ref)
            try:
                done[i] = ray.get(ref)
            except (RayActorError, WorkerCrashedError) as e:
                # the actor is gone with every job it held: requeue them (in order, at the front) on a fresh actor
                held = [i]
                for other, (j, s) in list(in_flight.items()):
                    if s == slot:
                        del in_flight[other]
                        held.append(j)
                held.sort()
                for j in held:
                    lost[j] += 1
                    if lost[j] > self.max_retries:
                        raise FlywheelError(
                            f"ray backend: job {j} ({jobs[j]!r}) was lost with its worker {lost[j]} times "
                            f"(last: {_one_line(e)[:200]}); a worker keeps dying — check its memory "
                            "and the Ray logs (/tmp/ray/session_latest/logs)"
                        ) from None
                queue.extendleft(reversed(held))
                ray.kill(self._actors[slot], no_restart=True)
                self._actors[slot] = self._spawn()
                self.restarts += 1
                continue
            except RayTaskError as e:  # fn (or init) raised: the caller gets that error, not Ray's wrapper
                if isinstance(e.cause, Exception):
                    raise e.cause from None
                raise
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1

    def close(self) -> None:
        import ray

        for actor in getattr(self, "_actors", []):
            ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
