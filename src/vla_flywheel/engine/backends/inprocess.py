"""One worker: this process. `init` runs at construction, so its errors (a bad checkpoint) raise right away."""

from __future__ import annotations

from vla_flywheel.engine.backends.base import Backend


class InProcessBackend(Backend):
    name, workers = "inprocess", 1

    def __init__(self, init, init_args=()):
        init(*init_args)

    def map(self, fn, jobs):
        return (fn(job) for job in jobs)
