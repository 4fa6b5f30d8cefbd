"""The bad-input catalogue: every way a user can hand `flywheel` something wrong, run as the user runs it.

Each case builds its bad input (a flag, a damaged copy of a real dataset or checkpoint, an edited config) and runs
the command in-process. Every case must: exit non-zero; print exactly one line that names the offending thing and
says how to fix it (the words listed with the case); print no traceback; and leave every file that existed before
byte-identical (the case's own damaged copy included: a failed command neither repairs nor damages anything, and
creates nothing). The session's artefacts are checked the same way after every test (see conftest.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.robustness.helpers import UNSEEN_TASK, copy, digest, flywheel, one_line

CASES: dict[str, tuple] = {}


def case(*words: str, skip: str | None = None):
    """Register a case: a function (artefacts, tmp_path) -> argv, and the words its error line must hold."""

    def register(make):
        CASES[make.__name__] = (make, words, skip)
        return make

    return register


def pretrained(run: Path) -> Path:
    return run / "checkpoints" / "last" / "pretrained_model"


def data_file(dataset: Path) -> Path:
    return next((dataset / "data").rglob("*.parquet"))


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def edit_weights(run: Path, change, file: str = "model.safetensors") -> None:
    """Rewrite a checkpoint's tensors through `change(dict) -> dict`, as a valid safetensors file."""
    path = pretrained(run) / file
    save_file(change(load_file(path)), path)


def first_weight(tensors: dict) -> str:
    return sorted(k for k, v in tensors.items() if v.ndim == 2)[0]


# ---- flags and values ---------------------------------------------------------------------------------------------


@case("--epsiodes", "did you mean --episodes?", "see --help")
def misspelled_flag(a, tmp):
    return ["collect", "--epsiodes", 3, "--out", tmp / "x"]


@case("--threads is an option of flywheel eval-world-model, flywheel run, flywheel train,", "see --help")
def flag_of_another_subcommand(a, tmp):
    return ["eval", "--policy", tmp / "p", "--out", tmp / "x", "--threads", 1]


@case("--steps", "invalid int value: 'ten'")
def steps_of_the_wrong_type(a, tmp):
    return ["train", "--dataset", a.dataset, "--out", tmp / "run", "--steps", "ten"]


@case("steps=-5", "must be a positive integer")
def negative_steps(a, tmp):
    return ["train", "--dataset", a.dataset, "--out", tmp / "run", "--steps", -5]


@case("lr=nan", "must be a finite number")
def nan_learning_rate(a, tmp):
    return ["train", "--dataset", a.dataset, "--out", tmp / "run", "--lr", "nan"]


@case("threshold=1.5", "must be in (0, 1)")
def threshold_out_of_range(a, tmp):
    return ["run", "--out", tmp / "run", "--threshold", 1.5, "--no-progress"]


@case("--max-steps caps ee_delta episodes")
def horizon_on_the_primitive_interface(a, tmp):
    return ["run", "--out", tmp / "run", "--max-steps", 50, "--no-progress"]


@case("max_steps=0", "must be a positive integer")
def zero_horizon(a, tmp):
    return ["run", "--out", tmp / "run", "--interface", "ee_delta", "--max-steps", 0, "--no-progress"]


@case("xi=2.0 must be in (0, 1]")
def residual_bound_outside_the_action_box(a, tmp):
    return ["train-specialist", "--base", tmp / "policy", "--out", tmp / "sp", "--xi", 2]


@case("alpha=1.5", "must be in (0, 1)")
def alpha_out_of_range(a, tmp):
    return ["eval-judge", "--judge", a.judge, "--data", f"primitive={a.dataset}", "--alpha", 1.5, "--out", tmp / "e"]


@case("unknown role 'critc'", "roles are critic")
def misspelled_judge_role(a, tmp):
    return ["train-judge", "--data", f"critc={a.dataset}", "--out", tmp / "judge"]


