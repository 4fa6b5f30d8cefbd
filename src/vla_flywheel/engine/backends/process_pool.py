"""Spawned worker processes (a process-pool executor): fork would copy GL contexts and hang in rendering.

`concurrent.futures`, not `multiprocessing.Pool`: `Pool.terminate()` SIGTERMs workers, and one killed while it holds
the result queue's lock (sending a result) leaves that lock held forever, so the pool's own task thread blocks on it
and `terminate()` never returns. It happened here: a job that raised, and a pool closed while the other job's result
was on its way, hung the test suite for 25 minutes on a loaded machine. The executor's shutdown lets running jobs
finish and drops the queued ones, and a worker that dies fails the remaining jobs instead of hanging them.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from vla_flywheel.engine.backends.base import Backend, call, init_worker


class ProcessPoolBackend(Backend):
    """`workers` spawned processes, each running `init` once; results come back in job order."""

    name = "process"

    def __init__(self, workers: int, init, init_args=()):
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_worker,
                                         initargs=(init, tuple(init_args)))  # fmt: skip

    def map(self, fn, jobs):
        return self._pool.map(partial(call, fn), jobs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)  # running jobs finish, queued ones are dropped
            self._pool = None
