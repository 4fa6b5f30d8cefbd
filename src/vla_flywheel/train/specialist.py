"""PLD's probe stage: a residual SAC specialist on a frozen base policy for one task family, with its RL curve.

1. Offline buffer: the base plays up to `offline_episodes` episodes; the transitions of its first
   `offline_successes` successes are kept (PLD: ~50 successful trajectories).
2. Warm-up: `warmup_episodes` base-only episodes fill the online buffer (PLD: 100; fewer fit a CPU budget).
3. RL: each episode starts after the base has acted alone for T ~ U[0, probe·T_max] steps (PLD's probing; those
   steps are spent but not stored), then base + residual act and every env step runs one SAC update on a batch
   drawn half from each buffer (RLPD's symmetric replay). Reward is the task's sparse success (PLD) or success plus
   the change of the task's progress (`reward`, see train.rewards); success ends the episode.
4. Every `eval_every` env steps, the specialist (its mean action, from the first step, no probing) plays the fixed
   evaluation seeds; `curve.jsonl` gets (env steps, episodes, success with a 95% CI, wall time).
With `expert_help` (VLAC's graded help, train.expert_help) expert demonstrations are collected after step 1 and
RL episodes may restart from states where earlier ones failed, led there by the expert for a few steps.

`from_scratch` is the RLPD baseline at the same budget and data: the actor outputs the whole action (ξ = 1) from
the same frozen features and state, with no base action and no probing. Every env step counts against
`env_steps` except the offline collection and the demonstrations, which are counted and reported apart. A killed run
starts over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vla_flywheel.config_check import check_counts, check_positive_ints
from vla_flywheel.engine.residual_agent import BaseStep, ResidualAgent, StepView, critic_state
from vla_flywheel.envs import make_env
from vla_flywheel.envs.registry import make_expert
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.intervals import wilson_interval
from vla_flywheel.eval.seeds import eval_seeds
from vla_flywheel.models.residual import ResidualActorCritic, ResidualConfig
from vla_flywheel.train.expert_help import (
    ExpertHelp,
    ExpertLed,
    FailureStates,
    RecordedActions,
    check_expert_help,
    recorded_demos,
)
from vla_flywheel.train.replay import ReplayBuffer, symmetric_batch
from vla_flywheel.train.rewards import StepReward, check_reward
from vla_flywheel.train.sac import SacLearner, SacSettings

SPECIALIST_SEED_BASE = 2_000_000  # above the evaluation lists (1e6 + i): RL never trains on an evaluation scene
SPECIALIST_DIR = "specialist"
CURVE_FILE = "curve.jsonl"
SUMMARY_FILE = "specialist_summary.json"


@dataclass
class SpecialistConfig:
    """base: the frozen base policy (a training run or pretrained_model dir), run on its own interface: a flow
        policy on ee_delta, a primitive one on primitive (an episode of up to 3 attempts; `max_steps` 1 for one).
    family: the task family.
    env_steps: online env-step budget (warm-up, probing and RL). xi: residual bound (PLD: 0.1-0.5).
    offline_successes / offline_episodes: base successes kept for the offline buffer, and the most base episodes
        tried for them. warmup_episodes: base-only episodes before the residual acts.
    probe: RL episodes start after the base acted U[0, probe x horizon] steps. from_scratch: the RLPD baseline.
    batch_size / capacity / hidden: learner settings. PLD uses 256 / 250k / 256; on one CPU thread an update of
        256-wide MLPs on 256 transitions takes ~90 ms, so the defaults are 128 / 100k / 128 (~12x cheaper).
    temperature: the entropy temperature's starting value (PLD: 1.0; see train.sac).
    critic_warmup: SAC updates that train the critics alone before the actor moves (see train.sac).
    conservative: weight of the Cal-QL regulariser on the critics (0 = plain SAC; see train.sac).
    mc_floor: TD targets never below the transition's Monte-Carlo return (see train.sac).
    residual_penalty: weight of the mean squared residual in the actor's loss (see train.sac).
    reward: "sparse" (PLD), "progress" (shaped by the simulator's stage-wise progress), "critic" (VLAC: the
        trained critic `critic`'s progress between consecutive frames plus its done head) or "critic-value" (the
        change of that critic's integrated value plus its done head); see train.rewards.
    privileged_critic: the critics also read the simulator's task state (engine.residual_agent.critic_state). The
        base's frozen features alone leave the critic unable to tell a grasped block from a missed one, and the
        actor then follows its noise.
    actor_privileged: the actor reads it too (a privileged teacher; see models.residual.config).
    fixed_dims / log_std_max: what the residual leaves to the base and how wide it may explore (models.residual.config).
    actor_lr: the actor's learning rate (the critics' is 3e-4).
    expert_help: VLAC's graded help, "none", "demo-replay", "return-explore" or "expert-guided", each level with the
        ones before it (train.expert_help). demo_episodes / bc_weight: the demonstrations and their BC term's weight.
        demos: None = `demo_episodes` new episodes of the scripted expert; a dataset (e.g. a flywheel run's seed
        demos) = up to `demo_episodes` of its successful episodes, replayed from their recorded seeds.
        restart_fraction / failure_states: RL episodes restarted from a failure state, and the pool they come from.
        expert_steps: steps the expert leads a restart.
    eval_every / eval_episodes: curve points (env steps) and fixed-seed episodes per point.
    max_steps: episode horizon (None = the env's: 100 on the tabletop).
    """

    base: Path
    out: Path
    family: str = "pick_place"
    env_steps: int = 20_000
    xi: float = 0.5
    offline_successes: int = 50
    offline_episodes: int = 200
    warmup_episodes: int = 20
    probe: float = 0.6
    from_scratch: bool = False
    batch_size: int = 128
    capacity: int = 100_000
    hidden: int = 128
    temperature: float = 0.01
    critic_warmup: int = 1000
    conservative: float = 0.05
    mc_floor: bool = False
    residual_penalty: float = 0.0
    reward: str = "sparse"
    critic: Path | None = None
    privileged_critic: bool = True
    actor_privileged: bool = False
    fixed_dims: tuple[int, ...] = ()
    log_std_max: float = 1.0
    actor_lr: float = 3e-4
    expert_help: str = "none"
    demo_episodes: int = 20
    demos: Path | None = None
    bc_weight: float = 1.0
    restart_fraction: float = 0.5
    failure_states: int = 200
    expert_steps: int = 20
    eval_every: int = 2_000
    eval_episodes: int = 50
    max_steps: int | None = None
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        self.base, self.out = Path(self.base), Path(self.out)
        check_positive_ints("specialist", self, ("env_steps", "batch_size", "capacity", "hidden", "eval_every",
                                                 "eval_episodes", "threads"))  # fmt: skip
        check_counts("specialist", self, ("offline_successes", "offline_episodes", "warmup_episodes", "critic_warmup",
                                          "seed"))  # fmt: skip
        if not 0 <= self.probe <= 1:
            raise ConfigError(f"specialist: probe={self.probe} must be in [0, 1] (a fraction of the horizon)")
        if not 0 < self.xi <= 1:
            raise ConfigError(f"specialist: xi={self.xi} must be in (0, 1]")
        if not self.conservative >= 0:
            raise ConfigError(f"specialist: conservative={self.conservative} must be >= 0 (0 turns Cal-QL off)")
        if self.actor_privileged and not self.privileged_critic:
            raise ConfigError("specialist: actor_privileged needs privileged_critic (the state both read)")
        check_reward(self.reward, self.critic is not None)
        if self.critic is not None:
            self.critic = Path(self.critic)
        if self.demos is not None:
            self.demos = Path(self.demos)
        ExpertHelp(self.expert_help)
        check_positive_ints("specialist", self, ("demo_episodes", "failure_states", "expert_steps"))
        if not 0 <= self.restart_fraction <= 1:
            raise ConfigError(f"specialist: restart_fraction={self.restart_fraction} must be in [0, 1]")
        if not self.residual_penalty >= 0:
            raise ConfigError(f"specialist: residual_penalty={self.residual_penalty} must be >= 0")
        if not self.bc_weight >= 0:
            raise ConfigError(f"specialist: bc_weight={self.bc_weight} must be >= 0 (0 turns the BC term off)")
        if not self.actor_lr > 0:
            raise ConfigError(f"specialist: actor_lr={self.actor_lr} must be > 0")
        if not self.temperature > 0:
            raise ConfigError(f"specialist: temperature={self.temperature} must be > 0")

    def to_dict(self) -> dict:
        return {**asdict(self), "base": str(self.base), "out": str(self.out),
                "critic": None if self.critic is None else str(self.critic),
                "demos": None if self.demos is None else str(self.demos)}  # fmt: skip


def run_episode(env, agent: ResidualAgent, seed: int, on_step: Callable[[dict | None], None],
                reward_of: StepReward | None = None, start: dict | None = None) -> tuple[bool, int]:  # fmt: skip
    """Play one episode, calling `on_step` once per env step with the finished transition (None for a probing step
    before the takeover), its reward given by `reward_of` (the env's sparse one without). A transition is finished
    when the next step's view is known; a time-limit truncation bootstraps from the final observation's view, a
    termination does not. `start`: an env state to begin in instead of the seed's fresh scene, with the whole
    horizon ahead (expert help's return-and-explore). -> (success, env steps)."""
    reward_of = reward_of or StepReward("sparse")
    obs, info = env.reset(seed=seed)
    if start is not None:
        env.unwrapped.set_state({**start, "steps": 0})
        obs, info = env.unwrapped.observe()
    reward_of.reset(obs, info)
    agent.reset(env, seed)
    pending: tuple[StepView, np.ndarray, float, bool] | None = None
    steps = 0
    while True:
        agent.act(env, obs)
        view, action, stored = agent.last
        if pending is not None:
            on_step(_transition(pending, view, done=False))
        obs, reward, terminated, truncated, info = env.step(action)
        reward = reward_of(obs, reward, info)
        steps += 1
        pending = (view, action, reward, stored)
        if terminated or truncated:
            following = view if terminated else agent.base(env, obs)
            on_step(_transition(pending, following, done=terminated))
            return bool(info["success"]), steps


def _transition(pending, following: StepView, done: bool) -> dict | None:
    view, action, reward, stored = pending
    if not stored:
        return None
    return {"features": view.features, "state": view.state, "base_action": view.base_action, "action": action,
            "reward": reward, "done": float(done), "next_features": following.features,
            "next_state": following.state, "next_base_action": following.base_action,
            "privileged": view.privileged, "next_privileged": following.privileged}  # fmt: skip


def evaluate_specialist(env, base: BaseStep, model: ResidualActorCritic, episodes: int) -> dict:
    """The specialist's mean action from the first step on the fixed evaluation seeds -> success with a 95% CI."""
    agent = ResidualAgent(base, model, takeover=lambda seed: 0, deterministic=True)
    successes = sum(run_episode(env, agent, seed, lambda t: None)[0] for seed in eval_seeds(episodes))
    low, high = wilson_interval(successes, episodes)
    return {"n": episodes, "successes": successes, "rate": successes / episodes, "ci95": [low, high]}


def train_specialist(cfg: SpecialistConfig, progress: bool = True) -> dict:
    from vla_flywheel.models.policy import FlywheelPolicy

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    policy = FlywheelPolicy.from_pretrained(cfg.base)
    env = make_env(family=cfg.family, interface=base_interface(policy),
                   **({"max_steps": cfg.max_steps} if cfg.max_steps else {}))  # fmt: skip
    horizon = env.config.max_steps
    base = BaseStep(policy)
    env.reset(seed=0)  # the task state (and so its size) exists once a task is drawn
    privileged_dim = len(critic_state(env)) if cfg.privileged_critic else 0
    model = ResidualActorCritic(ResidualConfig(
        feature_dim=base.feature_dim, state_dim=policy.config.state_dim, action_dim=policy.config.action_dim,
        xi=1.0 if cfg.from_scratch else cfg.xi, hidden=cfg.hidden, use_base=not cfg.from_scratch,
        privileged_dim=privileged_dim, actor_privileged=cfg.actor_privileged, fixed_dims=cfg.fixed_dims,
        log_std_max=cfg.log_std_max,
    ))  # fmt: skip
    reward_of, expert_help = StepReward(cfg.reward, _load_critic(cfg.critic)), ExpertHelp(cfg.expert_help)
    check_expert_help(env, expert_help)
    learner = SacLearner(model, SacSettings(init_temperature=cfg.temperature, conservative=cfg.conservative,
                                            return_bounds=reward_of.return_bounds, actor_lr=cfg.actor_lr,
                                            bc_weight=cfg.bc_weight if expert_help.demo_replay else 0.0,
                                            mc_floor=cfg.mc_floor, residual_penalty=cfg.residual_penalty))  # fmt: skip
    recorded = recorded_demos(cfg.demos, cfg.demo_episodes) if expert_help.demo_replay and cfg.demos else None
    demo_episodes = (cfg.demo_episodes if recorded is None else len(recorded)) if expert_help.demo_replay else 0
    buffers = [ReplayBuffer(capacity, base.feature_dim, policy.config.state_dim, policy.config.action_dim,
                            privileged_dim, pending_return=reward_of.least_return)
               for capacity in (cfg.capacity, cfg.capacity, max(1, demo_episodes * horizon))]  # fmt: skip
    online, offline, demos = buffers
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "specialist_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    curve_path = cfg.out / CURVE_FILE
    curve_path.unlink(missing_ok=True)
    start = time.perf_counter()
    seeds = iter(range(SPECIALIST_SEED_BASE + cfg.seed * 100_000, SPECIALIST_SEED_BASE + (cfg.seed + 1) * 100_000))

    # 1. offline: the base's successes (kept whole; its failures are dropped)
    base_only = ResidualAgent(base, None, takeover=lambda seed: 0)
    offline_steps, offline_tried, kept = 0, 0, 0
    for _ in tqdm(range(cfg.offline_episodes), desc="offline (base)", unit="ep", disable=not progress):
        if kept >= cfg.offline_successes:
            break
        episode: list[dict] = []
        success, steps = run_episode(env, base_only, next(seeds), episode.append, reward_of)
        offline_steps, offline_tried = offline_steps + steps, offline_tried + 1
        if success:
            kept += 1
            offline.set_returns([offline.add(**t) for t in episode], [t["reward"] for t in episode], learner.s.gamma)
    demonstrations = ([(next(seeds), make_expert(env)) for _ in range(demo_episodes)] if recorded is None
                      else [(seed, RecordedActions(actions)) for seed, actions in recorded])  # fmt: skip
    demo_counts = _collect_demos(env, base, demos, demonstrations, reward_of, learner.s.gamma, progress)

    # 2-4. warm-up, then probing + residual with one update per env step, curve points every eval_every steps
    counts = {"env_steps": 0, "episodes": 0, "successes": 0, "updates": 0, "restarts": 0, "expert_env_steps": 0}
    logs: dict[str, float] = {}
    learner_agent = ResidualAgent(base, model, takeover=lambda seed: _probe_steps(cfg, horizon, seed))
    warmup_agent = base_only if not cfg.from_scratch else learner_agent
    restart_agent = ResidualAgent(base, model, takeover=lambda seed: 0)
    if expert_help.expert_guided:
        restart_agent = ExpertLed(restart_agent, make_expert(env), cfg.expert_steps)
    failures = FailureStates(cfg.failure_states, np.random.default_rng([cfg.seed, 1]))

    def record_point() -> None:
        point = {**counts, "success": evaluate_specialist(env, base, model, cfg.eval_episodes),
                 "seconds": time.perf_counter() - start, **{k: round(v, 4) for k, v in logs.items()}}  # fmt: skip
        with curve_path.open("a") as f:
            f.write(json.dumps(point) + "\n")
        model.save_pretrained(cfg.out / SPECIALIST_DIR)
        bar.set_postfix(eval=f"{100 * point['success']['rate']:.0f}%")

    slots: list[int] = []  # the running episode's transitions, their returns filled in when it ends
    rewards: list[float] = []

    def on_step(transition: dict | None) -> None:
        counts["env_steps"] += 1
        if transition is not None:
            slots.append(online.add(**transition))
            rewards.append(transition["reward"])
            if expert_help.return_explore:
                failures.watch(env)
        if len(online) + len(offline) >= cfg.batch_size and counts["episodes"] >= cfg.warmup_episodes:
            batch = symmetric_batch(online, offline, cfg.batch_size, rng)
            demo_batch = demos.sample(cfg.batch_size // 2, rng) if len(demos) else None
            logs.update(learner.update(batch, actor=counts["updates"] >= cfg.critic_warmup, demos=demo_batch))
            counts["updates"] += 1
        bar.update()

    with tqdm(total=cfg.env_steps, desc="specialist RL", unit="step", disable=not progress) as bar:
        record_point()
        next_point = cfg.eval_every
        while counts["env_steps"] < cfg.env_steps:
            agent, restart = warmup_agent if counts["episodes"] < cfg.warmup_episodes else learner_agent, None
            if (
                expert_help.return_explore
                and agent is learner_agent
                and len(failures)
                and rng.random() < cfg.restart_fraction
            ):
                agent, restart = restart_agent, failures.draw()
                counts["restarts"] += 1
            failures.start_episode()
            success, _ = run_episode(env, agent, next(seeds), on_step, reward_of, start=restart)
            if isinstance(agent, ExpertLed):
                counts["expert_env_steps"] += min(agent.t, cfg.expert_steps)
            failures.end_episode(success)
            online.set_returns(slots, rewards, learner.s.gamma)
            slots.clear()
            rewards.clear()
            counts["episodes"] += 1
            counts["successes"] += int(success)
            if counts["env_steps"] >= next_point or counts["env_steps"] >= cfg.env_steps:
                record_point()
                next_point += cfg.eval_every
    env.close()
    curve = [json.loads(line) for line in curve_path.read_text().splitlines()]
    summary = {"config": cfg.to_dict(), "offline": {"episodes": offline_tried, "successes": kept,
               "env_steps": offline_steps, "transitions": len(offline)}, "demos": demo_counts, "online": counts,
               "base_success": curve[0]["success"], "final_success": curve[-1]["success"],
               "best_success": max(curve, key=lambda p: p["success"]["rate"])["success"],
               "replay_megabytes": sum(b.nbytes for b in buffers) / 2**20,
               "seconds": time.perf_counter() - start}  # fmt: skip
    (cfg.out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    return summary


def base_interface(policy) -> str:
    """The interface a base acts on, its own: a flow policy's per-step ee_delta actions, or a primitive policy's
    one (pick x, y, yaw, place x, y) per attempt, which the residual then corrects as a whole."""
    return "ee_delta" if policy.config.head == "flow" else "primitive"


def _load_critic(path: Path | None):
    """The trained critic a critic reward reads (None for the others); a judge without the critic role is refused."""
    if path is None:
        return None
    from vla_flywheel.models.judges import FlywheelJudge
    from vla_flywheel.models.judges.modeling import resolve_judge_dir

    critic = FlywheelJudge.from_pretrained(resolve_judge_dir(path))
    if "critic" not in critic.config.roles:
        raise ConfigError(f"specialist: {path} is a judge for {', '.join(critic.config.roles)}, not a critic; pass a "
                          "train-judge run with the critic role")  # fmt: skip
    return critic.eval()


def _collect_demos(env, base: BaseStep, demos: ReplayBuffer, demonstrations: list[tuple[int, object]],
                   reward_of: StepReward, gamma: float, progress: bool) -> dict:  # fmt: skip
    """Expert help's demonstration buffer: whole episodes of each (seed, expert), the base read alongside at every
    step (its features and action are the learner's inputs). -> what they cost and how many succeeded."""
    counts = {"episodes": len(demonstrations), "successes": 0, "env_steps": 0}
    for seed, expert in tqdm(demonstrations, desc="demonstrations", unit="ep", disable=not progress):
        led = ExpertLed(ResidualAgent(base, None, takeover=lambda seed: 0), expert, steps=None)
        episode: list[dict] = []
        success, steps = run_episode(env, led, seed, episode.append, reward_of)
        demos.set_returns([demos.add(**t) for t in episode], [t["reward"] for t in episode], gamma)
        counts["successes"] += int(success)
        counts["env_steps"] += steps
    return counts


def _probe_steps(cfg: SpecialistConfig, horizon: int, seed: int) -> int:
    """How long the base acts alone before the residual joins: U[0, probe x horizon], drawn from the episode seed."""
    if cfg.from_scratch:
        return 0
    return int(np.random.default_rng(seed).integers(0, int(cfg.probe * horizon) + 1))
