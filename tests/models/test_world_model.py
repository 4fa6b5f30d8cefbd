"""The world model: save/load, that it learns to beat copying the first frame, closed-loop imagination, bad files."""

import numpy as np
import pytest
import torch

from vla_flywheel.engine.collect import CollectConfig, collect
from vla_flywheel.engine.imagination import imagine_from_env
from vla_flywheel.envs import make_env
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.world_model_fidelity import evaluate_fidelity, psnr, ssim
from vla_flywheel.models.policy import FlywheelPolicy
from vla_flywheel.models.world_model import FlywheelWorldModel, WorldModelConfig
from vla_flywheel.train.world_model_data import load_episodes
from vla_flywheel.train.world_model_loop import WorldModelTrainConfig, train_world_model

TINY = {"channels": (8, 16, 16), "latent_channels": 8, "dynamics_blocks": 1, "hidden": 32}
TINY_POLICY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": (16, 16), "flow_hidden": 64, "keypoints": 4}


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("wm") / "demos"
    collect(CollectConfig(out=out, env=TabletopConfig(family="pick_place"), episodes=3), progress=False)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demos):
    """A tiny world model trained 150 steps on three real episodes (the tabletop's camera is known: it gets the
    tool sprite, see tool.ToolSprite)."""
    out = tmp_path_factory.mktemp("wm") / "run"
    cfg = WorldModelTrainConfig(datasets=(demos,), out=out, steps=150, batch_size=8, lr=3e-3, rollout_steps=3,
                                warmup_steps=10, world_model=TINY)  # fmt: skip
    train_world_model(cfg, progress=False)
    return out


@pytest.fixture(scope="module")
def policy(tmp_path_factory, demos):
    from vla_flywheel.train.config import TrainConfig
    from vla_flywheel.train.loop import train

    out = tmp_path_factory.mktemp("wm") / "policy"
    train(TrainConfig(datasets=(demos,), out=out, steps=2, batch_size=2, threads=1, policy=TINY_POLICY),
          progress=False)  # fmt: skip
    return FlywheelPolicy.from_pretrained(out)


def test_save_then_load_gives_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = FlywheelWorldModel(WorldModelConfig(**TINY)).eval()
    model.set_normalization(torch.rand(5), torch.rand(5) + 0.5, torch.zeros(5), torch.ones(5))
    model.save_pretrained(tmp_path)
    loaded = FlywheelWorldModel.from_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    assert loaded.config == model.config
    image = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    state, actions = torch.randn(2, 5), torch.rand(2, 3, 2, 5) * 2 - 1  # 3 chunks of 2 actions
    frames, states = model.rollout(image, state, actions)
    frames_again, states_again = loaded.rollout(image, state, actions)
    assert frames.shape == (2, 3, 64, 64, 3) and states.shape == (2, 3, 2, 5)
    assert torch.equal(frames, frames_again) and torch.equal(states, states_again)


def test_the_kinematic_prior_moves_the_setpoint_by_the_action_and_clips_it():
    """ee_delta: dx = 0.5 moves the tool 2.5 cm; dz = +1 from near the top stops at the setpoint's ceiling; the
    gripper's opening, which no action moves here, keeps its value."""
    from vla_flywheel.envs.tabletop.env import ACTION_NAMES, STATE_NAMES
    from vla_flywheel.train.world_model_loop import tabletop_setpoint_moves

    moves = tabletop_setpoint_moves(ACTION_NAMES["ee_delta"], STATE_NAMES)
    model = FlywheelWorldModel(WorldModelConfig(setpoint_moves=moves))
    state = torch.tensor([[0.0, 0.0, 0.42, 0.0, 0.07]])  # [1, D]
    actions = torch.tensor([[[0.5, 0.0, 1.0, 0.0, -1.0]] * 2])  # [1, k=2, A]
    prior = model.kinematic_prior(state, actions)[0]  # [k, D]
    assert prior[:, 0].tolist() == pytest.approx([0.025, 0.05])
    assert prior[:, 2].tolist() == pytest.approx([0.45, 0.45])  # clipped at the ceiling
    assert prior[:, 4].tolist() == pytest.approx([0.07, 0.07])


def test_an_opening_index_needs_the_camera_and_must_index_the_state():
    with pytest.raises(ConfigError, match="opening_index=4 must index the 5-d state, with camera_projection set"):
        WorldModelConfig(opening_index=4)  # no camera: a carried block could not be drawn anywhere
    with pytest.raises(ConfigError, match="opening_index=7 must index the 5-d state"):
        WorldModelConfig(camera_projection=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 0, 1)), state_xyz=(0, 1, 2),
                         opening_index=7)  # fmt: skip


