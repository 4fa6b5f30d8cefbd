"""The `flywheel` command.

Every subcommand maps its flags onto the project's config dataclasses; those validate the values. Errors caused by
input print one line (what, where, how to fix) and exit with status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import sys
from pathlib import Path

from vla_flywheel.errors import ConfigError, FlywheelError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line instead of a usage dump, naming the nearest flag for a misspelt one."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments: "):
            flags = [w.split("=")[0] for w in message.removeprefix("unrecognized arguments: ").split()]
            flags = [flag for flag in flags if flag.startswith("--")]
            owners = self._flags()
            if flags and flags[0] in owners:  # a real flag, given to a subcommand that does not take it
                message += f"; {flags[0]} is an option of {', '.join(sorted(owners[flags[0]]))}"
            elif flags:
                close = difflib.get_close_matches(flags[0], list(owners), n=1)
                if close:
                    message += f"; did you mean {close[0]}?"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    def _flags(self) -> dict[str, set[str]]:
        """Every option string of this parser and its subcommands -> the parsers that take it (an unknown flag is
        reported at the top, which does not know the subcommand it was given to)."""
        out: dict[str, set[str]] = {}
        for action in self._actions:
            for flag in action.option_strings:
                if flag.startswith("--"):
                    out.setdefault(flag, set()).add(self.prog)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    for flag, parsers in sub._flags().items():
                        out.setdefault(flag, set()).update(parsers)
        return out


def _add_collect(sub) -> None:
    from vla_flywheel.envs.tabletop.config import ALL_FAMILIES, INTERFACES
    from vla_flywheel.envs.tabletop.language import FAMILIES, SPLITS

    p = sub.add_parser("collect", help="collect expert (or policy) episodes into a LeRobot v3.0 dataset")
    p.add_argument("--family", default="pick_place",
                   help=f"task family: {', '.join([*FAMILIES, ALL_FAMILIES])} or Meta-World's mw/<task>")  # fmt: skip
    p.add_argument("--interface", default="ee_delta", choices=INTERFACES, help="action interface")
    p.add_argument("--split", default="train", choices=SPLITS, help="instruction split")
    p.add_argument("--episodes", type=int, default=50, help="number of episodes")
    p.add_argument("--seed", type=int, default=0, help="episode i starts from reset(seed=seed+i)")
    p.add_argument("--image-size", type=int, default=64, help="camera image size in pixels")
    p.add_argument("--wrist-camera", action="store_true", help="also record the wrist camera")
    p.add_argument("--action-std", type=float, default=0.0, help="expert action noise (action units)")
    p.add_argument("--grasp-offset", type=float, default=0.0, help="expert pick point offset (metres)")
    p.add_argument("--early-release", type=float, default=0.0, help="probability of dropping the block en route")
    p.add_argument("--wrong-target", type=float, default=0.0, help="probability of a near-miss goal")
    p.add_argument(
        "--place-offset",
        type=float,
        default=0.0,
        help="expert goal moved by up to this many metres (blocks land either side of a pad's edge)",
    )
    p.add_argument("--max-steps", type=int, default=None, help="episode horizon (default: the env's)")
    p.add_argument("--policy", type=Path, default=None, help="a trained policy acts instead of the expert")
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create")
    p.add_argument("--append", action="store_true", help="add episodes to an existing dataset")
    _add_backend_flags(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_collect)


def _add_backend_flags(p) -> None:
    from vla_flywheel.engine.backends import AUTO, BACKENDS

    p.add_argument("--workers", type=int, default=1, help="episode workers (whole episodes each)")
    p.add_argument("--backend", default=AUTO, choices=[AUTO, *BACKENDS],
                   help="where workers run: auto = inprocess for 1 worker, else process; ray needs the [ray] extra "
                   "and uses RAY_ADDRESS when set")  # fmt: skip


def _collect(args) -> None:
    from vla_flywheel.engine.collect import CollectConfig, collect
    from vla_flywheel.envs.rendering import check_rendering_libraries
    from vla_flywheel.envs.tabletop.experts import ExpertNoise

    check_rendering_libraries()
    cfg = CollectConfig(
        out=args.out,
        env=_collect_env_config(args),
        episodes=args.episodes,
        seed=args.seed,
        noise=ExpertNoise(args.action_std, args.grasp_offset, args.early_release, args.wrong_target, args.place_offset),
        append=args.append,
        policy=args.policy,
        workers=args.workers,
        backend=args.backend,
    )
    summary = collect(cfg, progress=not args.no_progress)
    print("\n".join(summary.lines()))


def _collect_env_config(args):
    """The tabletop's config, or a Meta-World task's for `--family mw/<task>` (whose expert takes only action noise)."""
    from vla_flywheel.envs.metaworld.config import MetaWorldConfig
    from vla_flywheel.envs.metaworld.language import is_metaworld_family
    from vla_flywheel.envs.tabletop.config import TabletopConfig

    config = MetaWorldConfig if is_metaworld_family(args.family) else TabletopConfig
    cameras = ("front", "wrist") if args.wrist_camera else ("front",)
    return config(family=args.family, interface=args.interface, split=args.split, image_size=args.image_size,
                  cameras=cameras, max_steps=args.max_steps)  # fmt: skip


def _add_dataset(sub) -> None:
    p = sub.add_parser("dataset", help="inspect a dataset")
    dsub = p.add_subparsers(dest="dataset_command", required=True, parser_class=_Parser)
    info = dsub.add_parser("info", help="summary of a dataset directory")
    info.add_argument("dir", type=Path)
    info.add_argument("--json", action="store_true", help="print meta/info.json as is")
    info.set_defaults(run=_dataset_info)
    show = dsub.add_parser("show", help="write a contact-sheet PNG and an animated GIF of one episode")
    show.add_argument("dir", type=Path)
    show.add_argument("--episode", type=int, default=0)
    show.add_argument("--camera", default="front")
    show.add_argument("--out", type=Path, default=None, help="output prefix (default: DIR/preview/episode_XXXXXX)")
    show.set_defaults(run=_dataset_show)


def _dataset_info(args) -> None:
    from vla_flywheel.data import DatasetReader
    from vla_flywheel.report.dataset_summary import summary_lines

    reader = DatasetReader(args.dir)
    print(json.dumps(reader.info, indent=2) if args.json else "\n".join(summary_lines(reader)))


def _dataset_show(args) -> None:
    from vla_flywheel.data import DatasetReader
    from vla_flywheel.report.episode_view import contact_sheet, write_gif

    reader = DatasetReader(args.dir)
    key = f"observation.images.{args.camera}"
    if key not in reader.features:
        cams = [k.removeprefix("observation.images.") for k in reader.features if k.startswith("observation.images.")]
        raise FlywheelError(f"dataset {args.dir}: no camera {args.camera!r}; it has {', '.join(cams) or 'none'}")
    if not 0 <= args.episode < reader.num_episodes:
        raise ConfigError(
            f"dataset {args.dir}: --episode {args.episode} is out of range; it holds {reader.num_episodes} episodes "
            f"(pass 0 to {reader.num_episodes - 1})"
            if reader.num_episodes
            else f"dataset {args.dir} holds no episodes yet; add some with `flywheel collect --append --out {args.dir}`"
        )
    episode = reader.episode(args.episode)
    outcome = ""
    if "next.success" in episode:
        outcome = "success" if bool(episode["next.success"][-1, 0]) else "failure"
    subtitle = " | ".join(x for x in (outcome, episode.get("explanation", [""])[-1]) if x)
    prefix = args.out or args.dir / "preview" / f"episode_{args.episode:06d}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    title = f"episode {args.episode}: {episode['task'][0]}"
    contact_sheet(episode[key], title, subtitle).save(prefix.with_suffix(".png"))
    write_gif(episode[key], episode["task"][0], prefix.with_suffix(".gif"), fps=reader.fps)
    print(f"wrote {prefix.with_suffix('.png')} and {prefix.with_suffix('.gif')}")


def _add_train(sub) -> None:
    from vla_flywheel.models.presets import DEFAULT_PRESET, PRESETS

    p = sub.add_parser("train", help="train a policy on LeRobot datasets (checkpoints, metrics, exact --resume)")
    p.add_argument("--dataset", type=Path, action="append", default=[], help="dataset directory (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="run directory (or the run to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last")
    p.add_argument("--init-from", type=Path, default=None, metavar="POLICY",
                   help="fine-tune this trained policy (run, checkpoint or pretrained_model dir)")  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="total gradient steps (default 3000)")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                   help="model size: the CPU defaults, or larger for CUDA (models/presets.py)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=None, help="samples per step (default 32, or the preset's)")
    p.add_argument("--max-episodes", type=int, default=None, help="use the first N episodes of each dataset")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--grad-clip", type=float, default=1.0, help="global gradient-norm clip (0 = off)")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of the saved weights (0 = off)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default off, or the preset's)")  # fmt: skip
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--chunk-size", type=int, default=None, help="flow-matching action chunk length")
    p.add_argument("--n-action-steps", type=int, default=None, help="actions executed per chunk")
    p.add_argument("--inference-steps", type=int, default=None, help="Euler steps when sampling")
    p.add_argument("--primitive-param", choices=["heatmap", "bins"], default=None, help="primitive head type")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_train)


def _train(args) -> None:
    from vla_flywheel.models.presets import cpu_warning, get_preset
    from vla_flywheel.train.config import TrainConfig
    from vla_flywheel.train.loop import train

    if args.resume:
        result = train(resume=args.out, steps=args.steps, progress=not args.no_progress)
    else:
        preset = get_preset(args.preset, "train")
        overrides = {
            "chunk_size": args.chunk_size,
            "n_action_steps": args.n_action_steps,
            "num_inference_steps": args.inference_steps,
            "primitive_param": args.primitive_param,
        }
        given = {k: v for k, v in {"batch_size": args.batch_size, "bf16": args.bf16}.items() if v is not None}
        cfg = TrainConfig(
            datasets=tuple(args.dataset),
            out=args.out,
            steps=3000 if args.steps is None else args.steps,
            **{**preset.train, **given},  # flags given beat the preset's batch size and bf16
            max_episodes=args.max_episodes,
            lr=args.lr,
            grad_clip=args.grad_clip,
            ema_decay=args.ema,
            device=args.device,
            seed=args.seed,
            threads=args.threads,
            save_every=args.save_every,
            log_every=args.log_every,
            policy={**preset.policy, **{k: v for k, v in overrides.items() if v is not None}},
            init_from=args.init_from,
        )
        if warning := cpu_warning(preset, cfg.device):
            print(f"flywheel train: warning: {warning}", file=sys.stderr)
        result = train(cfg, progress=not args.no_progress)
    print("\n".join(result.lines()))


def _add_eval(sub) -> None:
    from vla_flywheel.envs.tabletop.language import FAMILIES, SPLITS

    p = sub.add_parser("eval", help="evaluate a policy on fixed seeds: success per family with 95%% Wilson CIs")
    p.add_argument("--policy", type=Path, required=True, help="training run, checkpoint or pretrained_model dir")
    p.add_argument("--family", nargs="+", default=["pick_place"],
                   help=f"task families: {', '.join(FAMILIES)} or Meta-World's mw/<task>")  # fmt: skip
    p.add_argument("--split", nargs="+", default=list(SPLITS), choices=SPLITS, help="instruction splits")
    p.add_argument("--episodes", type=int, default=200, help="episodes per (family, split)")
    p.add_argument("--seed", type=int, default=0, help="offset into the fixed evaluation seed list")
    _add_backend_flags(p)
    p.add_argument("--videos", type=int, default=0, help="GIFs to write per (family, split)")
    p.add_argument("--max-steps", type=int, default=None, help="ee_delta episode horizon (default: the env's)")
    p.add_argument(
        "--full-videos",
        action="store_true",
        help="ee_delta episodes run to the horizon past a success (success = the outcome there)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: <policy>/eval)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_eval)


def _eval(args) -> None:
    from vla_flywheel.envs.rendering import check_rendering_libraries
    from vla_flywheel.eval.evaluate import EvalConfig, evaluate, summary_lines

    check_rendering_libraries()
    cfg = EvalConfig(
        policy=args.policy,
        out=args.out or args.policy / "eval",
        families=tuple(args.family),
        splits=tuple(args.split),
        episodes=args.episodes,
        seed=args.seed,
        workers=args.workers,
        backend=args.backend,
        videos=args.videos,
        max_steps=args.max_steps,
        full_videos=args.full_videos,
    )
    info = evaluate(cfg, progress=not args.no_progress)
    print("\n".join(summary_lines(info)))
    print(f"wrote {cfg.out / 'eval_info.json'}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flywheel", description="Self-improving vision-language-action policies.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_collect(sub)
    _add_dataset(sub)
    _add_train(sub)
    _add_eval(sub)
    from vla_flywheel import judge_cli, world_model_cli
    from vla_flywheel.flywheel.cli import add_commands
    from vla_flywheel.train import specialist_cli

    judge_cli.add_commands(sub)
    add_commands(sub)
    specialist_cli.add_commands(sub)
    world_model_cli.add_commands(sub)
    envs = sub.add_parser("envs", help="list the registered environment ids")
    envs.set_defaults(run=lambda _: print("\n".join(__import__("vla_flywheel.envs").envs.ENV_IDS)))
    return parser


# what the machine, not the input or the code, got wrong: an OSError with one of these is a line, not a traceback
_SYSTEM_ERRORS = {
    errno.ENOSPC: "free disk space and run it again",
    errno.EDQUOT: "free space within your disk quota and run it again",
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions of that path",
    errno.EROFS: "write to a writable location",
    errno.ENOTDIR: "a directory was expected at that path",
    errno.EISDIR: "a file was expected at that path, not a directory",
}


def _one_line(text: str) -> str:
    """Messages may quote library errors that span lines; the user gets exactly one."""
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except FlywheelError as e:
        print(f"flywheel {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        if e.errno not in _SYSTEM_ERRORS:
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(f"flywheel {args.command}: error: {_one_line(e.strerror)}{where}; {_SYSTEM_ERRORS[e.errno]}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"flywheel {args.command}: interrupted; finished episodes and checkpoints are saved", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
