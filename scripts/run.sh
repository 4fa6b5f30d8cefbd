#!/usr/bin/env bash
# The main job on the built-in default: set up, then run the flywheel with its defaults — filtered BC on the MuJoCo
# tabletop's pick_place task from 10 expert demos, three rounds of 400 autonomous episodes each, every policy
# evaluated on 200 fixed held-out seeds — and write report.html. Everything lands in runs/flywheel/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=${MUJOCO_GL:-egl}
RUN="runs/flywheel/default-$(date +%Y%m%d-%H%M%S)"
.venv/bin/flywheel run --out "$RUN"
echo
echo "Done. Open $RUN/report.html in a browser (it works offline); per-round numbers are in $RUN/rounds.jsonl."
