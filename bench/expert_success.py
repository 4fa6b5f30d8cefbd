"""Scripted-expert success per family x interface over seeded episodes, clean and with each kind of noise.

Run: .venv/bin/python bench/expert_success.py [--episodes 200]
Prints a markdown table: success rate with n and a 95% Wilson interval.
"""

from __future__ import annotations

import argparse
import time

from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs import make_env
from vla_flywheel.envs.tabletop.experts import ExpertNoise, ScriptedExpert
from vla_flywheel.envs.tabletop.language import FAMILIES
from vla_flywheel.eval.intervals import wilson_interval


def success_rate(family: str, interface: str, noise: ExpertNoise, episodes: int, split: str = "train") -> int:
    env = make_env(family=family, interface=interface, split=split)
    expert = ScriptedExpert(noise)
    wins = sum(rollout(env, expert, seed).success for seed in range(10_000, 10_000 + episodes))
    env.close()
    return wins


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--noise-episodes", type=int, default=100)
    args = parser.parse_args()
    print("| family | interface | split | expert success | n | 95% CI |\n|---|---|---|---|---|---|")
    start = time.perf_counter()
    for interface in ("ee_delta", "primitive"):
        for family in FAMILIES:
            for split in ("train", "heldout"):
                wins = success_rate(family, interface, ExpertNoise(), args.episodes, split)
                lo, hi = wilson_interval(wins, args.episodes)
                print(
                    f"| {family} | {interface} | {split} | {wins / args.episodes:.1%} | {args.episodes} | "
                    f"[{lo:.1%}, {hi:.1%}] |",
                    flush=True,
                )
    print(f"\nclean experts: {time.perf_counter() - start:.0f} s\n")
    print("| noise (family=all) | interface | success | n | 95% CI |\n|---|---|---|---|---|")
    settings = {
        "action_std=0.1": ExpertNoise(action_std=0.1),
        "action_std=0.3": ExpertNoise(action_std=0.3),
        "grasp_offset=0.015": ExpertNoise(grasp_offset=0.015),
        "grasp_offset=0.03": ExpertNoise(grasp_offset=0.03),
        "early_release=0.5": ExpertNoise(early_release=0.5),
        "wrong_target=0.25": ExpertNoise(wrong_target=0.25),
        "wrong_target=0.5": ExpertNoise(wrong_target=0.5),
    }
    for name, noise in settings.items():
        for interface in ("ee_delta", "primitive"):
            wins = success_rate("all", interface, noise, args.noise_episodes)
            lo, hi = wilson_interval(wins, args.noise_episodes)
            print(
                f"| {name} | {interface} | {wins / args.noise_episodes:.1%} | {args.noise_episodes} | "
                f"[{lo:.1%}, {hi:.1%}] |",
                flush=True,
            )


if __name__ == "__main__":
    main()
