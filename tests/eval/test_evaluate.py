"""`flywheel eval`: fixed seeds, per-group Wilson intervals, versions, videos, and worker-count independence."""

import json

import pytest

from vla_flywheel.eval.evaluate import EvalConfig, evaluate
from vla_flywheel.eval.seeds import EVAL_SEED_BASE
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.loop import train

TINY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": (16, 16), "flow_hidden": 64, "keypoints": 4}


@pytest.fixture(scope="module")
def policy_run(tmp_path_factory):
    from vla_flywheel.engine.collect import CollectConfig, collect
    from vla_flywheel.envs.tabletop.config import TabletopConfig

    root = tmp_path_factory.mktemp("eval")
    collect(CollectConfig(out=root / "demos", env=TabletopConfig(family="pick_place"), episodes=2), progress=False)
    train(TrainConfig(datasets=(root / "demos",), out=root / "run", steps=2, batch_size=4, policy=TINY), progress=False)
    return root / "run"


def test_eval_info_reports_each_group_with_n_and_a_wilson_interval(tmp_path, policy_run):
    info = evaluate(EvalConfig(policy=policy_run, out=tmp_path, episodes=2, videos=1), progress=False)
    saved = json.loads((tmp_path / "eval_info.json").read_text())
    assert saved["groups"] == info["groups"]
    assert [(g["family"], g["split"], g["n"]) for g in saved["groups"]] == [("pick_place", "train", 2),
                                                                          ("pick_place", "heldout", 2)]  # fmt: skip
    for group in saved["groups"]:
        low, high = group["ci95"]
        assert 0 <= low <= group["success_rate"] <= high <= 1
    assert {e["seed"] for e in saved["episodes"]} == {EVAL_SEED_BASE, EVAL_SEED_BASE + 1}
    assert {"torch", "mujoco", "numpy", "python"} <= set(saved["versions"])
    assert len(saved["videos"]) == 2 and all((tmp_path / v).stat().st_size > 0 for v in saved["videos"])


def test_outcomes_do_not_depend_on_the_number_of_workers(tmp_path, policy_run):
    one = evaluate(EvalConfig(policy=policy_run, out=tmp_path / "a", episodes=2, splits=("train",)), progress=False)
    two = evaluate(EvalConfig(policy=policy_run, out=tmp_path / "b", episodes=2, splits=("train",), workers=2),
                   progress=False)  # fmt: skip
    keep = ("seed", "success", "length", "task")
    assert [{k: e[k] for k in keep} for e in one["episodes"]] == [{k: e[k] for k in keep} for e in two["episodes"]]
