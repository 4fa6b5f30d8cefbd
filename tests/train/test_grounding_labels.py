"""Where the demonstrations' gripper closed and opened marks the instruction's block and pad in the frames."""

import numpy as np
import pytest
import torch

from vla_flywheel.cli import main
from vla_flywheel.envs.tabletop.camera import front_camera_homography
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.judge_eval import grounding_accuracy
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig
from vla_flywheel.train.grounding_labels import named_pixels
from vla_flywheel.train.judge_data import Episode, SuccessExamples, load_episodes, until_success
from vla_flywheel.train.judge_loop import JudgeTrainConfig, train_judge

FRONT = "observation.images.front"


def colour_at(image, uv) -> np.ndarray:
    u, v = np.asarray(uv).astype(int)
    return image[v, u].numpy().astype(float)


def test_the_marks_sit_on_a_block_that_leaves_and_on_a_pad(ee_delta_demos):
    episodes = load_episodes([ee_delta_demos], FRONT, front_camera_homography(64))
    for episode in episodes:
        assert episode.success and episode.named_where is not None
        where, known = episode.named_where, episode.named_known  # [T, 2, 2], [T, 2]
        assert known[0].all() and known[-1].all() and not known[:, 0].all()  # the carried block has no label
        table = episode.images[0].flatten(0, 1).float().median(0).values.numpy()  # the table fills most of a frame
        block_then, pad_then = colour_at(episode.images[0], where[0, 0]), colour_at(episode.images[0], where[0, 1])
        assert np.linalg.norm(block_then - table) > 40 and np.linalg.norm(pad_then - table) > 40  # something there
        assert np.linalg.norm(block_then - colour_at(episode.images[-1], where[0, 0])) > 40  # and the block left
        cut = until_success(episode)
        assert len(cut.named_where) == len(cut.images)


def test_a_recording_that_never_grasps_and_releases_has_no_labels():
    states, names = np.zeros((5, 5)), ["tcp.x", "tcp.y", "tcp.z", "tcp.yaw", "gripper.opening"]
    actions, action_names = np.full((5, 5), -1.0), ["dx", "dy", "dz", "dyaw", "gripper"]
    homography = front_camera_homography(64)
    assert named_pixels(states, actions, homography, names, action_names) is None  # never closes
    actions[2:, 4] = 1.0
    assert named_pixels(states, actions, homography, names, action_names) is None  # never lets go
    assert named_pixels(states, actions, homography, names[2:], action_names) is None  # no gripper position


def test_grounding_is_refused_where_nothing_reads_it():
    with pytest.raises(ConfigError, match="grounding"):
        JudgeConfig(roles=("critic",), progress_reading="potential", grounding=1.0)  # no relation token
    with pytest.raises(ConfigError, match="grounding"):
        JudgeConfig(roles=("explainer",), relation=True, grounding=1.0, workspace_homography=np.eye(3).tolist())


def test_a_grounded_critic_learns_where_the_named_block_and_pad_are(ee_delta_demos, tmp_path):
    homography = front_camera_homography(64)
    episodes = [until_success(e) for e in load_episodes([ee_delta_demos], FRONT, homography)]
    small = {"dim": 32, "channels": (8, 16), "relation": True, "grounding": 1.0}
    cfg = JudgeTrainConfig(data={"critic": (ee_delta_demos,)}, out=tmp_path / "critic", steps=150, lr=2e-3,
                           threads=1, judge=small)  # fmt: skip
    train_judge(cfg, progress=False)
    judge = FlywheelJudge.from_pretrained(tmp_path / "critic")
    torch.manual_seed(0)
    untrained = FlywheelJudge(judge.config, judge.tokenizer).eval()
    before, after = grounding_accuracy(untrained, episodes, stride=2), grounding_accuracy(judge, episodes, stride=2)
    # an untrained map's peak lands on whatever stands out, a named thing now and then (9 of 1024 cells by chance)
    assert before < 0.3 and after > 0.6 and after > before + 0.4, (before, after)


def test_train_judge_refuses_grounding_without_the_relation_token_in_one_line(ee_delta_demos, tmp_path, capsys):
    args = ["train-judge", "--data", f"critic={ee_delta_demos}", "--out", str(tmp_path / "x"), "--grounding", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grounding" in err[0] and "--relation" in err[0]
    assert not (tmp_path / "x").exists()


def test_success_examples_carry_the_labels_only_under_the_episodes_own_instruction(ee_delta_demos):
    success = load_episodes([ee_delta_demos], FRONT, front_camera_homography(64))[0]
    failed = Episode(success.images[:5], "put the cyan block on the orange pad", False, success.actions[:5],
                     [False] * 5, [""] * 5)  # fmt: skip
    examples = SuccessExamples([success, failed], frames=4, made_failures=0.5, grounding=True)
    batch = examples.sample(np.random.default_rng(0), 40)
    kinds = set()
    for kind, where, known in zip(batch["kind"], batch["named_where"], batch["named_known"], strict=True):
        kinds.add(kind)
        if kind in ("success", "stopped short"):  # the recorded instruction: its pad is known in every frame
            assert known[:, 1].all() and torch.equal(where[:, 1], success.named_where[: len(where), 1])
        else:  # another instruction's things, or a failure's grasp: nothing to learn where they are from
            assert not known.any()
    assert kinds == {"success", "other instruction", "stopped short", "recorded failure"}
