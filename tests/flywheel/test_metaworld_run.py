"""The flywheel runs a Meta-World task unchanged: the shipped expert's demos, a base policy, a round of rollouts
judged by the oracle, evaluation and the record, with Meta-World's robot type carried into every dataset, and the
run's `max_steps` horizon bounding every episode instead of Meta-World's 500 steps."""

import json

import pytest

from vla_flywheel.data import DatasetReader
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout

pytest.importorskip("metaworld", reason="the [metaworld] extra is not installed")

FAMILY = "mw/reach-v3"
HORIZON = 120  # the reach expert succeeds within ~50 steps; a 10-step policy fails and runs to the horizon


def test_a_filtered_bc_round_on_a_metaworld_task(tmp_path):
    out = tmp_path / "mw"
    cfg = RunConfig(out=out, families=(FAMILY,), interface="ee_delta", seed_demos=3, rounds=1, episodes_per_round=2,
                    base_steps=10, round_steps=5, eval_episodes=2, threads=1, eval_workers=1, videos=1,
                    max_steps=HORIZON)  # fmt: skip
    rounds = run_flywheel(cfg, progress=False)
    run = RunLayout(out)
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[1]["success"][f"{FAMILY}/train"]["n"] == 2
    demos = DatasetReader(run.demos)
    assert demos.num_episodes == 3 and demos.info["robot_type"] == "metaworld_sawyer"
    assert all(e["next.success"][-1] for e in demos.iter_episodes())  # the shipped expert reached the goal
    assert DatasetReader(run.round_data(1)).info["robot_type"] == "metaworld_sawyer"
    assert json.loads((out / "config.json").read_text())["families"] == [FAMILY]
    round_lengths = [len(e["action"]) for e in DatasetReader(run.round_data(1)).iter_episodes()]
    eval_lengths = [e["length"] for e in json.loads((run.eval(1) / "eval_info.json").read_text())["episodes"]]
    assert max(round_lengths + eval_lengths) == HORIZON


def test_a_metaworld_task_needs_the_ee_delta_interface(tmp_path):
    with pytest.raises(ConfigError, match="pass --interface ee_delta"):
        RunConfig(out=tmp_path / "x", families=(FAMILY,))
