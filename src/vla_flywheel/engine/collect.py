"""Collect episodes of the scripted expert or of a trained policy into a LeRobot v3.0 dataset.

Policy rollouts are recorded with `source="policy"` and the simulator's outcome in `next.success`: labelled
successes and failures, the data a trajectory success classifier learns from (VLAW fine-tunes its reward model on
the labelled rollouts of its first iteration, papers.md §2.2).

Episodes run whole on a collection backend (`vla_flywheel.engine.backends`): in this process, or on `workers` spawned
processes or Ray actors that each make the env and agent once. The parent writes them in seed order, and an episode
depends only on its seed, so the dataset is the same whatever the backend or the number of workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from vla_flywheel.data import DatasetReader, DatasetWriter, dataset_size_bytes
from vla_flywheel.engine.backends import AUTO, check_backend, make_backend
from vla_flywheel.engine.rollout import EpisodeRecord, dataset_features, rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.envs.metaworld.config import MetaWorldConfig
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.envs.tabletop.experts import ExpertNoise
from vla_flywheel.errors import ConfigError, DatasetError


@dataclass
class CollectConfig:
    """What `flywheel collect` does.

    env: the environment's configuration (family, interface, split, image size, ...): a TabletopConfig, or a
        MetaWorldConfig for a Meta-World task (its expert is Meta-World's scripted policy for that task).
    episodes: number of episodes; episode i starts from `env.reset(seed=seed + i)`.
    noise: the expert's noise and failure injection (Meta-World's expert takes action_std only).
    out: dataset directory; it must not exist yet unless `append` is set.
    append: add episodes to an existing dataset (seeds continue after its last episode).
    policy: a trained policy (run, checkpoint or pretrained_model dir) acts instead of the expert; a primitive
        policy can act on the ee_delta interface (it points, the controller moves).
    workers: episode workers, each with its own env and agent (and policy, 1 torch thread).
    backend: where workers run: inprocess, process (spawned), ray, or auto (inprocess for 1 worker, else process).
    """

    out: Path
    env: TabletopConfig | MetaWorldConfig = field(default_factory=TabletopConfig)
    episodes: int = 50
    seed: int = 0
    noise: ExpertNoise = field(default_factory=ExpertNoise)
    append: bool = False
    policy: Path | None = None
    workers: int = 1
    backend: str = AUTO

    def __post_init__(self):
        self.out = Path(self.out)
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise ConfigError(f"collect: episodes={self.episodes!r} must be a positive integer")
        if self.seed < 0:
            raise ConfigError(f"collect: seed={self.seed} must be >= 0")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"collect: workers={self.workers!r} must be a positive integer")
        check_backend(self.backend, self.workers, "collect")
        if self.policy is not None:
            self.policy = Path(self.policy)
        elif isinstance(self.env, MetaWorldConfig):
            from vla_flywheel.envs.metaworld.experts import MetaWorldExpert

            MetaWorldExpert(self.noise)  # refuses the tabletop-only noise kinds before anything is written


@dataclass
class CollectSummary:
    out: Path
    episodes: int
    successes: int
    frames: int
    size_bytes: int
    seconds: float

    def lines(self) -> list[str]:
        rate = self.successes / max(self.episodes, 1)
        return [
            f"dataset   {self.out}",
            f"episodes  {self.episodes} ({self.successes} successful, {100 * rate:.1f}%)",
            f"frames    {self.frames}",
            f"size      {self.size_bytes / 1e6:.2f} MB",
            f"time      {self.seconds:.1f} s ({self.seconds / max(self.episodes, 1) * 1000:.0f} ms/episode)",
        ]


def collect(cfg: CollectConfig, progress: bool = True) -> CollectSummary:
    start = time.perf_counter()
    source = "expert" if cfg.policy is None else "policy"
    backend_name = check_backend(cfg.backend, cfg.workers, "collect")
    if cfg.policy is not None and backend_name != "inprocess":
        _policy_agent(cfg.policy, cfg.env)  # checked here: a bad checkpoint is one line before any worker starts
    if not cfg.append and cfg.out.exists() and any(cfg.out.iterdir()):
        raise DatasetError(f"collect: {cfg.out} already exists and is not empty; choose another --out or pass --append")
    try:
        # in-process the backend's `_init_worker` makes the env and loads the policy: its errors raise here
        with make_backend(backend_name, cfg.workers, _init_worker, (cfg.env, cfg.noise, cfg.policy)) as backend:
            if cfg.append:
                writer = DatasetWriter.open(cfg.out)
            else:
                env = make_env(cfg.env)  # the dataset's features and robot type
                features, robot_type = dataset_features(env), env.robot_type
                env.close()
                writer = DatasetWriter.create(cfg.out, fps=cfg.env.control_hz, features=features, robot_type=robot_type)
            first_seed = cfg.seed + writer.num_episodes
            successes = 0
            desc = f"collect {source} {cfg.env.family}/{cfg.env.interface} ({backend.name})"
            with writer, tqdm(total=cfg.episodes, desc=desc, unit="ep", disable=not progress) as bar:
                seeds = range(first_seed, first_seed + cfg.episodes)
                for i, episode in enumerate(backend.map(_episode, seeds)):  # in seed order, whatever the backend
                    writer.add_episode(episode.frames, episode.task)
                    successes += episode.success
                    bar.update()
                    bar.set_postfix(success=f"{successes / (i + 1):.0%}")
    finally:
        _close_worker()  # the in-process worker's env, if this process was the worker
    reader = DatasetReader(cfg.out)
    return CollectSummary(
        cfg.out,
        cfg.episodes,
        successes,
        reader.num_frames,
        dataset_size_bytes(cfg.out),
        time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------------------------- worker side
_worker: dict = {}


def _init_worker(env_cfg: TabletopConfig | MetaWorldConfig, noise: ExpertNoise, policy: Path | None) -> None:
    agent, source = None, "expert"
    if policy is not None:
        agent, source = _policy_agent(policy, env_cfg), "policy"
    env = make_env(env_cfg)
    if agent is None:
        agent = make_expert(env, noise)  # the tabletop's ScriptedExpert or Meta-World's policy for the task
    _worker.update(env=env, agent=agent, source=source)


def _episode(seed: int) -> EpisodeRecord:
    record = rollout(_worker["env"], _worker["agent"], seed, source=_worker["source"])
    record.final_images = None  # not written to the dataset: not sent back either
    return record


def _close_worker() -> None:
    env = _worker.pop("env", None)
    if env is not None:
        env.close()
    _worker.clear()


def _policy_agent(path: Path, env: TabletopConfig | MetaWorldConfig):
    import torch

    from vla_flywheel.engine.policy_agent import policy_agent
    from vla_flywheel.models.policy import FlywheelPolicy

    torch.set_num_threads(1)  # rendering and a small policy at batch 1: one thread each is fastest
    # an episode that is not cut at success gets one pick/place: a retry could undo what succeeded
    attempts = 3 if env.terminate_on_success else 1
    policy = FlywheelPolicy.from_pretrained(path)
    _check_policy_sees(policy.config, env, path)
    return policy_agent(policy, env.interface, attempts)


def _check_policy_sees(config, env: TabletopConfig | MetaWorldConfig, path: Path) -> None:
    """The env must render what the policy was trained on (its cameras at its image size), checked before acting."""
    cameras = [key.removeprefix("observation.images.") for key in config.image_keys]
    if config.image_size != env.image_size:
        raise ConfigError(
            f"collect: the policy {path} takes {config.image_size} px images but --image-size is {env.image_size}; "
            f"pass --image-size {config.image_size}"
        )
    missing = [c for c in cameras if c not in env.cameras]
    if missing:
        raise ConfigError(f"collect: the policy {path} watches camera(s) {missing}; pass --wrist-camera")
