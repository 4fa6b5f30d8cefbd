#!/usr/bin/env bash
# Sets up everything vla-flywheel needs on a fresh Debian/Ubuntu machine, idempotently:
#   1. the system GL libraries MuJoCo needs to render headless (EGL/Mesa), installed when missing and run as root;
#   2. a Python >= 3.11 virtual environment in .venv with the pinned CPU stack and this package (editable), with the
#      dev, metaworld and ray extras.
set -euo pipefail
cd "$(dirname "$0")/.."

EGL_PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1"
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing headless GL libraries: $EGL_PACKAGES"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $EGL_PACKAGES >/dev/null
  else
    echo "setup: error: libEGL.so.1 is missing; install it with: sudo apt-get install -y $EGL_PACKAGES" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: error: $PYTHON is not Python >= 3.11; set PYTHON=/path/to/python3.11 and rerun" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch first and exactly pinned: this version resolves to the CPU build (others pull gigabytes of CUDA wheels).
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
# the metaworld extra is small (~10 s) and pins the same mujoco, so the Meta-World tasks and their tests work too;
# the ray extra (~20 s, ~350 MB) gives the Ray collection backend and its tests
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,metaworld,ray]"
echo "setup: ready ($(.venv/bin/python -c 'import torch, mujoco; print(f"torch {torch.__version__}, mujoco {mujoco.__version__}")'))"
