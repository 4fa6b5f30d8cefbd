"""The `flywheel` command end to end, as a user runs it: real collection, real files, real exit codes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from vla_flywheel.data import DatasetReader


def flywheel(*args):
    proc = subprocess.run([sys.executable, "-m", "vla_flywheel.cli", *map(str, args)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("collect") / "demo"
    rc, stdout, stderr = flywheel(
        "collect", "--family", "all", "--episodes", 4, "--seed", 3, "--out", out, "--no-progress"
    )
    assert rc == 0, stderr
    assert "episodes  4 (4 successful, 100.0%)" in stdout
    return out


def _one_error_line(stderr: str, *words: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_collect_writes_a_readable_dataset_with_provenance(dataset):
    reader = DatasetReader(dataset)
    assert reader.num_episodes == 4
    episode = reader.episode(0)
    assert set(episode["source"]) == {"expert"} and episode["next.success"][-1, 0]
    assert episode["explanation"][0]


def test_collect_is_deterministic(dataset, tmp_path):
    rc, _, err = flywheel(
        "collect",
        "--family",
        "all",
        "--episodes",
        2,
        "--seed",
        3,
        "--out",
        tmp_path / "again",
        "--no-progress",
    )
    assert rc == 0, err
    a, b = DatasetReader(dataset).episode(1), DatasetReader(tmp_path / "again").episode(1)
    np.testing.assert_array_equal(a["observation.images.front"], b["observation.images.front"])
    np.testing.assert_array_equal(a["action"], b["action"])


def test_dataset_info_and_show(dataset, tmp_path):
    rc, out, err = flywheel("dataset", "info", dataset)
    assert rc == 0, err
    assert "LeRobotDataset v3.0" in out and "episodes    4" in out and "success     100.0%" in out
    rc, out, err = flywheel("dataset", "show", dataset, "--episode", 1, "--out", tmp_path / "ep1")
    assert rc == 0, err
    assert (tmp_path / "ep1.png").stat().st_size > 0 and (tmp_path / "ep1.gif").stat().st_size > 0


def test_collect_refuses_to_overwrite_and_leaves_data_intact(dataset):
    before = sorted(p.stat().st_mtime_ns for p in dataset.rglob("*.parquet"))
    rc, _, err = flywheel("collect", "--episodes", 1, "--out", dataset, "--no-progress")
    assert rc == 2
    _one_error_line(err, "already exists", "--append")
    assert sorted(p.stat().st_mtime_ns for p in dataset.rglob("*.parquet")) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["collect", "--family", "pickplace", "--out", "x"], ["family='pickplace'", "pick_place"]),
        (["collect", "--interface", "joints", "--out", "x"], ["--interface", "invalid choice"]),
        (["collect", "--episodes", "0", "--out", "x"], ["episodes=0"]),
        (["collect", "--wrong-target", "1.5", "--out", "x"], ["wrong_target=1.5", "probability"]),
        (["collect", "--image-size", "4", "--out", "x"], ["image_size=4"]),
    ],
)
def test_bad_collect_arguments_are_one_clear_line(tmp_path, args, words):
    rc, _, err = flywheel(*args)
    assert rc == 2
    _one_error_line(err, *words)


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_dataset_info_on_a_missing_info_json(dataset, tmp_path):
    broken = _copy(dataset, tmp_path / "d")
    (broken / "meta" / "info.json").unlink()
    rc, _, err = flywheel("dataset", "info", broken)
    assert rc == 2
    _one_error_line(err, "meta/info.json")


def test_dataset_info_on_a_wrong_codebase_version(dataset, tmp_path):
    broken = _copy(dataset, tmp_path / "d")
    info_path = broken / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info["codebase_version"] = "v2.1"
    info_path.write_text(json.dumps(info))
    rc, _, err = flywheel("dataset", "info", broken)
    assert rc == 2
    _one_error_line(err, "v2.1", "v3.0")


def test_dataset_info_on_a_truncated_parquet(dataset, tmp_path):
    broken = _copy(dataset, tmp_path / "d")
    data_file = next((broken / "data").rglob("*.parquet"))
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    rc, _, err = flywheel("dataset", "info", broken)
    assert rc == 2
    _one_error_line(err, data_file.name)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "--dataset", "{missing}", "--out", "{tmp}/run"], ["train", "does not exist"]),
        (["train", "--out", "{tmp}/run"], ["no dataset given"]),
        (["train", "--dataset", "{dataset}", "--out", "{tmp}/run", "--steps", "0"], ["steps=0"]),
        (["train", "--out", "{tmp}/nothing", "--resume"], ["no checkpoint to resume from"]),
        (["eval", "--policy", "{tmp}", "--episodes", "2"], ["holds no saved policy"]),
    ],
)
def test_train_and_eval_reject_bad_input_with_one_line(tmp_path, dataset, args, words):
    filled = [a.format(missing=tmp_path / "missing", tmp=tmp_path, dataset=dataset) for a in args]
    rc, _, stderr = flywheel(*filled, "--no-progress")
    assert rc == 2
    _one_error_line(stderr, *words)


def test_train_refuses_to_overwrite_a_run_and_leaves_it_untouched(tmp_path, dataset):
    run = tmp_path / "run"
    tiny = ["--steps", "2", "--batch-size", "2", "--no-progress"]
    rc, stdout, stderr = flywheel("train", "--dataset", dataset, "--out", run, *tiny)
    assert rc == 0, stderr
    before = sorted((p.relative_to(run), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file())
    rc, _, stderr = flywheel("train", "--dataset", dataset, "--out", run, *tiny)
    assert rc == 2
    _one_error_line(stderr, "already holds a run", "--resume")
    assert sorted((p.relative_to(run), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()) == before


def test_every_help_page_renders():
    """`flywheel --help` and each command's help format every help string (a bare % in one crashed them all)."""
    from vla_flywheel.cli import build_parser

    parser = build_parser()
    assert "train-specialist" in parser.format_help()
    commands = next(a for a in parser._actions if a.choices and "run" in a.choices).choices
    for name, command in commands.items():
        assert command.format_help().startswith("usage:"), name
