"""A flywheel run killed (SIGKILL) in the middle of a round continues with --resume: a complete, duplicate-free
dataset, each round recorded once."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed

EPISODES = 30


def _kill_when(process, condition, timeout=300.0):
    began = time.monotonic()
    while not condition():
        assert process.poll() is None, f"the run ended before it could be killed:\n{process.stdout.read()}"
        assert time.monotonic() - began < timeout, "the run never reached the point to kill it at"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _episodes_committed(dataset) -> int:
    """Episodes the writer has committed, from info.json alone: one file, replaced atomically. (Reading the episode
    parquet files while the run replaces them can pair one file's footer with the next version's pages.)"""
    try:
        return json.loads((dataset / "meta" / "info.json").read_text())["total_episodes"]
    except (OSError, ValueError, KeyError):
        return 0


def test_a_run_killed_while_acting_resumes_without_losing_or_repeating_episodes(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "vla_flywheel.cli", "run", "--recipe", "self-train", "--out", str(out),
               "--seed-demos", "3", "--rounds", "1", "--episodes-per-round", str(EPISODES), "--base-steps", "40",
               "--round-steps", "20", "--eval-episodes", "5", "--eval-workers", "1", "--threads", "1",
               "--no-progress"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "MUJOCO_GL": "egl"})  # fmt: skip
    run = RunLayout(out)
    _kill_when(process, lambda: 3 <= _episodes_committed(run.round_data(1)) < EPISODES)
    assert not run.rounds.read_text().count('"round": 1')  # killed before round 1 finished

    rounds = run_flywheel(resume=out, progress=False)
    assert [r["round"] for r in rounds] == [0, 1]
    seeds = [int(np.asarray(e[k.EPISODE_SEED]).ravel()[0]) for e in DatasetReader(run.round_data(1)).iter_episodes()]
    assert seeds == [rollout_seed(1, i) for i in range(EPISODES)]  # every episode once, in order
    assert rounds[1]["budgets"]["spent"]["env_episodes"] == EPISODES
    assert DatasetReader(run.demos).num_episodes == 3

    before = run.rounds.read_text()
    run_flywheel(resume=out, progress=False)  # a finished run resumed does nothing again
    assert run.rounds.read_text() == before
    assert json.loads(before.splitlines()[-1])["data_added"]["generated"] == EPISODES
