import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.envs.helpers import run_expert
from vla_flywheel.constants import OBS_STATE, TASK
from vla_flywheel.envs import ENV_IDS, make_env
from vla_flywheel.envs.tabletop.experts import ExpertNoise
from vla_flywheel.envs.tabletop.language import FAMILIES
from vla_flywheel.errors import ConfigError, InvalidActionError

IMAGE = "observation.images.front"
INTERFACES = ("ee_delta", "primitive")


@pytest.fixture(scope="module")
def envs():
    made = {i: make_env(family="all", interface=i) for i in INTERFACES}
    yield made
    for env in made.values():
        env.close()


@pytest.mark.parametrize("interface", INTERFACES)
def test_passes_gymnasium_check_env(interface):
    env = make_env(family="stack", interface=interface, cameras=("front", "wrist"))
    check_env(env, skip_render_check=False)
    env.close()


def test_registered_ids_make_envs():
    assert "vla_flywheel/Tabletop-PickPlace-EEDelta-v0" in ENV_IDS
    env = gym.make("vla_flywheel/Tabletop-PlaceRelative-Primitive-v0")
    obs, _ = env.reset(seed=1)
    assert env.unwrapped.config.family == "place_relative" and env.unwrapped.config.interface == "primitive"
    assert obs[IMAGE].shape == (64, 64, 3) and obs[IMAGE].dtype == np.uint8
    env.close()


def test_image_size_is_configurable():
    env = make_env(image_size=96)
    obs, _ = env.reset(seed=0)
    assert obs[IMAGE].shape == (96, 96, 3)
    env.close()


@pytest.mark.parametrize("interface", INTERFACES)
def test_reset_seed_determines_scene_and_instruction(envs, interface):
    env = envs[interface]
    a, _ = env.reset(seed=7)
    env.reset(seed=8)
    b, _ = env.reset(seed=7)
    assert a[TASK] == b[TASK]
    np.testing.assert_array_equal(a[IMAGE], b[IMAGE])
    np.testing.assert_array_equal(a[OBS_STATE], b[OBS_STATE])
    c, _ = env.reset(seed=9)
    assert not np.array_equal(a[IMAGE], c[IMAGE])


@pytest.mark.parametrize("interface", INTERFACES)
def test_same_seed_and_actions_give_identical_trajectory(envs, interface):
    env = envs[interface]
    first, actions, _ = run_expert(env, seed=3)
    env.reset(seed=3)
    for obs, action in zip(first[1:], actions, strict=True):
        again, *_ = env.step(action)
        np.testing.assert_array_equal(obs[IMAGE], again[IMAGE])
        np.testing.assert_array_equal(obs[OBS_STATE], again[OBS_STATE])


def test_set_state_round_trip_restores_the_future_exactly(envs):
    env = envs["ee_delta"]
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.uniform(-1, 1, 5))
    state = env.get_state()
    actions = rng.uniform(-1, 1, (10, 5))
    future = [env.step(a)[0] for a in actions]
    env.reset(seed=99)  # a different scene in between
    env.set_state(state)
    for obs, a in zip(future, actions, strict=True):
        again = env.step(a)[0]
        assert again[TASK] == obs[TASK]
        np.testing.assert_array_equal(again[IMAGE], obs[IMAGE])
        np.testing.assert_array_equal(again[OBS_STATE], obs[OBS_STATE])


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("family", FAMILIES)
def test_expert_succeeds_on_every_family(interface, family):
    env = make_env(family=family, interface=interface)
    results = [run_expert(env, seed)[2]["success"] for seed in range(12)]
    env.close()
    assert sum(results) >= 11, results


def test_noise_injection_lowers_expert_success():
    env = make_env(family="pick_place", interface="ee_delta")
    clean = sum(run_expert(env, s)[2]["success"] for s in range(10))
    wrong = sum(run_expert(env, s, ExpertNoise(wrong_target=1.0))[2]["success"] for s in range(10))
    miss = sum(run_expert(env, s, ExpertNoise(grasp_offset=0.04))[2]["success"] for s in range(10))
    env.close()
    assert clean == 10 and wrong == 0 and miss <= 2


def test_a_place_offset_lands_blocks_on_both_sides_of_the_pad_edge():
    """The success classifier's hard pairs: blocks set down just inside and just outside the named pad."""
    from vla_flywheel.envs.tabletop.scene import PAD_HALF

    env = make_env(family="pick_place", interface="ee_delta")
    inside, outside = [], []
    for seed in range(20):
        success = run_expert(env, seed, ExpertNoise(place_offset=0.06))[2]["success"]
        block = env.block_positions()[env.task.block, :2]
        beyond_edge = float(np.abs(block - env.scene.pad_xy[env.task.ref]).max() - PAD_HALF)  # metres, < 0 inside
        (inside if success else outside).append(beyond_edge)
    env.close()
    assert len(inside) >= 3 and len(outside) >= 3, (inside, outside)
    assert max(inside) <= 0 and min(outside) > 0 and max(outside) <= 0.035, (inside, outside)
    with pytest.raises(ConfigError, match="place_offset"):
        ExpertNoise(place_offset=-0.01)


