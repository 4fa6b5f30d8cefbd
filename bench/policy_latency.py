"""Policy inference speed on CPU: `predict_action_chunk` latency at batch 1 and throughput at batch 64.

Measured side by side in one process, on the default configs at 64 px (latency does not depend on the weights, so
fresh policies are used unless --policy is given):
- flow head (default chunk, 10 Euler steps) and primitive heatmap head: p50 / p95 ms at batch 1 (target p50 <= 10 ms);
- the flow head with 1 Euler step: the ratio shows what the 10 integration steps cost on top of the encoder;
- batch 64: chunks/s and actions/s (batch x chunk length per call), fp32 and bf16 autocast.

Run: .venv/bin/python bench/policy_latency.py [--calls 200] [--threads 2] [--policy RUN_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from vla_flywheel.envs.tabletop.camera import front_camera_homography
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.models.normalize import Normalizer
from vla_flywheel.models.policy import FlywheelPolicy, PolicyConfig
from vla_flywheel.models.tokenizer import WordTokenizer


def fresh_policy(**overrides) -> FlywheelPolicy:
    torch.manual_seed(0)
    stats = {"observation.state": torch.randn(64, 5), "action": torch.randn(64, 5)}
    config = PolicyConfig(workspace_homography=front_camera_homography(64).tolist(), **overrides)
    return FlywheelPolicy(config, WordTokenizer.from_corpus(corpus()), Normalizer.from_data(stats)).eval()


def make_batch(policy: FlywheelPolicy, size: int) -> dict:
    rng = np.random.default_rng(0)
    c = policy.config
    batch = {
        k: torch.from_numpy(rng.integers(0, 256, (size, c.image_size, c.image_size, 3), np.uint8)) for k in c.image_keys
    }
    batch["observation.state"] = torch.randn(size, c.state_dim)
    batch["task"] = ["put the red block on the blue pad"] * size
    return batch


def latencies_ms(policy: FlywheelPolicy, batch: dict, calls: int, bf16: bool = False) -> list[float]:
    generator = torch.Generator().manual_seed(0)
    out = []
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(calls + 10):
            start = time.perf_counter()
            policy.predict_action_chunk(batch, generator=generator)
            if i >= 10:  # warm-up calls are not counted
                out.append(1000 * (time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--policy", default=None, help="a trained flow policy to time instead of a fresh one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flow = FlywheelPolicy.from_pretrained(args.policy) if args.policy else fresh_policy()
    one_step = fresh_policy(num_inference_steps=1)
    primitive = fresh_policy(head="primitive")
    print(f"torch {torch.__version__}, {args.threads} threads, {args.calls} calls per row, 64 px, batch 1")
    p50 = {}
    for name, policy in (
        ("flow (10 Euler steps)", flow),
        ("flow (1 Euler step)", one_step),
        ("primitive heatmap", primitive),
    ):
        ms = latencies_ms(policy, make_batch(policy, 1), args.calls)
        p50[name] = statistics.median(ms)
        print(f"  {name:<24} p50 {p50[name]:6.2f} ms   p95 {np.percentile(ms, 95):6.2f} ms   target p50 <= 10 ms")
    ratio = p50["flow (10 Euler steps)"] / p50["flow (1 Euler step)"]
    print(f"  10-step / 1-step sampling latency ratio: {ratio:.2f}x (the encoder runs once per chunk)")
    print("batch 64 (flow head):")
    batch = make_batch(flow, 64)
    rates = {}
    for bf16 in (False, True):
        ms = statistics.median(latencies_ms(flow, batch, max(args.calls // 10, 5), bf16))
        rates[bf16] = 64 / (ms / 1000)
        chunk = flow.config.chunk_size
        label = "bf16" if bf16 else "fp32"
        print(f"  {label}: {ms:7.1f} ms/call   {rates[bf16]:8.0f} chunks/s   {rates[bf16] * chunk:8.0f} actions/s")
    print(f"  bf16 / fp32 throughput ratio: {rates[True] / rates[False]:.2f}x")


if __name__ == "__main__":
    main()
