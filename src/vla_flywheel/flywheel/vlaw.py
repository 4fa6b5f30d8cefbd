"""VLAW's generate stage for one flywheel round (papers.md §2.2, Algorithm 1): act, post-train the world model,
imagine, judge.

1. Real rollouts: K = `episodes_per_round` episodes of the round's policy, judged by the run's judge (the oracle by
   default: VLAW labels real rollouts at reset; `judge=success` with a trained classifier judges them at α too) and
   written to the round dataset as every recipe's are (`stages.generate_rollouts`).
2. World-model post-training on every real episode so far, failures included (seed demos + rounds 1..r): round 1
   trains from scratch (or continues the config's `world_model`), round r > 1 continues round r-1's, for
   `world_model_steps` gradient steps.
3. Imagination: N = `imagined_per_round` episodes, families in turn, each from the real initial frame of
   `env.reset(imagined_seed(r, i))` (a scene no real rollout or evaluation uses), the policy closed loop in the world
   model for the env's horizon (`engine.imagination`). The success classifier judges the imagined frames; every
   imagined episode is written to `data/round-XXX-imagined/` with `source = imagined`, and the kept ones (P > α)
   carry P as their frame weight. Rows inside an action chunk repeat the chunk's first imagined frame (the policy
   never looks at the others), so only the chunk-start rows, the observations the policy acted on, get the weight;
   the chunk's actions are still its training targets. An imagined episode has no simulator: its `next.success` is
   False, and its `primitive.pick/place` (the pointing head's targets) are read off its own states: where the
   gripper closed and where it opened again.
4. Fidelity (measurement, not training data): `fidelity_episodes` fresh real policy episodes from seeds of their
   own are replayed open loop in the new world model, `FIDELITY_DRAWS` grasp draws each (PSNR/SSIM per step vs
   copying the first frame, VLAW Table 1), and imagined closed loop from the same starts; the classifier's
   P(success) on both and the real outcome go to `eval/world_model/round-XXX/fidelity.json`, with imagined-vs-real
   strips for the report.

The round's update (Algorithm 1's policy post-training) is the engine's ordinary fine-tuning on the seed demos, the
real episodes and the imagined ones, each frame drawn in proportion to its weight: real successes 1, imagined
successes P, everything rejected 0. Every part resumes from disk: real episodes and imagined batches are written
whole, a finished world model (its train_summary.json) and a finished fidelity check are kept.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from vla_flywheel import constants as k
from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.engine.imagination import ImaginedEpisode, imagine
from vla_flywheel.engine.policy_agent import policy_agent
from vla_flywheel.engine.rollout import EpisodeRecord, rollout
from vla_flywheel.errors import ConfigError
from vla_flywheel.failpoints import failpoint
from vla_flywheel.flywheel import stages
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.judging import SuccessJudge, Verdict
from vla_flywheel.flywheel.layout import RunLayout, fidelity_seed, imagined_seed
from vla_flywheel.train.loop import SUMMARY_FILE

SOURCE = "imagined"
IMAGINE_BATCH = 16  # imagined episodes rolled out together (the policy and the world model take batches)
# imagined grasp draws per replayed episode: with one, a check of 8 episodes hinged on a handful of drawn grasps
FIDELITY_DRAWS = 4
STRIPS, STRIP_FRAMES, STRIP_SCALE = 3, 6, 2  # imagined-vs-real strips per round, frames in each, pixel scale
FIDELITY_FILE = "fidelity.json"
TOOL_STATE = ("tcp.x", "tcp.y", "tcp.z", "tcp.yaw")  # the tabletop's state, whose gripper action is index 4


def generate_vlaw(cfg: RunConfig, run: RunLayout, r: int, policy_dir: Path, judge_dir: Path | None,
                  progress: bool) -> dict[str, float]:  # fmt: skip
    timing: dict[str, float] = {}
    if stages.dataset_episodes(run.round_data(r)) < cfg.episodes_per_round:
        timing.update(stages.generate_rollouts(cfg, run, r, policy_dir, judge_dir, progress))
    if not cfg.imagines:
        return timing
    began = time.perf_counter()
    train_classifier(cfg, run, progress)
    timing["train_judge"] = time.perf_counter() - began
    torch.set_num_threads(cfg.threads)
    policy = stages.load_policy(policy_dir)
    began = time.perf_counter()
    post_train(cfg, run, r, policy, progress)
    timing["train_world_model"] = time.perf_counter() - began
    timing.update(imagine_round(cfg, run, r, policy, classifier_dir(cfg, run), progress))
    began = time.perf_counter()
    check_fidelity(cfg, run, r, policy, classifier_dir(cfg, run), progress)
    timing["world_model_fidelity"] = time.perf_counter() - began
    return timing


def to_generate(cfg: RunConfig, run: RunLayout, r: int) -> dict[str, int]:
    """What round r still has to spend beyond its real episodes: imagined episodes and world-model steps."""
    if not cfg.imagines:
        return {}
    steps = 0 if stages.trained(run.world_model(r)) else cfg.world_model_steps
    left = cfg.imagined_per_round - stages.dataset_episodes(run.imagined_data(r))
    fidelity = 0 if (run.world_model_eval(r) / FIDELITY_FILE).exists() else cfg.fidelity_episodes
    return {"world_model_gradient_steps": steps, "imagined_episodes": left, "fidelity_episodes": fidelity}


def spent(run: RunLayout, upto: int) -> dict[str, int]:
    """Imagined episodes and world-model gradient steps of rounds 1..upto (never counted as env episodes)."""
    episodes = steps = 0
    for r in range(1, upto + 1):
        episodes += stages.dataset_episodes(run.imagined_data(r))
        if stages.trained(run.world_model(r)):
            steps += json.loads((run.world_model(r) / SUMMARY_FILE).read_text())["steps"]
    return {"imagined_episodes": episodes, "world_model_gradient_steps": steps}


def training_data(run: RunLayout, r: int) -> list[Path]:
    """The imagined datasets of rounds 1..r, for the round's policy update (next to the real ones)."""
    return [run.imagined_data(i) for i in range(1, r + 1) if stages.dataset_episodes(run.imagined_data(i))]


