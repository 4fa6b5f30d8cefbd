"""The residual SAC learner: bounded corrections, learning from reward, bounded replay, save/load, and a real
specialist run on the tabletop with its curve."""

import json

import numpy as np
import pytest
import torch

from vla_flywheel.errors import ConfigError
from vla_flywheel.models.residual import ResidualActorCritic, ResidualConfig
from vla_flywheel.train.replay import ReplayBuffer, symmetric_batch
from vla_flywheel.train.sac import SacLearner, SacSettings

F, S, A = 6, 5, 5


def _bandit_buffer(n: int, rng: np.random.Generator) -> ReplayBuffer:
    """One-step episodes from base action 0: executed actions uniform in [-0.5, 0.5]^A, reward 1 when the first
    dimension exceeds 0.2 (a correction the base never makes by itself)."""
    buffer = ReplayBuffer(n, F, S, A)
    for _ in range(n):
        features, state = rng.normal(size=F), rng.normal(size=S)
        action = rng.uniform(-0.5, 0.5, size=A)
        buffer.add(features=features, state=state, base_action=np.zeros(A), action=action,
                   reward=float(action[0] > 0.2), done=1.0, next_features=features, next_state=state,
                   next_base_action=np.zeros(A))  # fmt: skip
    return buffer


def test_the_residual_stays_within_xi_of_the_base_action():
    model = ResidualActorCritic(ResidualConfig(feature_dim=F, xi=0.3))
    with torch.no_grad():
        for p in model.actor.parameters():
            p.normal_(0, 3.0)  # a wild actor: tanh still bounds it
        x = model.inputs(torch.randn(64, F), torch.randn(64, S), torch.zeros(64, A))
        residual, log_prob = model.residual(x)
    assert residual.abs().max() <= 0.3 + 1e-6 and torch.isfinite(log_prob).all()
    base = torch.full((64, A), 0.9)
    assert model.executed(base, residual).max() <= 1.0  # the executed action stays in the env's box


def test_sac_learns_the_correction_the_reward_asks_for():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    buffer = _bandit_buffer(2000, rng)
    model = ResidualActorCritic(ResidualConfig(feature_dim=F, xi=0.5, hidden=64, layers=2))
    learner = SacLearner(model, SacSettings(init_temperature=0.05))
    probe = model.inputs(torch.randn(256, F), torch.randn(256, S), torch.zeros(256, A))
    before = model.residual(probe, deterministic=True)[0][:, 0].mean().item()
    for _ in range(400):
        learner.update(buffer.sample(128, rng))
    with torch.no_grad():
        after = model.residual(probe, deterministic=True)[0]
        q_good = torch.min(*model.q(probe, torch.full((256, A), 0.0).index_fill(1, torch.tensor([0]), 0.4))).mean()
        q_bad = torch.min(*model.q(probe, torch.full((256, A), 0.0).index_fill(1, torch.tensor([0]), -0.4))).mean()
    assert abs(before) < 1e-6  # starts as "no correction"
    assert after[:, 0].mean() > 0.25  # learned to push the first dimension into the rewarded region
    assert q_good > 0.6 and q_bad < 0.3  # and its critic knows where the reward is


def test_a_conservative_critic_scores_actions_it_never_saw_below_the_ones_in_its_data():
    """Data from a base that never corrects (executed = base action 0), reward 1: plain TD leaves Q of unseen
    residuals wherever its initialisation and extrapolation put it; Cal-QL presses them below Q of the data."""
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(512, F, S, A)
    for _ in range(512):
        features, state = rng.normal(size=F), rng.normal(size=S)
        slot = buffer.add(features=features, state=state, base_action=np.zeros(A), action=np.zeros(A), reward=1.0,
                          done=1.0, next_features=features, next_state=state, next_base_action=np.zeros(A))  # fmt: skip
        buffer.set_returns([slot], [1.0], gamma=0.99)
    gaps = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = ResidualActorCritic(ResidualConfig(feature_dim=F, xi=0.5, hidden=64, layers=2))
        learner = SacLearner(model, SacSettings(conservative=weight, return_bounds=(0.0, 1.0)))
        for _ in range(150):
            learner.update(buffer.sample(64, rng), actor=False)
        with torch.no_grad():
            x = model.inputs(torch.randn(256, F), torch.randn(256, S), torch.zeros(256, A))
            seen = torch.min(*model.q(x, torch.zeros(256, A))).mean()
            unseen = torch.min(*model.q(x, torch.empty(256, A).uniform_(-0.5, 0.5).sign() * 0.5)).mean()
        gaps[weight] = (seen - unseen).item()
    assert gaps[1.0] > 0.3 and gaps[1.0] > gaps[0.0] + 0.2, gaps


