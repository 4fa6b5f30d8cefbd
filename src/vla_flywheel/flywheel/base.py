"""Start a run from another run's base: its seed demos, base policy and base evaluation, copied.

Recipes compared at equal budget should start from the same base policy; training it once and sharing it saves a
base training per recipe (the copy is what the run would have trained itself: same demos, steps and seed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import append_line, read_rounds

MUST_AGREE = (
    "interface",
    "families",
    "seed_demos",
    "base_steps",
    "seed",
    "eval_episodes",
    "eval_splits",
    "policy",
    "max_steps",
    "full_videos",
)


def share_base(source: Path, cfg: RunConfig) -> None:
    src, dst = RunLayout(Path(source)), RunLayout(cfg.out)
    other = RunConfig.load(src.root)
    differ = [name for name in MUST_AGREE if getattr(other, name) != getattr(cfg, name)]
    if differ:
        raise ConfigError(f"run: --base-from {source} differs in {', '.join(differ)}; its base is not this run's")
    base = [r for r in read_rounds(src.rounds) if r["round"] == 0]
    if not base:
        raise ConfigError(f"run: --base-from {source} has not finished its base round yet")
    shutil.copytree(src.demos, dst.demos)
    shutil.copytree(src.policy(0), dst.policy(0))
    shutil.copytree(src.eval(0), dst.eval(0))
    append_line(dst.rounds, {**base[0], "recipe": cfg.recipe, "judge": cfg.judge, "policy": str(dst.policy(0)),
                              "base_from": str(src.root)})  # fmt: skip
    seconds = base[0]["seconds"]
    dst.stages.write_text(json.dumps({"round": 0, **seconds}) + "\n")
