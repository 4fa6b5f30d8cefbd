"""Judge labels are built the way VLAC, VLAW and LACY build them."""

import numpy as np
import pytest
import torch

from vla_flywheel.errors import ConfigError, DatasetError
from vla_flywheel.train.judge_data import (
    AFTER_SUCCESS,
    CriticExamples,
    Episode,
    SuccessExamples,
    VerifierExamples,
    changed_fraction,
    load_episodes,
    progress_label,
    same_task,
    subsample,
)
from vla_flywheel.train.judge_loop import JudgeTrainConfig

FRONT = "observation.images.front"


def test_progress_label_is_the_fraction_of_the_remaining_way():
    assert progress_label(0, 5, 10) == 0.5
    assert progress_label(6, 8, 10) == 0.5
    assert progress_label(8, 6, 10) == -1.0  # backwards past the remaining way: clipped
    assert progress_label(2, 0, 10) == -0.25
    # after the success (frame 10) the task stays done: reaching it covers the rest, leaving it undoes everything
    assert progress_label(4, 15, 10) == 1.0 and progress_label(15, 4, 10) == -1.0 and progress_label(12, 15, 10) == 0


def test_critic_examples_reach_past_the_success_where_the_recording_goes_on():
    """A video that goes on after its success (the gripper parks) gives global partners and done frames from there;
    the fine pairs stay before it. Frame t is filled with 9 t, so every frame says which it is."""
    frames = torch.arange(28, dtype=torch.uint8)[:, None, None, None].mul(9).expand(28, 8, 8, 3).contiguous()
    succeeded = [t >= 10 for t in range(28)]
    episode = Episode(frames, "put the red block on the blue pad", True, torch.zeros(28, 4), succeeded, [""] * 28)
    batch = CriticExamples([episode], fps=10, mismatch=0.0).sample(np.random.default_rng(0), groups=200)
    index = lambda images: images[:, 0, 0, 0].long() // 9  # noqa: E731
    first, second = index(batch["first"]), index(batch["second"])
    for a, b, label in zip(first.tolist(), second.tolist(), batch["progress"].tolist(), strict=True):
        assert label == pytest.approx(progress_label(a, b, 10))
    groups = torch.stack([first, second], 1).view(200, 4, 2)
    assert (groups[:, :2] <= 10).all()  # fine pairs: before the success
    after = (groups[:, 2, 1] > 10).float().mean()  # global partners from after it: AFTER_SUCCESS of them
    assert after == pytest.approx(AFTER_SUCCESS, abs=0.08)
    done_frames, done = index(batch["done_frame"]), batch["done"]
    assert (done[done_frames > 10] == 1).all() and (done[done_frames < 8] == 0).all()
    assert (done_frames > 10).float().mean() * 2 == pytest.approx(AFTER_SUCCESS, abs=0.1)
    # each frame's phase t / T, the potential VLAC's labels come from, with every frame after the success at 1
    assert torch.equal(batch["first_phase"], first.clamp(max=10) / 10)
    assert torch.equal(batch["second_phase"], second.clamp(max=10) / 10)
    assert batch["anchored"].all()
    for share in (0.0, 0.5):  # train-judge --after-success: how much of that the critic sees
        examples = CriticExamples([episode], fps=10, mismatch=0.0, after_success=share)
        batch = examples.sample(np.random.default_rng(0), groups=400)
        partners, done_frames = index(batch["second"]).view(400, 4)[:, 2], index(batch["done_frame"])
        assert (partners > 10).float().mean() == pytest.approx(share, abs=0.06)
        assert (done_frames > 10).float().mean() * 2 == pytest.approx(share, abs=0.08)
    with pytest.raises(ConfigError, match="after_success"):
        JudgeTrainConfig(data={"critic": ("demos",)}, out="x", after_success=1.5)