def test_image_metrics_are_perfect_on_identical_frames_and_lower_otherwise():
    a = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    b = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-4) and (psnr(a, a) >= 99).all()
    assert (ssim(a, b) < 0.2).all() and (psnr(a, b) < 12).all()


def test_a_trained_world_model_beats_copying_the_first_frame(trained, demos):
    """Over the first second (5 chunks) of open-loop replay: the gripper must be drawn where it went."""
    model = FlywheelWorldModel.from_pretrained(trained)
    assert model.config.camera_projection is not None and model.config.state_xyz == (0, 1, 2)
    assert model.config.opening_index == 4  # the gripper's opening: held blocks move with it (carry.BlockCarry)
    assert [row[:2] for row in model.config.setpoint_moves] == [(0, 0), (1, 1), (2, 2), (3, 3)]  # ee_delta data
    result = evaluate_fidelity(model, load_episodes([demos], model.config.image_key), horizon=10)
    assert result.steps == [2, 4, 6, 8, 10] and result.count == [3] * 5
    assert result.mean("psnr") > result.mean("copy_psnr") + 0.2, (result.mean("psnr"), result.mean("copy_psnr"))
    untrained = FlywheelWorldModel(model.config).eval()  # starts as the copy baseline, and does not beat it
    untrained.load_state_dict({k: v for k, v in model.state_dict().items() if k.endswith(("_mean", "_std"))},
                              strict=False)  # fmt: skip
    baseline = evaluate_fidelity(untrained, load_episodes([demos], model.config.image_key), horizon=10)
    assert baseline.mean("psnr") < result.mean("psnr")


def test_grasp_draws_are_all_counted_and_a_measurement_reads_back_from_json(trained, demos):
    """Each draw is one imagined outcome: `draws` replays count once per draw, seed 0 first (so one draw repeats
    the default replay), and a measurement written as JSON reads back equal (the fidelity bench reuses them)."""
    import json

    from vla_flywheel.eval.world_model_fidelity import Fidelity

    model = FlywheelWorldModel.from_pretrained(trained)
    episodes = load_episodes([demos], model.config.image_key)
    one, three = (evaluate_fidelity(model, episodes, horizon=10, draws=n) for n in (1, 3))
    assert three.count == [9] * 5 and three.draws == 3 and one.count == [3] * 5
    assert one.psnr == evaluate_fidelity(model, episodes, horizon=10).psnr
    assert Fidelity.from_dict(json.loads(json.dumps(three.to_dict()))) == three
    with pytest.raises(ConfigError, match="draws=0"):
        evaluate_fidelity(model, episodes, horizon=10, draws=0)


def test_an_unchanged_scene_gives_copying_the_cap_and_the_pooled_psnr_reads_the_mean_error(trained, demos):
    """A real frame identical to the first one (nothing visible moved) gives copying the MAX_PSNR cap, which a
    learned decoder cannot reach; the pooled PSNR is the PSNR of the per-step mean squared error instead, so one such
    episode among moving ones no longer decides the comparison by the cap's value."""
    from dataclasses import replace

    from vla_flywheel.eval.world_model_fidelity import MAX_PSNR, to_psnr

    model = FlywheelWorldModel.from_pretrained(trained)
    moving = load_episodes([demos], model.config.image_key)[0]
    still = replace(moving, images=np.repeat(moving.images[:1], len(moving.images), axis=0))  # nothing moves
    result = evaluate_fidelity(model, [moving, still], horizon=10)
    assert result.copy_exact == [0.5] * 5  # every frame of `still`, none of `moving`
    assert np.allclose(result.copy_psnr, (np.asarray(evaluate_fidelity(model, [moving], horizon=10).copy_psnr)
                                          + MAX_PSNR) / 2)  # fmt: skip
    pooled, copied = result.pooled_psnr(), result.pooled_psnr("copy_mse")
    assert np.allclose(copied, to_psnr(np.asarray(result.copy_mse))) and (copied < MAX_PSNR / 2).all()
    assert np.isfinite(pooled).all() and (pooled < MAX_PSNR).all()


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    """One expert pick_place demo that runs on after its success (the gripper parks out of view)."""
    out = tmp_path_factory.mktemp("wm") / "full_demo"
    full = TabletopConfig(family="pick_place", terminate_on_success=False)
    collect(CollectConfig(out=out, env=full, episodes=1), progress=False)
    return load_episodes([out], "observation.images.front")[0]