# ---------------------------------------------------------------------------------------------- classifier
def classifier_dir(cfg: RunConfig, run: RunLayout) -> Path:
    """The success classifier that judges imagined episodes: the given one, or the one round 1 trained."""
    return cfg.judge_model if cfg.judge_model is not None else run.judge(1)


def train_classifier(cfg: RunConfig, run: RunLayout, progress: bool) -> None:
    """VLAW's reward model, trained in the first iteration only: on the seed demos and round 1's real rollouts with
    their success labels (VLAW labels real rollouts at reset; the demos alone hold no failure to learn from)."""
    from vla_flywheel.train.judge_loop import JudgeTrainConfig
    from vla_flywheel.train.judge_loop import train_judge as fit

    out = run.judge(1)
    if cfg.judge_model is not None or stages.trained(out):
        return
    labelled = run.labelled_data(1)
    labelled_copy(run.round_data(1), labelled)
    shutil.rmtree(out, ignore_errors=True)  # judge runs are short: a killed one starts over
    fit(JudgeTrainConfig(data={"success": (run.demos, labelled)}, out=out, steps=cfg.judge_steps, seed=cfg.seed,
                         threads=cfg.threads), progress=progress)  # fmt: skip


def labelled_copy(source: Path, out: Path) -> None:
    """A round dataset without its verdicts (judge training reads a dataset with verdicts as what the judge kept);
    rewritten whole unless complete."""
    from vla_flywheel.data import DatasetReader, DatasetWriter
    from vla_flywheel.data.features import default_features

    reader = DatasetReader(source)
    if stages.dataset_episodes(out) == reader.num_episodes:
        return
    shutil.rmtree(out, ignore_errors=True)
    verdicts = {k.EPISODE_SEED, k.JUDGE_SCORE, k.JUDGE_KEEP, k.JUDGE_WEIGHT, k.JUDGE_EXPLANATION}
    keys = [key for key in reader.features if key not in verdicts and key not in default_features()]
    writer = DatasetWriter.create(out, fps=reader.fps, features={key: reader.features[key] for key in keys},
                                  robot_type=reader.info.get("robot_type"))  # fmt: skip
    with writer:
        for e in reader.iter_episodes():
            writer.add_episode({key: e[key] for key in keys}, e[k.TASK][0])


