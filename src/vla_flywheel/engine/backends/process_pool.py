"""Spawned worker processes (multiprocessing.Pool): fork would copy GL contexts and hang in rendering."""

from __future__ import annotations

import multiprocessing as mp
from functools import partial

from vla_flywheel.engine.backends.base import Backend, call, init_worker


class ProcessPoolBackend(Backend):
    """`workers` spawned processes, each running `init` once; jobs go one at a time (an episode is long)."""

    name = "process"

    def __init__(self, workers: int, init, init_args=()):
        self.workers = workers
        self._pool = mp.get_context("spawn").Pool(workers, init_worker, (init, tuple(init_args)))

    def map(self, fn, jobs):
        return self._pool.imap(partial(call, fn), jobs, chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()  # every result was consumed (or the run failed): nothing left to finish
            self._pool.join()
            self._pool = None
