"""Re-execution (`--replan`): a kept ee_delta episode is played again through the pick and place it chose, judged,
and trained on in its place; both are env episodes of the round, and a run killed between them resumes to the
same dataset."""

import json

import numpy as np
import pytest
import torch

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.envs.tabletop.camera import front_camera_homography
from vla_flywheel.envs.tabletop.describe import explanation_corpus
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.judging import Verdict
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed
from vla_flywheel.flywheel.model_checks import check_judge_model
from vla_flywheel.flywheel.replan import Replanned, chosen_pick_place, closings, held, replan
from vla_flywheel.flywheel.replan_check import ReexecutionCheck
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig
from vla_flywheel.models.tokenizer import WordTokenizer

from .conftest import flywheel_cli

EPISODES = 8
ARGS = ["--recipe", "self-train", "--interface", "ee_delta", "--replan", "--seed-demos", "2", "--rounds", "1",
        "--episodes-per-round", str(EPISODES), "--base-steps", "5", "--round-steps", "5", "--max-steps", "30",
        "--eval-episodes", "2", "--eval-workers", "1", "--threads", "1", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def env():
    env = make_env(family="pick_place", interface="ee_delta")
    yield env
    env.close()


def test_the_pick_and_place_read_from_an_experts_record_succeeds_again_and_faster(env):
    for seed in range(3):
        demo = rollout(env, make_expert(env), seed)
        assert demo.success and closings(demo.frames) == 1
        pick = chosen_pick_place(demo.frames)
        again = replan(env, demo.frames, seed, round_index=1)
        assert again.success and again.task == demo.task and again.seed == seed
        assert again.frames[k.SOURCE][0] == "replanned" and again.frames[k.ROUND][0] == 1
        assert again.length <= demo.length + 2  # the expert moves with the same controller
        assert np.abs(pick).max() <= 1


def test_an_episode_that_never_closed_its_gripper_chose_nothing(env):
    demo = rollout(env, make_expert(env), 0)
    frames = {**demo.frames, k.ACTION: np.asarray(demo.frames[k.ACTION]) * [1, 1, 1, 1, 0] - [0, 0, 0, 0, 1]}
    assert closings(frames) == 0 and replan(env, frames, 0, 1) is None


def test_the_gripper_holds_the_block_an_expert_carries_and_nothing_where_it_closes_beside_it(env):
    for seed in range(3):
        demo = rollout(env, make_expert(env), seed)
        assert held(demo.frames)
        beside = chosen_pick_place(demo.frames) + [0.4, 0, 0, 0, 0]  # 10 cm beside the block
        missed = rollout(env, Replanned(beside.clip(-1, 1)), seed)
        assert closings(missed.frames) == 1 and not missed.success and not held(missed.frames)


def _judge(roles: tuple[str, ...]) -> FlywheelJudge:
    """An untrained judge serving `roles` (what it says is not the point where it is used)."""
    torch.manual_seed(0)
    config = JudgeConfig(roles=roles, workspace_homography=front_camera_homography(64).tolist())
    return FlywheelJudge(config, WordTokenizer.from_corpus([*corpus(), *explanation_corpus()])).eval()


def test_the_reexecution_check_rejects_a_grasp_on_nothing_and_otherwise_the_verifier_decides(env):
    demo = rollout(env, make_expert(env), 0)
    beside = chosen_pick_place(demo.frames) + [0.4, 0, 0, 0, 0]
    missed = rollout(env, Replanned(beside.clip(-1, 1)), 0)
    judged = Verdict(0.9, True, np.ones(missed.length))  # a judge fooled by the empty grasp
    for threshold in (0.0, 0.5, 1.0):
        check = ReexecutionCheck(_judge(("explainer", "verifier")), threshold)
        assert not check(missed).passed and check(missed).words == ""  # the fingers met: no words are needed
        decided, _ = check.decide(judged, missed)
        assert not decided.keep and decided.weights.sum() == 0 and decided.score == 0
        held_it = check(demo)  # the expert's carry held the block: L2C decides, on A2L's words for it
        assert held_it.words and 0 < held_it.consistency < 1
        assert held_it.passed == (held_it.consistency > threshold)
        progress = np.linspace(0, 1, demo.length)  # what a critic that did not keep it would weigh its frames
        decided, words = check.decide(Verdict(0.1, False, np.zeros(demo.length), progress=progress), demo)
        assert words == held_it.words and decided.keep == held_it.passed and decided.score == held_it.consistency
        assert np.array_equal(decided.weights, progress if held_it.passed else np.zeros(demo.length))
        check.uniform = True  # --replan-weights uniform: every frame of a kept one weighs 1
        decided, _ = check.decide(Verdict(0.1, False, np.zeros(demo.length), progress=progress), demo)
        assert decided.weights.sum() == (demo.length if held_it.passed else 0)


def _episodes(dataset) -> list[tuple]:
    """(seed, source, replaced, length, judge weight sum) per episode."""
    out = []
    for e in DatasetReader(dataset).iter_episodes():
        seed, replaced = (int(np.asarray(e[name]).ravel()[0]) for name in (k.EPISODE_SEED, k.REPLACED))
        out.append((seed, e[k.SOURCE][0], bool(replaced), len(e[k.ACTION]), float(np.asarray(e[k.JUDGE_WEIGHT]).sum())))
    return out


def test_kept_episodes_are_replaced_by_their_reexecution_within_the_rounds_budget(tmp_path):
    reference = tmp_path / "uninterrupted"
    done = flywheel_cli([*ARGS, "--out", str(reference)], None)
    assert done.returncode == 0, done.stdout + done.stderr
    episodes = _episodes(RunLayout(reference).round_data(1))
    assert len(episodes) == EPISODES  # the round's budget, re-executions included
    played = [e for e in episodes if e[1] == "policy"]
    assert [e[0] for e in played] == [rollout_seed(1, i) for i in range(len(played))]  # seeds in order, none twice
    replaced = [i for i, e in enumerate(episodes) if e[2]]
    assert replaced, "no rollout closed its gripper: nothing was re-executed"
    for i in replaced:  # kept (keep-all), not trained on itself; its re-execution follows on the same seed
        assert episodes[i][4] == 0 and episodes[i + 1][1] == "replanned" and episodes[i + 1][0] == episodes[i][0]
        assert episodes[i + 1][4] == episodes[i + 1][3]  # keep-all trains on every frame
    assert sum(e[1] == "replanned" for e in episodes) == len(replaced)
    last = json.loads(RunLayout(reference).rounds.read_text().splitlines()[-1])
    assert last["budgets"]["spent"]["env_episodes"] == EPISODES
    assert last["data_added"]["replanned"] == last["data_added"]["kept_by_source"]["replanned"] == len(replaced)

    killed = tmp_path / "killed"
    result = flywheel_cli([*ARGS, "--out", str(killed)], "replan.replaced:1")
    assert result.returncode == -9, result.stdout[-2000:] + result.stderr[-2000:]
    assert _episodes(RunLayout(killed).round_data(1))[-1][2]  # killed with a replaced episode waiting
    result = flywheel_cli(["--resume", str(killed), "--no-progress"], None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _episodes(RunLayout(killed).round_data(1)) == episodes


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"recipe": "filtered-bc"}, "--replan re-executes the pick and place of kept ee_delta rollouts"),
        ({"recipe": "pld"}, "--replan re-executes"),
        ({"recipe": "filtered-bc", "interface": "ee_delta", "relabel": True}, "not with --relabel"),
        ({"recipe": "vlac", "families": ("mw/reach-v3",)}, "of tabletop families"),
        ({"recipe": "vlac", "replan_when": "always"}, "replan_when='always' chooses what --replan re-executes"),
    ],
)
def test_replan_outside_tabletop_ee_delta_rollouts_is_one_clear_error(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(out=tmp_path / "run", replan=True, **overrides)


def test_replan_when_without_replan_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="with --replan"):
        RunConfig(out=tmp_path / "run", recipe="vlac", replan_when="held")


def test_a_replan_verifier_without_replan_or_without_lacys_roles_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="checks re-executions; add --replan"):
        RunConfig(out=tmp_path / "run", recipe="vlac", replan_verifier=tmp_path / "judge")
    with pytest.raises(ConfigError, match="replan_weights='uniform' weighs what --replan-verifier keeps"):
        RunConfig(out=tmp_path / "run", recipe="vlac", replan=True, replan_weights="uniform")
    _judge(("critic",)).save_pretrained(tmp_path / "critic")
    cfg = RunConfig(out=tmp_path / "run", recipe="vlac", replan=True, replan_verifier=tmp_path / "critic")
    with pytest.raises(ConfigError, match=r"--replan-verifier .* serves \['critic'\], but the re-execution check"):
        check_judge_model(cfg)