def test_the_critics_privileged_state_follows_the_block_into_the_gripper_and_onto_its_goal():
    """What only the critics read must carry what the base's features blur: the block held, then at its goal."""
    from vla_flywheel.engine.residual_agent import critic_state
    from vla_flywheel.envs import make_env
    from vla_flywheel.envs.registry import make_expert

    env = make_env(family="pick_place", interface="ee_delta", image_size=32)
    obs, _ = env.reset(seed=3)
    expert = make_expert(env)
    expert.reset(env, 3)
    states, success = [critic_state(env)], False
    while not success:
        obs, _, terminated, truncated, info = env.step(expert.act(env, obs))
        states.append(critic_state(env))
        success = info["success"]
        assert not truncated or success, "the scripted expert failed this seed"
    env.close()
    states = np.array(states)  # [T, 9]: block xyz, goal xy, tool xyz, held
    assert states.shape[1] == 9 and states[0, 8] == 0 and states[:, 8].max() == 1
    assert np.linalg.norm(states[-1, :2] - states[-1, 3:5]) < np.linalg.norm(states[0, :2] - states[0, 3:5])


def test_the_progress_reward_pays_each_step_towards_the_goal_and_sums_to_success_plus_progress_made():
    """Shaping must say at every step whether the expert moved towards the goal (the sparse reward is silent until
    the end) and telescope: its sum is success + the progress made, so it cannot outbid the success itself."""
    from vla_flywheel.envs import make_env
    from vla_flywheel.envs.registry import make_expert
    from vla_flywheel.train.rewards import StepReward

    env = make_env(family="pick_place", interface="ee_delta", image_size=32)
    obs, info = env.reset(seed=3)
    expert, reward_of = make_expert(env), StepReward("progress")
    expert.reset(env, 3)
    reward_of.reset(obs, info)
    start, rewards, success = info["progress"], [], False
    while not success:
        obs, sparse, terminated, truncated, info = env.step(expert.act(env, obs))
        rewards.append(reward_of(obs, sparse, info))
        success = info["success"]
        assert not truncated or success, "the scripted expert failed this seed"
    idle, idle_rewards = StepReward("progress"), []
    obs, info = env.reset(seed=3)
    idle.reset(obs, info)
    for _ in range(20):
        obs, sparse, *_, info = env.step(np.array([0, 0, 0, 0, -1], np.float32))
        idle_rewards.append(idle(obs, sparse, info))
    env.close()
    assert sum(rewards) == pytest.approx(1.0 + 1.0 - start, abs=1e-6)  # success + Φ(success) − Φ(s0)
    assert sum(r > 0 for r in rewards[:-1]) > len(rewards) / 2  # most steps before the success are paid already
    assert abs(sum(idle_rewards)) < 1e-3  # standing still earns nothing
    with pytest.raises(ConfigError, match="reward='dense' is not one of sparse, progress, critic"):
        StepReward("dense")


def test_replay_fills_in_each_episodes_discounted_return_when_it_ends():
    buffer = ReplayBuffer(8, F, S, A)
    zeros = {
        "features": np.zeros(F),
        "state": np.zeros(S),
        "base_action": np.zeros(A),
        "action": np.zeros(A),
        "done": 0.0,
        "next_features": np.zeros(F),
        "next_state": np.zeros(S),
        "next_base_action": np.zeros(A),
    }
    slots = [buffer.add(reward=r, **zeros) for r in (0.0, 0.0, 1.0)]
    assert buffer.sample(64, np.random.default_rng(0))["mc_return"].max() == 0  # a lower bound until the end
    buffer.set_returns(slots, [0.0, 0.0, 1.0], gamma=0.9)
    returns = sorted(set(buffer.sample(256, np.random.default_rng(0))["mc_return"].tolist()))
    np.testing.assert_allclose(returns, [0.81, 0.9, 1.0], rtol=1e-6)


def test_replay_is_bounded_and_symmetric_batches_mix_both_buffers():
    rng = np.random.default_rng(0)
    online, offline = ReplayBuffer(10, F, S, A), _bandit_buffer(50, rng)
    before = online.nbytes
    for i in range(25):
        online.add(features=np.full(F, i), state=np.zeros(S), base_action=np.zeros(A), action=np.zeros(A),
                   reward=0.0, done=0.0, next_features=np.zeros(F), next_state=np.zeros(S),
                   next_base_action=np.zeros(A))  # fmt: skip
    assert len(online) == 10 and online.nbytes == before  # the oldest were overwritten, nothing grew
    batch = symmetric_batch(online, offline, 32, rng)
    from_online = batch["features"][:16, 0]
    assert batch["features"].shape == (32, F) and set(from_online.tolist()) <= set(range(15, 25))


