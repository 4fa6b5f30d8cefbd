"""A whole flywheel run: rounds.jsonl, provenance in the round dataset, the oracle's verdicts, budgets, compare."""

import json

import numpy as np
import pytest

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.compare import compare_lines, compare_markdown
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed

from .conftest import TINY


def test_rounds_jsonl_has_every_round_with_ci_budgets_judge_times_and_memory(filtered_bc_run):
    lines = [json.loads(x) for x in (filtered_bc_run / "rounds.jsonl").read_text().splitlines()]
    assert [r["round"] for r in lines] == [0, 1]
    for r in lines:
        s = r["success"]["pick_place/train"]
        assert s["n"] == TINY["eval_episodes"] and 0 <= s["ci95"][0] <= s["rate"] <= s["ci95"][1] <= 1
        assert {"train", "evaluate"} <= set(r["seconds"])
        assert 100 < r["memory"]["peak_rss_mb"] < 8000 and r["memory"]["rss_mb"] <= r["memory"]["peak_rss_mb"]
    last = lines[-1]
    assert last["budgets"]["spent"] == {"seed_demos": 4, "env_episodes": 12, "gradient_steps": 90,
                                        "judge_gradient_steps": 0, "rl_env_steps": 0, "rl_episodes": 0}  # fmt: skip
    assert last["data_added"]["generated"] == 12
    q = last["judge_quality"]
    assert q["fp"] == 0 and q["fn"] == 0  # the oracle is the truth
    assert {"generate", "judge"} <= set(last["seconds"])


def test_round_data_carries_provenance_and_the_oracle_keeps_only_successes(filtered_bc_run):
    reader = DatasetReader(RunLayout(filtered_bc_run).round_data(1))
    seeds = []
    for e in reader.iter_episodes():
        assert set(e[k.SOURCE]) == {"policy"} and set(np.asarray(e[k.ROUND]).ravel()) == {1}
        success = bool(np.asarray(e[k.NEXT_SUCCESS]).ravel()[-1])
        assert bool(np.asarray(e[k.JUDGE_KEEP]).ravel()[0]) == success
        assert (np.asarray(e[k.JUDGE_WEIGHT]).ravel() > 0).all() == success
        seeds.append(int(np.asarray(e[k.EPISODE_SEED]).ravel()[0]))
    assert seeds == [rollout_seed(1, i) for i in range(12)]


def test_report_and_compare_are_written(filtered_bc_run):
    html = (filtered_bc_run / "report.html").read_text()
    assert "success-plot" in html and "judge-confusion" in html and "data:image/gif;base64" in html
    table = compare_lines([filtered_bc_run, filtered_bc_run])
    assert len(table) == 4 and "filtered-bc" in table[2] and "oracle" in table[2]
    markdown = compare_markdown([filtered_bc_run])
    assert len(markdown) == 3 and markdown[2].count(" | ") == len(markdown[0].split(" | ")) - 1


def test_a_plan_over_budget_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="budget is 100"):
        RunConfig(out=tmp_path / "x", rounds=2, episodes_per_round=60, budget_env_episodes=100)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"recipe": "nope"}, "unknown recipe"),
        ({"recipe": "lacy", "interface": "ee_delta"}, "LACY proposals need interface=primitive"),
        ({"recipe": "filtered-bc", "judge": "critic"}, "watches ee_delta videos"),
        ({"families": ("juggle",)}, "unknown family"),
        ({"threshold": 1.5}, "threshold=1.5"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(out=tmp_path / "x", **overrides)


def test_training_data_reads_only_what_the_judge_kept_in_proportion_to_weight(filtered_bc_run):
    import torch

    from vla_flywheel.train.data import TrainingData

    path = RunLayout(filtered_bc_run).round_data(1)
    kept = sum(bool(np.asarray(e[k.JUDGE_KEEP]).ravel()[0]) for e in DatasetReader(path).iter_episodes())
    demos = TrainingData.load([RunLayout(filtered_bc_run).demos])
    both = TrainingData.load([RunLayout(filtered_bc_run).demos, path])
    assert both.episodes == demos.episodes + kept
    both.weight = torch.linspace(0, 1, len(both))  # frame 0 weightless, the last the heaviest
    drawn = both.sample_indices(4000, torch.Generator().manual_seed(0))
    assert 0 not in drawn.tolist()
    assert (drawn >= len(both) // 2).float().mean() > 0.6


def test_a_run_can_start_from_another_runs_base(filtered_bc_run, tmp_path):
    from vla_flywheel.flywheel.engine import run_flywheel

    settings = {**TINY, "rounds": 0}
    rounds = run_flywheel(RunConfig(out=tmp_path / "st", recipe="self-train", base_from=filtered_bc_run, **settings),
                          progress=False)  # fmt: skip
    source = json.loads((filtered_bc_run / "rounds.jsonl").read_text().splitlines()[0])
    assert rounds[0]["success"] == source["success"] and rounds[0]["recipe"] == "self-train"
    with pytest.raises(ConfigError, match="differs in seed_demos"):
        run_flywheel(RunConfig(out=tmp_path / "x", base_from=filtered_bc_run, **{**settings, "seed_demos": 5}))


def test_rollouts_on_two_worker_processes_give_the_same_round(filtered_bc_run, tmp_path):
    from vla_flywheel.flywheel.engine import run_flywheel

    out = tmp_path / "two-workers"
    rounds = run_flywheel(RunConfig(out=out, base_from=filtered_bc_run, **{**TINY, "workers": 2, "backend": "process"}),
                          progress=False)  # fmt: skip
    ours, theirs = RunLayout(out).round_data(1), RunLayout(filtered_bc_run).round_data(1)
    for a, b in zip(DatasetReader(ours).iter_episodes(), DatasetReader(theirs).iter_episodes(), strict=True):
        assert a[k.EPISODE_SEED][0] == b[k.EPISODE_SEED][0]  # written in seed order whatever worker played it
        np.testing.assert_array_equal(a[k.ACTION], b[k.ACTION])
        np.testing.assert_array_equal(a[k.JUDGE_KEEP], b[k.JUDGE_KEEP])
    source = json.loads((filtered_bc_run / "rounds.jsonl").read_text().splitlines()[1])
    assert rounds[1]["data_added"] == source["data_added"] and rounds[1]["success"] == source["success"]


def test_a_moved_run_resumes_where_it_is_now_not_where_it_began(filtered_bc_run, tmp_path, monkeypatch):
    import shutil

    from vla_flywheel.flywheel.engine import run_flywheel

    moved, elsewhere = tmp_path / "moved", tmp_path / "elsewhere"
    shutil.copytree(filtered_bc_run, moved)
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "out": "runs/filtered-bc"}))  # begun with a relative --out
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    before = (filtered_bc_run / "rounds.jsonl").read_text()
    rounds = run_flywheel(resume=moved, progress=False)
    assert [r["success"] for r in rounds] == [json.loads(line)["success"] for line in before.splitlines()]
    assert list(elsewhere.iterdir()) == [] and (filtered_bc_run / "rounds.jsonl").read_text() == before
