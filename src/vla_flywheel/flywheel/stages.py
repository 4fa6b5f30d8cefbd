"""The stages of a flywheel round, each resumable: it looks at what is already on disk and does only the rest.

- seed demos: scripted-expert episodes, appended until the planned count is there.
- generate + judge: episodes are judged as they are collected and written whole with their verdict (an episode is
  in the dataset completely or not at all), so a killed run continues from the next seed: nothing lost, nothing
  counted twice.
- train: a policy (or judge) training run per round; a killed one continues from its last checkpoint.
- evaluate: fixed seeds; rerun from scratch if it did not finish (its result depends only on the policy).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader, DatasetWriter, feature
from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.engine.policy_agent import policy_agent
from vla_flywheel.engine.rollout import EpisodeRecord, dataset_features, rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.failpoints import failpoint
from vla_flywheel.flywheel.config import JUDGE_ROLES, RunConfig
from vla_flywheel.flywheel.judging import Verdict, make_judge
from vla_flywheel.flywheel.lacy import FixedAction, Proposal, least_confident, propose
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed
from vla_flywheel.flywheel.relabel import hindsight
from vla_flywheel.flywheel.replan import held, replan, replan_resume_point
from vla_flywheel.flywheel.replan_check import ReexecutionCheck
from vla_flywheel.report.episode_view import write_gif
from vla_flywheel.train.checkpoint import CHECKPOINTS_DIR, PRETRAINED_DIR, has_checkpoint
from vla_flywheel.train.loop import SUMMARY_FILE

PREVIEW_DIR = "preview"


def round_features(env, relabel: bool = False, replan: bool = False) -> dict:
    """A round dataset's features: the usual ones plus the episode's seed and the judge's verdict (and, with
    hindsight relabelling, the instruction each episode was played for; with re-execution, whether its
    re-execution is trained on in its place)."""
    return {
        **dataset_features(env),
        k.EPISODE_SEED: feature("int64", [1]),
        k.JUDGE_SCORE: feature("float32", [1]),
        k.JUDGE_KEEP: feature("bool", [1]),
        k.JUDGE_WEIGHT: feature("float32", [1]),
        k.JUDGE_EXPLANATION: feature("string", [1]),
        **({k.TASK_ASKED: feature("string", [1])} if relabel else {}),
        **({k.REPLACED: feature("bool", [1])} if replan else {}),
    }


def round_frames(record: EpisodeRecord, verdict: Verdict, explanation: str = "", asked: str | None = None,
                 replaced: bool | None = None) -> dict:  # fmt: skip
    t = record.length
    return {
        **record.frames,
        k.EPISODE_SEED: np.full((t, 1), record.seed, np.int64),
        k.JUDGE_SCORE: np.full((t, 1), verdict.score, np.float32),
        k.JUDGE_KEEP: np.full((t, 1), verdict.keep),
        k.JUDGE_WEIGHT: np.asarray(verdict.weights, np.float32).reshape(t, 1),
        k.JUDGE_EXPLANATION: [explanation] * t,
        **({} if asked is None else {k.TASK_ASKED: [asked] * t}),
        **({} if replaced is None else {k.REPLACED: np.full((t, 1), replaced)}),
    }


class Envs:
    """One env per family, made on first use: rounds act once per episode (a primitive episode is one pick/place)."""

    def __init__(self, interface: str, one_attempt: bool, ee_overrides: dict | None = None):
        self.interface, self.one_attempt, self._envs = interface, one_attempt, {}
        self.ee_overrides = ee_overrides or {}  # RunConfig.ee_overrides: horizon, full videos

    def __call__(self, family: str):
        if family not in self._envs:
            if self.interface == "primitive":
                extra = {"max_steps": 1} if self.one_attempt else {}
            else:
                extra = self.ee_overrides
            self._envs[family] = make_env(family=family, interface=self.interface, **extra)
        return self._envs[family]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()


def round_writer(path: Path, env, relabel: bool = False, replan: bool = False) -> DatasetWriter:
    if (path / "meta" / "info.json").exists():
        return DatasetWriter.open(path)
    features = round_features(env, relabel, replan)
    return DatasetWriter.create(path, fps=env.config.control_hz, features=features, robot_type=env.robot_type)


def write_preview(path: Path, index: int, record: EpisodeRecord, verdict: Verdict, explanation: str) -> None:
    """A GIF of the episode (plus the frame after its last action) and what the judge said, for the report."""
    key = next(key for key in record.frames if key.startswith(k.OBS_IMAGES_PREFIX))
    frames = np.asarray(record.frames[key])
    if record.final_images:
        frames = np.concatenate([frames, record.final_images[key][None]])
    out = path / PREVIEW_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_gif(frames, record.task, out / f"episode_{index:06d}.gif")
    info = {"episode": index, "seed": record.seed, "task": record.task, "success": record.success,
            "judge_score": verdict.score, "judge_keep": verdict.keep, "explanation": explanation,
            "env_explanation": record.frames[k.EXPLANATION][-1], "values": verdict.values}  # fmt: skip
    write_json_atomic(out / f"episode_{index:06d}.json", info)


def collect_demos(cfg: RunConfig, run: RunLayout, progress: bool) -> int:
    """Seed demos: `seed_demos` scripted-expert episodes per family (seeds 0, 1, ... per family)."""
    plan = [(family, j) for family in cfg.families for j in range(cfg.seed_demos)]
    envs = Envs(cfg.interface, one_attempt=False, ee_overrides=cfg.ee_overrides)
    try:
        writer = round_writer(run.demos, envs(cfg.families[0]))
        with writer:
            for family, j in tqdm(plan[writer.num_episodes :], desc="seed demos", unit="ep", disable=not progress):
                record = rollout(envs(family), make_expert(envs(family)), cfg.seed * 1000 + j, source="expert")
                writer.add_episode(round_frames(record, Verdict(1.0, True, np.ones(record.length))), record.task)
                failpoint("demos.episode")
    finally:
        envs.close()
    return len(plan)


def pretrained(policy_dir: Path) -> Path:
    """A round's policy training run -> its last pretrained_model directory."""
    return policy_dir / CHECKPOINTS_DIR / "last" / PRETRAINED_DIR


