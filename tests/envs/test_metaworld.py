import subprocess
import sys

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("metaworld", reason="the Meta-World adapter needs the extra: pip install -e '.[metaworld]'")

from vla_flywheel import constants as k  # noqa: E402
from vla_flywheel.data import DatasetReader  # noqa: E402
from vla_flywheel.engine.collect import CollectConfig, collect  # noqa: E402
from vla_flywheel.engine.rollout import rollout  # noqa: E402
from vla_flywheel.envs import make_env, make_expert  # noqa: E402
from vla_flywheel.envs.metaworld import MT10, MetaWorldConfig  # noqa: E402
from vla_flywheel.envs.metaworld.env import ACTION_NAMES  # noqa: E402
from vla_flywheel.envs.metaworld.experts import MetaWorldExpert  # noqa: E402
from vla_flywheel.envs.metaworld.language import CHARSET, INSTRUCTIONS  # noqa: E402
from vla_flywheel.envs.rendering import make_renderer  # noqa: E402
from vla_flywheel.envs.tabletop.experts import ExpertNoise  # noqa: E402
from vla_flywheel.errors import ConfigError, InvalidActionError  # noqa: E402

IMAGE = "observation.images.front"
PICK_PLACE = "mw/pick-place-v3"


@pytest.fixture(scope="module")
def env():
    made = make_env(family=PICK_PLACE)
    yield made
    made.close()


def test_observation_has_the_tabletop_keys_dtypes_and_shapes(env):
    tabletop = make_env(family="pick_place", interface="ee_delta")
    ours, _ = env.reset(seed=0)
    theirs, _ = tabletop.reset(seed=0)
    tabletop.close()
    assert set(ours) == set(theirs) == {IMAGE, k.OBS_STATE, k.TASK}
    for key in (IMAGE, k.OBS_STATE):
        assert ours[key].dtype == theirs[key].dtype and ours[key].ndim == theirs[key].ndim
    assert ours[IMAGE].shape == theirs[IMAGE].shape == (64, 64, 3)
    assert ours[k.OBS_STATE].shape == (len(env.state_names),) == (7,)
    assert ours[k.TASK] == env.task.instruction == "pick up the puck and place it at the goal"
    assert env.observation_space.contains(ours)
    # proprioception and goal are Meta-World's observation entries 0-3 and 36-38
    np.testing.assert_allclose(ours[k.OBS_STATE], env.raw_observation[[0, 1, 2, 3, 36, 37, 38]], rtol=1e-6)


def test_passes_gymnasium_check_env():
    made = make_env(family="mw/reach-v3", cameras=("front", "wrist"), max_steps=20)
    check_env(made, skip_render_check=True)
    made.close()


def test_image_is_upright(env):
    """Table below the floor behind it, robot base at the bottom: what every upright view of this camera shows.

    An independent renderer gives the camera's raw image and its geom segmentation; the env's image is that raw image
    either as is or turned by 180 degrees, and in the env's orientation the table must lie in the lower half of the
    frame and below the floor. A flipped (raw, upside-down) image fails both.
    """
    obs, _ = env.reset(seed=0)
    camera = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_CAMERA, env.config.front_camera)
    renderer = make_renderer(env.model, env.config.image_size)
    renderer.update_scene(env.data, camera=camera)
    raw = renderer.render()
    renderer.enable_segmentation_rendering()
    renderer.update_scene(env.data, camera=camera)
    segmentation = renderer.render()[..., 0]  # geom id per pixel
    renderer.close()
    if np.array_equal(obs[IMAGE], raw[::-1, ::-1]):
        segmentation = segmentation[::-1, ::-1]
    else:
        np.testing.assert_array_equal(obs[IMAGE], raw)  # the env's image is one of the two orientations
    body_of = env.model.geom_bodyid[np.maximum(segmentation, 0)]
    rows = np.broadcast_to(np.arange(segmentation.shape[0])[:, None], segmentation.shape)

    def mean_row(body: str) -> float:
        mask = (segmentation >= 0) & (body_of == env.model.body(body).id)
        assert mask.sum() > 20, f"{body} is hardly visible"
        return float(rows[mask].mean())

    half = env.config.image_size / 2
    assert mean_row("tablelink") > half, "the table should fill the lower half of an upright image"
    assert mean_row("tablelink") > mean_row("world") + 5, "the floor beyond the table should appear above it"
    assert mean_row("pedestal_feet") > half, "the robot stands on the floor at the bottom of the image"


