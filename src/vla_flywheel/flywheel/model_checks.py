"""Checks of the trained models a run is given (`--judge-model`, `--replan-verifier`, `--world-model`), made before
the run starts or resumes, so a wrong path or role is one clear line at once, not a failure at round 1 after the
seed demos and the base policy."""

from __future__ import annotations

from pathlib import Path

from vla_flywheel.config_check import read_json
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import JUDGE_ROLES, RunConfig


def check_judge_model(cfg: RunConfig) -> None:
    """A given --judge-model (and --replan-verifier) must be a judge serving the roles the run needs of it; checked
    before the run starts, not when round 1 first loads it (after the seed demos and the base policy)."""
    needed = JUDGE_ROLES.get(cfg.judge) or (("success",) if cfg.imagines else None)  # VLAW's imagined episodes
    if cfg.judge_model is not None and needed is not None:
        who = f"the {cfg.judge} judge" if cfg.learned_judge else "VLAW's imagination judge"
        _check_roles(cfg.judge_model, needed, who, "--judge-model")
    if cfg.replan_verifier is not None:
        _check_roles(cfg.replan_verifier, JUDGE_ROLES["verifier"], "the re-execution check", "--replan-verifier")


def _check_roles(path: Path, needed: tuple[str, ...], who: str, option: str) -> None:
    from vla_flywheel.models.judges.modeling import resolve_judge_dir

    directory = resolve_judge_dir(path)
    roles = read_json(directory / "config.json", "pass a `flywheel train-judge` run").get("roles", [])
    missing = [role for role in needed if role not in roles]
    if missing:
        raise ConfigError(
            f"run: {option} {path} serves {roles}, but {who} needs {missing}; "
            f"train one with `flywheel train-judge --data {missing[0]}=DIR`"
        )


def check_world_model(cfg: RunConfig) -> None:
    """VLAW's world model must step in the policy's action chunks (the policy only looks at chunk starts), and a given
    --world-model must be one; checked before the run starts, not when round 1 first trains or loads it."""
    if not cfg.imagines:
        return
    from vla_flywheel.models.policy.config import PolicyConfig

    chunk = min(cfg.policy.get("n_action_steps", PolicyConfig.n_action_steps),
                cfg.policy.get("chunk_size", PolicyConfig.chunk_size))  # fmt: skip
    steps = cfg.world_model_train.get("world_model", {}).get("action_chunk")
    where = "world_model_train"
    if cfg.world_model is not None:
        from vla_flywheel.models.world_model.modeling import resolve_world_model_dir

        directory = resolve_world_model_dir(cfg.world_model)
        steps = read_json(directory / "config.json", "pass a `flywheel train-world-model` run").get("action_chunk")
        where = f"--world-model {cfg.world_model}"
    if steps is not None and steps != chunk:
        raise ConfigError(
            f"run: the policy acts in chunks of {chunk} actions but {where} steps {steps} at a time; train the world "
            f"model with --action-chunk {chunk}"
        )
