"""LACY's cycle: candidates voted by the meaning of their explanations, the least confident scenes acted on, L2C's
verdict recorded and the explainer and verifier refreshed on what they kept."""

import json

import numpy as np
import pytest

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.lacy import Proposal, least_confident, meaning_key
from vla_flywheel.flywheel.layout import RunLayout

from .conftest import TINY


def test_votes_count_meanings_not_wordings():
    assert meaning_key("the red block on the blue pad") == meaning_key("the red block on the blue pad")
    assert meaning_key("the red block on the blue pad") != meaning_key("the green block on the blue pad")
    assert meaning_key("gibberish words") == ("unparsed", "gibberish words")


def test_least_confident_scenes_are_chosen():
    pool = [Proposal("pick_place", s, [0.0] * 5, "", a, 0.5) for s, a in [(1, 1.0), (2, 0.25), (3, 0.5), (4, 0.25)]]
    assert [p.seed for p in least_confident(pool, 2)] == [2, 4]


@pytest.fixture(scope="module")
def lacy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flywheel") / "lacy"
    run_flywheel(RunConfig(out=out, recipe="lacy", judge_steps=60, judge_round_steps=20, lacy_pool=2, lacy_samples=6,
                           **TINY), progress=False)  # fmt: skip
    return RunLayout(out)


def test_lacy_acts_on_its_proposals_and_records_the_verifiers_verdict(lacy_run):
    proposals = json.loads(lacy_run.proposals(1).read_text())
    assert len(proposals) == TINY["episodes_per_round"]
    assert all(1 / 6 <= p["agreement"] <= 1 and 0 <= p["consistency"] <= 1 and p["explanation"] for p in proposals)
    episodes = list(DatasetReader(lacy_run.round_data(1)).iter_episodes())
    assert len(episodes) == len(proposals)
    for e, p in zip(episodes, proposals, strict=True):
        assert np.allclose(e[k.ACTION][0], p["action"], atol=1e-6)  # the voted candidate is what was executed
        assert e[k.JUDGE_EXPLANATION][0] == p["explanation"]
        assert bool(np.asarray(e[k.JUDGE_KEEP]).ravel()[0]) == (p["consistency"] > 0.8)


def test_the_explainer_and_verifier_are_refreshed_each_round(lacy_run):
    summary = json.loads((lacy_run.judge(1) / "train_summary.json").read_text())
    assert summary["steps"] == 20 and summary["roles"] == ["explainer", "verifier"]
    rounds = [json.loads(x) for x in lacy_run.rounds.read_text().splitlines()]
    assert rounds[1]["budgets"]["spent"]["judge_gradient_steps"] == 80
    assert "propose" in rounds[1]["seconds"]
