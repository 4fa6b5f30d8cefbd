"""VLAC's data refinement apart from its filter: the same kept episodes, trained on with binary weights or weighted
by progress.

A `vlac` round does two things at once: the critic picks which rollouts to keep, and it weights each kept frame by
the progress its step made, negative progress masked (`flywheel.judging.progress_weights`). This bench holds the
first fixed at the truth to measure the second. From a finished `filtered-bc` run (`--run`, the oracle keeping the
successes of round 1), it builds one-round runs that share its base and its round-1 episodes and verdicts, and
re-weights the kept episodes' frames by
  - `critic`: the progress a critic (`--critic`, e.g. the `vlac` run's own, trained on the same seed demos) reads
    between the frames the `vlac` judge compares (every 0.5 s);
  - `simulator`: the tabletop's dense stage-wise progress (`envs.tabletop.tasks.progress`) at the same frames, by
    replaying each kept episode's recorded actions from its seed: the refinement's upper bound.
`critic-all` and `simulator-all` weight every episode of the round, failures too, by the same rule: what dense
progress would make of the rollouts a filter rejects (self-training weighted by progress, RA-BC on everything);
`simulator-all-rising` also masks the steps whose progress was held, not gained.
Each run then fine-tunes exactly as the source run's round 1 did. Each variant's round-1 policy (`binary`: the
source run's own) is evaluated on the run's fixed seeds and on `--episodes` more per split from `--seed` (training
and held-out instructions). Finished parts are reused. Table: --out/refinement_weights.md.

Run: .venv/bin/python bench/refinement_weights.py --run RUN --critic RUN/checkpoints/judge/round-000
         [--out runs/refinement] [--episodes 400] [--seed 5000] [--variants binary critic simulator simulator-all]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from vla_flywheel import constants as k
from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.data.reader import DatasetReader
from vla_flywheel.data.writer import DatasetWriter
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.evaluate import EVAL_INFO_FILE, EvalConfig, evaluate
from vla_flywheel.eval.intervals import wilson_interval
from vla_flywheel.flywheel.base import share_base
from vla_flywheel.flywheel.config import CONFIG_FILE, RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.judging import compared_frames, progress_weights
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.records import read_rounds
from vla_flywheel.flywheel.stages import Envs, load_judge

# variant -> (whose progress weights the frames, every episode or only the kept ones, held progress kept at 0.5);
# "binary" is the source run's own round 1
VARIANTS: dict[str, tuple[str, bool, bool] | None] = {
    "binary": None,
    "critic": ("critic", False, True),
    "simulator": ("simulator", False, True),
    "critic-all": ("critic", True, True),
    "simulator-all": ("simulator", True, True),
    "simulator-all-rising": ("simulator", True, False),
}
BOOKKEEPING = (k.TIMESTAMP, k.FRAME_INDEX, k.EPISODE_INDEX, k.INDEX, k.TASK_INDEX, k.TASK)


def critic_progress(critic):
    """episode -> [K-1] the critic's progress between its compared frames (as the vlac judge reads it)."""

    def read(episode: dict, idx: np.ndarray, family: str) -> np.ndarray:
        images = torch.from_numpy(np.asarray(episode[critic.config.image_key])[idx])  # [K, S, S, 3]
        with torch.no_grad():
            return critic.progress_along(images, episode[k.TASK][0]).cpu().numpy()

    return read


def simulator_progress(cfg: RunConfig):
    """episode -> [K-1] the change of the env's dense progress between the compared frames, by replaying the
    episode's actions from its seed (deterministic: the replay must end in the recorded outcome)."""
    envs = Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides)

    def read(episode: dict, idx: np.ndarray, family: str) -> np.ndarray:
        seed = int(np.asarray(episode[k.EPISODE_SEED]).reshape(-1)[0])
        _, info = envs(family).reset(seed=seed)
        at = [info["progress"]]  # [T+1] progress at each frame, and after the last action
        for action in np.asarray(episode[k.ACTION], np.float32):
            _, _, _, _, info = envs(family).step(action)
            at.append(info["progress"])
        if info["success"] != bool(np.asarray(episode[k.NEXT_SUCCESS]).reshape(-1)[-1]):
            raise RuntimeError(f"episode seed {seed}: the replay did not end in its recorded outcome")
        return np.diff(np.asarray(at)[idx])

    return read


def reweighted_round(source: Path, dest: Path, families: tuple[str, ...], progress, every: bool,
                     keep_held: bool) -> dict:  # fmt: skip
    """Copy a round's episodes and verdicts to `dest`, re-weighting the kept episodes' frames (`every`: all
    episodes' frames) by `progress` (a round's episode i was played on families[i % len(families)])."""
    reader = DatasetReader(source)
    features = {name: ft for name, ft in reader.features.items() if name not in BOOKKEEPING}
    masked = frames = 0
    with DatasetWriter.create(dest, reader.fps, features, reader.info["robot_type"]) as writer:
        for i in range(reader.num_episodes):
            episode = reader.episode(i)
            if every or bool(np.asarray(episode[k.JUDGE_KEEP]).reshape(-1)[0]):
                t = len(episode[k.INDEX])
                idx = compared_frames(t)
                deltas = progress(episode, idx, families[i % len(families)])  # [K-1]
                weights = progress_weights(deltas, idx, t, keep_held)  # [T]
                episode[k.JUDGE_WEIGHT] = weights.astype(np.float32).reshape(t, 1)
                masked, frames = masked + int((weights == 0).sum()), frames + t
            writer.add_episode({name: episode[name] for name in features}, episode[k.TASK][0])
    return {"weighted_frames": frames, "masked_frames": masked}


