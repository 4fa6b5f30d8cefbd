"""The `vlaw` recipe runs a whole round: real rollouts, the success classifier trained on them, the world model
post-trained on every real episode, imagined episodes judged and weighted by P(success), the policy fine-tuned on
both; imagined episodes and world-model steps are budgeted apart, and a run killed after its world model or in the
middle of imagining resumes to exactly the uninterrupted run's data."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.errors import ConfigError
from vla_flywheel.eval.seeds import EVAL_SEED_BASE
from vla_flywheel.failpoints import ENV
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout, fidelity_seed, imagined_seed, rollout_seed
from vla_flywheel.flywheel.stages import Envs
from vla_flywheel.flywheel.vlaw import FIDELITY_DRAWS, FIDELITY_FILE, imagined_primitive, imagined_verdict

K, N, WM_STEPS, FIDELITY = 3, 20, 6, 4  # FIDELITY: fresh real episodes of the world-model check (>= 3 strips)
POLICY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": [16, 16], "flow_hidden": 64, "keypoints": 4}
WORLD_MODEL = {
    "batch_size": 4,
    "rollout_steps": 2,
    "warmup_steps": 2,
    "world_model": {"channels": [8, 16, 16], "latent_channels": 8, "dynamics_blocks": 1, "hidden": 32},
}
SETTINGS = dict(recipe="vlaw", seed_demos=2, rounds=1, episodes_per_round=K, base_steps=5, round_steps=5,
                eval_episodes=2, threads=1, eval_workers=1, videos=1, max_steps=20, judge_steps=5,
                imagined_per_round=N, world_model_steps=WM_STEPS, threshold=0.5, policy=POLICY,
                world_model_train=WORLD_MODEL, fidelity_episodes=FIDELITY)  # fmt: skip


@pytest.fixture(scope="module")
def vlaw_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vlaw") / "run"
    return out, run_flywheel(RunConfig(out=out, **SETTINGS), progress=False)


def _first(episode, key):
    return np.asarray(episode[key]).reshape(-1)[0]


def test_imagined_episodes_are_judged_weighted_by_p_and_kept_only_above_alpha(vlaw_run):
    out, rounds = vlaw_run
    run = RunLayout(out)
    imagined = list(DatasetReader(run.imagined_data(1)).iter_episodes())
    assert [int(_first(e, k.EPISODE_SEED)) for e in imagined] == [imagined_seed(1, i) for i in range(N)]
    real_seeds = {rollout_seed(1, i) for i in range(K)} | {fidelity_seed(1, i) for i in range(FIDELITY)}
    assert not real_seeds & {imagined_seed(1, i) for i in range(N)}
    assert all(imagined_seed(1, i) > EVAL_SEED_BASE + 1_000_000 for i in range(N))  # never an evaluation scene
    for e in imagined:
        score, keep = float(_first(e, k.JUDGE_SCORE)), bool(_first(e, k.JUDGE_KEEP))
        weights = np.asarray(e[k.JUDGE_WEIGHT]).reshape(-1)
        assert set(e[k.SOURCE]) == {"imagined"} and keep == (score > 0.5)
        if keep:  # the rows the policy acted on (chunk starts) weigh P; the rows inside a chunk 0
            assert np.allclose(weights[::2], score) and not weights[1::2].any()
        else:
            assert not weights.any()
    for e in DatasetReader(run.round_data(1)).iter_episodes():  # the real ones: the oracle, VLAW's labels at reset
        assert set(e[k.SOURCE]) == {"policy"}
        assert bool(_first(e, k.JUDGE_KEEP)) == bool(np.asarray(e[k.NEXT_SUCCESS]).reshape(-1)[-1])
    train = json.loads((run.policy(1) / "train_config.json").read_text())
    assert str(run.imagined_data(1)) in train["datasets"]  # real successes and imagined ones train the policy
    record = rounds[1]["world_model"]
    assert record["imagined"] == N and record["imagined_kept"] == sum(bool(_first(e, k.JUDGE_KEEP)) for e in imagined)


def test_imagined_episodes_and_world_model_steps_are_budgeted_apart_from_env_episodes(vlaw_run):
    out, rounds = vlaw_run
    spent, limits = rounds[1]["budgets"]["spent"], rounds[1]["budgets"]["limits"]
    assert spent["env_episodes"] == K and spent["imagined_episodes"] == N
    assert spent["world_model_gradient_steps"] == WM_STEPS and spent["judge_gradient_steps"] == 5
    assert limits["imagined_episodes"] == N and limits["world_model_gradient_steps"] == WM_STEPS
    assert rounds[0]["budgets"]["spent"]["imagined_episodes"] == 0


def test_the_report_shows_the_world_model_fidelity_and_imagined_vs_real_strips(vlaw_run):
    out, rounds = vlaw_run
    fidelity = json.loads((RunLayout(out).world_model_eval(1) / FIDELITY_FILE).read_text())
    assert len(fidelity["closed_loop"]) == FIDELITY and fidelity["replay"]["steps"][0] == 2
    replay = fidelity["replay"]  # every fresh episode replayed with FIDELITY_DRAWS grasp draws, each judged
    assert replay["draws"] == FIDELITY_DRAWS and sum(replay["imagined"].values()) == FIDELITY * FIDELITY_DRAWS
    assert len(fidelity["replay"]["psnr"]) == len(fidelity["replay"]["copy_psnr"])
    report = (out / "report.html").read_text()
    assert 'class="plot fidelity-plot"' in report and report.count("class='imagined-strip'") == 3
    assert "steps ahead of copying" in report
    w = rounds[1]["world_model"]
    assert "psnr" in w and "copy_psnr" in w and w["steps"] == len(fidelity["replay"]["steps"])
    assert 0 <= w["steps_ahead"] <= w["steps"] and 0 <= w["steps_ahead_pooled"] <= w["steps"]
    assert w["grasp_odds"] == {} or "held_out_auroc" in w["grasp_odds"]  # {}: too few closings to fit them


def _killed_at(out, failpoint: str, resume: bool) -> None:
    """Run (or resume) the same tiny vlaw run in a process that SIGKILLs itself at `failpoint`."""
    call = f"run_flywheel(resume=Path({str(out)!r}), progress=False)" if resume else (
        f"run_flywheel(RunConfig(out=Path({str(out)!r}), **{SETTINGS!r}), progress=False)")  # fmt: skip
    script = ("from pathlib import Path\nfrom vla_flywheel.flywheel.config import RunConfig\n"
              f"from vla_flywheel.flywheel.engine import run_flywheel\n{call}\n")  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": "egl", ENV: failpoint}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == -9, done.stderr[-2000:]


def test_a_run_killed_after_its_world_model_or_mid_imagination_resumes_to_the_same_data(tmp_path, vlaw_run):
    out, run = tmp_path / "run", RunLayout(tmp_path / "run")
    _killed_at(out, "vlaw.world_model:1", resume=False)
    weights = run.world_model(1) / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"
    trained = weights.read_bytes(), (run.world_model(1) / "metrics.jsonl").read_text()
    assert not run.imagined_data(1).exists()
    _killed_at(out, "vlaw.imagined:5", resume=True)  # mid-way through the first batch of imagined episodes
    assert DatasetReader(run.imagined_data(1)).num_episodes == 5
    rounds = run_flywheel(resume=out, progress=False)
    assert (weights.read_bytes(), (run.world_model(1) / "metrics.jsonl").read_text()) == trained  # not retrained
    assert rounds[1]["budgets"]["spent"]["world_model_gradient_steps"] == WM_STEPS
    uninterrupted = RunLayout(vlaw_run[0])
    for a, b in zip(DatasetReader(run.imagined_data(1)).iter_episodes(),
                    DatasetReader(uninterrupted.imagined_data(1)).iter_episodes(), strict=True):  # fmt: skip
        assert _first(a, k.EPISODE_SEED) == _first(b, k.EPISODE_SEED)
        assert np.array_equal(a[k.ACTION], b[k.ACTION]) and np.allclose(a[k.JUDGE_WEIGHT], b[k.JUDGE_WEIGHT])
    assert rounds[1]["budgets"]["spent"] == vlaw_run[1][1]["budgets"]["spent"]


def test_imagined_verdicts_and_primitives():
    kept, rejected = imagined_verdict(0.9, 0.8, 5, 2), imagined_verdict(0.8, 0.8, 5, 2)
    assert kept.keep and kept.weights.tolist() == [0.9, 0, 0.9, 0, 0.9]
    assert not rejected.keep and not rejected.weights.any()  # P must exceed α
    env = make_env(family="pick_place", interface="ee_delta")
    record = rollout(env, make_expert(env), 3)
    pick, place = imagined_primitive(env, record.frames[k.OBS_STATE], record.frames[k.ACTION])
    env.close()
    assert record.success  # an expert's episode: read off its states, the pick and place are the achieved ones
    assert np.allclose(pick, record.frames[k.PRIMITIVE_PICK][0], atol=0.01)
    assert np.allclose(place, record.frames[k.PRIMITIVE_PLACE][0], atol=0.01)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"imagined_per_round": -1}, r"imagined_per_round=-1 must be an integer in \[0, 100000\]"),
        ({"threshold": 1.0}, r"threshold=1.0 must be in \(0, 1\)"),
        ({"threshold": 0}, r"threshold=0 must be in \(0, 1\)"),
        ({"interface": "primitive"}, "VLAW imagines ee_delta episodes in its world model"),
        ({"judge": "critic"}, "VLAW labels real rollouts with judge=oracle"),
        ({"judge": "success"}, "needs a trained one"),
        ({"world_model_steps": 0}, "world_model_steps=0 must be a positive integer"),
        ({"fidelity_episodes": 0}, "fidelity_episodes=0 must be a positive integer"),
        ({"fidelity_episodes": 20_001}, "fidelity_episodes=20001 must be at most 20000"),
        ({"world_model_train": {"steps": 5}}, "may not set steps"),
        ({"world_model_train": {"batch_sise": 4}}, "did you mean 'batch_size'"),
        ({"world_model_train": {"world_model": {"hiden": 4}}}, "did you mean 'hidden'"),
    ],
)
def test_bad_vlaw_settings_are_refused_before_anything_runs(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(out=tmp_path / "x", recipe="vlaw", **overrides)
    assert not (tmp_path / "x").exists()


def test_vlaw_records_full_videos_whose_last_frames_show_the_outcome(tmp_path):
    """VLAW's classifier judges whole videos, so its ee_delta episodes go on past the success to the horizon (the
    expert parks) and success is the outcome there; the other recipes' episodes still end on their success."""
    vlaw = RunConfig(out=tmp_path / "x", recipe="vlaw")
    assert vlaw.full_videos and not RunConfig(out=tmp_path / "y", recipe="pld").full_videos
    full_env = Envs("ee_delta", one_attempt=True, ee_overrides=vlaw.ee_overrides)("pick_place")
    cut_env = make_env(family="pick_place")
    full, cut = (rollout(env, make_expert(env), seed=0) for env in (full_env, cut_env))
    assert full.success and cut.success and cut.length < full.length == full_env.config.max_steps
    with pytest.raises(ConfigError, match="--full-videos runs ee_delta episodes to the horizon"):
        RunConfig(out=tmp_path / "z", recipe="filtered-bc", full_videos=True)
    saved = {key: value for key, value in vlaw.to_dict().items() if key != "full_videos"}  # a run from before it
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(saved))
    assert not RunConfig.load(tmp_path / "old").full_videos  # resumes as it began: episodes end on their success


def test_a_world_model_stepping_other_chunks_than_the_policy_is_refused_before_the_run_starts(tmp_path):
    cfg = RunConfig(out=tmp_path / "x", recipe="vlaw", world_model_train={"world_model": {"action_chunk": 3}})
    with pytest.raises(ConfigError, match="policy acts in chunks of 2 actions but world_model_train steps 3"):
        run_flywheel(cfg, progress=False)
    with pytest.raises(ConfigError, match="holds no saved world model"):
        run_flywheel(RunConfig(out=tmp_path / "y", recipe="vlaw", world_model=tmp_path / "none"), progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
