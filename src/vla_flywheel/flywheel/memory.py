"""Peak resident memory per round, so a long run shows whether its memory stays flat as its data grows.

Linux keeps the process's peak RSS (VmHWM) and lets a process reset it (writing 5 to /proc/self/clear_refs), so each
round's peak is its own, not the run's so far. Elsewhere the numbers are None. Evaluation workers are separate
processes and are not counted (with --eval-workers 1 evaluation runs in this process).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak() -> None:
    """Start a new peak-RSS window (no-op where the kernel does not offer it)."""
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")


def _status_mb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB -> MiB
    except OSError:
        return None
    return None


def memory_record() -> dict[str, float | None]:
    """{"peak_rss_mb": peak since the last reset_peak(), "rss_mb": now}."""
    return {"peak_rss_mb": _status_mb("VmHWM"), "rss_mb": _status_mb("VmRSS")}
