"""The policy's contract: LeRobot-shaped API, seeded sampling, an action queue, and exact save/load."""

import numpy as np
import pytest
import torch

from vla_flywheel.envs.tabletop.camera import front_camera_homography
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.errors import ConfigError
from vla_flywheel.models.encoders import grid_pool
from vla_flywheel.models.normalize import Normalizer
from vla_flywheel.models.policy import FlywheelPolicy, PolicyConfig
from vla_flywheel.models.policy.primitive_head import soft_argmax_2d
from vla_flywheel.models.tokenizer import WordTokenizer


def make_policy(**overrides) -> FlywheelPolicy:
    torch.manual_seed(0)
    stats = {"observation.state": torch.randn(32, 5), "action": torch.randn(32, 5)}
    config = PolicyConfig(workspace_homography=front_camera_homography(64).tolist(), **overrides)
    return FlywheelPolicy(config, WordTokenizer.from_corpus(corpus()), Normalizer.from_data(stats)).eval()


def make_batch(size: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "observation.images.front": torch.from_numpy(rng.integers(0, 256, (size, 64, 64, 3), np.uint8)),
        "observation.state": torch.from_numpy(rng.normal(size=(size, 5)).astype(np.float32)),
        "task": ["put the red block on the blue pad", "set the green cube down on the red target"][:size],
    }


@pytest.mark.parametrize("head", ["flow", "primitive"])
def test_save_then_load_gives_identical_actions_for_the_same_seed(tmp_path, head):
    policy = make_policy(head=head)
    batch = make_batch()
    before = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(7))
    policy.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors", "normalization.safetensors",
                                                     "tokenizer.json"}  # fmt: skip
    loaded = FlywheelPolicy.from_pretrained(tmp_path)
    after = loaded.predict_action_chunk(batch, generator=torch.Generator().manual_seed(7))
    assert torch.equal(before, after)
    assert before.shape == ((2, policy.config.chunk_size, 5) if head == "flow" else (2, 1, 5))


def test_flow_samples_depend_on_the_seed_and_only_on_it():
    policy = make_policy()
    batch = make_batch()
    a = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(1))
    b = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(1))
    c = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_select_action_replans_every_n_action_steps():
    policy = make_policy(chunk_size=6, n_action_steps=3)
    calls = []
    predict = policy._predict
    policy._predict = lambda batch, generator: calls.append(1) or predict(batch, generator)
    batch = make_batch(1)
    chunk = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(0))
    calls.clear()
    policy.reset()
    generator = torch.Generator().manual_seed(0)
    first = [policy.select_action(batch, generator=generator) for _ in range(3)]
    assert len(calls) == 1
    assert torch.equal(torch.stack(first, 1), chunk[:, :3])
    assert policy.acting_features.shape == (1, policy.feature_dim)  # what a residual learner reads per step
    policy.select_action(batch, generator=generator)
    assert len(calls) == 2
    policy.reset()
    policy.select_action(batch, generator=generator)
    assert len(calls) == 3


def test_heatmap_decoding_finds_a_peak_between_cells():
    logits = torch.full((1, 32, 32), -50.0)
    logits[0, 10, 20] = 0.0
    logits[0, 10, 21] = 0.0  # two equal cells: the peak lies on their shared edge
    u, v = soft_argmax_2d(logits)[0].tolist()
    assert u == pytest.approx(21.0, abs=1e-4) and v == pytest.approx(10.5, abs=1e-4)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"head": "diffusion"}, "head='diffusion'"),
        ({"chunk_size": 4, "n_action_steps": 5}, "n_action_steps=5 exceeds chunk_size=4"),
        ({"image_size": 60}, "image_size=60"),
        ({"head": "primitive", "workspace_homography": None}, "workspace_homography"),
    ],
)
def test_bad_policy_configs_say_which_value_is_wrong(overrides, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace("[", r"\[")):
        PolicyConfig(**overrides)


def test_a_policy_refuses_images_of_another_size():
    policy = make_policy()
    batch = make_batch(1)
    batch["observation.images.front"] = torch.zeros(1, 96, 96, 3, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="trained at 64"):
        policy.predict_action_chunk(batch)


def test_flow_context_holds_tool_relative_offsets_raw_and_saturated():
    """With the tool's table position in the state, the velocity sees (point - tool) / 10 cm, and the same clipped to
    [-1, 1] (the ee_delta expert's xy action toward that point); by default nothing absolute (no image readout, no
    table x, y) and with the readout and absolute coordinates when asked."""
    batch = make_batch()
    batch["observation.state"][:, :2] = torch.tensor([[0.0, 0.0], [0.1, -0.1]])
    points = torch.tensor([[0.2, -0.1, 0.3, -0.8, 0.4], [0.4, -0.4, -0.5, 0.8, 0.0]])  # x, y: 0.25 m per unit
    expected = torch.tensor([[0.5, -0.25, -2.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    for invariant in (True, False):
        policy = make_policy(state_table_xy=(0, 1), table_half_extent=0.25, flow_translation_invariant=invariant,
                             flow_readout=not invariant)  # fmt: skip
        encoding = policy.encode(batch)
        policy.primitive.predict = lambda pointing, shift: points
        context = policy._flow_context(batch, encoding, pointing=object())
        assert context.shape[1] == policy.velocity.net[0].in_features - 64 - 4 * 5
        start = 1 if invariant else policy.config.dim + 5  # pick yaw only / readout + all five point coordinates
        assert context.shape[1] == (1 + 8 + 3 if invariant else policy.config.dim + 5 + 8 + 5)
        if invariant:
            torch.testing.assert_close(context[:, 0], points[:, 2])
        torch.testing.assert_close(context[:, start : start + 4], expected)
        torch.testing.assert_close(context[:, start + 4 : start + 8], expected.clamp(-1, 1))


def test_select_action_points_once_per_episode():
    """latch_points: the pick/place points come from the first observation after reset(), as in training where
    every frame of an episode is conditioned on the same points."""
    policy = make_policy(state_table_xy=(0, 1), table_half_extent=0.25)
    calls = []
    predict = policy.primitive.predict
    policy.primitive.predict = lambda pointing, shift: calls.append(1) or predict(pointing, shift)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3 * policy.config.n_action_steps):
        policy.select_action(make_batch(seed=len(calls)), generator)
    assert len(calls) == 1
    policy.reset()
    policy.select_action(make_batch(), generator)
    assert len(calls) == 2


@pytest.mark.parametrize(("size", "grid"), [(16, 4), (16, 8), (18, 4)])
def test_grid_pooling_gives_adaptive_poolings_bits_forward_and_backward(size, grid):
    # the image tokens pool with avg_pool2d for its deterministic CUDA backward; checkpoints trained with adaptive
    # pooling must act and train exactly as before
    features = torch.randn(4, 8, size, size, generator=torch.Generator().manual_seed(size), requires_grad=True)
    ours, theirs = grid_pool(features, grid), torch.nn.functional.adaptive_avg_pool2d(features, grid)
    upstream = torch.randn_like(ours)
    (ours_grad,) = torch.autograd.grad(ours, features, upstream)
    (theirs_grad,) = torch.autograd.grad(theirs, features, upstream)
    assert ours.shape == (4, 8, grid, grid) and torch.equal(ours, theirs) and torch.equal(ours_grad, theirs_grad)
