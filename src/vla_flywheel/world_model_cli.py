"""The world model's commands: `flywheel train-world-model` and `flywheel eval-world-model`."""

from __future__ import annotations

from pathlib import Path

from vla_flywheel.errors import ConfigError


def add_commands(sub) -> None:
    from vla_flywheel.eval.world_model_fidelity import THRESHOLD
    from vla_flywheel.models.world_model import WorldModelConfig
    from vla_flywheel.train.world_model_loop import WorldModelTrainConfig

    d = WorldModelTrainConfig  # defaults shown in --help come from the dataclass
    p = sub.add_parser("train-world-model", help="train the action-conditioned world model VLAW imagines in")
    p.add_argument("--dataset", type=Path, action="append", default=[], help="dataset directory (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--rollout-steps", type=int, default=d.rollout_steps,
                   help="chunks unrolled open loop per training window (the overshooting horizon)")  # fmt: skip
    p.add_argument("--action-chunk", type=int, default=WorldModelConfig.action_chunk,
                   help="actions per world-model step: the policy's n_action_steps")  # fmt: skip
    p.add_argument("--successes-only", action="store_true", help="drop failed episodes (ablation)")
    p.add_argument("--no-grasp-odds", action="store_true",
                   help="draw grasps from the predicted opening, not from P(hold) fitted to the scene")  # fmt: skip
    p.add_argument("--max-episodes", type=int, default=None, help="use the first N episodes of each dataset")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=_train)
    p = sub.add_parser("eval-world-model", help="world-model fidelity on held-out episodes: PSNR/SSIM, outcomes")
    p.add_argument("--world-model", type=Path, required=True, help="train-world-model run or pretrained_model dir")
    p.add_argument("--dataset", type=Path, action="append", default=[], help="held-out dataset (repeatable)")
    p.add_argument("--judge", type=Path, default=None, help="success classifier for the outcome confusion")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="P(success) above this counts as success")
    p.add_argument("--max-episodes", type=int, default=None, help="use the first N episodes of each dataset")
    p.add_argument("--draws", type=int, default=1, help="imagined grasp draws per episode, each replayed and judged")
    p.add_argument("--every", type=int, default=10, help="print every N env steps")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default: WORLD_MODEL/eval/fidelity.json)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.set_defaults(run=_eval)


def _train(args) -> None:
    from vla_flywheel.train.world_model_loop import WorldModelTrainConfig, train_world_model

    cfg = WorldModelTrainConfig(
        datasets=tuple(args.dataset), out=args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        rollout_steps=args.rollout_steps, successes_only=args.successes_only, max_episodes=args.max_episodes,
        seed=args.seed, threads=args.threads, save_every=args.save_every,
        world_model={"action_chunk": args.action_chunk, **({"grasp_odds": False} if args.no_grasp_odds else {})},
    )  # fmt: skip
    print("\n".join(train_world_model(cfg, progress=not args.no_progress).lines()))


def _eval(args) -> None:
    import torch

    from vla_flywheel.data.layout import write_json_atomic
    from vla_flywheel.eval.world_model_fidelity import evaluate_fidelity, fidelity_lines
    from vla_flywheel.models.world_model import FlywheelWorldModel
    from vla_flywheel.train.world_model_data import load_episodes

    if not args.dataset:
        raise ConfigError("eval-world-model: no held-out data; pass --dataset DIR (episodes the model never saw)")
    if not 0 < args.threshold < 1:
        raise ConfigError(f"eval-world-model: --threshold {args.threshold} is a probability; use a value in (0, 1)")
    torch.set_num_threads(args.threads)
    model = FlywheelWorldModel.from_pretrained(args.world_model)
    judge = None
    if args.judge is not None:
        from vla_flywheel.models.judges import FlywheelJudge

        judge = FlywheelJudge.from_pretrained(args.judge)
        if "success" not in judge.config.roles:
            raise ConfigError(f"eval-world-model: {args.judge} serves {list(judge.config.roles)}, not success")
    episodes = []
    for root in args.dataset:
        loaded = load_episodes([root], model.config.image_key)
        episodes += loaded[: args.max_episodes] if args.max_episodes else loaded
    result = evaluate_fidelity(model, episodes, judge, args.threshold, draws=args.draws)
    print("\n".join(fidelity_lines({"world model": result}, every=args.every)))
    out = args.out or args.world_model / "eval" / "fidelity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, {"world_model": str(model.source), "datasets": [str(p) for p in args.dataset],
                            "threshold": args.threshold, **result.to_dict()})  # fmt: skip
    print(f"wrote {out}")
