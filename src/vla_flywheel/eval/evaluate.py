"""`flywheel eval`: a policy on fixed seed lists per (task family, split), success with n and a 95% Wilson interval.

Episodes run whole on a collection backend (`vla_flywheel.engine.backends`: in-process, spawned processes or Ray
actors), each worker loading the policy once. Every episode's outcome depends only on (policy, family, split, seed),
so the numbers do not change with the backend or the number of workers. Results go to `eval_info.json` with library
versions; the first `videos` episodes of each group are also written as GIFs with the instruction drawn on them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from vla_flywheel.config_check import check_positive_ints
from vla_flywheel.engine.backends import AUTO, check_backend, make_backend
from vla_flywheel.engine.policy_agent import PolicyAgent
from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs.registry import KNOWN_FAMILIES, ee_delta_overrides
from vla_flywheel.envs.tabletop.language import FAMILIES, SPLITS
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.intervals import wilson_interval
from vla_flywheel.eval.seeds import eval_seeds
from vla_flywheel.eval.versions import library_versions
from vla_flywheel.failpoints import failpoint

EVAL_INFO_FILE = "eval_info.json"


@dataclass
class EvalConfig:
    """policy: a training run, checkpoint or pretrained_model directory.
    families / splits: the groups to evaluate; each gets `episodes` episodes on its fixed seed list.
    seed: offset into the fixed seed lists (0 = the standard list).
    workers: episode workers. threads: torch threads per worker.
    backend: where workers run: inprocess, process (spawned), ray, or auto (inprocess for 1 worker, else process).
    videos: GIFs written per group. out: where eval_info.json (and videos/) go.
    max_steps: episode horizon on ee_delta envs; None = the env's own.
    full_videos: ee_delta episodes run their whole horizon past a success (registry.ee_delta_overrides).
    """

    policy: Path
    out: Path
    families: tuple[str, ...] = ("pick_place",)
    splits: tuple[str, ...] = ("train", "heldout")
    episodes: int = 200
    seed: int = 0
    workers: int = 1
    threads: int = 1
    videos: int = 0
    backend: str = AUTO
    max_steps: int | None = None
    full_videos: bool = False

    def __post_init__(self):
        self.policy, self.out = Path(self.policy), Path(self.out)
        self.families, self.splits = tuple(self.families), tuple(self.splits)
        for family in self.families:
            if family not in KNOWN_FAMILIES:
                raise ConfigError(f"eval: unknown family {family!r}; choose from {', '.join(FAMILIES)} or mw/<task>")
        for split in self.splits:
            if split not in SPLITS:
                raise ConfigError(f"eval: unknown split {split!r}; choose from {', '.join(SPLITS)}")
        check_positive_ints("eval", self, ("episodes", "workers", "threads"), optional=("max_steps",))
        if self.seed < 0 or self.videos < 0:
            raise ConfigError(f"eval: seed={self.seed} and videos={self.videos} must be >= 0")
        check_backend(self.backend, self.workers, "eval")


# ---------------------------------------------------------------------------------------------- worker side
_worker: dict = {}


def _init_worker(policy_dir: str, threads: int, ee_overrides: dict | None = None) -> None:
    import torch

    from vla_flywheel.models.policy import FlywheelPolicy

    torch.set_num_threads(threads)
    policy = FlywheelPolicy.from_pretrained(policy_dir)
    _worker.update(policy=policy, agent=PolicyAgent(policy), envs={}, ee_overrides=ee_overrides or {})


def _env_for(family: str, split: str):
    from vla_flywheel.envs import make_env

    key = (family, split)
    if key not in _worker["envs"]:
        c = _worker["policy"].config
        cameras = tuple(k.removeprefix("observation.images.") for k in c.image_keys)
        interface = "primitive" if c.head == "primitive" else "ee_delta"
        extra = {} if interface == "primitive" else _worker["ee_overrides"]
        _worker["envs"][key] = make_env(
            family=family, split=split, interface=interface, image_size=c.image_size, cameras=cameras, **extra
        )
    return _worker["envs"][key]


def _run_episode(job: tuple[str, str, int, bool]) -> dict:
    family, split, seed, keep_frames = job
    env = _env_for(family, split)
    record = rollout(env, _worker["agent"], seed, source="policy")
    result = {"family": family, "split": split, "seed": seed, "success": record.success, "length": record.length,
              "task": record.task, "failure_reason": record.failure_reason}  # fmt: skip
    if keep_frames:
        key = _worker["policy"].config.image_keys[0]
        result["frames"] = record.frames[key]
    return result


# ---------------------------------------------------------------------------------------------- driver side
def evaluate(cfg: EvalConfig, progress: bool = True) -> dict:
    from vla_flywheel.models.policy.modeling import resolve_pretrained_dir
    from vla_flywheel.report.episode_view import write_gif

    policy_dir = resolve_pretrained_dir(cfg.policy)
    backend_name = check_backend(cfg.backend, cfg.workers, "eval")
    # loaded (and so checked) before any progress bar or worker: a bad checkpoint is one line; in-process the
    # backend's own `_init_worker` call is that load
    if backend_name != "inprocess":
        from vla_flywheel.models.policy import FlywheelPolicy

        FlywheelPolicy.from_pretrained(policy_dir)
    jobs = [
        (family, split, seed, i < cfg.videos)
        for family in cfg.families
        for split in cfg.splits
        for i, seed in enumerate(eval_seeds(cfg.episodes, cfg.seed))
    ]
    start = time.perf_counter()
    with (
        make_backend(
            backend_name,
            cfg.workers,
            _init_worker,
            (str(policy_dir), cfg.threads, ee_delta_overrides(cfg.max_steps, cfg.full_videos)),
        ) as backend,
        tqdm(total=len(jobs), desc=f"eval ({backend.name})", unit="ep", disable=not progress) as bar,
    ):
        results, successes = [], 0
        for r in backend.map(_run_episode, jobs):
            successes += r["success"]
            results.append(_tick(bar, r, successes / (len(results) + 1)))
    cfg.out.mkdir(parents=True, exist_ok=True)
    videos = []
    for r in results:
        if "frames" in r:
            path = (
                cfg.out
                / "videos"
                / f"{r['family']}_{r['split']}_seed{r['seed']}_{'success' if r['success'] else 'failure'}.gif"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            write_gif(r.pop("frames"), r["task"], path)
            videos.append(str(path.relative_to(cfg.out)))
    info = {
        "policy": str(policy_dir),
        "config": {**asdict(cfg), "policy": str(cfg.policy), "out": str(cfg.out)},
        "groups": summarize(results, cfg.families, cfg.splits),
        "overall": _group_stats(results),
        "seeds": {"base": eval_seeds(1, cfg.seed)[0], "per_group": cfg.episodes},
        "episodes": results,
        "videos": videos,
        "seconds": time.perf_counter() - start,
        "versions": library_versions(),
    }
    failpoint("eval.write")
    tmp = cfg.out / f".{EVAL_INFO_FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(cfg.out / EVAL_INFO_FILE)
    return info


def _tick(bar, result: dict, rate_so_far: float) -> dict:
    """Count one episode; the bar shows the success rate so far (the last episode's 0/1 read as "no successes")."""
    failpoint("eval.episode")
    bar.update()
    bar.set_postfix(success=f"{rate_so_far:.0%}")
    return result


def _group_stats(results: list[dict]) -> dict:
    n = len(results)
    successes = sum(r["success"] for r in results)
    low, high = wilson_interval(successes, n)
    return {"n": n, "successes": successes, "success_rate": successes / max(n, 1), "ci95": [low, high]}


def summarize(results: list[dict], families, splits) -> list[dict]:
    groups = []
    for family in families:
        for split in splits:
            members = [r for r in results if r["family"] == family and r["split"] == split]
            groups.append({"family": family, "split": split, **_group_stats(members)})
    return groups


def summary_lines(info: dict) -> list[str]:
    lines = [f"{'family':<16}{'split':<9}{'success':>8}   95% CI           n"]
    for g in [*info["groups"], {"family": "overall", "split": "", **info["overall"]}]:
        low, high = g["ci95"]
        rate = f"{100 * g['success_rate']:>7.1f}%"
        lines.append(f"{g['family']:<16}{g['split']:<9}{rate}   [{100 * low:5.1f}, {100 * high:5.1f}]  {g['n']:>4}")
    lines.append(f"({info['seconds']:.0f} s; details in eval_info.json)")
    return lines
