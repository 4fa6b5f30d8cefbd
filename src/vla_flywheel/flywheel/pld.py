"""PLD's generate stage for one flywheel round: probe (a residual specialist per family) then learn (hybrid rollouts).

The `vlac-rl` recipe runs the same stage as VLAC's RL loop: its specialists are rewarded by the run's critic judge
(progress between consecutive frames plus its done head) instead of the sparse success, may get VLAC's graded expert
help (`specialist={"expert_help": ...}`; its demonstrations replayed from the run's seed demos with
`help_demos="seed"`), and their rollouts are kept by that critic.

Probe: `train.specialist` trains a residual SAC specialist on the round's frozen policy for each family, within
`specialist_steps` env steps (its own curve and summary are kept next to it). Learn: the round's episodes are hybrid
rollouts: the base acts alone for T_base ~ U[0, pld_alpha x horizon] steps (drawn from the episode seed), then base
+ the specialist's mean residual; the recorded action is what was executed, so the prefix holds base actions and
the suffix corrected ones (PLD §3.2 stage 2). The recipe's oracle judge keeps the successes (PLD's sparse task
reward; another judge, e.g. VLAC's critic, may replace it); the round's update (stage 3, distill) is the engine's
ordinary fine-tuning on the kept data, and the specialists are not used again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vla_flywheel.engine.residual_agent import BaseStep, ResidualAgent
from vla_flywheel.engine.rollout import rollout
from vla_flywheel.failpoints import failpoint
from vla_flywheel.flywheel import stages
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.judging import make_judge
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed
from vla_flywheel.models.residual import ResidualActorCritic
from vla_flywheel.train.rewards import CRITIC_REWARDS
from vla_flywheel.train.specialist import SPECIALIST_DIR, SUMMARY_FILE, SpecialistConfig, train_specialist

SOURCE = "residual"


def takeover_step(alpha: float, horizon: int, seed: int) -> int:
    """T_base ~ U[0, alpha x horizon], drawn from the episode seed (so a resumed round replays the same split)."""
    return int(np.random.default_rng([seed, 7]).integers(0, int(alpha * horizon) + 1))


def probe(cfg: RunConfig, run: RunLayout, r: int, policy_dir: Path, judge_dir: Path | None, progress: bool) -> None:
    """A specialist per family on round r-1's policy, rewarded by `cfg.rl_reward` (the critic in `judge_dir` for
    vlac-rl's critic rewards); a finished one (its summary written) is kept on resume."""
    reward = {"reward": cfg.rl_reward or "sparse"}
    if reward["reward"] in CRITIC_REWARDS:
        reward["critic"] = judge_dir
    demos = {"demos": run.demos} if cfg.help_demos == "seed" else {}
    for family in cfg.families:
        out = run.specialist(r, family)
        if (out / SUMMARY_FILE).exists():
            continue
        train_specialist(SpecialistConfig(base=stages.pretrained(policy_dir), out=out, family=family,
                                          env_steps=cfg.specialist_steps, xi=cfg.specialist_xi,
                                          max_steps=cfg.max_steps, seed=cfg.seed + r, threads=cfg.threads,
                                          **reward, **demos, **cfg.specialist),
                         progress=progress)  # fmt: skip


def rl_spent(run: RunLayout, upto: int) -> dict[str, int]:
    """Env steps and episodes the specialists of rounds 1..upto used (offline collection included)."""
    steps = episodes = 0
    for summary in sorted(run.specialists.glob("round-*/*/" + SUMMARY_FILE)):
        if int(summary.parent.parent.name.removeprefix("round-")) <= upto:
            s = json.loads(summary.read_text())
            steps += s["offline"]["env_steps"] + s["online"]["env_steps"]
            episodes += s["offline"]["episodes"] + s["online"]["episodes"]
    return {"rl_env_steps": steps, "rl_episodes": episodes}


def generate_pld(cfg: RunConfig, run: RunLayout, r: int, policy_dir: Path, judge_dir: Path | None,
                 progress: bool) -> dict[str, float]:  # fmt: skip
    timing = {"probe": 0.0, "generate": 0.0, "judge": 0.0}
    began = time.perf_counter()
    probe(cfg, run, r, policy_dir, judge_dir, progress)
    timing["probe"] = time.perf_counter() - began
    judge = make_judge(cfg.judge, stages.load_judge(judge_dir), cfg.threshold)
    envs = stages.Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides)
    base = BaseStep(stages.load_policy(policy_dir))
    agents = {}
    for family in cfg.families:
        horizon = envs(family).config.max_steps
        specialist = ResidualActorCritic.from_pretrained(run.specialist(r, family) / SPECIALIST_DIR)
        agents[family] = ResidualAgent(base, specialist, lambda seed, h=horizon: takeover_step(cfg.pld_alpha, h, seed),
                                       deterministic=True)  # fmt: skip
    path = run.round_data(r)
    try:
        writer = stages.round_writer(path, envs(cfg.families[0]))
        with writer:
            start = writer.num_episodes
            for i in tqdm(range(start, cfg.episodes_per_round), desc=f"round {r} hybrid rollouts", unit="ep",
                          disable=not progress):  # fmt: skip
                family = cfg.families[i % len(cfg.families)]
                t0 = time.perf_counter()
                record = rollout(envs(family), agents[family], rollout_seed(r, i), source=SOURCE, round_index=r)
                failpoint("rollout.acted")
                t1 = time.perf_counter()
                verdict = judge(record)
                timing["judge"] += time.perf_counter() - t1
                writer.add_episode(stages.round_frames(record, verdict), record.task)
                if i < cfg.videos:
                    stages.write_preview(path, i, record, verdict, "")
                timing["generate"] += time.perf_counter() - t0
    finally:
        envs.close()
    timing["generate"] -= timing["judge"]
    return timing
