"""Small real artefacts for the bad-input and guard tests, made once per session and checked after every test.

The artefacts are what a user has on disk: datasets written by `collect`, a trained primitive and a trained ee_delta
policy, a trained judge, and a flywheel run directory as `flywheel run` starts it. Cases never hand them to a
command directly when the command could write: they break a copy, and `artefacts_stay_intact` checks after every
test that not one byte of the originals changed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.robustness.helpers import UNSEEN_TASK, digest
from vla_flywheel.data import DatasetReader, DatasetWriter, default_features
from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.engine.collect import CollectConfig, collect
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.flywheel.config import CONFIG_FILE, RunConfig
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.judge_loop import JudgeTrainConfig, train_judge
from vla_flywheel.train.loop import train

TINY_POLICY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": (16, 16), "flow_hidden": 64, "keypoints": 4}
TINY_JUDGE = {"dim": 32, "depth": 1, "num_heads": 2}


def _collect(out: Path, episodes: int, **env) -> Path:
    collect(CollectConfig(out=out, env=TabletopConfig(**env), episodes=episodes), progress=False)
    return out


def _train(out: Path, dataset: Path) -> Path:
    cfg = TrainConfig(datasets=(dataset,), out=out, steps=2, batch_size=2, threads=1, policy=TINY_POLICY)
    train(cfg, progress=False)
    return out


def _empty_dataset(out: Path, like: Path) -> Path:
    """A valid dataset with the features of `like` and no episodes (as `collect` leaves one killed at once)."""
    reader = DatasetReader(like)
    features = {k: v for k, v in reader.features.items() if k not in default_features()}
    DatasetWriter.create(out, fps=reader.fps, features=features, robot_type=reader.info["robot_type"]).close()
    return out


def _relabelled(out: Path, like: Path, task: str) -> Path:
    """`like`'s first episode under an instruction of the user's own wording."""
    reader = DatasetReader(like)
    features = {k: v for k, v in reader.features.items() if k not in default_features()}
    episode = reader.episode(0)
    with DatasetWriter.create(out, fps=reader.fps, features=features, robot_type=reader.info["robot_type"]) as w:
        w.add_episode({k: episode[k] for k in features}, task)
    return out


def _run_dir(out: Path) -> Path:
    """A flywheel run as `flywheel run` leaves it right after starting: its config.json."""
    out.mkdir(parents=True)
    cfg = RunConfig(out=out, seed_demos=2, rounds=1, episodes_per_round=2, base_steps=2, round_steps=2,
                    eval_episodes=1, threads=1, eval_workers=1)  # fmt: skip
    write_json_atomic(out / CONFIG_FILE, cfg.to_dict())
    return out


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("artefacts")
    dataset = _collect(root / "primitive", 3, interface="primitive")
    ee_dataset = _collect(root / "ee_delta", 1)
    policy = _train(root / "policy", dataset)
    judge = root / "judge"
    train_judge(JudgeTrainConfig(data={"verifier": (dataset,)}, out=judge, steps=2, threads=1, judge=TINY_JUDGE),
                progress=False)  # fmt: skip
    return SimpleNamespace(
        root=root,
        dataset=dataset,
        small_dataset=_collect(root / "primitive32", 1, interface="primitive", image_size=32),
        ee_dataset=ee_dataset,
        empty_dataset=_empty_dataset(root / "empty", dataset),
        unseen_words_dataset=_relabelled(root / "unseen_words", dataset, UNSEEN_TASK),
        policy=policy,
        ee_policy=_train(root / "ee_policy", ee_dataset),
        judge=judge,
        run=_run_dir(root / "run"),
    )


@pytest.fixture(autouse=True)
def artefacts_stay_intact(artefacts):
    """Whatever a test feeds a command, the artefacts it was made from are byte-identical afterwards."""
    before = digest(artefacts.root)
    yield
    assert digest(artefacts.root) == before