def test_a_saved_specialist_loads_back_identically_and_a_damaged_one_is_refused(tmp_path):
    model = ResidualActorCritic(ResidualConfig(feature_dim=F, xi=0.2))
    model.save_pretrained(tmp_path / "s")
    loaded = ResidualActorCritic.from_pretrained(tmp_path / "s")
    x = torch.randn(4, model.config.input_dim)
    assert torch.equal(model.residual(x, deterministic=True)[0], loaded.residual(x, deterministic=True)[0])
    (tmp_path / "s" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="not a readable safetensors file"):
        ResidualActorCritic.from_pretrained(tmp_path / "s")


def test_a_residual_bound_outside_the_action_box_is_refused():
    with pytest.raises(ConfigError, match=r"xi=1.5 must be in \(0, 1\]"):
        ResidualConfig(feature_dim=F, xi=1.5)
    with pytest.raises(ConfigError, match="actor_privileged needs privileged_dim > 0"):
        ResidualConfig(feature_dim=F, actor_privileged=True)


def test_a_privileged_actor_reads_the_task_state_and_its_critics_read_it_once():
    model = ResidualActorCritic(ResidualConfig(feature_dim=F, privileged_dim=9, actor_privileged=True))
    features, state, base, privileged = torch.zeros(2, F), torch.zeros(2, S), torch.zeros(2, A), torch.zeros(2, 9)
    privileged[1, 0] = 1.0  # the block is elsewhere: a privileged actor's input, and so its residual, differ
    x = model.inputs(features, state, base, privileged)  # [2, F + S + A + 9]
    assert x.shape == (2, F + S + A + 9) and not torch.equal(x[0], x[1])
    q1, _ = model.q(x, base, privileged)
    assert q1.shape == (2,) and model.q1[0].in_features == F + S + A + 9 + A


@pytest.mark.parametrize("reward, actor_privileged", [("sparse", False), ("progress", True)])
def test_a_specialist_run_writes_its_curve_and_a_loadable_specialist(tmp_path, ee_delta_policy, reward,
                                                                     actor_privileged):  # fmt: skip
    from vla_flywheel.train.specialist import CURVE_FILE, SPECIALIST_DIR, SpecialistConfig, train_specialist

    cfg = SpecialistConfig(base=ee_delta_policy, out=tmp_path / "sp", env_steps=60, offline_successes=1,
                           offline_episodes=1, warmup_episodes=1, batch_size=16, capacity=50, hidden=32,
                           eval_every=30, eval_episodes=2, max_steps=20, reward=reward,
                           actor_privileged=actor_privileged)  # fmt: skip
    summary = train_specialist(cfg, progress=False)
    curve = [json.loads(line) for line in (tmp_path / "sp" / CURVE_FILE).read_text().splitlines()]
    assert curve[0]["env_steps"] == 0 and curve[-1]["env_steps"] >= 60 and len(curve) >= 3
    assert all(p["success"]["n"] == 2 for p in curve) and curve[-1]["updates"] > 0
    assert summary["online"]["env_steps"] == curve[-1]["env_steps"] and summary["offline"]["episodes"] == 1
    assert summary["replay_megabytes"] < 1  # two buffers of 50 transitions, allocated once
    ResidualActorCritic.from_pretrained(tmp_path / "sp" / SPECIALIST_DIR)


def test_a_primitive_base_gets_its_specialist_on_the_primitive_interface(tmp_path, primitive_policy):
    """One transition per attempt: with one attempt an episode is one corrected (pick, yaw, place)."""
    from vla_flywheel.train.specialist import SPECIALIST_DIR, SpecialistConfig, train_specialist

    cfg = SpecialistConfig(base=primitive_policy, out=tmp_path / "sp", env_steps=12, offline_successes=1,
                           offline_episodes=1, warmup_episodes=2, batch_size=4, capacity=20, hidden=16,
                           critic_warmup=2, eval_every=6, eval_episodes=2, max_steps=1,
                           actor_privileged=True)  # fmt: skip
    summary = train_specialist(cfg, progress=False)
    assert summary["online"]["env_steps"] == summary["online"]["episodes"] == 12
    assert summary["offline"]["env_steps"] == summary["offline"]["episodes"] == 1
    assert summary["online"]["updates"] > cfg.critic_warmup  # the actor moved too
    model = ResidualActorCritic.from_pretrained(tmp_path / "sp" / SPECIALIST_DIR)
    assert model.config.action_dim == 5 and model.config.privileged_dim == 9