# ---------------------------------------------------------------------------------------------- world model
def post_train(cfg: RunConfig, run: RunLayout, r: int, policy, progress: bool) -> None:
    """Round r's world model on every real episode so far; a finished one is kept, a killed one starts over."""
    from vla_flywheel.train.world_model_loop import WorldModelTrainConfig, train_world_model

    out = run.world_model(r)
    if stages.trained(out):
        return
    shutil.rmtree(out, ignore_errors=True)  # world-model runs are short: a killed one starts over
    c = policy.config
    overrides = dict(cfg.world_model_train)
    shape = {"action_chunk": min(c.n_action_steps, c.chunk_size), "image_key": c.image_keys[0],
             **overrides.pop("world_model", {})}  # fmt: skip
    init = run.world_model(r - 1) if r > 1 else cfg.world_model
    datasets = (run.demos, *(run.round_data(i) for i in range(1, r + 1)))
    train_world_model(WorldModelTrainConfig(datasets=datasets, out=out, steps=cfg.world_model_steps, seed=cfg.seed + r,
                                            threads=cfg.threads, init_from=init, world_model=shape, **overrides),
                      progress=progress)  # fmt: skip
    failpoint("vlaw.world_model")


def load_world_model(run: RunLayout, r: int):
    from vla_flywheel.models.world_model import FlywheelWorldModel

    return FlywheelWorldModel.from_pretrained(run.world_model(r))


# ---------------------------------------------------------------------------------------------- imagination
def imagined_verdict(score: float, threshold: float, length: int, chunk: int) -> Verdict:
    """Kept when P(success) > α; a kept episode's chunk-start rows weigh P, every other row 0."""
    keep = score > threshold
    weights = np.zeros(length)
    if keep:
        weights[::chunk] = score
    return Verdict(score, keep, weights)


def imagined_primitive(env, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pick (x, y, yaw) and place (x, y) an imagined tabletop episode performed, in normalized coordinates, read
    from its states: the tool where the gripper first closed, and where it opened again (or ended). Zeros when it
    never closed, or off the tabletop, as `env.achieved_primitive` reports an episode that picked nothing."""
    from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF

    zeros = np.zeros(3, np.float32), np.zeros(2, np.float32)
    names = list(getattr(env, "state_names", []))
    if names[:4] != list(TOOL_STATE) or list(env.action_names)[4:5] != ["gripper"]:
        return zeros
    closed = actions[:, 4] > 0
    if not closed.any():
        return zeros
    i = int(np.argmax(closed))
    opened = ~closed[i:]
    j = i + int(np.argmax(opened)) if opened.any() else len(states) - 1
    pick = np.array([*(states[i, :2] / WORKSPACE_HALF), states[i, 3] / (math.pi / 2)], np.float32)
    return pick, (states[j, :2] / WORKSPACE_HALF).astype(np.float32)


def imagined_record(e: ImaginedEpisode, env, image_key: str, r: int, horizon: int) -> EpisodeRecord:
    """An imagined episode as dataset frames, cut to the env's horizon (imagination runs in whole chunks)."""
    t = min(e.length, horizon)
    states, actions = e.states[:t], e.actions[:t]
    pick, place = imagined_primitive(env, states, actions)
    frames = {
        image_key: e.frames[:t],
        k.OBS_STATE: states,
        k.ACTION: actions,
        k.NEXT_REWARD: np.zeros((t, 1), np.float32),
        k.NEXT_DONE: (np.arange(t) == t - 1)[:, None],
        k.NEXT_SUCCESS: np.zeros((t, 1), bool),  # no simulator to ask
        k.SOURCE: [SOURCE] * t,
        k.ROUND: np.full((t, 1), r, np.int64),
        k.EXPLANATION: [""] * t,
        k.PRIMITIVE_PICK: np.repeat(pick[None], t, axis=0),
        k.PRIMITIVE_PLACE: np.repeat(place[None], t, axis=0),
    }
    return EpisodeRecord(frames, e.task, False, t, e.seed)


def imagine_batch(world_model, policy, envs: stages.Envs, families: list[str], seeds: list[int], r: int,
                  noise_seed: int) -> list[EpisodeRecord]:  # fmt: skip
    """One batch of imagined episodes from the real starts env.reset(seed), each cut to its family's horizon."""
    observations = [envs(f).reset(seed=s)[0] for f, s in zip(families, seeds, strict=True)]
    horizons = [int(envs(f).config.max_steps) for f in families]
    episodes = imagine(world_model, policy, observations, max(horizons), seeds, noise_seed)
    key = world_model.config.image_key
    return [imagined_record(e, envs(f), key, r, h) for e, f, h in zip(episodes, families, horizons, strict=True)]


def _check_cameras(world_model, features: dict) -> None:
    cameras = [key for key in features if key.startswith(k.OBS_IMAGES_PREFIX)]
    if cameras != [world_model.config.image_key]:
        raise ConfigError(f"vlaw: the env records {', '.join(cameras)} but the world model imagines only "
                          f"{world_model.config.image_key}; run with that camera alone")  # fmt: skip


def imagine_round(cfg: RunConfig, run: RunLayout, r: int, policy, judge_dir: Path | None,
                  progress: bool) -> dict[str, float]:  # fmt: skip
    """Round r's N imagined episodes, judged and written in batches of IMAGINE_BATCH; a resumed round re-imagines
    the batch it was killed in (same starts, same noise) and writes only what is missing."""
    timing = {"imagine": 0.0, "judge_imagined": 0.0}
    n = cfg.imagined_per_round
    path = run.imagined_data(r)
    if stages.dataset_episodes(path) >= n:
        return timing
    world_model = load_world_model(run, r)
    judge = SuccessJudge(stages.load_judge(judge_dir), cfg.threshold)
    envs = stages.Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides)
    try:
        writer = stages.round_writer(path, envs(cfg.families[0]))
        _check_cameras(world_model, writer.features)
        with writer, tqdm(total=n, initial=writer.num_episodes, desc=f"round {r} imagine+judge", unit="ep",
                          disable=not progress) as bar:  # fmt: skip
            first = writer.num_episodes - writer.num_episodes % IMAGINE_BATCH
            for b in range(first, n, IMAGINE_BATCH):
                began = time.perf_counter()
                index = list(range(b, min(b + IMAGINE_BATCH, n)))
                families = [cfg.families[i % len(cfg.families)] for i in index]
                seeds = [imagined_seed(r, i) for i in index]
                records = imagine_batch(world_model, policy, envs, families, seeds, r, cfg.seed + seeds[0])
                timing["imagine"] += time.perf_counter() - began
                for i, record in zip(index, records, strict=True):
                    if i < writer.num_episodes:
                        continue  # written before the run was killed
                    began = time.perf_counter()
                    score = judge(record).score
                    verdict = imagined_verdict(score, cfg.threshold, record.length, world_model.config.action_chunk)
                    timing["judge_imagined"] += time.perf_counter() - began
                    writer.add_episode(stages.round_frames(record, verdict), record.task)
                    failpoint("vlaw.imagined")
                    bar.update()
    finally:
        envs.close()
    return timing


