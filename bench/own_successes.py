"""What a round's own successes teach, against the expert's episodes on the same scenes and on the scenes it failed.

On `ee_delta` the oracle's filter gains a few points a round, and the same base fine-tuned on as many new expert
demos gains several times more. Two things differ between the two kinds of data: which scenes they show (the
policy succeeds where its demos already taught it, so its successes repeat what it knows) and how they move (its
successes are slower and hesitant). This bench separates them. From a finished oracle-judged run (`--run`) it
builds one-round runs that share its base and replace round 1's episodes with
  - `expert-solved`: the scripted expert on the seeds of the round's kept episodes (the same scenes and
    instructions as the policy's own successes, played the expert's way);
  - `expert-failed`: the expert on the seeds of as many of the round's failed episodes (scenes the policy does not
    solve yet);
  - `own-one-grasp`: only those of the policy's own successes whose gripper closed once (no failed grasp retried
    before the one that succeeded);
  - `own-replanned`: each of the policy's own successes executed again from its seed by the waypoint controller the
    primitive interface and the expert move with, through the pick and place the policy chose (the gripper's pose
    where it closed on the block and where it let go, read from the robot's own state), kept when it still
    succeeds: the policy's decisions, the controller's motion;
  - `own-retried`: the base policy played again on the round's failed scenes with other sampling noise
    (`--retries` episodes, passes over the failed seeds), its successes kept: its own way, on the scenes it failed.
Each fine-tunes exactly as the source run's round 1 did (same steps, the same seed demos beside it). `own` is the
source run's round 1. Each policy is evaluated on the run's fixed seeds and on `--episodes` more training-split
seeds from `--seed`. Finished parts are reused. Table: --out/own_successes.md.

Run: .venv/bin/python bench/own_successes.py --run RUN [--out runs/own_successes] [--episodes 400] [--seed 5000]
         [--variants own expert-solved expert-failed own-one-grasp own-retried] [--retries 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from refinement_weights import BOOKKEEPING, cell, extra_eval, oracle_run, write_table  # noqa: E402
from vla_flywheel import constants as k  # noqa: E402
from vla_flywheel.data.layout import write_json_atomic  # noqa: E402
from vla_flywheel.data.reader import DatasetReader  # noqa: E402
from vla_flywheel.data.writer import DatasetWriter  # noqa: E402
from vla_flywheel.engine.backends import make_backend  # noqa: E402
from vla_flywheel.engine.policy_agent import policy_agent  # noqa: E402
from vla_flywheel.engine.rollout import rollout  # noqa: E402
from vla_flywheel.envs import make_expert  # noqa: E402
from vla_flywheel.flywheel.base import share_base  # noqa: E402
from vla_flywheel.flywheel.config import CONFIG_FILE, RunConfig  # noqa: E402
from vla_flywheel.flywheel.engine import run_flywheel  # noqa: E402
from vla_flywheel.flywheel.judging import Verdict  # noqa: E402
from vla_flywheel.flywheel.layout import RunLayout  # noqa: E402
from vla_flywheel.flywheel.replan import closings, replan  # noqa: E402
from vla_flywheel.flywheel.stages import Envs, load_policy, round_frames, round_writer  # noqa: E402

VARIANTS = ("own", "expert-solved", "expert-failed", "own-one-grasp", "own-replanned", "own-retried")
RETRY_NOISE = 1_000_003  # a retry pass p samples from seed + p * RETRY_NOISE: the same scene, other noise


def kept(episode: dict) -> bool:
    return bool(np.asarray(episode[k.JUDGE_KEEP]).reshape(-1)[0])


def seed_of(episode: dict) -> int:
    return int(np.asarray(episode[k.EPISODE_SEED]).reshape(-1)[0])


def round_seeds(round_data: Path, families: tuple[str, ...]) -> dict[bool, list[tuple[str, int]]]:
    """kept? -> [(family, seed)] of a round's episodes, in their order (episode i was played on families[i % F])."""
    reader = DatasetReader(round_data)
    seeds: dict[bool, list[tuple[str, int]]] = {True: [], False: []}
    for i in range(reader.num_episodes):
        episode = reader.episode(i)
        seeds[kept(episode)].append((families[i % len(families)], seed_of(episode)))
    return seeds


