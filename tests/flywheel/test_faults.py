"""A flywheel run SIGKILLed at 13 distinct moments (mid dataset write, mid checkpoint, mid evaluation, before its
round record, mid report, ...) and resumed after each finishes with exactly the numbers and data of a run that was
never interrupted, and leaves only valid files behind.

The kills come from failpoints (vla_flywheel.failpoints): the process SIGKILLs itself at the named moment, which is
what a power cut there would leave, at a moment an outside timer would almost never hit.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from safetensors.torch import load_file

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.failpoints import NAMES
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed

from .conftest import flywheel_cli

EPISODES, DEMOS = 6, 3
ARGS = ["--recipe", "filtered-bc", "--seed-demos", str(DEMOS), "--rounds", "1", "--episodes-per-round",
        str(EPISODES), "--base-steps", "30", "--round-steps", "20", "--eval-episodes", "6", "--eval-workers", "1",
        "--threads", "1", "--no-progress"]  # fmt: skip

# In order: each kill lands in a stage the previous resume has reached (the N-th pass counts from the restart).
KILLS = [
    "demos.episode:2",  # seed demos: the second written
    "dataset.write:1",  # the third demo's rows are on disk, its metadata is not
    "train.step:10",  # base training, before its only checkpoint
    "checkpoint.save:1",  # the base checkpoint is complete in its temporary directory
    "checkpoint.link:1",  # ... renamed into place, `last` not yet pointing at it
    "eval.episode:3",  # base evaluation, half done
    "eval.write:1",  # evaluation done, eval_info.json not written
    "round.record:1",  # round 0 measured, its rounds.jsonl line not written
    "rollout.acted:2",  # round 1: an episode acted, not judged
    "judge.verdict:2",  # ... judged, not written
    "dataset.write:2",  # ... its rows written, its metadata not
    "train.step:5",  # round 1 fine-tuning
    "report.write:1",  # everything done, report.html half written
]


def _comparable(rounds_file: Path) -> list[dict]:
    """rounds.jsonl without what legitimately differs between two runs: wall times, memory and the run's path."""
    out = []
    for line in rounds_file.read_text().splitlines():
        record = json.loads(line)
        record.pop("seconds"), record.pop("memory"), record.pop("policy")
        out.append(record)
    return out


def _seeds(dataset: Path) -> list[int]:
    return [int(np.asarray(e[k.EPISODE_SEED]).ravel()[0]) for e in DatasetReader(dataset).iter_episodes()]


def test_failpoints_named_in_kills_exist():
    assert {kill.partition(":")[0] for kill in KILLS} <= set(NAMES)
    assert len(set(KILLS)) >= 10


def test_a_run_killed_at_every_failpoint_resumes_to_the_uninterrupted_result(tmp_path):
    reference = tmp_path / "uninterrupted"
    done = flywheel_cli([*ARGS, "--out", str(reference)], None)
    assert done.returncode == 0, done.stdout + done.stderr

    out = tmp_path / "killed"
    for i, kill in enumerate(KILLS):
        args = [*ARGS, "--out", str(out)] if i == 0 else ["--resume", str(out), "--no-progress"]
        result = flywheel_cli(args, kill)
        assert result.returncode == -9, f"{kill}: the run was not killed there (exit {result.returncode}):\n" + (
            result.stdout[-2000:] + result.stderr[-2000:]
        )
    result = flywheel_cli(["--resume", str(out), "--no-progress"], None)
    assert result.returncode == 0, result.stdout + result.stderr

    run, ref = RunLayout(out), RunLayout(reference)
    assert _comparable(run.rounds) == _comparable(ref.rounds)  # same success, budgets, data added, judge quality
    assert _seeds(run.demos) == _seeds(ref.demos) and len(_seeds(run.demos)) == DEMOS
    assert _seeds(run.round_data(1)) == [rollout_seed(1, i) for i in range(EPISODES)]  # none lost, none twice
    assert run.report.read_text().endswith("</html>")
    for path in out.rglob("*.parquet"):
        pq.read_table(path)  # raises on a torn file
    for path in out.rglob("*.safetensors"):
        load_file(path)
    for name in ("round-000", "round-001"):
        ours = load_file(run.policy(int(name[-1])) / "checkpoints/last/pretrained_model/model.safetensors")
        theirs = load_file(ref.policy(int(name[-1])) / "checkpoints/last/pretrained_model/model.safetensors")
        assert ours.keys() == theirs.keys() and all(ours[n].equal(theirs[n]) for n in ours), name
