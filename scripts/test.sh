#!/usr/bin/env bash
# Set up, then lint and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_browser.sh  # Debian's chromium: the report test opens report.html in a real headless browser
export MUJOCO_GL=${MUJOCO_GL:-egl}
.venv/bin/ruff check src tests bench
.venv/bin/python -m pytest -q -p no:cacheprovider tests
