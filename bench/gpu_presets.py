"""Model presets side by side on whatever device is present: parameters, training samples/s, acting latency.

Each preset (models/presets.py) builds a fresh tabletop ee_delta flow policy the way `flywheel train` does
(`train.loop.policy_config_for` on tabletop-shaped data: pointing, tool-relative velocity) and is timed on random data
of the real shapes, drawn by `TrainingData.batch` as the training loop draws it: uint8 images [B, 64, 64, 3], a 5-d
state, instructions from the task corpus, action chunks [B, H, 5] with padding, pick/place points and a quarter of
episode starts. A training step is batch assembly + forward + backward + clipping + AdamW, set up as in
train/loop.py; latency is `predict_action_chunk` at batch 1 (10 Euler steps).

On CUDA each preset trains at its own batch size (32 / 128 / 256), twice: with the deterministic kernels that
`flywheel train` uses there (train/device.py: exact resume) and with torch's defaults, so the last column is what
exactness costs. On a CPU all train at --batch-size (default 32) for a few steps, since gpu-large takes seconds per
step there. --bf16 runs everything under bfloat16 autocast (what the GPU presets train with).

Run: .venv/bin/python bench/gpu_presets.py [--presets cpu-small gpu-base] [--bf16] [--threads 2] [--steps N]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np
import torch

from vla_flywheel.envs.tabletop.env import ACTION_NAMES, STATE_NAMES
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.models.normalize import Normalizer
from vla_flywheel.models.policy import FlywheelPolicy
from vla_flywheel.models.policy.modeling import EPISODE_START
from vla_flywheel.models.presets import PRESETS
from vla_flywheel.models.tokenizer import WordTokenizer
from vla_flywheel.train.data import TrainingData
from vla_flywheel.train.device import deterministic_cuda
from vla_flywheel.train.frame_spool import FrameSpool
from vla_flywheel.train.loop import TABLETOP_ROBOT, policy_config_for

EPISODES, LENGTH, IMAGE_SIZE = 20, 50, 64


def random_data(seed: int = 0) -> TrainingData:
    """20 episodes of 50 random frames, shaped like a tabletop ee_delta dataset with recorded pick/place points."""
    rng = np.random.default_rng(seed)
    n = EPISODES * LENGTH
    frames = FrameSpool((IMAGE_SIZE, IMAGE_SIZE, 3))
    frames.append(rng.integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8))
    episode = np.repeat(np.arange(EPISODES), LENGTH)
    return TrainingData(
        images={"observation.images.front": frames},
        state=torch.from_numpy(rng.normal(size=(n, len(STATE_NAMES))).astype(np.float32)),
        action=torch.from_numpy(rng.uniform(-1, 1, (n, len(ACTION_NAMES["ee_delta"]))).astype(np.float32)),
        points=torch.from_numpy(rng.uniform(-1, 1, (n, 5)).astype(np.float32)),
        last_index=torch.from_numpy(episode * LENGTH + LENGTH - 1),
        task_index=torch.from_numpy(episode),
        weight=None,
        tasks=corpus()[:EPISODES],
        action_names=tuple(ACTION_NAMES["ee_delta"]),
        state_names=tuple(STATE_NAMES),
        fps=10,
        robot_type=TABLETOP_ROBOT,
        episodes=EPISODES,
    )


def build_policy(data: TrainingData, overrides: dict, device: torch.device) -> FlywheelPolicy:
    torch.manual_seed(0)
    tokenizer = WordTokenizer.from_corpus([*corpus(), *data.tasks])
    normalizer = Normalizer.from_data({"observation.state": data.state, "action": data.action})
    return FlywheelPolicy(policy_config_for(data, overrides), tokenizer, normalizer).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_seconds(policy, data, batch_size: int, steps: int, warmup: int, bf16: bool, device) -> list[float]:
    """Seconds per training step, as train/loop.py takes one (the first `warmup` steps are not counted)."""
    policy.train()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=1e-4, foreach=False)
    sampler = torch.Generator().manual_seed(0)
    starts = torch.arange(EPISODES) * LENGTH
    is_start = torch.zeros(len(data), dtype=torch.bool)
    is_start[starts] = True
    out = []
    for step in range(warmup + steps):
        sync(device)
        began = time.perf_counter()
        indices = data.sample_indices(batch_size, sampler)
        first = max(1, batch_size // 4)  # latched pointing trains on episode starts, a quarter of each batch
        indices[:first] = starts[torch.randint(len(starts), (first,), generator=sampler)]
        batch = data.batch(indices, policy.config.action_horizon, policy.tokenizer)
        batch[EPISODE_START] = is_start[indices]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, _ = policy(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        sync(device)
        if step >= warmup:
            out.append(time.perf_counter() - began)
    if not math.isfinite(loss.item()):
        raise RuntimeError(f"non-finite loss {loss.item()}")
    return out


def predict_ms(policy, data, calls: int, warmup: int, bf16: bool, device) -> list[float]:
    """`predict_action_chunk` milliseconds at batch 1."""
    policy.eval()
    index = torch.tensor([0])
    batch = {key: frames[index] for key, frames in data.images.items()}
    batch["observation.state"], batch["task"] = data.state[index], [data.tasks[0]]
    generator = torch.Generator().manual_seed(0)
    out = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(warmup + calls):
            sync(device)
            began = time.perf_counter()
            policy.predict_action_chunk(batch, generator=generator)
            sync(device)
            if i >= warmup:
                out.append(1000 * (time.perf_counter() - began))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for training and acting")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's on CUDA, 32 on a CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 30 on CUDA, 3 on CPU)")
    parser.add_argument("--calls", type=int, default=None, help="timed acting calls (default 100 on CUDA, 10 on CPU)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    steps = args.steps or (30 if cuda else 3)
    calls = args.calls or (100 if cuda else 10)
    warmup = 5 if cuda else 1
    name = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()})"
    precision = "bf16 autocast" if args.bf16 else "fp32"
    data = random_data()
    print(f"{name}, torch {torch.__version__}, {args.threads} CPU threads, {precision}, 64 px, {steps} timed "
          f"training steps and {calls} latency calls per preset")  # fmt: skip
    print()
    header = "| preset | params | batch | train samples/s | train step ms | act p50 ms (batch 1) | act p95 ms |"
    extra = " peak GPU GiB | samples/s, torch's default kernels | deterministic / default |"
    print(header + (extra if cuda else ""))
    print("|---" * (header.count("|") - 1 + 3 * cuda) + "|")
    for preset in (PRESETS[p] for p in args.presets):
        batch_size = args.batch_size or (preset.train.get("batch_size", 32) if cuda else 32)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        policy = build_policy(data, preset.policy, device)
        params = sum(p.numel() for p in policy.parameters())
        if cuda:
            deterministic_cuda(True)
        seconds = statistics.median(train_seconds(policy, data, batch_size, steps, warmup, args.bf16, device))
        ms = predict_ms(policy, data, calls, warmup, args.bf16, device)
        row = (f"| {preset.name} | {params / 1e6:.2f} M | {batch_size} | {batch_size / seconds:,.1f} | "
               f"{1000 * seconds:,.1f} | {statistics.median(ms):.2f} | {np.percentile(ms, 95):.2f} |")  # fmt: skip
        if cuda:
            peak = torch.cuda.max_memory_allocated() / 2**30
            deterministic_cuda(False)
            default = statistics.median(train_seconds(policy, data, batch_size, steps, warmup, args.bf16, device))
            row += f" {peak:.2f} | {batch_size / default:,.1f} | {default / seconds:.2f} |"
        print(row, flush=True)
        del policy


if __name__ == "__main__":
    main()