@case("--data 'x'", "must look like KEY=DIR")
def role_without_a_dataset(a, tmp):
    return ["train-judge", "--data", "x", "--out", tmp / "judge"]


@case("episodes=0", "must be a positive integer")
def zero_eval_episodes(a, tmp):
    return ["eval", "--policy", a.policy, "--episodes", 0, "--out", tmp / "eval"]


# ---- paths --------------------------------------------------------------------------------------------------------


@case("nowhere", "does not exist", "flywheel collect")
def missing_dataset(a, tmp):
    return ["train", "--dataset", tmp / "nowhere", "--out", tmp / "run"]


@case("is a file, not a dataset directory", "flywheel collect")
def dataset_path_is_a_file(a, tmp):
    return ["dataset", "info", data_file(a.dataset)]


@case("meta/info.json cannot be read (Is a directory)", "must be a readable file")
def directory_where_info_json_belongs(a, tmp):
    broken = copy(a.dataset, tmp / "d")
    (broken / "meta" / "info.json").unlink()
    (broken / "meta" / "info.json").mkdir()
    return ["dataset", "info", broken]


@case("permission denied", "chmod", skip="root reads through chmod 000" if os.geteuid() == 0 else None)
def unreadable_dataset(a, tmp):
    broken = copy(a.dataset, tmp / "d")
    broken.chmod(0)
    return ["dataset", "info", broken]


@case("holds no saved policy", "pass a training run directory")
def missing_policy(a, tmp):
    return ["eval", "--policy", tmp / "nothing", "--episodes", 1, "--out", tmp / "eval"]


# ---- damaged datasets ---------------------------------------------------------------------------------------------


@case("data/chunk-000/file-000.parquet is not a readable parquet file (truncated or corrupted)", "collect it again")
def truncated_data_parquet(a, tmp):
    broken = copy(a.dataset, tmp / "d")
    path = data_file(broken)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return ["train", "--dataset", broken, "--out", tmp / "run"]


@case("data/chunk-000/file-000.parquet is not a readable parquet file", "collect it again")
def garbage_data_parquet(a, tmp):
    broken = copy(a.dataset, tmp / "d")
    path = data_file(broken)
    path.write_bytes(os.urandom(path.stat().st_size))
    return ["dataset", "show", broken, "--out", tmp / "preview"]


@case("codebase_version 'v2.1' is not supported (need 'v3.0')", "convert_dataset_v21_to_v30")
def wrong_codebase_version(a, tmp):
    broken = copy(a.dataset, tmp / "d")
    edit_json(broken / "meta" / "info.json", codebase_version="v2.1")
    return ["train", "--dataset", broken, "--out", tmp / "run"]


@case("meta/info.json is not valid JSON", "corrupted")
def corrupted_info_json_on_append(a, tmp):
    broken = copy(a.dataset, tmp / "d")
    (broken / "meta" / "info.json").write_text('{"codebase_version": "v3.0", "fps": ')
    return ["collect", "--interface", "primitive", "--episodes", 1, "--append", "--out", broken, "--no-progress"]


@case("no episodes to train on", "flywheel collect --append")
def empty_dataset(a, tmp):
    return ["train", "--dataset", a.empty_dataset, "--out", tmp / "run"]


@case("--episode 99 is out of range", "pass 0 to 2")
def episode_out_of_range(a, tmp):
    return ["dataset", "show", a.dataset, "--episode", 99, "--out", tmp / "preview"]


# ---- damaged or mismatched checkpoints ----------------------------------------------------------------------------


@case("model.safetensors is not a readable safetensors file", "truncated or corrupted", "pass a `flywheel train` run")
def truncated_policy_weights(a, tmp):
    broken = copy(a.policy, tmp / "p")
    path = pretrained(broken) / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("model.safetensors is not a readable safetensors file", "truncated or corrupted")
def garbage_policy_weights_when_fine_tuning(a, tmp):
    broken = copy(a.policy, tmp / "p")
    path = pretrained(broken) / "model.safetensors"
    path.write_bytes(os.urandom(4096))
    return ["train", "--init-from", broken, "--dataset", a.dataset, "--out", tmp / "run"]