def one_grasp_round(src: RunConfig, dest: Path) -> dict:
    """The source round's kept episodes whose gripper closed once, written as a round of their own."""
    reader = DatasetReader(RunLayout(src.out).round_data(1))
    features = {name: ft for name, ft in reader.features.items() if name not in BOOKKEEPING}
    written = lengths = 0
    with DatasetWriter.create(dest, reader.fps, features, reader.info["robot_type"]) as writer:
        for i in range(reader.num_episodes):
            episode = reader.episode(i)
            if kept(episode) and closings(episode) == 1:
                writer.add_episode({name: episode[name] for name in features}, episode[k.TASK][0])
                written, lengths = written + 1, lengths + len(episode[k.INDEX])
    return {"episodes": written, "kept": written, "mean_length": lengths / max(written, 1)}


def replanned_round(src: RunConfig, dest: Path) -> dict:
    """The source round's kept episodes, each executed again through the pick/place it chose; kept if it succeeds."""
    reader = DatasetReader(RunLayout(src.out).round_data(1))
    envs = Envs(src.interface, one_attempt=True, ee_overrides=src.ee_overrides)
    tried, lengths = 0, []
    try:
        with round_writer(dest, envs(src.families[0])) as writer:
            for i in range(reader.num_episodes):
                episode = reader.episode(i)
                if not kept(episode):
                    continue
                record = replan(envs(src.families[i % len(src.families)]), episode, seed_of(episode), 1)
                if record is None:  # it never grasped
                    continue
                tried += 1
                if record.success:
                    writer.add_episode(round_frames(record, Verdict(1.0, True, np.ones(record.length))), record.task)
                    lengths.append(record.length)
    finally:
        envs.close()
    return {"episodes": len(lengths), "kept": len(lengths), "tried": tried, "mean_length": float(np.mean(lengths))}


_retry_worker: dict = {}


def _init_retry_worker(cfg: RunConfig, policy_dir: str) -> None:
    torch.set_num_threads(1)
    agent = policy_agent(load_policy(Path(policy_dir)), cfg.interface, attempts=1)
    _retry_worker.update(envs=Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides), agent=agent)


class Reseeded:
    """A policy agent whose sampling noise for reset(seed) is drawn from seed + attempt * RETRY_NOISE."""

    def __init__(self, agent, attempt: int):
        self.agent, self.attempt = agent, attempt

    def reset(self, env, seed: int) -> None:
        self.agent.reset(env, seed)
        self.agent.generator.manual_seed(seed + self.attempt * RETRY_NOISE)

    def act(self, env, obs) -> np.ndarray:
        return self.agent.act(env, obs)


def _retry(job: tuple[str, int, int]):
    """(family, seed, pass) -> the base policy's episode on reset(seed), its sampling noise drawn for that pass."""
    family, seed, attempt = job
    agent = Reseeded(_retry_worker["agent"], attempt)
    return rollout(_retry_worker["envs"](family), agent, seed, source="policy", round_index=1)


