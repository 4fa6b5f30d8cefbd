"""Library versions recorded with every evaluation, so a number can be traced to the code that produced it."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("vla-flywheel", "torch", "mujoco", "gymnasium", "numpy", "pyarrow", "safetensors")


def library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
