"""The training loop behind `flywheel train`: AdamW, warmup + cosine, clipping, optional EMA and bf16, checkpoints.

Determinism: weights, batch indices (a dedicated generator) and flow-matching noise (torch's global RNG) all derive
from `seed`, and both RNG states are checkpointed, so `--resume` continues the exact sequence an uninterrupted run
would have taken: the resumed loss curve equals the uninterrupted one, step for step.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from vla_flywheel.config_check import read_json
from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.errors import ConfigError
from vla_flywheel.failpoints import failpoint
from vla_flywheel.models.normalize import Normalizer
from vla_flywheel.models.policy import FlywheelPolicy, PolicyConfig
from vla_flywheel.models.policy.modeling import EPISODE_START
from vla_flywheel.models.tokenizer import WordTokenizer, words
from vla_flywheel.train.checkpoint import (
    PRETRAINED_DIR,
    TRAIN_CONFIG_FILE,
    last_checkpoint,
    load_training_state,
    save_checkpoint,
)
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.data import TrainingData
from vla_flywheel.train.device import training_device
from vla_flywheel.train.ema import EMA
from vla_flywheel.train.metrics import MetricsLog, read_metrics
from vla_flywheel.train.optimizer_step import checked_step

TABLETOP_ROBOT = "vla_flywheel_tabletop_gripper"
TOOL_XY_NAMES = ("tcp.x", "tcp.y")  # state entries holding the tabletop tool's table position
GRIPPER_OPENING_NAME = "gripper.opening"
GRIPPER_OPENING_NOISE = 0.005  # metres: the velocity must not read a slightly closed gripper as a later phase
PRIMITIVE_ACTION_NAMES = ("pick.x", "pick.y", "pick.yaw", "place.x", "place.y")
SUMMARY_FILE = "train_summary.json"


@dataclass
class TrainResult:
    run: Path
    step: int
    loss: float
    seconds: float
    frames: int
    episodes: int

    def lines(self) -> list[str]:
        return [
            f"run       {self.run}",
            f"data      {self.episodes} episodes, {self.frames} frames",
            f"steps     {self.step} (final loss {self.loss:.4f})",
            f"time      {self.seconds:.1f} s",
            f"policy    {self.run / 'checkpoints' / 'last' / PRETRAINED_DIR}",
        ]


def policy_config_for(data: TrainingData, overrides: dict) -> PolicyConfig:
    """The policy a dataset calls for: the primitive head for pick/place actions, flow matching otherwise."""
    head = "primitive" if data.action_names == PRIMITIVE_ACTION_NAMES else "flow"
    base = {
        "head": head,
        "image_keys": tuple(sorted(data.images)),
        "image_size": data.image_size,
        "state_dim": data.state.shape[1],
        "action_dim": data.action.shape[1],
        "action_names": data.action_names or tuple(f"a{i}" for i in range(data.action.shape[1])),
        **overrides,
    }
    pointing = head == "primitive" or (base.get("flow_pointing", True) and data.points is not None)
    if pointing and base.get("primitive_param", "heatmap") == "heatmap":
        if head == "flow" and data.robot_type != TABLETOP_ROBOT and "workspace_homography" not in overrides:
            base["flow_pointing"] = False  # no camera calibration: plain flow matching
        elif data.robot_type != TABLETOP_ROBOT and "workspace_homography" not in overrides:
            raise ConfigError(
                f"train: the heatmap primitive head needs the camera's workspace homography, known only for the "
                f"tabletop (robot_type {data.robot_type!r}); use primitive_param='bins'"
            )
        else:
            from vla_flywheel.envs.tabletop.camera import front_camera_homography
            from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF

            base.setdefault("workspace_homography", front_camera_homography(data.image_size).tolist())
            if head == "flow" and all(name in data.state_names for name in TOOL_XY_NAMES):
                base.setdefault("state_table_xy", tuple(data.state_names.index(name) for name in TOOL_XY_NAMES))
                base.setdefault("table_half_extent", WORKSPACE_HALF)
                if GRIPPER_OPENING_NAME in data.state_names:
                    noise = [0.0] * len(data.state_names)
                    noise[data.state_names.index(GRIPPER_OPENING_NAME)] = GRIPPER_OPENING_NOISE
                    base.setdefault("flow_state_noise", tuple(noise))
    return PolicyConfig(**base)


def check_fits(policy: FlywheelPolicy, data: TrainingData, datasets: tuple[Path, ...]) -> None:
    """Fine-tuning needs data the policy can read and act in: same cameras and image size, same state and action
    (by name: pick/place primitives and ee_delta deltas are both 5 numbers), and instructions in its vocabulary.

    The vocabulary is fixed with the text embedding, so a word it never saw could only ever be [UNK]: acting on
    held-out wording is fine (that is what held-out evaluation measures), but training on it would teach the policy
    to ignore what the user wrote. Such data is refused with the words named.
    """
    c, where = policy.config, f"train: fine-tuning {policy.source} on {', '.join(map(str, datasets))}"
    fix = "fine-tune on data collected with the policy's interface and cameras, or train from scratch"
    for key in c.image_keys:
        if key not in data.images:
            raise ConfigError(f"{where}: the data has no {key!r} images; {fix}")
    if data.image_size != c.image_size:
        raise ConfigError(f"{where}: images are {data.image_size} px but the policy takes {c.image_size} px; {fix}")
    for name, size, want in (("state", data.state.shape[1], c.state_dim),
                             ("action", data.action.shape[1], c.action_dim)):  # fmt: skip
        if size != want:
            raise ConfigError(f"{where}: {name} has {size} dimensions but the policy's has {want}; {fix}")
    if data.action_names and tuple(data.action_names) != tuple(c.action_names):
        raise ConfigError(
            f"{where}: actions are {list(data.action_names)} but the policy outputs {list(c.action_names)}; {fix}"
        )
    unknown = sorted({w for task in data.tasks for w in words(task)} - set(policy.tokenizer.vocab))
    if unknown:
        raise ConfigError(
            f"{where}: the instructions use words the policy's vocabulary lacks ({', '.join(unknown[:5])}); "
            "train from scratch so the vocabulary includes them, or use the training wording"
        )


def _start(cfg: TrainConfig) -> tuple[TrainConfig, TrainingData, FlywheelPolicy, dict | None]:
    """Fresh run: build tokenizer, normalizer and policy. Resume: reload them and the training state."""
    if cfg.out.joinpath("checkpoints").exists():
        raise ConfigError(f"train: {cfg.out} already holds a run; pass --resume to continue it or choose another --out")
    data = TrainingData.load(list(cfg.datasets), cfg.max_episodes)
    if cfg.init_from is not None:
        from vla_flywheel.models.policy.modeling import resolve_pretrained_dir

        torch.manual_seed(cfg.seed)
        policy = FlywheelPolicy.from_pretrained(resolve_pretrained_dir(cfg.init_from))
        check_fits(policy, data, cfg.datasets)
        return cfg, data, policy.train(), None
    from vla_flywheel.envs.tabletop.language import corpus

    tokenizer = WordTokenizer.from_corpus([*corpus(), *data.tasks])
    normalizer = Normalizer.from_data({"observation.state": data.state, "action": data.action})
    torch.manual_seed(cfg.seed)
    policy = FlywheelPolicy(policy_config_for(data, cfg.policy), tokenizer, normalizer)
    return cfg, data, policy, None


def _resume(run: Path, steps: int | None) -> tuple[TrainConfig, TrainingData, FlywheelPolicy, dict]:
    checkpoint = last_checkpoint(run)
    path = checkpoint / PRETRAINED_DIR / TRAIN_CONFIG_FILE
    saved = read_json(path, "restore it, or train anew without --resume")
    saved["out"] = str(run)  # the run being resumed, wherever it was first trained (a copied run must not write back)
    if steps is not None:
        saved["steps"] = steps
    cfg = TrainConfig.from_dict(saved, where=str(path))
    state = load_training_state(checkpoint)
    # Killed after its last checkpoint but before its summary, a run is finished by writing the summary.
    if state.step > cfg.steps or (state.step == cfg.steps and (run / SUMMARY_FILE).exists()):
        raise ConfigError(f"train: {run} already reached step {state.step} of {cfg.steps}; pass a larger --steps")
    data = TrainingData.load(list(cfg.datasets), cfg.max_episodes)
    policy = FlywheelPolicy.from_pretrained(checkpoint / PRETRAINED_DIR).train()
    published = {k: v.clone() for k, v in policy.state_dict().items()}  # EMA weights, before raw ones load
    return cfg, data, policy, {"state": state, "published": published}


def train(cfg: TrainConfig | None = None, *, resume: Path | None = None, steps: int | None = None, progress=True):
    """Train from scratch (`cfg`) or continue the run at `resume` (optionally to a new total `steps`)."""
    cfg, data, policy, restored = _resume(resume, steps) if resume is not None else _start(cfg)
    torch.set_num_threads(cfg.threads)
    device = training_device(cfg.device)
    policy.to(device).train()
    optimizer = torch.optim.AdamW(
        policy.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, foreach=False
    )
    sampler = torch.Generator().manual_seed(cfg.seed)
    ema = EMA(policy, cfg.ema_decay) if cfg.ema_decay else None
    start = 0
    if restored is not None:
        state = restored["state"]
        start = state.step
        if state.train_weights is not None:
            policy.load_state_dict(state.train_weights)
        if ema is not None:
            ema.load_state_dict(restored["published"])
        optimizer.load_state_dict(state.optimizer)
        sampler.set_state(state.rng["sampler"])
        torch.set_rng_state(state.rng["torch"])
        if device.type == "cuda" and "cuda" in state.rng:
            torch.cuda.set_rng_state(state.rng["cuda"])
    else:
        cfg.out.mkdir(parents=True, exist_ok=True)
        (cfg.out / TRAIN_CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=2))
    log = MetricsLog(cfg.out, resume_step=start)
    horizon = policy.config.action_horizon
    # With flow pointing and latched points the pointing head acts on each episode's first frame (gripper parked out of
    # view): a quarter of every batch is episode starts, and the pointing loss is taken on those only.
    pointed = policy.config.head == "flow" and policy.config.uses_pointing and data.points is not None
    last = data.last_index
    is_start = torch.ones(len(data), dtype=torch.bool)
    is_start[1:] = last[:-1] == torch.arange(len(data) - 1)
    starts = torch.nonzero(is_start).flatten()
    began = time.perf_counter()
    logged = [m["loss"] for m in read_metrics(cfg.out) if "loss" in m] if start else []
    loss_value, last_saved = (logged[-1] if logged else float("nan")), start
    bar = tqdm(total=cfg.steps, initial=start, desc=f"train {policy.config.head}", unit="step", disable=not progress)
    try:
        for step in range(start + 1, cfg.steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = cfg.learning_rate(step)
            indices = data.sample_indices(cfg.batch_size, sampler)
            if pointed and policy.config.latch_points:
                first = max(1, cfg.batch_size // 4)
                indices[:first] = starts[torch.randint(len(starts), (first,), generator=sampler)]
            batch = data.batch(indices, horizon, policy.tokenizer)
            if pointed and policy.config.latch_points:
                batch[EPISODE_START] = is_start[indices]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss, logs = policy(batch)
            kept = f"checkpoints/{last_saved:06d}" if last_saved else "none (no checkpoint was written yet)"
            loss_value, grad_norm = checked_step(
                policy,
                optimizer,
                loss,
                cfg.grad_clip,
                f"training diverged at step {step}",
                f"lr {cfg.learning_rate(step):.2e}; last good checkpoint: {kept}. Lower --lr, keep --grad-clip on, "
                "or check the data for NaN/inf",
            )
            if ema is not None:
                ema.update(policy)
            failpoint("train.step")
            bar.update()
            if step % cfg.log_every == 0 or step == cfg.steps:
                elapsed = time.perf_counter() - began
                rate = (step - start) / max(elapsed, 1e-9)
                log.write({"step": step, "loss": loss_value, "lr": cfg.learning_rate(step), "grad_norm": grad_norm,
                           "steps_per_s": rate, **logs})  # fmt: skip
                bar.set_postfix(loss=f"{loss_value:.4f}")
            if step % cfg.save_every == 0 or step == cfg.steps:
                _save(cfg, policy, ema, optimizer, sampler, step, device)
                last_saved = step
    finally:
        bar.close()
        log.close()
    seconds = time.perf_counter() - began
    result = TrainResult(cfg.out, cfg.steps, loss_value, seconds, len(data), data.episodes)
    summary = {"steps": cfg.steps, "resumed_from": start, "seconds": seconds, "final_loss": loss_value,
               "frames": len(data), "episodes": data.episodes}  # fmt: skip
    write_json_atomic(cfg.out / SUMMARY_FILE, summary)  # its presence says "finished": never half-written
    return result


def _save(cfg: TrainConfig, policy: FlywheelPolicy, ema, optimizer, sampler, step: int, device) -> None:
    rng = {"sampler": sampler.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state()
    raw = None
    if ema is not None:
        raw = {k: v.clone() for k, v in policy.state_dict().items()}
        published = copy.deepcopy(policy)  # not a fresh module: initializing one would advance the global RNG
        published.load_state_dict(ema.state_dict())
    else:
        published = policy
    save_checkpoint(cfg.out, step, published, cfg.to_dict(), optimizer, rng, raw)
