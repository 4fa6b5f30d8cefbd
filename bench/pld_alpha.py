"""PLD's α sweep: the generalist distilled from hybrid rollouts, for each share of the episode the base plays first.

One `pld` round per α from one shared base (`--base-from`, a flywheel run on the same family and interface): a
residual specialist trained with the learner settings that do not collapse (bench/rl_help.py's learner for the
base's family: tabletop or Meta-World), PLD's sparse reward and graded expert help if asked (`--expert-help`);
`--episodes` hybrid rollouts (the base alone for T_base ~ U[0, α·T] steps, then base + specialist), the oracle
keeping the successes, and the round's fine-tuning. Training depends on α only after the specialist, so it is
trained once, in the first α's run, and copied into the others (a run with the same seed and base trains the same
one). Finished runs are reused. The table (distilled success on the fixed seeds with 95% Wilson CIs, kept episodes,
the specialist's env steps, wall time) goes to --out/pld_alpha.md.

With `--recipe vlac-rl` the run's critic rewards the specialist (`--rl-reward critic` or `critic-value`) and keeps
the rollouts; `--judge` swaps who keeps them; `--help-demos seed` replays the base run's seed demos as the help's
demonstrations instead of asking the scripted expert for new ones; `--rounds` runs more rounds (the table shows the
last).

Run: .venv/bin/python bench/pld_alpha.py --base-from RUN [--out runs/pld_alpha] [--alphas 0 0.2 0.4 0.6 0.8]
         [--expert-help demo-replay] [--help-demos seed] [--recipe vlac-rl] [--rl-reward critic-value]
         [--judge critic] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rl_help import LEARNERS
from vla_flywheel.envs.metaworld.language import is_metaworld_family
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import read_rounds
from vla_flywheel.train.expert_help import HELP_LEVELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-from", type=Path, required=True, help="flywheel run whose base policy to share")
    parser.add_argument("--out", type=Path, default=Path("runs/pld_alpha"))
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6, 0.8])
    parser.add_argument("--episodes", type=int, default=400, help="hybrid rollouts in the round")
    parser.add_argument("--specialist-steps", type=int, default=5000)
    parser.add_argument("--round-steps", type=int, default=1000)
    parser.add_argument("--expert-help", default="none", choices=HELP_LEVELS, help="the specialist's graded help")
    parser.add_argument(
        "--help-demos",
        default="expert",
        choices=("expert", "seed"),
        help="demo replay's demonstrations: new expert episodes or the base run's seed demos",
    )
    parser.add_argument(
        "--recipe",
        default="pld",
        choices=("pld", "vlac-rl"),
        help="pld (sparse reward, oracle keeps) or vlac-rl (the run's critic rewards and keeps)",
    )
    parser.add_argument(
        "--rl-reward",
        default=None,
        choices=("sparse", "critic", "critic-value"),
        help="the specialists' reward (default: the recipe's)",
    )
    parser.add_argument(
        "--judge",
        default=None,
        choices=("oracle", "critic"),
        help="who keeps the hybrid rollouts (default: the recipe's, oracle / critic)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="pld rounds (each trains a specialist on its policy)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    base = RunConfig.load(args.base_from)
    learner = LEARNERS["metaworld" if any(map(is_metaworld_family, base.families)) else "tabletop"]
    specialist = {k: v for k, v in learner.items() if k != "xi"} | {"offline_episodes": 100,
                                                                    "eval_every": args.specialist_steps,
                                                                    "expert_help": args.expert_help}  # fmt: skip
    trained: Path | None = None
    lines = ["| α | kept of generated | distilled success [95% CI] | specialist env steps (episodes) | minutes |",
             "|---|---|---|---|---|"]  # fmt: skip
    for alpha in args.alphas:
        out = args.out / f"alpha-{alpha:g}"
        cfg = RunConfig(out=out, recipe=args.recipe, interface=base.interface, families=base.families,
                        help_demos=args.help_demos, rl_reward=args.rl_reward, judge=args.judge,
                        threads=args.threads,
                        seed_demos=base.seed_demos, rounds=args.rounds,
                        episodes_per_round=args.episodes,
                        base_steps=base.base_steps, round_steps=args.round_steps, pld_alpha=alpha,
                        specialist_steps=args.specialist_steps, specialist_xi=learner["xi"], specialist=specialist,
                        eval_episodes=base.eval_episodes, max_steps=base.max_steps,
                        base_from=args.base_from)  # fmt: skip
        if (out / "config.json").exists():  # started before: finish it (a finished run returns at once)
            run_flywheel(resume=out, progress=False)
        else:
            if trained is not None:
                shutil.copytree(trained, RunLayout(out).specialist(1, cfg.families[0]).parent)
            run_flywheel(cfg, progress=False)
        trained = trained or RunLayout(out).specialist(1, cfg.families[0]).parent
        r = read_rounds(RunLayout(out).rounds)[-1]
        s, kept, spent = r["success"]["overall"], r["data_added"], r["budgets"]["spent"]
        low, high = (100 * x for x in s["ci95"])
        lines.append(f"| {alpha:g} | {kept['kept']} of {kept['generated']} | {100 * s['rate']:.1f} [{low:.1f}, "
                     f"{high:.1f}] | {spent['rl_env_steps']} ({spent['rl_episodes']}) | "
                     f"{sum(r['seconds'].values()) / 60:.1f} |")  # fmt: skip
        print(lines[-1], flush=True)
    (args.out / "pld_alpha.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'pld_alpha.md'}")


if __name__ == "__main__":
    main()