def _carry(episode, states, grasp_odds=None):
    """BlockCarry driven by `states` in chunks of 2 -> the last scene it composites over [1, 3, S, S]."""
    from vla_flywheel.models.encoders import to_float_images
    from vla_flywheel.models.world_model.carry import BlockCarry
    from vla_flywheel.train.world_model_loop import tabletop_projection

    projection = torch.tensor(tabletop_projection(64), dtype=torch.float32)
    first = to_float_images(torch.from_numpy(episode.images[:1]))
    carry = BlockCarry(first, projection, (0, 1, 2), 4, torch.Generator().manual_seed(0), grasp_odds)
    for t in range(2, len(states), 2):  # chunks of 2 actions: the states after each
        scene = carry.after(states[None, t - 1 : t + 1])
    return scene


def test_a_held_block_moves_with_the_gripper_and_nothing_moves_when_the_fingers_close_on_nothing(full_demo):
    """Driven by the real states of the demo, the scene a world model composites over ends closer to the demo's last
    frame (the block carried to its pad) than the first frame is; with the fingers closing to 0 instead (a missed
    grasp), it stays the first frame."""
    from vla_flywheel.models.encoders import to_float_images
    from vla_flywheel.models.world_model.carry import OPEN_ABOVE

    frames = to_float_images(torch.from_numpy(full_demo.images))  # [T, 3, S, S]
    states = torch.from_numpy(full_demo.states)  # [T, D]; the opening is index 4
    missed = states.clone()
    missed[:, 4] = torch.where(missed[:, 4] > OPEN_ABOVE, missed[:, 4], torch.zeros(()))
    scene, still = _carry(full_demo, states), _carry(full_demo, missed)
    error = {name: float((image[0] - frames[-1]).pow(2).mean()) for name, image in (("carried", scene),
             ("first", frames[:1]))}  # fmt: skip
    assert error["carried"] < 0.5 * error["first"], error
    assert torch.equal(still, frames[:1])
    # fitted grasp odds decide instead of the opening: sure of a miss, the block stays; sure of a hold, it travels
    assert torch.equal(_carry(full_demo, states, _sure_odds(-30.0)), frames[:1])
    assert torch.equal(_carry(full_demo, states, _sure_odds(30.0)), scene)


def _sure_odds(logit: float):
    """GraspOdds that give the same logit whatever the scene."""
    from vla_flywheel.models.world_model.grasp_odds import GraspOdds

    odds = GraspOdds()
    with torch.no_grad():
        odds.head[-1].weight.zero_()
        odds.head[-1].bias.fill_(logit)
    return odds


def test_the_grasp_odds_are_fitted_to_where_the_recorded_fingers_held_and_missed(full_demo, tmp_path):
    """Recorded closings centred on the block held; the same closings 3 cm off it, whose fingers closed to 0,
    missed. The fit reads that from the scene under the tool: P(hold) is high on the block and low off it; data with
    holds only fit a P(hold) near 1 everywhere (a world model that never saw a failed grasp)."""
    from dataclasses import replace

    from vla_flywheel.models.world_model.carry import OPEN_ABOVE
    from vla_flywheel.models.world_model.grasp_odds import GRASP_PATCH
    from vla_flywheel.train.world_model_grasps import fit_grasp_odds, recorded_closings
    from vla_flywheel.train.world_model_loop import tabletop_projection

    config = WorldModelConfig(camera_projection=tabletop_projection(64).tolist(), state_xyz=(0, 1, 2), opening_index=4)
    off = full_demo.states.copy()
    off[:, 0] += 0.03  # the tool 3 cm along x, all the way: its fingers close beside the block, on nothing
    off[:, 4] = np.where(off[:, 4] > OPEN_ABOVE, off[:, 4], 0.0)
    held, missed = full_demo, replace(full_demo, states=off)
    patches, was_held, owner = recorded_closings([held, missed], config)
    assert patches.shape == (2, 3, GRASP_PATCH, GRASP_PATCH) and was_held.tolist() == [True, False]
    assert owner.tolist() == [0, 1] and not torch.equal(patches[0], patches[1])
    fit = fit_grasp_odds([held, missed] * 15, config, steps=300)  # episodes 4, 9, ..., 29 held out
    assert fit.closings == 24 and fit.held == 12, fit.summary()
    p = torch.sigmoid(fit.odds(patches))
    assert p[0] > 0.8 and p[1] < 0.2, p
    assert fit.held_out == 6 and fit.held_out_auroc == 1.0, fit.summary()
    assert fit_grasp_odds([held] * 20, config, steps=300) is None  # 16 fitted closings: 20 at least
    only_holds = fit_grasp_odds([held] * 25, config, steps=300)
    assert (torch.sigmoid(only_holds.odds(patches)) > 0.8).all() and only_holds.held_out_auroc is None
    model = FlywheelWorldModel(replace(config, **TINY))
    model.set_grasp_odds(fit.odds)  # saved with the model's weights, loaded back with them
    model.save_pretrained(tmp_path)
    assert torch.equal(FlywheelWorldModel.from_pretrained(tmp_path).grasp_odds(patches), fit.odds(patches))
    with pytest.raises(ConfigError, match="grasp_odds"):
        WorldModelConfig(camera_projection=config.camera_projection, state_xyz=(0, 1, 2), grasp_odds=True)
    with pytest.raises(ConfigError, match="opening_index"):
        FlywheelWorldModel(WorldModelConfig(**TINY)).set_grasp_odds(fit.odds)
    with pytest.warns(UserWarning, match="grasp_logit"):
        loaded = WorldModelConfig.from_dict({**config.to_dict(), "grasp_logit": [1.0, 2.0, 3.0]})
    assert loaded == config


