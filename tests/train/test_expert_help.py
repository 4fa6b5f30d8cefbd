"""VLAC's graded expert help for the RL specialist: an expert that replans from any state, failure states to restart
from, a BC term that teaches the demonstrated correction, and a real specialist run that counts what the help cost."""

import json

import numpy as np
import pytest
import torch

from vla_flywheel.envs import make_env
from vla_flywheel.envs.registry import make_expert
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.errors import ConfigError
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig
from vla_flywheel.models.residual import ResidualActorCritic, ResidualConfig
from vla_flywheel.models.tokenizer import WordTokenizer
from vla_flywheel.train.expert_help import ExpertHelp, FailureStates
from vla_flywheel.train.replay import ReplayBuffer
from vla_flywheel.train.rewards import StepReward
from vla_flywheel.train.sac import SacLearner, SacSettings

F, S, A = 6, 5, 5


def _finish(env, expert, obs, limit: int = 100) -> bool:
    for _ in range(limit):
        obs, _, terminated, truncated, info = env.step(expert.act(env, obs))
        if terminated or truncated:
            return bool(info["success"])
    return False


@pytest.mark.parametrize("lead_steps", [8, 30])  # before the grasp; carrying the block
def test_the_expert_replans_from_a_restored_mid_episode_state_and_finishes(lead_steps):
    """Return-and-explore restores a state another agent left; the expert must take over from there, whether the
    block still waits on the table (moved away from the scripted plan) or is already in the gripper."""
    env = make_env(family="pick_place", interface="ee_delta", image_size=32)
    obs, _ = env.reset(seed=5)
    expert = make_expert(env)
    expert.reset(env, 5)
    for t in range(lead_steps):
        action = expert.act(env, obs)
        if t < 4:
            action[:2] = [0.6, -0.6]  # drift off the plan first, so a replan has something to correct
        obs, *_ = env.step(action)
    held = env.unwrapped.held_block() == env.unwrapped.task.block
    state = env.unwrapped.get_state()

    fresh = make_env(family="pick_place", interface="ee_delta", image_size=32)
    fresh.reset(seed=123)  # another scene: set_state must bring back everything
    fresh.unwrapped.set_state(state)
    obs, info = fresh.unwrapped.observe()
    assert not info["success"] and obs["observation.state"].shape == (5,)
    helper = make_expert(fresh)
    helper.replan(fresh.unwrapped)
    assert held == (lead_steps == 30)
    assert _finish(fresh, helper, obs)
    env.close()
    fresh.close()


def test_failure_states_keep_one_state_per_failed_episode_and_stay_bounded():
    class Counter:  # stands in for the env only where get_state is read: the state is the step number
        def __init__(self):
            self.unwrapped, self.t = self, 0

        def get_state(self):
            return {"t": self.t}

    env, pool = Counter(), FailureStates(capacity=3, rng=np.random.default_rng(0))
    drawn = []
    for episode in range(40):
        pool.start_episode()
        for env.t in range(10):
            pool.watch(env)
        pool.end_episode(success=episode % 2 == 0)
        drawn.append(pool.states[-1]["t"] if pool.states else None)
    assert len(pool) == 3  # bounded
    ts = [pool.draw()["t"] for _ in range(50)]
    assert set(ts) <= set(range(10))
    later = FailureStates(capacity=100, rng=np.random.default_rng(1))
    for _ in range(400):  # one state per failed episode, drawn uniformly over its steps
        later.start_episode()
        for env.t in range(10):
            later.watch(env)
        later.end_episode(success=False)
    counts = np.bincount([s["t"] for s in later.states], minlength=10)
    assert len(later) == 100 and counts.min() >= 2 and counts.max() <= 22


def test_help_levels_include_the_ones_before_and_a_bad_level_is_refused():
    assert not ExpertHelp("none").demo_replay
    guided = ExpertHelp("expert-guided")
    assert guided.demo_replay and guided.return_explore and guided.expert_guided
    partial = ExpertHelp("return-explore")
    assert partial.demo_replay and partial.return_explore and not partial.expert_guided
    with pytest.raises(ConfigError, match="expert_help='teleop' is not one of none, demo-replay"):
        ExpertHelp("teleop")


