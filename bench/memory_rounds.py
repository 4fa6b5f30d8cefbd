"""Peak memory per round of a multi-round flywheel: does it stay flat while the run's data grows?

Runs an `ee_delta` self-train flywheel (every rollout is kept, so the training data grows by a round's episodes each
round whatever the policy's success; ~12 KB of camera frame per step, tens of MB a round) for several rounds in one
process (evaluation in-process too), then prints per round the process's peak and final RSS from `rounds.jsonl`,
the frames the round's training read, what those frames would occupy if held in memory, and the ratio of the last
round's peak to the first round's. A finished run is reused.

Run: .venv/bin/python bench/memory_rounds.py [--rounds 5] [--episodes-per-round 60] [--out runs/bench/memory]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vla_flywheel.flywheel.config import CONFIG_FILE, RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.train.loop import SUMMARY_FILE

FRAME_MB = 64 * 64 * 3 / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--episodes-per-round", type=int, default=60)
    p.add_argument("--out", type=Path, default=Path("runs/bench/memory"))
    args = p.parse_args()
    if (args.out / CONFIG_FILE).exists():
        rounds = run_flywheel(resume=args.out, progress=False)
    else:
        cfg = RunConfig(out=args.out, recipe="self-train", interface="ee_delta", seed_demos=10, rounds=args.rounds,
                        episodes_per_round=args.episodes_per_round, base_steps=300, round_steps=100,
                        eval_episodes=20, eval_workers=1, threads=1, videos=0)  # fmt: skip
        rounds = run_flywheel(cfg, progress=False)
    run = RunLayout(args.out)
    header = ("round", "peak RSS MB", "RSS after MB", "frames trained on", "as in-memory MB")
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, (5, 11, 12, 17, 15), strict=True)))
    for record in rounds:
        r = record["round"]
        frames = json.loads((run.policy(r) / SUMMARY_FILE).read_text())["frames"]
        mem = record["memory"]
        print(f"{r:>5}  {mem['peak_rss_mb']:>11.0f}  {mem['rss_mb']:>12.0f}  {frames:>17}  {frames * FRAME_MB:>15.0f}")
    first, last = rounds[1]["memory"]["peak_rss_mb"], rounds[-1]["memory"]["peak_rss_mb"]
    print(f"peak RSS, round {rounds[-1]['round']} / round 1: {last / first:.3f}")


if __name__ == "__main__":
    main()
