"""The backend interface, and the worker-side wrapper that makes a failed `init` surface as the job's error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Backend:
    """Runs `fn(job)` for every job on workers initialised once each; `map` yields the results in job order."""

    name: str = ""
    workers: int = 1

    def map(self, fn: Callable[[Any], Any], jobs: Iterable) -> Iterator:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the workers (and what the backend started for them); idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- worker side
# An exception in a process-pool initializer breaks the pool with a generic error, and one in a Ray actor's
# constructor reads as "actor died": both would hide e.g. a bad checkpoint. The error is kept and raised by every job.
_init_error: BaseException | None = None


def init_worker(init: Callable[..., None], init_args) -> None:
    global _init_error
    try:
        init(*init_args)
    except Exception as e:
        _init_error = e


def call(fn: Callable[[Any], Any], job):
    if _init_error is not None:
        raise _init_error
    return fn(job)