# ---------------------------------------------------------------------------------------------- fidelity
def _episode(record: EpisodeRecord, image_key: str):
    from vla_flywheel.train.world_model_data import Episode

    f = record.frames
    return Episode(np.asarray(f[image_key]), np.asarray(f[k.OBS_STATE], np.float32),
                   np.asarray(f[k.ACTION], np.float32), record.task, record.success, f"seed {record.seed}")  # fmt: skip


def check_fidelity(cfg: RunConfig, run: RunLayout, r: int, policy, judge_dir: Path | None, progress: bool) -> None:
    """Round r's world model against cfg.fidelity_episodes fresh real episodes: open-loop replay of their actions and
    closed-loop imagination from their starts, judged like the training data. Measurement only; redone whole when
    it did not finish (it depends only on the policy and the world model)."""
    from vla_flywheel.eval.world_model_fidelity import evaluate_fidelity

    out = run.world_model_eval(r)
    if (out / FIDELITY_FILE).exists():
        return
    world_model, judge_model = load_world_model(run, r), stages.load_judge(judge_dir)
    judge, key = SuccessJudge(judge_model, cfg.threshold), world_model.config.image_key
    families = [cfg.families[i % len(cfg.families)] for i in range(cfg.fidelity_episodes)]
    seeds = [fidelity_seed(r, i) for i in range(cfg.fidelity_episodes)]
    envs = stages.Envs(cfg.interface, one_attempt=True, ee_overrides=cfg.ee_overrides)
    try:
        agent = policy_agent(policy, cfg.interface, attempts=1)
        real = [rollout(envs(f), agent, s, source="policy", round_index=r)
                for f, s in tqdm(list(zip(families, seeds, strict=True)), desc=f"round {r} world-model fidelity",
                                 unit="ep", disable=not progress)]  # fmt: skip
        imagined = imagine_batch(world_model, policy, envs, families, seeds, r, cfg.seed + seeds[0])
    finally:
        envs.close()
    replay = evaluate_fidelity(world_model, [_episode(e, key) for e in real], judge_model, cfg.threshold,
                               draws=FIDELITY_DRAWS)  # fmt: skip
    closed = [{"seed": a.seed, "task": a.task, "success": a.success, "p_real": judge(a).score,
               "p_imagined": judge(b).score} for a, b in zip(real, imagined, strict=True)]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    strips = []
    for n, (a, b, c) in enumerate(zip(real[:STRIPS], imagined, closed, strict=False)):
        write_strip(a, b, c, key, out / f"strip_{n:02d}.png")
        strips.append(f"strip_{n:02d}.png")
    write_json_atomic(out / FIDELITY_FILE, {"world_model": str(run.world_model(r)), "threshold": cfg.threshold,
                                            "replay": replay.to_dict(), "closed_loop": closed,
                                            "strips": strips})  # fmt: skip


