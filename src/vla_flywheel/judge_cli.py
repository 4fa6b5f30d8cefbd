"""The judges' commands: `flywheel train-judge` and `flywheel eval-judge`."""

from __future__ import annotations

from pathlib import Path

from vla_flywheel.errors import ConfigError


def _role_dirs(pairs: list[str], flag: str) -> dict[str, tuple[Path, ...]]:
    """["critic=DIR", ...] -> {"critic": (DIR, ...)}; a malformed item is a usage error naming it."""
    out: dict[str, list[Path]] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{flag} {item!r} must look like KEY=DIR, e.g. {flag} critic=data/demos")
        out.setdefault(key, []).append(Path(value))
    return {k: tuple(v) for k, v in out.items()}


def add_commands(sub) -> None:
    p = sub.add_parser("train-judge", help="train a judge: critic, success classifier, explainer, verifier")
    p.add_argument("--data", action="append", default=[], metavar="ROLE=DIR",
                   help="dataset for a role (repeatable); several roles train one unified model")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--mismatch", type=float, default=0.05, help="critic: P(wrong instruction, label 0)")
    p.add_argument("--after-success", type=float, default=None, metavar="P",
                   help="critic: share of global partners and done frames after a success (default 0.2)")  # fmt: skip
    p.add_argument("--word-dropout", type=float, default=None,
                   help="mean P(an instruction word is read as [UNK]) in training (verifier default 0.25)")  # fmt: skip
    p.add_argument("--relation", action="store_true",
                   help="success classifier, potential critic: a block-on-pad relation token per frame")  # fmt: skip
    p.add_argument("--progress-reading", default=None, metavar="potential|pair",
                   help="critic: read each frame to a potential (default) or the pair at once (VLAC)")  # fmt: skip
    p.add_argument("--potential-anchor", type=float, default=None, metavar="W",
                   help="potential critic: weight of the loss pinning phi on demo frames to t/T (0: off)")  # fmt: skip
    p.add_argument("--grounding", type=float, default=None, metavar="W",
                   help="with --relation: weight of the loss placing the named block and pad where the successes' "
                        "gripper closed and opened (0: off)")  # fmt: skip
    p.add_argument("--members", type=int, default=None, metavar="K",
                   help="critic, success classifier: train K judges alike and read them as one (their mean; K times "
                        "the steps)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_train_judge)
    p = sub.add_parser("eval-judge", help="measure a judge against the simulator's truth on held-out episodes")
    p.add_argument("--judge", type=Path, required=True, help="train-judge run or pretrained_model dir")
    p.add_argument("--data", action="append", default=[], metavar="KIND=DIR",
                   help="expert=DIR (VOC), rollouts=DIR (labelled: AUROC), primitive=DIR (A2L, L2C)")  # fmt: skip
    p.add_argument("--alpha", type=float, default=0.8,
                   help="success classifier threshold (VLAW: 0.8); critic keep rule: value or done > it")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="output directory (default: <judge>/eval)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_eval_judge)


def _train_judge(args) -> None:
    from vla_flywheel.train.judge_loop import JudgeTrainConfig, train_judge

    cfg = JudgeTrainConfig(
        data=_role_dirs(args.data, "--data"), out=args.out, steps=args.steps, lr=args.lr, mismatch=args.mismatch,
        **({} if args.after_success is None else {"after_success": args.after_success}),
        seed=args.seed, threads=args.threads,
        judge={**({} if args.word_dropout is None else {"word_dropout": args.word_dropout}),
               **({"relation": True} if args.relation else {}),
               **({} if args.progress_reading is None else {"progress_reading": args.progress_reading}),
               **({} if args.potential_anchor is None else {"potential_anchor": args.potential_anchor}),
               **({} if args.grounding is None else {"grounding": args.grounding}),
               **({} if args.members is None else {"members": args.members})},
    )  # fmt: skip
    summary = train_judge(cfg, progress=not args.no_progress)
    print(f"judge     {args.out / 'checkpoints' / 'last' / 'pretrained_model'}")
    print(f"roles     {', '.join(summary['roles'])}")
    print(f"steps     {summary['steps']} (final loss {summary['final_loss']:.4f})")
    print(f"time      {summary['seconds']:.1f} s")


def _eval_judge(args) -> None:
    from vla_flywheel.eval.judge_eval import JudgeEvalConfig, evaluate_judge, summary_lines

    cfg = JudgeEvalConfig(judge=args.judge, data=_role_dirs(args.data, "--data"), out=args.out, alpha=args.alpha)
    results = evaluate_judge(cfg, progress=not args.no_progress)
    print("\n".join(summary_lines(results)))
    print(f"wrote {results['written']}")