def test_imagination_runs_the_policy_for_the_whole_horizon(trained, policy):
    model = FlywheelWorldModel.from_pretrained(trained)
    env = make_env(TabletopConfig(family="pick_place"))
    episodes = imagine_from_env(model, policy, env, seeds=[5, 6])
    real, _ = env.reset(seed=6)
    env.close()
    assert len(episodes) == 2
    for e in episodes:
        assert e.length == 100 and e.frames.shape == (100, 64, 64, 3) and e.states.shape == (100, 5)
        assert np.isfinite(e.states).all() and np.abs(e.actions).max() <= 1.0
        assert e.final_frame.shape == (64, 64, 3) and e.task
    assert np.array_equal(episodes[1].frames[0], real["observation.images.front"]) and episodes[1].seed == 6
    assert episodes[1].task == real["task"]
    assert not np.array_equal(episodes[1].frames[-1], episodes[1].frames[0])  # the world moved


def test_a_policy_acting_in_other_chunks_is_refused(policy):
    model = FlywheelWorldModel(WorldModelConfig(**TINY, action_chunk=3))
    env = make_env(TabletopConfig(family="pick_place"))
    with pytest.raises(ConfigError, match="chunks of 2 actions but the world model steps 3"):
        imagine_from_env(model, policy, env, seeds=[0])
    env.close()


def test_bad_checkpoints_are_one_clear_line(tmp_path, trained, policy):
    with pytest.raises(ConfigError, match="holds no saved world model"):
        FlywheelWorldModel.from_pretrained(tmp_path / "nothing")
    policy.save_pretrained(tmp_path / "policy")
    with pytest.raises(ConfigError, match="holds a flywheel_vla model, not a world model"):
        FlywheelWorldModel.from_pretrained(tmp_path / "policy")
    broken = tmp_path / "broken"
    FlywheelWorldModel.from_pretrained(trained).save_pretrained(broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ConfigError, match="model.safetensors is not a readable safetensors file"):
        FlywheelWorldModel.from_pretrained(broken)
    (broken / "config.json").write_text('{"type": "flywheel_world_model", "latent_chanels": 8}')
    with pytest.raises(ConfigError, match="unknown key 'latent_chanels'"):
        FlywheelWorldModel.from_pretrained(broken)


def test_training_refuses_an_existing_run_and_too_short_episodes(tmp_path, trained, demos):
    with pytest.raises(ConfigError, match="already holds a run"):
        train_world_model(WorldModelTrainConfig(datasets=(demos,), out=trained, steps=1))
    with pytest.raises(Exception, match="no episode is longer than"):
        train_world_model(WorldModelTrainConfig(datasets=(demos,), out=tmp_path / "r", steps=1, rollout_steps=200))
    with pytest.raises(ConfigError, match="grasp_odds='no' must be true"):
        WorldModelTrainConfig(datasets=(demos,), out=tmp_path / "r", world_model={"grasp_odds": "no"})