def load_policy(policy_dir: Path):
    from vla_flywheel.models.policy import FlywheelPolicy

    return FlywheelPolicy.from_pretrained(pretrained(policy_dir))


def load_judge(judge_dir: Path | None):
    if judge_dir is None:
        return None
    from vla_flywheel.models.judges import FlywheelJudge

    return FlywheelJudge.from_pretrained(judge_dir)


_round_worker: dict = {}  # a rollout worker's envs and agent (module level: backends call workers by reference)


def _init_round_worker(interface: str, policy_dir: str, ee_overrides: dict | None = None) -> None:
    """A rollout worker: the round's policy, loaded once, and one env per family."""
    torch.set_num_threads(1)  # batch-1 inference next to rendering: one thread is fastest
    agent = policy_agent(load_policy(Path(policy_dir)), interface, attempts=1)
    _round_worker.update(envs=Envs(interface, one_attempt=True, ee_overrides=ee_overrides), agent=agent)


def _act(job: tuple[str, int, int]) -> EpisodeRecord:
    """(family, seed, round) -> the episode the policy plays from env.reset(seed)."""
    family, seed, r = job
    return rollout(_round_worker["envs"](family), _round_worker["agent"], seed, source="policy", round_index=r)


def _close_round_worker() -> None:
    """Close the envs of the in-process worker, if this process was the worker."""
    envs = _round_worker.pop("envs", None)
    if envs is not None:
        envs.close()
    _round_worker.clear()