@case("model.safetensors: tensor", "has shape [", "but the config's model expects [")
def tensor_of_the_wrong_shape(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_weights(broken, lambda t: {**t, first_weight(t): t[first_weight(t)][:, :-1].contiguous()})
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("has dtype torch.float64 but the model expects torch.float32")
def tensor_of_the_wrong_dtype(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_weights(broken, lambda t: {**t, first_weight(t): t[first_weight(t)].double()})
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("lacks tensor(s)", "that the config's model needs")
def missing_tensor(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_weights(broken, lambda t: {k: v for k, v in t.items() if k != first_weight(t)})
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("holds NaN or inf", "use an earlier checkpoint")
def nan_weights(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_weights(broken, lambda t: {**t, first_weight(t): torch.full_like(t[first_weight(t)], float("nan"))})
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("normalization.safetensors: tensor 'observation.state/mean' has shape [3]", "expects [5]")
def normalization_of_the_wrong_size(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_weights(broken, lambda t: {**t, "observation.state/mean": t["observation.state/mean"][:3].clone()},
                 "normalization.safetensors")  # fmt: skip
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("unknown key 'dimm' (did you mean 'dim'?)", "fix or remove it")
def policy_config_with_an_unknown_key(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_json(pretrained(broken) / "config.json", dimm=64)
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("config.json is not valid JSON", "corrupted")
def garbage_policy_config(a, tmp):
    broken = copy(a.policy, tmp / "p")
    (pretrained(broken) / "config.json").write_bytes(b"\x00\xff garbage")
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("tokenizer.json: 'vocab' must be a list of strings", "use another checkpoint")
def damaged_tokenizer(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_json(pretrained(broken) / "tokenizer.json", vocab=[0, 1, 2])
    return ["eval", "--policy", broken, "--episodes", 1, "--out", tmp / "eval"]


@case("optimizer_state.safetensors is not a readable safetensors file", "earlier checkpoint")
def damaged_optimizer_state_on_resume(a, tmp):
    broken = copy(a.policy, tmp / "p")
    path = broken / "checkpoints" / "last" / "training_state" / "optimizer_state.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    return ["train", "--resume", "--out", broken, "--steps", 4]


@case("train_config.json: lr='fast' has the wrong type (str)", "it must be a number")
def resume_with_a_value_of_the_wrong_type_in_train_config(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_json(pretrained(broken) / "train_config.json", lr="fast")
    return ["train", "--resume", "--out", broken, "--steps", 4]


@case("policy overrides: unknown key 'dimm' (did you mean 'dim'?)", "fix or remove it")
def resume_with_an_unknown_policy_override(a, tmp):
    broken = copy(a.policy, tmp / "p")
    edit_json(pretrained(broken) / "train_config.json", policy={"dimm": 32})
    return ["train", "--resume", "--out", broken, "--steps", 4]


@case("holds a flywheel_judge model, not a policy", "pass a `flywheel train` run")
def judge_passed_as_a_policy(a, tmp):
    return ["eval", "--policy", a.judge, "--episodes", 1, "--out", tmp / "eval"]


@case("every episode of rollouts=", "is a success", "add labelled episodes of the other kind")
def rollouts_of_one_outcome(a, tmp):
    return ["eval-judge", "--judge", a.judge, "--data", f"rollouts={a.ee_dataset}", "--out", tmp / "eval"]


@case("holds a flywheel_vla model, not a judge", "pass a `flywheel train-judge` run")
def policy_passed_as_a_judge(a, tmp):
    return ["eval-judge", "--judge", a.policy, "--data", f"primitive={a.dataset}", "--out", tmp / "eval"]


@case("holds a flywheel_vla model, not a judge", "train-judge")
def policy_passed_as_the_runs_judge(a, tmp):
    return ["run", "--recipe", "lacy", "--judge-model", a.policy, "--out", tmp / "run", "--no-progress"]


@case("images are 32 px but the policy takes 64 px", "train from scratch")
def fine_tuning_on_images_of_another_size(a, tmp):
    return ["train", "--init-from", a.policy, "--dataset", a.small_dataset, "--out", tmp / "run"]


@case("actions are ['dx', 'dy', 'dz', 'dyaw', 'gripper'] but the policy outputs ['pick.x'", "interface")
def fine_tuning_on_another_action_interface(a, tmp):
    return ["train", "--init-from", a.policy, "--dataset", a.ee_dataset, "--out", tmp / "run"]


@case("crimson", "vocabulary lacks", "train from scratch")
def fine_tuning_on_words_the_policy_never_saw(a, tmp):
    assert UNSEEN_TASK  # the dataset's only instruction
    return ["train", "--init-from", a.policy, "--dataset", a.unseen_words_dataset, "--out", tmp / "run"]


@case("takes 64 px images but --image-size is 32", "pass --image-size 64")
def policy_collecting_at_another_image_size(a, tmp):
    return ["collect", "--interface", "primitive", "--policy", a.policy, "--image-size", 32, "--episodes", 1,
            "--out", tmp / "d", "--no-progress"]  # fmt: skip


# ---- flywheel runs ------------------------------------------------------------------------------------------------


@case("unknown key 'tresholds' (did you mean 'threshold'?)", "config.json")
def resume_with_an_unknown_config_key(a, tmp):
    broken = copy(a.run, tmp / "run")
    edit_json(broken / "config.json", tresholds=0.5)
    return ["run", "--resume", broken, "--no-progress"]


@case("rounds='three' has the wrong type (str)", "it must be an integer")
def resume_with_a_value_of_the_wrong_type(a, tmp):
    broken = copy(a.run, tmp / "run")
    edit_json(broken / "config.json", rounds="three")
    return ["run", "--resume", broken, "--no-progress"]


@case("config.json is not valid JSON", "restore it")
def report_on_a_damaged_config(a, tmp):
    broken = copy(a.run, tmp / "run")
    path = broken / "config.json"
    path.write_text(path.read_text()[:40])
    return ["report", broken]


@case("rounds.jsonl line 2 is not valid JSON", "delete that line", "--resume")
def compare_with_a_truncated_rounds_line(a, tmp):
    broken = copy(a.run, tmp / "run")
    (broken / "rounds.jsonl").write_text('{"round": 0}\n{"round": 1, "succ')
    return ["compare", broken]


@case("is not a flywheel run (no config.json)", "pass a run directory")
def report_on_something_that_is_not_a_run(a, tmp):
    return ["report", a.dataset]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_line_and_damages_nothing(name, artefacts, tmp_path, capsys):
    make, words, skip = CASES[name]
    if skip:
        pytest.skip(skip)
    args = make(artefacts, tmp_path)
    before = digest(tmp_path)
    try:
        code, stderr = flywheel(capsys, *args)
    finally:
        for path in tmp_path.rglob("*"):  # undo a chmod case before anything else reads the tree
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        tmp_path.chmod(0o755)
    assert code != 0
    one_line(stderr, *words)
    assert digest(tmp_path) == before


def test_the_catalogue_has_at_least_25_cases():
    assert len(CASES) >= 25


def test_shape_errors_name_the_file_the_tensor_and_both_shapes(artefacts, tmp_path, capsys):
    broken = copy(artefacts.policy, tmp_path / "p")
    tensors = load_file(pretrained(broken) / "model.safetensors")
    name = first_weight(tensors)
    want = list(tensors[name].shape)
    edit_weights(broken, lambda t: {**t, name: t[name][:, :-1].contiguous()})
    code, stderr = flywheel(capsys, "eval", "--policy", broken, "--episodes", 1, "--out", tmp_path / "eval")
    assert code == 2
    one_line(stderr, str(pretrained(broken) / "model.safetensors"), repr(name),
             f"has shape {[want[0], want[1] - 1]}", f"expects {want}")  # fmt: skip