def test_same_seed_same_start_other_seed_other_variation(env):
    a, info_a = env.reset(seed=3)
    variation = env.task.variation
    env.reset(seed=4)
    env.step(np.array([1.0, 0.0, -1.0, 1.0], np.float32))
    b, _ = env.reset(seed=3)
    fresh = make_env(family=PICK_PLACE)
    c, _ = fresh.reset(seed=3)
    fresh.close()
    for again in (b, c):
        assert again[k.TASK] == a[k.TASK]
        np.testing.assert_array_equal(again[IMAGE], a[IMAGE])
        np.testing.assert_array_equal(again[k.OBS_STATE], a[k.OBS_STATE])
    d, info_d = env.reset(seed=5)
    assert info_d["variation"] != info_a["variation"] == variation
    assert not np.allclose(d[k.OBS_STATE][4:], a[k.OBS_STATE][4:])  # another goal
    assert not np.array_equal(d[IMAGE], a[IMAGE])


def test_heldout_split_draws_other_variations():
    train = make_env(family="mw/reach-v3")
    heldout = make_env(family="mw/reach-v3", split="heldout")
    goals = {name: e.reset(seed=0)[0][k.OBS_STATE][4:] for name, e in (("train", train), ("heldout", heldout))}
    train.close()
    heldout.close()
    assert not np.allclose(goals["train"], goals["heldout"])


def test_expert_succeeds_and_success_ends_the_episode(env):
    expert = make_expert(env)
    assert isinstance(expert, MetaWorldExpert)
    records = [rollout(env, expert, seed) for seed in range(10)]
    assert sum(r.success for r in records) >= 9, [(r.success, r.length) for r in records]
    for r in records:
        if r.success:
            assert r.length < env.config.max_steps
            success = r.frames[k.NEXT_SUCCESS][:, 0]
            assert success[-1] and not success[:-1].any()  # the first success step is the last step
            assert r.frames[k.NEXT_DONE][-1, 0] and r.frames[k.NEXT_REWARD][-1, 0] == 1.0


def test_expert_episode_written_as_a_lerobot_dataset_and_read_back(tmp_path):
    cfg = CollectConfig(out=tmp_path / "mw", env=MetaWorldConfig(family="mw/reach-v3", max_steps=40), episodes=2)
    summary = collect(cfg, progress=False)
    reader = DatasetReader(cfg.out)
    assert reader.num_episodes == 2 and reader.num_frames == summary.frames
    assert reader.fps == 80 and reader.info["robot_type"] == "metaworld_sawyer"
    assert reader.tasks == [INSTRUCTIONS["reach-v3"]]
    assert reader.features[k.OBS_STATE]["shape"] == [7] and reader.features[k.ACTION]["names"] == ACTION_NAMES
    episode = reader.episode(0)
    assert episode[IMAGE].shape[1:] == (64, 64, 3) and episode[IMAGE].dtype == np.uint8
    assert np.abs(episode[k.ACTION]).max() <= 1.0
    # the dataset holds exactly what the expert did from that seed
    env = make_env(cfg.env)
    again = rollout(env, make_expert(env), seed=0)
    env.close()
    np.testing.assert_array_equal(episode[IMAGE], again.frames[IMAGE])
    np.testing.assert_allclose(episode[k.ACTION], again.frames[k.ACTION])


def test_progress_is_the_shaped_score_from_the_start_to_the_success(env):
    """info["progress"] (the shaped-reward potential of an RL specialist) is Meta-World's shaped reward over 10 at
    every step, near 0 at the start of a pick-and-place and past half way at the expert's success."""
    expert = make_expert(env)
    obs, info = env.reset(seed=3)
    expert.reset(env, 3)
    progress, terminated = [info["progress"]], False
    while not terminated:
        obs, _, terminated, truncated, info = env.step(expert.act(env, obs))
        assert info["progress"] == pytest.approx(info["metaworld.reward"] / 10)
        progress.append(info["progress"])
        assert not truncated
    assert info["success"] and progress[0] < 0.1 < 0.5 < progress[-1]
    assert min(progress) >= 0 and max(progress) <= 1


def test_the_expert_takes_over_from_a_restored_state_another_agent_left():
    """What VLAC's return-and-explore help needs: a state restored in another env is observed as it was, and the
    expert, taking over there, still finishes the task."""
    env = make_env(family="mw/reach-v3", max_steps=150)
    obs, _ = env.reset(seed=5)
    for _ in range(15):
        obs, *_ = env.step(np.array([-1.0, -1.0, 1.0, 0.0], np.float32))  # drift away from any plan first
    state = env.get_state()
    fresh = make_env(family="mw/reach-v3", max_steps=150)
    fresh.reset(seed=123)
    fresh.set_state(state)
    restored, info = fresh.observe()
    np.testing.assert_array_equal(restored["observation.state"], obs["observation.state"])
    assert not info["success"] and 0 <= info["progress"] < 1
    expert = make_expert(fresh)
    expert.replan(fresh)
    for _ in range(120):
        restored, _, terminated, truncated, info = fresh.step(expert.act(fresh, restored))
        if terminated or truncated:
            break
    assert info["success"]
    env.close()
    fresh.close()