def retried_round(src: RunConfig, dest: Path, failed: list[tuple[str, int]], budget: int) -> dict:
    """The base policy's successes in `budget` more episodes on the failed scenes (passes 1, 2, ... over them)."""
    jobs = [(*failed[i % len(failed)], 1 + i // len(failed)) for i in range(budget)]
    envs = Envs(src.interface, one_attempt=True)  # only for the dataset's features
    try:
        writer = round_writer(dest, envs(failed[0][0]))
    finally:
        envs.close()
    lengths = []
    backend = make_backend("process", 2, _init_retry_worker, (src, str(RunLayout(src.out).policy(0))))
    with writer, backend:
        for record in tqdm(backend.map(_retry, jobs), total=len(jobs), desc="retries", unit="ep"):
            if record.success:
                writer.add_episode(round_frames(record, Verdict(1.0, True, np.ones(record.length))), record.task)
                lengths.append(record.length)
    return {"episodes": len(lengths), "kept": len(lengths), "tried": budget, "mean_length": float(np.mean(lengths))}


def expert_round(cfg: RunConfig, dest: Path, plays: list[tuple[str, int]]) -> dict:
    """The expert's episodes on `plays`, written as a round whose oracle kept each one that succeeded."""
    envs = Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides)
    lengths, succeeded = [], 0
    try:
        with round_writer(dest, envs(plays[0][0])) as writer:
            for family, seed in plays:
                env = envs(family)
                record = rollout(env, make_expert(env), seed, source="expert", round_index=1)
                verdict = Verdict(float(record.success), record.success, np.full(record.length, float(record.success)))
                writer.add_episode(round_frames(record, verdict), record.task)
                succeeded += record.success
                lengths.append(record.length)
    finally:
        envs.close()
    return {"episodes": len(plays), "kept": int(succeeded), "mean_length": float(np.mean(lengths))}


def prepare(src: RunConfig, out: Path, variant: str, retries: int) -> Path:
    """A one-round run sharing the source run's base, its round 1 replaced by the variant's episodes (once)."""
    done = out / variant / CONFIG_FILE
    if done.exists():
        return done.parent
    cfg = dataclasses.replace(src, out=out / variant, rounds=1, base_from=RunLayout(src.out).root)
    shutil.rmtree(cfg.out, ignore_errors=True)  # a preparation that was killed starts over
    cfg.out.mkdir(parents=True)
    share_base(src.out, cfg)
    seeds = round_seeds(RunLayout(src.out).round_data(1), src.families)
    if variant == "own-one-grasp":
        made = one_grasp_round(src, RunLayout(cfg.out).round_data(1))
    elif variant == "own-replanned":
        made = replanned_round(src, RunLayout(cfg.out).round_data(1))
    elif variant == "own-retried":
        made = retried_round(src, RunLayout(cfg.out).round_data(1), seeds[False], retries)
    else:
        plays = seeds[True] if variant == "expert-solved" else seeds[False][: len(seeds[True])]
        made = expert_round(cfg, RunLayout(cfg.out).round_data(1), plays)
    cfg = dataclasses.replace(cfg, episodes_per_round=made["episodes"])  # the round is complete as written
    write_json_atomic(cfg.out / "round_data.json", made)
    write_json_atomic(cfg.out / CONFIG_FILE, cfg.to_dict())  # last: a run killed before it is prepared again
    return cfg.out


def mean_kept_length(round_data: Path) -> float:
    reader = DatasetReader(round_data)
    lengths = [len(ep[k.INDEX]) for ep in map(reader.episode, range(reader.num_episodes)) if kept(ep)]
    return float(np.mean(lengths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="an oracle-judged run that finished round 1")
    parser.add_argument("--out", type=Path, default=Path("runs/own_successes"))
    parser.add_argument("--episodes", type=int, default=400, help="extra training-split evaluation episodes")
    parser.add_argument("--seed", type=int, default=5000, help="offset of the extra episodes in the fixed seed list")
    parser.add_argument("--retries", type=int, default=1000, help="own-retried: episodes on the failed scenes")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args()
    src, rounds = oracle_run(args.run, "own_successes")
    rows = []
    for variant in args.variants:
        if variant == "own":
            run, record = RunLayout(args.run), rounds[1]
            episodes, n_kept = record["data_added"]["generated"], record["data_added"]["kept"]
        else:
            run = RunLayout(prepare(src, args.out, variant, args.retries))
            record = run_flywheel(resume=run.root, progress=False)[-1]
            made = json.loads((run.root / "round_data.json").read_text())
            episodes, n_kept = made.get("tried", made["episodes"]), made["kept"]
        length = mean_kept_length(run.round_data(1)) if variant == "own" else made["mean_length"]
        extra = extra_eval(run.policy(1), args.out / "eval" / variant, src, args.episodes, args.seed, ("train",))
        standard = record["success"]["overall"]
        ok = sum(g["successes"] for g in extra["groups"])
        n = sum(g["n"] for g in extra["groups"])
        rows.append(f"| {variant} | {n_kept} of {episodes} | {length:.1f} "
                    f"| {cell(standard['successes'], standard['n'])} | {cell(ok, n)} |")  # fmt: skip
        print(rows[-1], flush=True)
    base = rounds[0]["success"]["overall"]
    title = (f"Round 1 of `{args.run}` ({src.interface} {', '.join(src.families)}; base "
             f"{cell(base['successes'], base['n'])} on the run's fixed seeds; {src.seed_demos} seed demos per family, "
             f"{src.round_steps} fine-tuning steps)")  # fmt: skip
    header = ["round 1's data", "kept", "frames per kept episode", "round 1, the run's seeds",
              f"{args.episodes} more, training instructions"]  # fmt: skip
    write_table(args.out / "own_successes.md", title, header, rows)


if __name__ == "__main__":
    main()