def generate_rollouts(cfg: RunConfig, run: RunLayout, r: int, policy_dir: Path, judge_dir: Path | None,
                      progress: bool) -> dict[str, float]:  # fmt: skip
    """Round r's autonomous episodes: the last policy acts on `workers` (whole episodes each), the judge gives each a
    verdict here, and they are written in seed order, so a killed round resumes at the first unwritten seed.

    With `replan`, a kept episode (with replan_when="held", also one whose gripper held something) is followed by
    its re-execution (flywheel/replan.py), judged the same way and trained on in its place; both count as env
    episodes of the round, which ends at `episodes_per_round`."""
    from vla_flywheel.engine.backends import make_backend, resolve_backend

    timing = {"generate": 0.0, "judge": 0.0}
    judge = make_judge(cfg.judge, load_judge(judge_dir), cfg.threshold)
    check = None
    if cfg.replan_verifier is not None:
        check = ReexecutionCheck(load_judge(cfg.replan_verifier), cfg.threshold, cfg.replan_weights == "uniform")
    path = run.round_data(r)
    families = cfg.families
    envs = Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides)  # features; re-executions
    began = time.perf_counter()
    try:
        writer = round_writer(path, envs(families[0]), cfg.relabel, cfg.replan)
        with writer:
            acted, pending = replan_resume_point(path) if cfg.replan else (writer.num_episodes, None)

            def write(record: EpisodeRecord, verdict: Verdict, asked: str | None = None,
                      replaced: bool | None = None, words: str = "") -> None:  # fmt: skip
                if writer.num_episodes < cfg.videos:
                    write_preview(path, writer.num_episodes, record, verdict, words)
                writer.add_episode(round_frames(record, verdict, words, asked, replaced), record.task)

            def judge_and_write(again: EpisodeRecord) -> None:  # a re-execution, after the episode it replaces
                judged = time.perf_counter()
                verdict, words = judge(again), ""
                if check is not None:
                    verdict, words = check.decide(verdict, again)
                timing["judge"] += time.perf_counter() - judged
                write(again, verdict, replaced=False, words=words)

            if pending is not None:  # killed between a kept episode and its re-execution
                seed = int(np.asarray(pending[k.EPISODE_SEED]).reshape(-1)[0])
                judge_and_write(replan(envs(families[(acted - 1) % len(families)]), pending, seed, r))
            left = cfg.episodes_per_round - writer.num_episodes
            jobs = [(families[i % len(families)], rollout_seed(r, i), r) for i in range(acted, acted + left)]
            backend = make_backend(resolve_backend(cfg.backend, cfg.workers, "run"), cfg.workers, _init_round_worker,
                                   (cfg.interface, str(policy_dir), cfg.ee_overrides))  # fmt: skip
            try:
                with backend, tqdm(total=cfg.episodes_per_round, initial=writer.num_episodes, unit="ep",
                                   desc=f"round {r} act+judge", disable=not progress) as bar:  # fmt: skip
                    for i, record in enumerate(backend.map(_act, jobs), acted):
                        failpoint("rollout.acted")
                        judged = time.perf_counter()
                        verdict = judge(record)
                        timing["judge"] += time.perf_counter() - judged
                        failpoint("judge.verdict")
                        family = families[i % len(families)]
                        record, verdict, asked = hindsight(cfg.relabel, record, verdict, family)
                        again = None
                        chosen = verdict.keep or (cfg.replan_when == "held" and held(record.frames))
                        if cfg.replan and chosen and cfg.episodes_per_round - writer.num_episodes >= 2:
                            again = replan(envs(family), record.frames, record.seed, r)  # None: it never grasped
                        if again is None:
                            write(record, verdict, asked, False if cfg.replan else None)
                        else:
                            write(record, replace(verdict, weights=np.zeros(record.length)), replaced=True)
                            failpoint("replan.replaced")
                            judge_and_write(again)
                        bar.update(writer.num_episodes - bar.n)
                        if writer.num_episodes >= cfg.episodes_per_round:
                            break
            finally:
                _close_round_worker()
    finally:
        envs.close()
    timing["generate"] = time.perf_counter() - began - timing["judge"]  # acting (on the workers) and writing
    return timing