def test_collect_command_records_a_task_and_refuses_tabletop_noise_before_writing(tmp_path):
    def flywheel(*args):
        proc = subprocess.run([sys.executable, "-m", "vla_flywheel.cli", "collect", *map(str, args), "--no-progress"],
                              capture_output=True, text=True)  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    rc, out, err = flywheel("--family", "mw/reach-v3", "--episodes", 1, "--max-steps", 30, "--out", tmp_path / "ok")
    assert rc == 0, err
    reader = DatasetReader(tmp_path / "ok")
    assert reader.info["robot_type"] == "metaworld_sawyer" and reader.num_frames <= 30
    rc, _, err = flywheel("--family", "mw/reach-v3", "--grasp-offset", 0.02, "--out", tmp_path / "noisy")
    assert rc == 2 and "grasp_offset is tabletop-only" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "noisy").exists()


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 0], [0, 0, np.inf, 0]])
def test_non_finite_action_is_refused_without_stepping(env, bad):
    env.reset(seed=0)
    time, qpos, steps = env.data.time, env.data.qpos.copy(), env.sim.curr_path_length
    with pytest.raises(InvalidActionError, match="not finite"):
        env.step(np.array(bad))
    assert env.data.time == time and env.sim.curr_path_length == steps
    np.testing.assert_array_equal(env.data.qpos, qpos)


def test_out_of_range_and_misshapen_actions_are_rejected_or_clipped(env):
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"outside \[-1, 1\]"):
        env.step(np.array([2.0, 0, 0, 0]))
    with pytest.raises(InvalidActionError, match="shape"):
        env.step(np.zeros(5))
    clipping = make_env(family=PICK_PLACE, action_bounds="clip")
    clipping.reset(seed=0)
    target = clipping.data.mocap_pos[0].copy()
    clipping.step(np.array([5.0, 0, 0, 0]))
    moved = clipping.data.mocap_pos[0] - target
    clipping.close()
    np.testing.assert_allclose(moved, [0.01, 0, 0], atol=1e-9)  # clipped to one full step: 1 cm


def test_set_state_round_trip_restores_the_future_exactly(env):
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.uniform(-1, 1, 4))
    state = env.get_state()
    actions = rng.uniform(-1, 1, (10, 4))
    future = [env.step(a)[0] for a in actions]
    env.reset(seed=99)  # another variation in between
    env.set_state(state)
    for obs, a in zip(future, actions, strict=True):
        again = env.step(a)[0]
        np.testing.assert_array_equal(again[IMAGE], obs[IMAGE])
        np.testing.assert_array_equal(again[k.OBS_STATE], obs[k.OBS_STATE])


def test_truncates_at_max_steps():
    short = make_env(family="mw/reach-v3", max_steps=3)
    short.reset(seed=0)
    ends = [short.step(np.zeros(4))[2:4] for _ in range(3)]
    short.close()
    assert ends == [(False, False), (False, False), (False, True)]


@pytest.mark.parametrize(
    "overrides, words",
    [
        (
            {"family": "mw/pick-plac-v3"},
            r"'mw/pick-plac-v3' \(did you mean mw/pick-place-v3\?\); choose from mw/reach-v3, ",
        ),
        ({"family": PICK_PLACE, "interface": "primitive"}, "only ee_delta"),
        ({"family": "mw/sweep-v3", "benchmark": "MT10"}, "not an MT10 task"),
        ({"family": PICK_PLACE, "max_steps": 501}, "max_steps"),
        ({"family": PICK_PLACE, "front_camera": "behindGripper"}, "front_camera"),
    ],
)
def test_bad_config_is_one_clear_error(overrides, words):
    with pytest.raises(ConfigError, match=words) as caught:
        make_env(**overrides)
    assert "\n" not in str(caught.value)


def test_tabletop_only_noise_is_refused():
    with pytest.raises(ConfigError, match="grasp_offset is tabletop-only"):
        MetaWorldExpert(ExpertNoise(grasp_offset=0.02))


def test_registered_id_and_names():
    made = gym.make("vla_flywheel/MetaWorld-v0", family="mw/drawer-open-v3")
    obs, _ = made.reset(seed=0)
    assert obs[k.TASK] == "pull the drawer open"
    made.close()
    import metaworld

    assert list(metaworld.env_dict.MT10_V3) == list(MT10)  # MT10's names are Meta-World's
    assert set(metaworld.env_dict.ALL_V3_ENVIRONMENTS) == set(INSTRUCTIONS)
    assert all(set(text) <= CHARSET for text in INSTRUCTIONS.values())