def test_critic_groups_label_pairs_and_done_frames(ee_delta_demos):
    episodes = load_episodes([ee_delta_demos], FRONT)
    examples = CriticExamples(episodes, fps=10, mismatch=0.0)
    batch = examples.sample(np.random.default_rng(0), groups=6)
    labels = batch["progress"].view(6, 4)
    # (i, i+1) and (i+1, i) have opposite signs unless the frames look the same
    assert ((labels[:, 0] > 0) & (labels[:, 1] < 0) | (labels[:, 0] == 0) & (labels[:, 1] == 0)).all()
    assert batch["done"].tolist() == [0.0, 1.0] * 6
    for first, second, label in zip(batch["first"], batch["second"], batch["progress"], strict=True):
        if changed_fraction(first, second) < 0.01:
            assert label == 0.0


def test_identical_frames_and_mismatched_instructions_are_labelled_no_progress(ee_delta_demos):
    episodes = load_episodes([ee_delta_demos], FRONT)
    frozen = [Episode(e.images[:1].repeat(len(e.images), 1, 1, 1), *list(e.__dict__.values())[1:]) for e in episodes]
    batch = CriticExamples(frozen, fps=10, mismatch=0.0).sample(np.random.default_rng(0), groups=4)
    assert (batch["progress"] == 0).all()
    others = [Episode(e.images, "put the cyan block on the orange pad", True, e.actions, e.row_success, e.explanations)
              for e in episodes[:1]]  # fmt: skip
    batch = CriticExamples(episodes + others, fps=10, mismatch=1.0).sample(np.random.default_rng(1), groups=8)
    assert (batch["progress"] == 0).all()
    assert not batch["anchored"].any()  # how far along another instruction is, no demo says
    assert any(not same_task(t, "put the cyan block on the orange pad") for t in batch["task"])
    # the done head gets them too: a finished frame under another instruction is not done
    assert batch["done"].tolist() == [0.0] * 16


def test_success_classifier_failures_made_from_a_success(ee_delta_demos):
    success = load_episodes([ee_delta_demos], FRONT)[0]
    other_task = "put the cyan block on the orange pad"
    assert not same_task(success.task, other_task)
    failed = Episode(success.images[:1].repeat(5, 1, 1, 1), other_task, False, success.actions[:5], [False] * 5,
                     [""] * 5)  # fmt: skip
    batch = SuccessExamples([success, failed], frames=4, made_failures=1.0).sample(np.random.default_rng(0), 40)
    first_success = success.row_success.index(True)
    kinds = set()
    for frames, text, label, kind in zip(batch["frames"], batch["task"], batch["success"], batch["kind"], strict=True):
        kinds.add(kind)
        if kind == "other instruction":  # the whole success, asked for something else
            assert label == 0 and text == other_task and torch.equal(frames[-1], success.images[-1])
        elif kind == "stopped short":  # the right instruction, cut before the step that succeeded
            last = [t for t in range(len(success.images)) if torch.equal(success.images[t], frames[-1])]
            assert label == 0 and text == success.task and min(last) < first_success
        else:
            assert kind == "success" and label == 1
    assert kinds == {"success", "other instruction", "stopped short"}


def test_success_examples_need_both_classes_and_keep_the_last_frame(ee_delta_demos):
    episodes = load_episodes([ee_delta_demos], FRONT)
    with pytest.raises(DatasetError, match="failures"):
        SuccessExamples(episodes, frames=4)
    failed = Episode(episodes[0].images[:5], episodes[0].task, False, episodes[0].actions[:5], [False] * 5, [""] * 5)
    batch = SuccessExamples([*episodes, failed], frames=4).sample(np.random.default_rng(0), 6)
    assert batch["frames"].shape[:2] == (6, 4) and batch["success"].tolist() == [1.0, 0.0] * 3
    for length in (5, 37, 100):
        assert subsample(length, 8, np.random.default_rng(length))[-1] == length - 1
        assert (np.diff(subsample(length, 8, None)) >= 0).all()


def test_verifier_pairs_hold_recorded_positives_and_near_misses(primitive_demos):
    episodes = load_episodes([primitive_demos], FRONT)
    batch = VerifierExamples(episodes).sample(np.random.default_rng(0), 64)
    kinds = set(batch["kind"])
    assert "positive" in kinds and kinds & {"wrong colour", "wrong relation", "wrong reference"}
    assert 0.3 < batch["consistent"].mean() < 0.7
    assert torch.all((batch["consistent"] == 1) == torch.tensor([k == "positive" for k in batch["kind"]]))
