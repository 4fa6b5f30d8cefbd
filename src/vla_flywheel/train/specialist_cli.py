"""`flywheel train-specialist`: PLD's probe stage on its own, a residual SAC specialist and its RL curve."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from vla_flywheel.train.expert_help import HELP_LEVELS
from vla_flywheel.train.rewards import REWARDS
from vla_flywheel.train.specialist import CURVE_FILE, SpecialistConfig


def add_commands(sub) -> None:
    d = SpecialistConfig
    p = sub.add_parser("train-specialist", help="train a residual SAC specialist on a frozen policy (PLD)")
    p.add_argument("--base", type=Path, required=True, help="the frozen base policy (run or pretrained_model dir)")
    p.add_argument("--out", type=Path, required=True, help="where the specialist, curve.jsonl and summary go")
    p.add_argument("--family", default=d.family, help="task family (tabletop or mw/<task>)")
    p.add_argument("--env-steps", type=int, default=d.env_steps, help="online env-step budget")
    p.add_argument("--xi", type=float, default=d.xi, help="residual bound in action units (PLD: 0.1-0.5)")
    p.add_argument("--from-scratch", action="store_true", help="RLPD baseline: SAC without the base action")
    p.add_argument("--offline-successes", type=int, default=d.offline_successes)
    p.add_argument("--warmup-episodes", type=int, default=d.warmup_episodes)
    p.add_argument("--probe", type=float, default=d.probe, help="RL starts after U[0, probe x T] base steps")
    p.add_argument("--temperature", type=float, default=d.temperature, help="initial entropy temperature")
    p.add_argument("--critic-warmup", type=int, default=d.critic_warmup, help="critic-only updates before the actor")
    p.add_argument("--conservative", type=float, default=d.conservative, help="Cal-QL weight (0 = plain SAC)")
    p.add_argument(
        "--reward",
        choices=REWARDS,
        default=d.reward,
        help="sparse success (PLD) or success plus the change of the task's progress",
    )
    p.add_argument("--critic", type=Path, default=None, help="reward=critic: the trained critic (train-judge run)")
    p.add_argument("--no-privileged-critic", action="store_true", help="critics read only what the actor reads")
    p.add_argument(
        "--actor-privileged",
        action="store_true",
        help="the actor also reads the simulator's task state (a privileged teacher)",
    )
    p.add_argument("--fixed-dims", type=int, nargs="*", default=[], metavar="D",
                   help="action dimensions the residual leaves to the base (tabletop: 3 yaw, 4 gripper)")  # fmt: skip
    p.add_argument("--log-std-max", type=float, default=d.log_std_max, help="widest exploration (pre-tanh log σ)")
    p.add_argument("--actor-lr", type=float, default=d.actor_lr)
    p.add_argument("--mc-floor", action="store_true", help="TD targets never below the data's Monte-Carlo return")
    p.add_argument("--residual-penalty", type=float, default=d.residual_penalty, help="actor loss weight of |a_δ/ξ|²")
    p.add_argument("--expert-help", choices=HELP_LEVELS, default=d.expert_help,
                   help="VLAC's graded expert help, each level with the ones before it")  # fmt: skip
    p.add_argument("--demo-episodes", type=int, default=d.demo_episodes, help="expert demonstrations (demo-replay)")
    p.add_argument("--bc-weight", type=float, default=d.bc_weight, help="weight of the demonstrations' BC term")
    p.add_argument("--restart-fraction", type=float, default=d.restart_fraction,
                   help="RL episodes restarted from a failure state (return-explore)")  # fmt: skip
    p.add_argument("--expert-steps", type=int, default=d.expert_steps, help="steps the expert leads a restart")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="env steps between curve points")
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes)
    p.add_argument("--max-steps", type=int, default=None, help="episode horizon (default: the env's)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=_train_specialist)


def _train_specialist(args) -> None:
    from vla_flywheel.envs.rendering import check_rendering_libraries
    from vla_flywheel.train.specialist import train_specialist

    check_rendering_libraries()
    plain = {f.name for f in fields(SpecialistConfig)} - {"privileged_critic"}
    cfg = SpecialistConfig(
        **{k: v for k, v in vars(args).items() if k in plain},
        privileged_critic=not args.no_privileged_critic,
    )
    s = train_specialist(cfg, progress=not args.no_progress)
    print(f"base (residual at init)  {_rate(s['base_success'])}")
    print(f"specialist, final        {_rate(s['final_success'])} after {s['online']['env_steps']} env steps")
    print(f"offline: {s['offline']['successes']} base successes from {s['offline']['episodes']} episodes "
          f"({s['offline']['env_steps']} env steps); {s['seconds'] / 60:.1f} min")  # fmt: skip
    print(f"curve   {cfg.out / CURVE_FILE}")


def _rate(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}] (n={r['n']})"
