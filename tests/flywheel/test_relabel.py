"""Hindsight relabelling in a round: what the judge rejected is kept for the instruction that says what it did."""

import json

import numpy as np
import pytest

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.engine.rollout import rollout
from vla_flywheel.envs import make_env, make_expert
from vla_flywheel.envs.tabletop.experts import ExpertNoise
from vla_flywheel.envs.tabletop.language import is_heldout_combination
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.relabel import relabel

from .conftest import TINY


@pytest.fixture(scope="module")
def near_misses():
    """Expert pick_place episodes sent to the wrong pad: failures that did something an instruction can say."""
    env = make_env(family="pick_place", interface="primitive", max_steps=1)
    try:
        return [rollout(env, make_expert(env, ExpertNoise(wrong_target=1.0)), seed) for seed in range(6)]
    finally:
        env.close()


def test_the_simulator_relabels_a_near_miss_to_the_pad_it_reached(near_misses):
    moved = [r for r in near_misses if r.achieved]
    assert moved and all(not r.success for r in near_misses)
    for record in moved:
        out = relabel(record, "pick_place", None)
        assert out.task == record.achieved[0] and out.task != record.task and out.success
        assert bool(np.asarray(out.frames[k.NEXT_SUCCESS]).ravel()[-1])
        assert out.frames[k.ACTION] is record.frames[k.ACTION]  # the same episode, only its instruction changes


def test_an_explainers_words_relabel_with_the_simulators_truth_beside_them(near_misses):
    record = next(r for r in near_misses if r.achieved)
    right = relabel(record, "pick_place", record.frames[k.EXPLANATION][-1])
    assert right.task == record.achieved[0] and right.success
    colour = record.achieved[0].split()[2]
    pad = next(c for c in ("red", "blue", "green", "white") if c not in record.achieved[0]
               and not is_heldout_combination("pick_place", colour, c))  # fmt: skip
    wrong = relabel(record, "pick_place", f"put the {colour} block on the {pad} pad")  # an explainer's mistake
    assert wrong.task == f"put the {colour} block on the {pad} pad" and not wrong.success
    assert relabel(record, "pick_place", "pick up nothing and move to the center of the table") is None
    assert relabel(record, "stack", record.frames[k.EXPLANATION][-1]) is None
    assert relabel(record, "mw/reach-v3", None) is None


def test_a_relabelling_round_keeps_rejected_episodes_for_what_they_did(filtered_bc_run, tmp_path):
    out = tmp_path / "relabel"
    rounds = run_flywheel(RunConfig(out=out, base_from=filtered_bc_run, relabel=True,
                                    **{**TINY, "episodes_per_round": 40}), progress=False)  # fmt: skip
    relabelled = 0
    for e in DatasetReader(RunLayout(out).round_data(1)).iter_episodes():
        task, asked = e[k.TASK][0], e[k.TASK_ASKED][0]
        keep = bool(np.asarray(e[k.JUDGE_KEEP]).ravel()[0])
        success = bool(np.asarray(e[k.NEXT_SUCCESS]).ravel()[-1])
        assert keep == success  # the oracle relabels only to what the simulator says happened
        if task != asked:
            relabelled += 1
            colour, pad = task.split()[2], task.split()[6]
            assert keep and not is_heldout_combination("pick_place", colour, pad)
    assert relabelled >= 1
    added = rounds[-1]["data_added"]
    assert added["relabelled"] == added["relabelled_true"] == relabelled and rounds[-1]["judge_quality"]["fp"] == 0
    plain = json.loads((filtered_bc_run / "rounds.jsonl").read_text().splitlines()[-1])["data_added"]
    assert plain["relabelled"] == 0


def test_relabelling_needs_a_judge_that_can_say_what_happened(tmp_path):
    with pytest.raises(ConfigError, match="--relabel needs"):
        RunConfig(out=tmp_path / "x", recipe="vlac", relabel=True)
