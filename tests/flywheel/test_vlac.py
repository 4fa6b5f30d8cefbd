"""The `vlac` recipe runs a whole round on ee_delta: a progress critic trained on the seed demos judges each rollout
by its integrated value and done head, and what it keeps trains the policy frame by frame, in proportion to the
progress the critic saw there (negative progress masked: VLAC's data refinement)."""

import json

import numpy as np
import pytest

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.judging import compared_frames, progress_weights
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import kept_nothing
from vla_flywheel.models.judges import FlywheelJudge
from vla_flywheel.train.judge_data import load_episodes

POLICY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": [16, 16], "flow_hidden": 64, "keypoints": 4}
THRESHOLD = 0.02  # low, so the tiny critic keeps some episodes and their frame weights are exercised
SETTINGS = dict(recipe="vlac", seed_demos=2, rounds=1, episodes_per_round=4, base_steps=5, round_steps=5,
                eval_episodes=2, threads=1, eval_workers=1, videos=1, max_steps=30, judge_steps=30,
                threshold=THRESHOLD, policy=POLICY)  # fmt: skip


@pytest.fixture(scope="module")
def vlac_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vlac") / "run"
    return out, run_flywheel(RunConfig(out=out, **SETTINGS), progress=False)


def test_the_critic_judges_every_rollout_and_weights_the_frames_it_keeps(vlac_run):
    out, rounds = vlac_run
    run = RunLayout(out)
    critic = FlywheelJudge.from_pretrained(run.judge(0))
    assert critic.config.progress_reading == "potential"  # trained on the seed demos, as train-judge trains it
    quality = rounds[1]["judge_quality"]
    assert quality["tp"] + quality["fp"] + quality["fn"] + quality["tn"] == 4
    reader = DatasetReader(run.round_data(1))
    kept = 0
    for i in range(reader.num_episodes):
        e = reader.episode(i)
        score = float(np.asarray(e[k.JUDGE_SCORE]).reshape(-1)[0])
        keep = bool(np.asarray(e[k.JUDGE_KEEP]).reshape(-1)[0])
        weights = np.asarray(e[k.JUDGE_WEIGHT]).reshape(-1)
        assert keep == (score > THRESHOLD)  # score = max(final value, done): either clearing it keeps the episode
        if keep:
            kept += 1
            positive = weights[weights > 0]
            assert len(positive) and ((positive >= 0.5) & (positive <= 1)).all()  # 0.5 + 0.5 c / max c
        else:
            assert (weights == 0).all()
    assert 0 < kept == rounds[1]["data_added"]["kept"]
    line = json.loads(run.rounds.read_text().splitlines()[1])
    assert line["budgets"]["spent"]["judge_gradient_steps"] == 30


def test_refinement_masks_the_steps_that_lost_progress_and_keeps_the_ones_that_held_it():
    idx = compared_frames(12, stride=5)
    assert idx.tolist() == [0, 5, 10, 11]  # every 0.5 s, and the last frame
    weights = progress_weights(np.array([0.2, -0.1, 0.0]), idx, 12)
    assert weights[:5].tolist() == [1.0] * 5  # the most progress: weight 1
    assert weights[5:10].tolist() == [0.0] * 5  # lost progress: masked
    assert weights[10:].tolist() == [0.5, 0.5]  # held (a grasp closing): still trained on, the last frame with it
    assert progress_weights(np.array([0.2, -0.1, 0.0]), idx, 12, keep_held=False)[10:].tolist() == [0.0, 0.0]


def test_a_judge_that_keeps_nothing_is_reported_with_its_best_score():
    verdicts = [{"keep": False, "score": 0.31}, {"keep": False, "score": 0.45}]
    warning = kept_nothing(verdicts, "critic", 0.8)
    assert "kept none of 2 episodes" in warning and "highest score 0.45" in warning and "threshold 0.8" in warning
    assert kept_nothing([*verdicts, {"keep": True, "score": 0.9}], "critic", 0.8) is None
    assert kept_nothing([], "critic", 0.8) is None


def test_a_rounds_verdicts_train_judges_but_the_truth_measures_them(vlac_run):
    """A judge retrained on round data learns what the flywheel believed (kept episodes, as successes); eval-judge
    on the same data must score every episode against the simulator's outcome, or it grades the judge by itself."""
    out, _ = vlac_run
    data = RunLayout(out).round_data(1)
    episodes = list(DatasetReader(data).iter_episodes())
    truth = [bool(np.asarray(e[k.NEXT_SUCCESS]).reshape(-1)[-1]) for e in episodes]
    kept = [bool(np.asarray(e[k.JUDGE_KEEP]).reshape(-1)[0]) for e in episodes]
    key = FlywheelJudge.from_pretrained(RunLayout(out).judge(0)).config.image_key
    measured = load_episodes([data], key, as_judged=False)
    assert [e.success for e in measured] == truth and len(measured) == 4
    believed = load_episodes([data], key)
    assert len(believed) == sum(kept) and all(e.success for e in believed)
