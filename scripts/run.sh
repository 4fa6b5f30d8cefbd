#!/usr/bin/env bash
# The main job on the built-in default: set up, then collect scripted-expert data on the MuJoCo tabletop for all
# four task families and both action interfaces (plus deliberately imperfect data), and show it.
# Everything lands in runs/quickstart/<timestamp>/; nothing earlier is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=${MUJOCO_GL:-egl}
RUN="runs/quickstart/$(date +%Y%m%d-%H%M%S)"
fw=.venv/bin/flywheel

$fw collect --family all --interface ee_delta  --episodes 100 --seed 0    --out "$RUN/expert-ee_delta"
$fw collect --family all --interface primitive --episodes 100 --seed 1000 --out "$RUN/expert-primitive"
$fw collect --family all --interface ee_delta  --episodes 50  --seed 2000 --out "$RUN/noisy-ee_delta" \
  --action-std 0.1 --grasp-offset 0.015 --early-release 0.2 --wrong-target 0.2
for ds in expert-ee_delta expert-primitive noisy-ee_delta; do
  echo; $fw dataset info "$RUN/$ds"
  for ep in 0 1 2; do $fw dataset show "$RUN/$ds" --episode $ep; done
done
echo
echo "Done. Datasets (LeRobotDataset v3.0) and episode previews (PNG contact sheets, GIFs) are in $RUN/"