def test_success_is_the_predicate_not_the_progress(envs):
    env = envs["ee_delta"]
    obs, info = env.reset(seed=5)
    assert info["success"] is False and 0.0 <= info["progress"] < 0.5
    _, _, final = run_expert(env, seed=5)
    assert final["success"] and final["progress"] == 1.0
    assert final["explanation"].startswith(("put the", "stack the"))


def test_primitive_step_reports_its_explanation(envs):
    env = envs["primitive"]
    env.reset(seed=2)
    _, _, info = run_expert(env, seed=2)
    assert info["success"]
    colour = env.scene.block_colours[env.task.block]
    assert f"the {colour} block" in info["explanation"]


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 0, 0], [0, np.inf, 0, 0, 0]])
def test_non_finite_actions_are_rejected(envs, bad):
    env = envs["ee_delta"]
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="not finite"):
        env.step(np.array(bad))


def test_out_of_range_actions_are_rejected_or_clipped():
    strict = make_env()
    strict.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"outside \[-1, 1\]"):
        strict.step(np.array([2.0, 0, 0, 0, 0]))
    with pytest.raises(InvalidActionError, match="shape"):
        strict.step(np.zeros(3))
    strict.close()
    clipping = make_env(action_bounds="clip")
    clipping.reset(seed=0)
    clipping.step(np.array([2.0, 0, 0, 0, 0]))
    assert clipping.setpoint[0] == pytest.approx(0.05)  # clipped to one full step
    clipping.close()


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"family": "pick-place"}, "family='pick-place'"),
        ({"interface": "joint"}, "interface='joint'"),
        ({"num_blocks": (2, 6)}, "num_blocks"),
        ({"image_size": 0}, "image_size"),
        ({"split": "test"}, "split='test'"),
    ],
)
def test_bad_config_is_one_clear_error(overrides, words):
    with pytest.raises(ConfigError, match=words):
        make_env(**overrides)


def _front_without_gripper(env) -> np.ndarray:
    """The front image with the gripper moved far below the table (out of every view), state restored after."""
    saved = env.get_state()
    q = env.ids.hand_qpos
    env.data.qpos[q + 2] = -2.0
    mujoco.mj_forward(env.model, env.data)
    image = env._render("front")
    env.set_state(saved)
    return image


@pytest.mark.parametrize("interface", INTERFACES)
def test_parked_gripper_hides_nothing_from_the_front_camera(interface):
    """Policies point at blocks in the front image: at reset, and after a primitive, the gripper must not cover any."""
    env = make_env(family="pick_place", interface=interface)
    obs, _ = env.reset(seed=3)
    assert np.array_equal(obs[IMAGE], _front_without_gripper(env))
    if interface == "primitive":
        from vla_flywheel.envs.tabletop.experts import ScriptedExpert

        expert = ScriptedExpert()
        expert.reset(env, 3)
        obs, *_ = env.step(expert.act(env, obs))
        assert np.array_equal(obs[IMAGE], _front_without_gripper(env))
    env.close()


def test_follower_is_deadbeat_by_default_and_the_expert_decelerates():
    """The primitive interface's follower hits a waypoint within reach in one step; the ee_delta expert's gain < 1
    closes the remaining distance geometrically, so its demonstrations show small corrective steps near each target."""
    from vla_flywheel.envs.tabletop import controller as ctl

    target = np.array([0.03, -0.02, 0.12])
    start = np.array([0.0, 0.0, 0.12, 0.0])
    deadbeat = ctl.WaypointFollower([ctl.Waypoint(target, 0.0, ctl.OPEN)])
    np.testing.assert_allclose(start[:3] + deadbeat.act(start, start[:3])[:3] * ctl.MAX_DXYZ, target)
    slow = ctl.WaypointFollower([ctl.Waypoint(target, 0.0, ctl.OPEN)], gain=0.5)
    np.testing.assert_allclose(start[:3] + slow.act(start, start[:3])[:3] * ctl.MAX_DXYZ, (start[:3] + target) / 2)
    with pytest.raises(ValueError):
        ctl.WaypointFollower([], gain=0.0)

    from vla_flywheel.envs.tabletop.experts import APPROACH_GAIN, ScriptedExpert

    assert ScriptedExpert().gain == APPROACH_GAIN < 1
    env = make_env(family="pick_place", interface="ee_delta")
    obs, _ = env.reset(seed=3)
    expert = ScriptedExpert()
    expert.reset(env, 3)
    small = 0
    for _ in range(60):
        a = expert.act(env, obs)
        small += 0.0 < np.abs(a[:2]).max() < 0.2  # a fine xy correction, not a full or a zero step
        obs, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    env.close()
    assert info["success"] and small >= 4