def generate_lacy(cfg: RunConfig, run: RunLayout, r: int, policy_dir: Path, judge_dir: Path | None,
                  progress: bool) -> dict[str, float]:  # fmt: skip
    """Round r of LACY: propose on a pool of scenes, act on the least confident, keep what L2C finds consistent.

    The proposals are saved before anything is executed, so a resumed round acts on the same scenes.
    """
    timing = {"propose": 0.0, "generate": 0.0, "judge": 0.0}
    torch.set_num_threads(1)
    policy, model = load_policy(policy_dir), load_judge(judge_dir)
    envs = Envs(cfg.interface, one_attempt=True)
    try:
        if run.proposals(r).exists():
            chosen = [Proposal(**p) for p in json.loads(run.proposals(r).read_text())]
        else:
            began, pool = time.perf_counter(), []
            for i in tqdm(range(cfg.lacy_pool * cfg.episodes_per_round), desc=f"round {r} propose", unit="scene",
                          disable=not progress):  # fmt: skip
                family = cfg.families[i % len(cfg.families)]
                pool.append(propose(policy, model, envs(family), family, rollout_seed(r, i), cfg.lacy_samples))
            chosen = least_confident(pool, cfg.episodes_per_round)
            write_json_atomic(run.proposals(r), [p.to_dict() for p in chosen])
            failpoint("lacy.proposed")
            timing["propose"] = time.perf_counter() - began
        path = run.round_data(r)
        writer = round_writer(path, envs(cfg.families[0]), cfg.relabel)
        with writer:
            start = writer.num_episodes
            for i in tqdm(range(start, len(chosen)), desc=f"round {r} act", unit="ep", disable=not progress):
                p = chosen[i]
                began = time.perf_counter()
                record = rollout(envs(p.family), FixedAction(p.action), p.seed, source="policy", round_index=r)
                if cfg.judge == "oracle":
                    verdict = make_judge("oracle", None, cfg.threshold)(record)
                else:  # the verifier decided before acting; acting only measures it
                    keep = p.consistency > cfg.threshold
                    verdict = Verdict(p.consistency, keep, np.full(record.length, float(keep)))
                words = None if cfg.judge == "oracle" else p.explanation
                record, verdict, asked = hindsight(cfg.relabel, record, verdict, p.family, words)
                writer.add_episode(round_frames(record, verdict, p.explanation, asked), record.task)
                if i < cfg.videos:
                    write_preview(path, i, record, verdict, p.explanation)
                timing["generate"] += time.perf_counter() - began  # acting and writing the episode
    finally:
        envs.close()
    return timing


def trained(run_dir: Path) -> bool:
    return (run_dir / SUMMARY_FILE).exists()


def train_policy(cfg: RunConfig, run_dir: Path, datasets: list[Path], steps: int, init: Path | None,
                 progress: bool) -> None:  # fmt: skip
    """A policy training run in `run_dir`; continues from its last checkpoint when one is there."""
    from vla_flywheel.train.config import TrainConfig
    from vla_flywheel.train.loop import train

    if has_checkpoint(run_dir):
        train(resume=run_dir, progress=progress)
        return
    shutil.rmtree(run_dir, ignore_errors=True)  # killed before its first checkpoint: start over
    init_from = None if init is None else init / CHECKPOINTS_DIR / "last" / PRETRAINED_DIR
    lr = 3e-4 if init is not None else 1e-3  # fine-tuning continues gently from where the last round ended
    train(TrainConfig(datasets=tuple(datasets), out=run_dir, steps=steps, lr=lr, warmup_steps=min(100, steps // 10),
                      seed=cfg.seed, threads=cfg.threads, save_every=max(steps // 4, 50), init_from=init_from,
                      policy=dict(cfg.policy)), progress=progress)  # fmt: skip


def train_judge(cfg: RunConfig, run_dir: Path, datasets: list[Path], steps: int, init: Path | None,
                progress: bool) -> None:  # fmt: skip
    """A judge for the run's learned judge, on the seed demos (and, when refreshed, what it kept since)."""
    from vla_flywheel.train.judge_loop import JudgeTrainConfig
    from vla_flywheel.train.judge_loop import train_judge as fit

    if trained(run_dir):
        return
    if (run_dir / CHECKPOINTS_DIR).exists():  # judge runs are short: a killed one starts over
        shutil.rmtree(run_dir)
    roles = JUDGE_ROLES[cfg.judge]
    fit(JudgeTrainConfig(data={role: tuple(datasets) for role in roles}, out=run_dir, steps=steps, seed=cfg.seed,
                         threads=cfg.threads, init_from=init), progress=progress)  # fmt: skip


def evaluate_policy(cfg: RunConfig, policy_dir: Path, out: Path, progress: bool) -> dict:
    from vla_flywheel.eval.evaluate import EVAL_INFO_FILE, EvalConfig, evaluate

    if (out / EVAL_INFO_FILE).exists():
        return json.loads((out / EVAL_INFO_FILE).read_text())
    return evaluate(EvalConfig(policy=policy_dir, out=out, families=cfg.families, splits=cfg.eval_splits,
                               episodes=cfg.eval_episodes, workers=cfg.eval_workers, threads=1,
                               videos=min(cfg.videos, 2), max_steps=cfg.max_steps,
                               full_videos=cfg.full_videos), progress=progress)  # fmt: skip


def dataset_episodes(path: Path) -> int:
    return DatasetReader(path).num_episodes if (path / "meta" / "info.json").exists() else 0
