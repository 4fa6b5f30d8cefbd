"""The flywheel's commands: `flywheel run`, `flywheel report RUN`, `flywheel compare RUN...`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from vla_flywheel.flywheel.config import JUDGES, RECIPES, REPLAN_WEIGHTS, REPLAN_WHEN, UPDATES, RunConfig
from vla_flywheel.models.presets import PRESETS, cpu_warning, get_preset
from vla_flywheel.train.expert_help import HELP_LEVELS


def add_commands(sub) -> None:
    from vla_flywheel.envs.tabletop.language import FAMILIES, SPLITS

    d = RunConfig  # defaults shown in --help come from the dataclass
    p = sub.add_parser("run", help="run the flywheel: seed demos, base policy, rounds of act-judge-filter-train-eval")
    p.add_argument("--recipe", choices=list(RECIPES), default=d.recipe)
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/flywheel/<recipe>-<time>)")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN", help="continue a killed or stopped run")
    p.add_argument("--family", nargs="+", default=list(d.families),
                   help=f"task families: {', '.join(FAMILIES)} or Meta-World's mw/<task>")  # fmt: skip
    p.add_argument("--interface", choices=["primitive", "ee_delta"], default=None, help="default: the recipe's")
    p.add_argument("--judge", choices=JUDGES, default=None, help="default: the recipe's (oracle for ablations)")
    p.add_argument("--judge-model", type=Path, default=None, help="a trained judge (default: train on the demos)")
    p.add_argument("--seed-demos", type=int, default=d.seed_demos, help="expert demos per family")
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--episodes-per-round", type=int, default=d.episodes_per_round)
    p.add_argument("--base-steps", type=int, default=d.base_steps)
    p.add_argument("--round-steps", type=int, default=d.round_steps)
    p.add_argument("--update", choices=UPDATES, default=d.update)
    p.add_argument("--threshold", type=float, default=d.threshold, help="learned judges keep scores above this")
    p.add_argument("--relabel", action="store_true",
                   help="keep what the judge rejects for the instruction saying what it did (hindsight)")  # fmt: skip
    p.add_argument("--replan", action="store_true",
                   help="ee_delta: re-execute each kept rollout's pick and place with the waypoint controller and "
                        "train on that instead (counted in --episodes-per-round)")  # fmt: skip
    p.add_argument("--replan-when", choices=REPLAN_WHEN, default=d.replan_when,
                   help="--replan: re-execute what the judge kept, or also every rollout whose gripper held "
                        "something through its carry")  # fmt: skip
    p.add_argument("--replan-verifier", type=Path, default=None, metavar="JUDGE",
                   help="--replan: LACY's explainer + verifier (this train-judge run) decide which "
                        "re-executions are kept: held something, pick/place described as asked")  # fmt: skip
    p.add_argument("--replan-weights", choices=REPLAN_WEIGHTS, default=d.replan_weights,
                   help="--replan-verifier: a kept re-execution's frames weigh what the run's judge says (the "
                        "critic: progress) or 1 each")  # fmt: skip
    p.add_argument("--judge-steps", type=int, default=d.judge_steps)
    p.add_argument("--judge-round-steps", type=int, default=d.judge_round_steps)
    p.add_argument("--pld-alpha", type=float, default=d.pld_alpha, help="pld: base-only prefix U[0, alpha x horizon]")
    p.add_argument("--specialist-steps", type=int, default=d.specialist_steps, help="pld: RL env steps per family")
    p.add_argument("--specialist-xi", type=float, default=d.specialist_xi, help="pld: residual bound (action units)")
    p.add_argument("--expert-help", choices=HELP_LEVELS, default=None,
                   help="pld / vlac-rl: VLAC's graded expert help for the specialists")  # fmt: skip
    p.add_argument("--rl-reward", choices=("sparse", "critic", "critic-value"), default=None,
                   help="pld / vlac-rl: the specialists' reward (default: the recipe's, sparse / critic)")  # fmt: skip
    p.add_argument("--help-demos", choices=("expert", "seed"), default=d.help_demos,
                   help="demo replay's demonstrations: new expert ones or the run's seed demos")  # fmt: skip
    p.add_argument("--imagined-per-round", type=int, default=d.imagined_per_round,
                   help="vlaw: imagined episodes per round (N; 0 = no world model)")  # fmt: skip
    p.add_argument("--world-model-steps", type=int, default=d.world_model_steps,
                   help="vlaw: world-model post-training steps per round")  # fmt: skip
    p.add_argument("--world-model", type=Path, default=None, help="vlaw: a trained world model round 1 continues")
    p.add_argument("--fidelity-episodes", type=int, default=d.fidelity_episodes,
                   help="vlaw: fresh real episodes each round's world model is checked against")  # fmt: skip
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes, help="per (family, split)")
    p.add_argument("--eval-split", nargs="+", default=list(d.eval_splits), choices=SPLITS)
    p.add_argument("--max-steps", type=int, default=None, help="ee_delta episode horizon (default: the env's)")
    p.add_argument("--full-videos", action=argparse.BooleanOptionalAction, default=None,
                   help="ee_delta episodes run to the horizon past a success, so the last frames show the outcome "
                        "(default: on for vlaw, whose success classifier needs it)")  # fmt: skip
    p.add_argument("--eval-workers", type=int, default=d.eval_workers)
    p.add_argument("--workers", type=int, default=d.workers, help="rollout workers (whole episodes each)")
    p.add_argument("--backend", choices=["auto", "inprocess", "process", "ray"], default=d.backend,
                   help="where rollouts run (auto: in-process for 1 worker, else spawned processes)")  # fmt: skip
    p.add_argument("--budget-env-episodes", type=int, default=None)
    p.add_argument("--budget-gradient-steps", type=int, default=None)
    p.add_argument("--base-from", type=Path, default=None, metavar="RUN", help="share this run's base policy")
    p.add_argument("--preset", choices=list(PRESETS), default=d.preset,
                   help="policy size: the CPU defaults, or larger for CUDA (models/presets.py)")  # fmt: skip
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(run=_run)
    p = sub.add_parser("report", help="write a run's self-contained report.html")
    p.add_argument("run_dir", type=Path, metavar="RUN")
    p.set_defaults(run=_report)
    p = sub.add_parser("compare", help="compare flywheel runs side by side")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    p.set_defaults(run=_compare)


def _run(args) -> None:
    from vla_flywheel.envs.rendering import check_rendering_libraries
    from vla_flywheel.flywheel.compare import compare_lines
    from vla_flywheel.flywheel.engine import run_flywheel

    check_rendering_libraries()
    if args.resume is not None:
        rounds = run_flywheel(resume=args.resume, progress=not args.no_progress)
        out = args.resume
    else:
        out = args.out or Path("runs/flywheel") / f"{args.recipe}-{datetime.now():%Y%m%d-%H%M%S}"
        cfg = RunConfig(
            out=out, recipe=args.recipe, interface=args.interface, judge=args.judge, judge_model=args.judge_model,
            families=tuple(args.family), seed_demos=args.seed_demos, rounds=args.rounds,
            episodes_per_round=args.episodes_per_round, base_steps=args.base_steps, round_steps=args.round_steps,
            update=args.update, threshold=args.threshold, relabel=args.relabel, replan=args.replan,
            replan_when=args.replan_when, replan_verifier=args.replan_verifier, replan_weights=args.replan_weights,
            judge_steps=args.judge_steps, judge_round_steps=args.judge_round_steps, eval_episodes=args.eval_episodes,
            eval_splits=tuple(args.eval_split), eval_workers=args.eval_workers, workers=args.workers,
            backend=args.backend, max_steps=args.max_steps, full_videos=args.full_videos, pld_alpha=args.pld_alpha,
            specialist_steps=args.specialist_steps, specialist_xi=args.specialist_xi,
            specialist={} if args.expert_help is None else {"expert_help": args.expert_help},
            help_demos=args.help_demos, rl_reward=args.rl_reward,
            imagined_per_round=args.imagined_per_round, world_model_steps=args.world_model_steps,
            world_model=args.world_model, fidelity_episodes=args.fidelity_episodes,
            budget_env_episodes=args.budget_env_episodes, budget_gradient_steps=args.budget_gradient_steps,
            threads=args.threads, seed=args.seed, base_from=args.base_from, preset=args.preset,
        )  # fmt: skip
        if args.preset and (warning := cpu_warning(get_preset(args.preset))):
            print(f"flywheel run: warning: {warning}", file=sys.stderr)
        rounds = run_flywheel(cfg, progress=not args.no_progress)
    print("\n".join(compare_lines([out])))
    print(f"rounds    {out / 'rounds.jsonl'} ({len(rounds)} lines)")
    print(f"report    {out / 'report.html'}")


def _report(args) -> None:
    from vla_flywheel.errors import ConfigError
    from vla_flywheel.flywheel.config import CONFIG_FILE
    from vla_flywheel.report.run_report import write_report

    if not (args.run_dir / CONFIG_FILE).exists():
        raise ConfigError(f"report: {args.run_dir} is not a flywheel run (no {CONFIG_FILE}); pass a run directory")
    RunConfig.load(args.run_dir)  # checked before anything is rendered: a damaged config.json is one clear line
    print(f"wrote {write_report(args.run_dir)}")


def _compare(args) -> None:
    from vla_flywheel.flywheel.compare import compare_lines

    print("\n".join(compare_lines(args.runs)))