def test_demonstration_replay_teaches_the_residual_the_demonstrated_correction():
    """With no reward at all, the BC term alone must move the executed action to the demonstrations' (base + 0.3 on
    the first dimension), and leave the gripper to the base when the residual may not correct it."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    demos = ReplayBuffer(500, F, S, A)
    for _ in range(500):
        features, state = rng.normal(size=F), rng.normal(size=S)
        action = np.array([0.3, 0, 0, 0, 0.5])  # the gripper wants 0.5 too, but may not be corrected
        demos.add(features=features, state=state, base_action=np.zeros(A), action=action, reward=0.0, done=0.0,
                  next_features=features, next_state=state, next_base_action=np.zeros(A))  # fmt: skip
    model = ResidualActorCritic(ResidualConfig(feature_dim=F, xi=0.5, hidden=64, layers=2, fixed_dims=(4,)))
    learner = SacLearner(model, SacSettings(init_temperature=1e-3, bc_weight=10.0))
    for _ in range(300):
        logs = learner.update(demos.sample(64, rng), demos=demos.sample(64, rng))
    probe = model.inputs(torch.randn(128, F), torch.randn(128, S), torch.zeros(128, A))
    with torch.no_grad():
        residual = model.residual(probe, deterministic=True)[0]
    assert residual[:, 0].mean() == pytest.approx(0.3, abs=0.05) and logs["bc"] < 0.3
    assert residual[:, 4].abs().max() == 0  # the gripper stays the base's


def test_a_specialist_with_expert_guided_help_counts_what_the_help_cost(tmp_path, ee_delta_policy):
    from vla_flywheel.train.specialist import SpecialistConfig, train_specialist

    cfg = SpecialistConfig(base=ee_delta_policy, out=tmp_path / "sp", env_steps=120, offline_successes=1,
                           offline_episodes=1, warmup_episodes=1, batch_size=16, capacity=200, hidden=32,
                           eval_every=120, eval_episodes=1, max_steps=20, expert_help="expert-guided",
                           demo_episodes=2, restart_fraction=1.0, expert_steps=5, critic_warmup=10)  # fmt: skip
    summary = train_specialist(cfg, progress=False)
    online = summary["online"]
    assert summary["demos"]["episodes"] == 2 and summary["demos"]["env_steps"] > 0
    assert online["restarts"] > 0 and 0 < online["expert_env_steps"] <= 5 * online["restarts"]
    assert online["env_steps"] >= 120  # expert-led steps are online env steps, inside the budget
    last = json.loads((tmp_path / "sp" / "curve.jsonl").read_text().splitlines()[-1])
    assert "bc" in last  # the demonstrations' BC term was trained


@pytest.fixture(scope="module")
def run_demos(tmp_path_factory):
    """A flywheel run's seed demos (3 ee_delta pick_place episodes): they record each episode's seed."""
    from vla_flywheel.flywheel.config import RunConfig
    from vla_flywheel.flywheel.layout import RunLayout
    from vla_flywheel.flywheel.stages import collect_demos

    out = tmp_path_factory.mktemp("run")
    collect_demos(RunConfig(out=out, recipe="pld", seed_demos=3), RunLayout(out), progress=False)
    return RunLayout(out).demos


def test_demo_replay_from_a_runs_seed_demos_passes_through_their_recorded_states(tmp_path, ee_delta_policy,
                                                                                  run_demos):  # fmt: skip
    """Each recorded episode, replayed from its seed, must succeed in exactly its recorded number of steps (else the
    buffer would hold states the demonstration never visited)."""
    from vla_flywheel.data.reader import DatasetReader
    from vla_flywheel.train.specialist import SpecialistConfig, train_specialist

    lengths = [len(ep["action"]) for ep in DatasetReader(run_demos).iter_episodes()]
    cfg = SpecialistConfig(base=ee_delta_policy, out=tmp_path / "sp", env_steps=20, offline_successes=1,
                           offline_episodes=1, warmup_episodes=0, batch_size=16, capacity=200, hidden=32,
                           eval_every=20, eval_episodes=1, expert_help="demo-replay", demos=run_demos,
                           demo_episodes=2, critic_warmup=5)  # fmt: skip
    demos = train_specialist(cfg, progress=False)["demos"]
    assert demos == {"episodes": 2, "successes": 2, "env_steps": sum(lengths[:2])}


def test_recorded_demos_are_read_with_their_seeds_and_refused_without(run_demos, ee_delta_demos):
    from vla_flywheel.train.expert_help import recorded_demos

    assert [seed for seed, _ in recorded_demos(run_demos, 5)] == [0, 1, 2]
    with pytest.raises(ConfigError, match="has no 'episode.seed' column"):
        recorded_demos(ee_delta_demos, 1)  # `flywheel collect` numbers seeds implicitly


def test_bad_expert_help_or_reward_settings_are_refused_before_anything_runs(tmp_path):
    from vla_flywheel.train.specialist import SpecialistConfig

    for reward in ("critic", "critic-value"):
        with pytest.raises(ConfigError, match=f"reward='{reward}': the critic rewards .* need a trained critic"):
            SpecialistConfig(base=tmp_path, out=tmp_path / "sp", reward=reward)
    with pytest.raises(ConfigError, match="reward='sparse': .* and only they read one"):
        SpecialistConfig(base=tmp_path, out=tmp_path / "sp", critic=tmp_path)  # a critic the sparse reward ignores
    config = JudgeConfig(roles=("critic",), progress_reading="pair", dim=32, channels=(8, 16))
    pair_critic = FlywheelJudge(config, WordTokenizer.from_corpus(corpus()))
    with pytest.raises(ConfigError, match="integrates a critic read as potentials; this one reads pairs"):
        StepReward("critic-value", pair_critic)
    with pytest.raises(ConfigError, match="expert_help='guided' is not one of"):
        SpecialistConfig(base=tmp_path, out=tmp_path / "sp", expert_help="guided")
    with pytest.raises(ConfigError, match="restart_fraction=1.5 must be in"):
        SpecialistConfig(base=tmp_path, out=tmp_path / "sp", restart_fraction=1.5)
