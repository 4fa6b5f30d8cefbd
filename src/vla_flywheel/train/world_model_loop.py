"""`flywheel train-world-model`: fit the world model to recorded episodes, failures included (VLAW §4.1).

Same machinery as policy and judge training: AdamW with warmup + cosine, gradient clipping, a progress bar,
metrics.jsonl and checkpoints in LeRobot's layout (checkpoints/<step>/pretrained_model/ + training_state/, `last`
pointer). Weights and windows are drawn from `seed`, so the same config gives the same world model.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vla_flywheel.config_check import check_positive_ints
from vla_flywheel.constants import ACTION, OBS_STATE
from vla_flywheel.data import DatasetReader
from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.errors import ConfigError
from vla_flywheel.failpoints import failpoint
from vla_flywheel.models.world_model import FlywheelWorldModel, WorldModelConfig
from vla_flywheel.train.checkpoint import TRAIN_CONFIG_FILE, save_checkpoint
from vla_flywheel.train.config import warmup_cosine
from vla_flywheel.train.loop import SUMMARY_FILE, TABLETOP_ROBOT
from vla_flywheel.train.metrics import MetricsLog
from vla_flywheel.train.optimizer_step import checked_step
from vla_flywheel.train.world_model_data import Episode, WorldModelWindows, load_episodes
from vla_flywheel.train.world_model_grasps import describe_grasp_fit, fit_grasp_odds

TABLETOP_FRONT = "observation.images.front"
TOOL_XYZ_NAMES = ("tcp.x", "tcp.y", "tcp.z")  # the tabletop state's tool position, metres
TOOL_OPENING_NAME = "gripper.opening"  # its finger opening, metres


@dataclass
class WorldModelTrainConfig:
    """datasets: LeRobot dataset directories (demonstrations and policy rollouts, successes and failures).

    out: run directory. steps / batch_size / lr / warmup_steps / weight_decay / grad_clip: the optimizer.
    rollout_steps: K, the chunks unrolled open loop from each window's first frame; the loss is taken after every
        one, so the model learns to roll out on its own predictions (more is steadier over long horizons, and
        proportionally slower).
    successes_only: drop failed episodes (the ablation of VLAW Table 1: a world model that never saw a failure).
    max_episodes: use the first N episodes of each dataset (None: all).
    world_model: WorldModelConfig field overrides (e.g. {"action_chunk": 4}); sizes of image, state and action come
        from the data. {"grasp_odds": false} skips fitting the grasp odds (grasps are then drawn from the predicted
        opening); by default they are fitted whenever the data record enough closings.
    save_every: checkpoint period in steps (the last step is always saved).
    init_from: continue from this trained world model (VLAW's post-training round after round): its architecture
        and state/action normalization are kept, so `world_model` overrides do not apply.
    """

    datasets: tuple[Path, ...]
    out: Path
    steps: int = 600
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    rollout_steps: int = 4
    successes_only: bool = False
    max_episodes: int | None = None
    seed: int = 0
    threads: int = 1
    log_every: int = 25
    save_every: int = 1000
    world_model: dict = field(default_factory=dict)
    init_from: Path | None = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.init_from = None if self.init_from is None else Path(self.init_from)
        self.datasets = tuple(Path(d) for d in self.datasets)
        if not self.datasets:
            raise ConfigError("train-world-model: no data; pass --dataset DIR (repeatable)")
        check_positive_ints("train-world-model", self, ("steps", "batch_size", "rollout_steps", "threads", "log_every",
                                                         "save_every"), optional=("max_episodes",))  # fmt: skip
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"train-world-model: lr={self.lr} must be a positive number")
        if self.fits_grasp_odds not in (True, False):
            raise ConfigError(
                f"train-world-model: world_model grasp_odds={self.world_model['grasp_odds']!r} must "
                "be true (fit them to the data's closings) or false (draw from the predicted opening)"
            )

    @property
    def fits_grasp_odds(self) -> bool:
        return self.world_model.get("grasp_odds", True)

    def model_overrides(self) -> dict:
        """`world_model` without its grasp_odds switch, which says whether to fit them (the fit sets the field)."""
        return {k: v for k, v in self.world_model.items() if k != "grasp_odds"}

    def learning_rate(self, step: int) -> float:
        return warmup_cosine(step, self.lr, self.warmup_steps, self.steps, 0.05)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out)
        d["datasets"] = [str(p) for p in self.datasets]
        d["init_from"] = None if self.init_from is None else str(self.init_from)
        return d


@dataclass
class WorldModelTrainResult:
    run: Path
    steps: int
    loss: float
    seconds: float
    episodes: int
    successes: int
    frames: int
    parameters: int
    grasp_odds: dict = field(default_factory=dict)  # GraspFit.summary(); empty when none was fitted

    def lines(self) -> list[str]:
        grasps = describe_grasp_fit(self.grasp_odds)
        return [
            f"run          {self.run}",
            f"data         {self.episodes} episodes ({self.successes} successful), {self.frames} frames",
            f"model        {self.parameters:,} parameters",
            f"grasp odds   {grasps}",
            f"steps        {self.steps} (final loss {self.loss:.4f})",
            f"time         {self.seconds:.1f} s",
            f"world model  {self.run / 'checkpoints' / 'last' / 'pretrained_model'}",
        ]


def _episodes(cfg: WorldModelTrainConfig, image_key: str) -> list[Episode]:
    episodes = []
    for root in cfg.datasets:
        loaded = load_episodes([root], image_key, cfg.successes_only)
        episodes += loaded[: cfg.max_episodes] if cfg.max_episodes else loaded
    return episodes


def tabletop_projection(image_size: int) -> np.ndarray:
    """[3, 4]: the tabletop front camera's pinhole matrix for (x, y, z, 1) in metres -> (u s, v s, s) in pixels.

    The camera module gives the table-plane homography at any height z, whose third column is affine in z; two
    heights recover it, and dividing the first two columns by the workspace half-size turns normalized table
    coordinates back into metres.
    """
    import mujoco

    from vla_flywheel.envs.tabletop.camera import workspace_homography
    from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF, build_model

    model, ids = build_model(wrist_camera=False)
    data = mujoco.MjData(model)
    low, high = (workspace_homography(model, data, ids.camera["front"], image_size, z) for z in (0.0, 1.0))
    return np.stack([low[:, 0] / WORKSPACE_HALF, low[:, 1] / WORKSPACE_HALF, high[:, 2] - low[:, 2], low[:, 2]], 1)


def _camera(cfg: WorldModelTrainConfig, image_key: str, image_size: int) -> dict:
    """The tool-marker settings for tabletop front-camera data (where the camera is known), plus the setpoint's
    kinematics when the actions are ee_delta; {} otherwise."""
    reader = DatasetReader(cfg.datasets[0])
    names = list(reader.features[OBS_STATE].get("names") or [])
    known = reader.info.get("robot_type") == TABLETOP_ROBOT and image_key == TABLETOP_FRONT
    if not known or not all(n in names for n in TOOL_XYZ_NAMES) or "camera_projection" in cfg.world_model:
        return {}
    settings = {"camera_projection": tabletop_projection(image_size).tolist(),
                "state_xyz": tuple(names.index(n) for n in TOOL_XYZ_NAMES)}  # fmt: skip
    if TOOL_OPENING_NAME in names:
        settings["opening_index"] = names.index(TOOL_OPENING_NAME)
    from vla_flywheel.envs.tabletop.env import ACTION_NAMES

    actions = list(reader.features[ACTION].get("names") or [])
    if actions == ACTION_NAMES["ee_delta"]:
        settings["setpoint_moves"] = tabletop_setpoint_moves(actions, names)
    return settings


def tabletop_setpoint_moves(actions: list[str], states: list[str]) -> list[tuple]:
    """The tabletop ee_delta controller as WorldModelConfig.setpoint_moves: dx, dy, dz move the tool's x, y, z by
    up to MAX_DXYZ and dyaw its yaw by MAX_DYAW per step, the setpoint clipped to the env's bounds."""
    from vla_flywheel.envs.tabletop.controller import MAX_DXYZ, MAX_DYAW
    from vla_flywheel.envs.tabletop.env import SETPOINT_HIGH, SETPOINT_LOW

    moved = zip(("dx", "dy", "dz", "dyaw"), (*TOOL_XYZ_NAMES, "tcp.yaw"), (MAX_DXYZ,) * 3 + (MAX_DYAW,), strict=True)
    return [(actions.index(a), states.index(s), gain, float(SETPOINT_LOW[i]), float(SETPOINT_HIGH[i]))
            for i, (a, s, gain) in enumerate(moved) if s in states]  # fmt: skip


def _model_config(cfg: WorldModelTrainConfig, windows: WorldModelWindows, image_key: str) -> WorldModelConfig:
    size = int(windows.images.shape[1])
    base = {
        "image_size": size,
        "state_dim": int(windows.states.shape[1]),
        "action_dim": int(windows.actions.shape[1]),
        **_camera(cfg, image_key, size),
        **cfg.model_overrides(),
    }
    return WorldModelConfig(**base)


def _check_continues(model: FlywheelWorldModel, windows: WorldModelWindows, init_from: Path) -> None:
    """The data a world model continues on must have its image, state and action sizes; else one clear line."""
    c = model.config
    have = (int(windows.images.shape[1]), int(windows.states.shape[1]), int(windows.actions.shape[1]))
    if have != (c.image_size, c.state_dim, c.action_dim):
        raise ConfigError(
            f"train-world-model: {init_from} was trained on {c.image_size} px frames, {c.state_dim}-d states and "
            f"{c.action_dim}-d actions, but the data has {have[0]} px, {have[1]}-d and {have[2]}-d; train a new one"
        )


def train_world_model(cfg: WorldModelTrainConfig, progress: bool = True) -> WorldModelTrainResult:
    """Train and save a world model; the summary also goes to train_summary.json."""
    if cfg.out.joinpath("checkpoints").exists():
        raise ConfigError(f"train-world-model: {cfg.out} already holds a run; choose another --out")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    if cfg.init_from is not None:
        model = FlywheelWorldModel.from_pretrained(cfg.init_from).train()
        episodes = _episodes(cfg, model.config.image_key)
        windows = WorldModelWindows(episodes, model.config.action_chunk, cfg.rollout_steps)
        _check_continues(model, windows, cfg.init_from)
    else:
        defaults = WorldModelConfig(**{k: v for k, v in cfg.model_overrides().items() if k != "image_size"})
        episodes = _episodes(cfg, defaults.image_key)
        windows = WorldModelWindows(episodes, defaults.action_chunk, cfg.rollout_steps)
        model = FlywheelWorldModel(_model_config(cfg, windows, defaults.image_key)).train()
        model.set_normalization(*windows.normalization())
    # refitted to this run's data, a continued model's too; the optimizer below never changes them (frozen)
    fit = fit_grasp_odds(episodes, model.config, cfg.seed) if cfg.fits_grasp_odds else None
    model.set_grasp_odds(None if fit is None else fit.odds)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=False)
    sampler = torch.Generator().manual_seed(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / TRAIN_CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=2))
    log = MetricsLog(cfg.out, resume_step=0)
    began, loss_value = time.perf_counter(), float("nan")
    bar = tqdm(total=cfg.steps, desc="train-world-model", unit="step", disable=not progress)
    try:
        for step in range(1, cfg.steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = cfg.learning_rate(step)
            loss, logs = model(windows.sample(cfg.batch_size, sampler))
            loss_value, grad_norm = checked_step(
                model,
                optimizer,
                loss,
                cfg.grad_clip,
                f"world model training diverged at step {step}",
                "lower --lr or check the data for NaN/inf",
            )
            failpoint("world_model.step")
            bar.update()
            if step % cfg.log_every == 0 or step == cfg.steps:
                log.write({"step": step, "loss": loss_value, "lr": cfg.learning_rate(step), "grad_norm": grad_norm,
                           **logs})  # fmt: skip
                bar.set_postfix(loss=f"{loss_value:.4f}")
            if step % cfg.save_every == 0 or step == cfg.steps:
                rng = {"sampler": sampler.get_state(), "torch": torch.get_rng_state()}
                save_checkpoint(cfg.out, step, model.eval(), cfg.to_dict(), optimizer, rng)
                model.train()
    finally:
        bar.close()
        log.close()
    seconds = time.perf_counter() - began
    result = WorldModelTrainResult(
        cfg.out, cfg.steps, loss_value, seconds, windows.episodes, windows.successes, windows.frames,
        sum(p.numel() for p in model.parameters()), {} if fit is None else fit.summary(),
    )  # fmt: skip
    summary = {"steps": cfg.steps, "seconds": seconds, "final_loss": loss_value, "episodes": windows.episodes,
               "successes": windows.successes, "frames": windows.frames, "parameters": result.parameters,
               "grasp_odds": result.grasp_odds}  # fmt: skip
    write_json_atomic(cfg.out / SUMMARY_FILE, summary)  # its presence says "finished": never half-written
    return result