def write_strip(real: EpisodeRecord, imagined: EpisodeRecord, scores: dict, image_key: str, path: Path) -> None:
    """Two rows of STRIP_FRAMES frames at the same steps: the real episode above, the imagined one below."""
    a, b = np.asarray(real.frames[image_key]), np.asarray(imagined.frames[image_key])
    steps = np.unique(np.linspace(0, min(len(a), len(b)) - 1, STRIP_FRAMES).round().astype(int))
    size, step = a.shape[1] * STRIP_SCALE, a.shape[1] * STRIP_SCALE + 4  # 4 px between frames
    truth = "success" if scores["success"] else "failure"
    labels = [f"real, seed {real.seed}: {truth}, P(success) {scores['p_real']:.2f}",
              f"imagined from the same start: P(success) {scores['p_imagined']:.2f}"]  # fmt: skip
    sheet = Image.new("RGB", (len(steps) * step, 2 * (size + 28) + 16), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), real.task, fill=(0, 0, 0))
    for row, (frames, label) in enumerate(zip((a, b), labels, strict=True)):
        top = 16 + row * (size + 28)
        draw.text((4, top), label, fill=(0, 0, 0))
        for col, t in enumerate(steps):
            sheet.paste(Image.fromarray(frames[t]).resize((size, size), Image.NEAREST), (col * step, top + 14))
            if row:
                draw.text((col * step + 4, top + size + 14), f"t={t}", fill=(0, 0, 0))
    sheet.save(path)


def round_record(cfg: RunConfig, run: RunLayout, r: int) -> dict:
    """rounds.jsonl's `world_model` entry: imagined episodes generated and kept, and the world model's fidelity."""
    if not cfg.imagines:
        return {}
    from vla_flywheel.data import DatasetReader
    from vla_flywheel.eval.world_model_fidelity import Fidelity

    scores, kept = [], 0
    if stages.dataset_episodes(run.imagined_data(r)):
        for e in DatasetReader(run.imagined_data(r)).iter_episodes():
            scores.append(float(np.asarray(e[k.JUDGE_SCORE]).reshape(-1)[0]))
            kept += bool(np.asarray(e[k.JUDGE_KEEP]).reshape(-1)[0])
    record = {"imagined": len(scores), "imagined_kept": kept,
              "imagined_mean_score": float(np.mean(scores)) if scores else None}  # fmt: skip
    if stages.trained(run.world_model(r)):  # the grasp odds fitted to the round's real closings: how well they rank
        record["grasp_odds"] = json.loads((run.world_model(r) / SUMMARY_FILE).read_text()).get("grasp_odds", {})
    path = run.world_model_eval(r) / FIDELITY_FILE
    if path.exists():
        f = json.loads(path.read_text())
        fidelity, closed = Fidelity.from_dict(f["replay"]), f["closed_loop"]
        record.update({
            "fidelity_episodes": len(closed),
            **{name: fidelity.mean(name) for name in ("psnr", "copy_psnr", "ssim", "copy_ssim")},
            "steps": len(fidelity.steps), "steps_ahead": fidelity.steps_ahead(),
            "steps_ahead_pooled": fidelity.steps_ahead(pooled=True),
            "real_success": float(np.mean([c["success"] for c in closed])),
            "imagined_judged_success": float(np.mean([c["p_imagined"] > cfg.threshold for c in closed])),
            "real_judged_success": float(np.mean([c["p_real"] > cfg.threshold for c in closed])),
        })  # fmt: skip
    return record