def prepare(src: RunConfig, out: Path, variant: str, critic: Path) -> Path:
    """A one-round run sharing the source run's base, with its round 1 re-weighted (once)."""
    cfg = dataclasses.replace(src, out=out / variant, rounds=1, base_from=RunLayout(src.out).root)
    run = RunLayout(cfg.out)
    if (cfg.out / CONFIG_FILE).exists():
        return cfg.out
    shutil.rmtree(cfg.out, ignore_errors=True)  # a preparation that was killed starts over
    cfg.out.mkdir(parents=True)
    share_base(src.out, cfg)
    progress_from, every, keep_held = VARIANTS[variant]
    progress = critic_progress(load_judge(critic)) if progress_from == "critic" else simulator_progress(cfg)
    masked = reweighted_round(RunLayout(src.out).round_data(1), run.round_data(1), cfg.families, progress, every,
                              keep_held)  # fmt: skip
    write_json_atomic(cfg.out / "reweighted.json", masked)
    write_json_atomic(cfg.out / CONFIG_FILE, cfg.to_dict())  # last: a run killed before it is prepared again
    return cfg.out


def oracle_run(run: Path, bench: str) -> tuple[RunConfig, dict[int, dict]]:
    """An oracle-judged run that finished round 1: its config and its round records by round."""
    try:
        src = RunConfig.load(run)
    except ConfigError as e:
        raise SystemExit(f"{bench}: {e}") from None
    rounds = {r["round"]: r for r in read_rounds(RunLayout(run).rounds)}
    if src.judge != "oracle" or 1 not in rounds:
        raise SystemExit(f"{bench}: --run {run} must be an oracle-judged run that finished round 1")
    return src, rounds


def extra_eval(policy: Path, out: Path, cfg: RunConfig, episodes: int, seed: int,
               splits: tuple[str, ...] = ("train", "heldout")) -> dict:  # fmt: skip
    """The policy on `episodes` more seeds per split from `seed` (reused when already done)."""
    if (out / EVAL_INFO_FILE).exists():
        return json.loads((out / EVAL_INFO_FILE).read_text())
    return evaluate(EvalConfig(policy=policy, out=out, families=cfg.families, splits=splits, episodes=episodes,
                               seed=seed, workers=1, threads=1), progress=False)  # fmt: skip


def cell(successes: int, n: int) -> str:
    lo, hi = wilson_interval(successes, n)
    return f"{100 * successes / n:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] (n={n})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a filtered-bc run that finished round 1")
    parser.add_argument("--critic", type=Path, required=True, help="a critic judge (train-judge run or checkpoint)")
    parser.add_argument("--out", type=Path, default=Path("runs/refinement"))
    parser.add_argument("--episodes", type=int, default=400, help="extra evaluation episodes per split")
    parser.add_argument("--seed", type=int, default=5000, help="offset of the extra episodes in the fixed seed list")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS)[:3])
    args = parser.parse_args()
    src, rounds = oracle_run(args.run, "refinement_weights")
    rows = []
    for variant in args.variants:
        if variant == "binary":
            run, record, reweighted = RunLayout(args.run), rounds[1], {}
        else:
            try:
                run = RunLayout(prepare(src, args.out, variant, args.critic))
            except ConfigError as e:
                raise SystemExit(f"refinement_weights: {e}") from None
            record = run_flywheel(resume=run.root, progress=False)[-1]
            reweighted = json.loads((run.root / "reweighted.json").read_text())
        extra = extra_eval(run.policy(1), args.out / "eval" / variant, src, args.episodes, args.seed)
        standard = record["success"]["overall"]
        minutes = (record["seconds"]["train"] + record["seconds"]["evaluate"]) / 60
        split = {g["split"]: (g["successes"], g["n"]) for g in extra["groups"]}
        masked = f"{reweighted['masked_frames']} of {reweighted['weighted_frames']}" if reweighted else "0"
        rows.append(f"| {variant} | {masked} | {cell(standard['successes'], standard['n'])} | {cell(*split['train'])} "
                    f"| {cell(*split['heldout'])} | {minutes:.1f} |")  # fmt: skip
        print(rows[-1], flush=True)
    base = rounds[0]["success"]["overall"]
    title = (f"Refinement weights on `{args.run}`'s round 1 ({src.interface} {', '.join(src.families)}; base "
             f"{cell(base['successes'], base['n'])} on the run's fixed seeds; {rounds[1]['data_added']['kept']} "
             f"episodes kept by the oracle, {src.round_steps} fine-tuning steps)")  # fmt: skip
    header = ["frame weights", "frames masked", "round 1, the run's seeds", f"{args.episodes} more, training "
              "instructions", "held-out instructions", "minutes to fine-tune + evaluate"]  # fmt: skip
    write_table(args.out / "refinement_weights.md", title, header, rows)


def write_table(path: Path, title: str, header: list[str], rows: list[str]) -> None:
    """A markdown table under its title, written to `path` and printed."""
    table = "\n".join([title, "", f"| {' | '.join(header)} |", "|---" * len(header) + "|", *rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
