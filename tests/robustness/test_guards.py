"""Guards and safe loading: what must never happen, whatever the input or the numbers do.

- non-finite losses stop training with one line and the last good checkpoint intact;
- a non-finite or out-of-range action never reaches MuJoCo, from a user or from a policy whose outputs overflow;
- a simulator instability ends the episode as a failure with its reason recorded, and the run goes on;
- a full disk (simulated: the writer's file writes raise ENOSPC) is one line, and what was written before survives;
- nothing in the package unpickles; checkpoints are safetensors and JSON only.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file, save_file

import vla_flywheel
from tests.robustness.helpers import copy, digest, flywheel, one_line
from vla_flywheel.data import DatasetReader, DatasetWriter, layout
from vla_flywheel.engine.rollout import dataset_features, rollout
from vla_flywheel.envs import make_env
from vla_flywheel.errors import InvalidActionError
from vla_flywheel.models.policy import FlywheelPolicy

PRETRAINED = Path("checkpoints") / "last" / "pretrained_model"


# ---- training -----------------------------------------------------------------------------------------------------


def test_a_diverging_training_run_stops_with_one_line_and_keeps_its_good_checkpoint(artefacts, tmp_path, capsys):
    run = tmp_path / "run"
    code, stderr = flywheel(capsys, "train", "--dataset", artefacts.dataset, "--out", run, "--lr", 1e30,
                            "--grad-clip", 0, "--steps", 20, "--batch-size", 2, "--save-every", 1, "--threads", 1,
                            "--no-progress")  # fmt: skip
    assert code == 2
    line = one_line(stderr, "diverged at step", "last good checkpoint: checkpoints/", "Lower --lr")
    step = int(line.split("diverged at step ")[1].split(":")[0])
    assert (run / "checkpoints" / "last").resolve().name == f"{step - 1:06d}"
    FlywheelPolicy.from_pretrained(run)  # the good checkpoint loads: all names, shapes and values check out


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_no_partial_checkpoint(
    artefacts, tmp_path, capsys, monkeypatch
):
    import vla_flywheel.train.checkpoint as checkpoint

    def no_space(tensors, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoint, "save_file", no_space)
    run = tmp_path / "run"
    code, stderr = flywheel(capsys, "train", "--dataset", artefacts.dataset, "--out", run, "--steps", 1,
                            "--batch-size", 2, "--threads", 1, "--no-progress")  # fmt: skip
    assert code == 2
    one_line(stderr, "No space left on device", "optimizer_state.safetensors", "free disk space")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == []  # no half-written checkpoint, no `last`


# ---- actions ------------------------------------------------------------------------------------------------------


def _physics(env) -> tuple:
    d = env.data
    return d.time, d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), env.setpoint


@pytest.mark.parametrize("interface", ["ee_delta", "primitive"])
@pytest.mark.parametrize(
    ("action", "words"),
    [
        ([np.nan, 0, 0, 0, 0], "not finite"),
        ([0, 0, -np.inf, 0, 0], "not finite"),
        ([0, 1.5, 0, 0, 0], "outside [-1, 1]"),
        ([0, 0, 0], "shape"),
    ],
)
def test_a_bad_action_never_reaches_mujoco(interface, action, words):
    env = make_env(family="pick_place", interface=interface)
    env.reset(seed=0)
    before = _physics(env)
    with pytest.raises(InvalidActionError) as error:
        env.step(np.array(action))
    assert words in str(error.value)
    after = _physics(env)
    assert after[0] == before[0] and all(np.array_equal(a, b) for a, b in zip(after[1:], before[1:], strict=True))
    env.close()


def test_a_policy_whose_actions_overflow_is_stopped_before_mujoco(artefacts, tmp_path, capsys):
    """Finite weights (they pass every load check) that overflow to inf/NaN in the velocity network."""
    broken = copy(artefacts.ee_policy, tmp_path / "p")
    path = broken / PRETRAINED / "model.safetensors"
    tensors = load_file(path)
    last = sorted(k for k in tensors if k.startswith("velocity.") and k.endswith(".weight"))[-1]
    tensors[last].fill_(3e38)
    save_file(tensors, path)
    code, stderr = flywheel(capsys, "eval", "--policy", broken, "--episodes", 1, "--split", "train",
                            "--out", tmp_path / "eval", "--no-progress")  # fmt: skip
    assert code == 2
    one_line(stderr, f"policy {broken / PRETRAINED}", "output a non-finite action", "use an earlier checkpoint")
    assert not (tmp_path / "eval").exists()


# ---- simulator instability ----------------------------------------------------------------------------------------


def _kick(env, how: str) -> None:
    """Make the physics blow up the way a bad contact or a huge force would."""
    q = env.ids.block_qvel[env.task.block]
    if how == "huge velocity":
        env.data.qvel[q : q + 3] = 1e12
    else:
        env.data.qpos[env.ids.block_qpos[env.task.block]] = np.nan


@pytest.mark.parametrize("interface", ["ee_delta", "primitive"])
@pytest.mark.parametrize(("how", "reason"), [("huge velocity", "bad velocity"), ("nan position", "bad position")])
def test_an_instability_ends_the_episode_as_a_failure_with_its_reason(interface, how, reason):
    env = make_env(family="pick_place", interface=interface)
    env.reset(seed=0)
    _kick(env, how)
    obs, reward, terminated, truncated, info = env.step(np.zeros(5))
    assert terminated and not truncated and reward == 0 and not info["success"]
    assert info["failure_reason"].startswith(f"simulator instability: {reason}")
    assert np.isfinite(obs["observation.state"]).all()
    env.reset(seed=1)  # the next episode starts clean
    _, _, _, _, info = env.step(np.zeros(5))
    assert "failure_reason" not in info
    env.close()


class KickingAgent:
    """Acts like a policy that slams the gripper into the block on its third step."""

    def __init__(self):
        self.steps = 0

    def reset(self, env, seed: int) -> None:
        self.steps = 0

    def act(self, env, obs) -> np.ndarray:
        self.steps += 1
        if self.steps == 3:
            _kick(env, "huge velocity")
        return np.zeros(5, np.float32)


def test_an_unstable_episode_is_recorded_and_the_run_goes_on(tmp_path):
    env = make_env(family="pick_place")
    record = rollout(env, KickingAgent(), seed=0, source="policy")
    assert record.length == 3 and not record.success
    assert record.failure_reason.startswith("simulator instability: bad velocity")
    with DatasetWriter.create(tmp_path / "d", fps=10, features=dataset_features(env)) as writer:
        writer.add_episode(record.frames, record.task)  # every recorded value is finite and valid
    assert rollout(env, KickingAgent(), seed=1).length == 3  # the same env keeps working
    env.close()
    assert DatasetReader(tmp_path / "d").num_episodes == 1


# ---- a full disk --------------------------------------------------------------------------------------------------


def _fill_disk(monkeypatch) -> None:
    """Every write of the dataset writer's temporary files fails part-way through, as on a full disk."""
    real_table, real_text = pq.write_table, Path.write_text

    def no_space(path) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def write_table(table, where, *args, **kwargs):
        if layout.TMP_MARKER in str(where):
            no_space(where)
        return real_table(table, where, *args, **kwargs)

    def write_text(self, *args, **kwargs):
        if layout.TMP_MARKER in self.name:
            no_space(self)
        return real_text(self, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", write_table)
    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize(
    ("stale_info", "what"),
    [(False, "writing episode 3"), (True, "updating meta/info.json and meta/stats.json")],  # True: as after a crash
)
def test_a_full_disk_during_collect_append_leaves_the_dataset_as_it_was(
    artefacts, tmp_path, capsys, monkeypatch, stale_info, what
):
    dataset = copy(artefacts.dataset, tmp_path / "d")
    if stale_info:  # a writer killed after committing episode 2 but before updating info.json
        info = json.loads((dataset / "meta" / "info.json").read_text())
        (dataset / "meta" / "info.json").write_text(json.dumps({**info, "total_episodes": 2}))
    before = digest(dataset)
    _fill_disk(monkeypatch)
    code, stderr = flywheel(capsys, "collect", "--interface", "primitive", "--episodes", 1, "--append",
                            "--out", dataset, "--no-progress")  # fmt: skip
    monkeypatch.undo()
    assert code == 2
    one_line(stderr, str(dataset), what, "No space left on device", "the 3 episodes committed before are intact",
             "free disk space")  # fmt: skip
    assert digest(dataset) == before  # byte for byte, and no temporary file left behind
    assert DatasetReader(dataset).num_episodes == 3


# ---- safe loading -------------------------------------------------------------------------------------------------

UNPICKLING = re.compile(
    r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|cloudpickle|shelve)\b"
    r"|\b(pickle|dill|joblib|cloudpickle|shelve)\.\w+\("
    r"|\btorch\.load\(|\bnp\.load\(|\bnumpy\.load\(|allow_pickle\s*=\s*True|weights_only\s*=\s*False",
    re.MULTILINE,
)


def test_nothing_in_the_package_unpickles():
    package = Path(vla_flywheel.__file__).parent
    found = [f"{p.relative_to(package)}: {m.group(0).strip()}" for p in sorted(package.rglob("*.py"))
             for m in UNPICKLING.finditer(p.read_text())]  # fmt: skip
    assert found == []


def test_checkpoints_hold_safetensors_and_json_only(artefacts):
    for run in (artefacts.policy, artefacts.ee_policy, artefacts.judge):
        last = (run / "checkpoints" / "last").resolve()
        suffixes = {p.suffix for p in last.rglob("*") if p.is_file()}
        assert suffixes <= {".safetensors", ".json"}, (run, suffixes)
