"""Judges learn what they are trained for, and the train-judge / eval-judge commands work end to end."""

import json

import numpy as np
import pytest
import torch

from vla_flywheel.cli import main
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.judge_eval import value_curve
from vla_flywheel.eval.judge_metrics import spearman
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig, JudgeEnsemble
from vla_flywheel.train.judge_data import load_episodes, until_success
from vla_flywheel.train.judge_loop import JudgeTrainConfig, train_judge

SMALL = {"dim": 32, "channels": (8, 16)}


def test_the_critic_learns_progress_and_when_a_demonstration_is_done(ee_delta_demos, tmp_path):
    cfg = JudgeTrainConfig(data={"critic": (ee_delta_demos,)}, out=tmp_path / "critic", steps=200, lr=2e-3,
                           threads=1, judge=SMALL)  # fmt: skip
    train_judge(cfg, progress=False)
    judge = FlywheelJudge.from_pretrained(tmp_path / "critic")
    assert judge.config.progress_reading == "potential"  # train-judge's default for the critic
    for episode in load_episodes([ee_delta_demos], judge.config.image_key):
        first_and_last = episode.images[[0, -1]]
        done = torch.sigmoid(judge.done_logit(first_and_last, [episode.task] * 2))
        assert done[0] < 0.2 and done[1] > 0.8
        values = value_curve(judge, until_success(episode), stride=2)
        assert spearman(np.arange(len(values)), values) > 0.8  # the value climbs along the demonstration
    losses = [r["done_loss"] for r in map(json.loads, (tmp_path / "critic" / "metrics.jsonl").open())]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    _the_critic_reward_pays_a_demonstration_and_charges_it_played_backwards(judge, ee_delta_demos)


def _the_critic_reward_pays_a_demonstration_and_charges_it_played_backwards(judge, demos):
    """VLAC's RL rewards (train.rewards "critic", "critic-value"): progress between consecutive frames, or the change
    of the integrated value, plus a done bonus paid once."""
    from vla_flywheel.train.rewards import StepReward

    def returns(kind, frames, task):
        reward_of = StepReward(kind, judge)
        obs = [{judge.config.image_key: f, "task": task} for f in frames.numpy()]
        reward_of.reset(obs[0], {})
        rewards = [reward_of(o, 0.0, {}) for o in obs[1:]]
        return sum(rewards), sum(r > 0.5 for r in rewards)

    for episode in load_episodes([demos], judge.config.image_key):
        frames = until_success(episode).images
        for kind in ("critic", "critic-value"):
            forward, bonuses = returns(kind, frames, episode.task)
            backward, _ = returns(kind, frames.flip(0), episode.task)
            assert forward > 1.0 and bonuses == 1 and backward < forward - 1.0
        with torch.no_grad():
            phi = judge.potential(frames[[0, -1]], [episode.task] * 2)
        value = float(np.clip(1 - (1 - phi[1]) / (1 - phi[0]), -1, 1))
        assert forward - 1 == pytest.approx(value, abs=1e-4)  # potential-based: the shaping telescopes to the value


def test_train_judge_and_eval_judge_commands(ee_delta_demos, primitive_demos, tmp_path, capsys):
    run = tmp_path / "judge"
    args = ["train-judge", "--data", f"critic={ee_delta_demos}", "--data", f"explainer={primitive_demos}",
            "--data", f"verifier={primitive_demos}", "--out", str(run), "--steps", "3", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert "critic, explainer, verifier" in capsys.readouterr().out
    args = ["eval-judge", "--judge", str(run), "--data", f"expert={ee_delta_demos}", "--data",
            f"primitive={primitive_demos}", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "VOC" in printed and "explainer semantic accuracy" in printed and "verifier  accuracy" in printed
    results = json.loads((run / "eval" / "judge_eval.json").read_text())
    assert set(results) >= {"critic", "explainer", "verifier", "versions"}


def test_an_ensemble_trains_each_member_as_a_judge_alone_and_reads_as_their_mean(ee_delta_demos, tmp_path, capsys):
    common = ["--data", f"critic={ee_delta_demos}", "--steps", "20", "--threads", "1", "--no-progress"]
    assert main(["train-judge", *common, "--out", str(tmp_path / "alone")]) == 0
    assert main(["train-judge", *common, "--out", str(tmp_path / "pair"), "--members", "2"]) == 0
    alone, pair = FlywheelJudge.from_pretrained(tmp_path / "alone"), FlywheelJudge.from_pretrained(tmp_path / "pair")
    assert isinstance(pair, JudgeEnsemble) and len(pair.members) == 2
    episode = until_success(load_episodes([ee_delta_demos], pair.config.image_key)[0])
    video, texts = episode.images, [episode.task] * len(episode.images)
    with torch.no_grad():
        first, second = (m.potential(video, texts) for m in pair.members)  # [T] each
        # the first member is the judge trained alone: the shared optimizer never moved it while the second trained
        assert torch.equal(first, alone.potential(video, texts))
        assert not torch.allclose(first, second)  # its own initialization and draw of examples
        mean = (first + second) / 2
        assert torch.allclose(pair.potential(video, texts), mean)
        assert torch.allclose(pair.progress_along(video, episode.task),
                              FlywheelJudge._between_potentials(mean[:-1], mean[1:]))  # fmt: skip
        done = [m.done_logit(video[-1:], texts[:1]) for m in pair.members]
        assert torch.allclose(pair.done_logit(video[-1:], texts[:1]), (done[0] + done[1]) / 2)
    logged = [json.loads(line) for line in (tmp_path / "pair" / "metrics.jsonl").open()]
    assert {r["member"] for r in logged} == {0, 1}
    capsys.readouterr()
    assert main(["eval-judge", "--judge", str(tmp_path / "pair"), "--data", f"expert={ee_delta_demos}",
                 "--no-progress"]) == 0  # fmt: skip
    assert "VOC" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="members"):
        JudgeConfig(roles=("critic", "verifier"), members=2)  # the verifier is read beside the explainer, not averaged


@pytest.mark.parametrize("bad", ["critic", "oracle=somewhere"])
def test_bad_judge_data_arguments_are_one_clear_line(tmp_path, capsys, bad):
    assert main(["train-judge", "--data", bad, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train-judge" in err[0]
