"""Training: it learns, it resumes exactly, it stops cleanly on divergence, and it writes LeRobot's layout."""

import json

import numpy as np
import pytest
import torch

from vla_flywheel.engine.policy_agent import observation_batch
from vla_flywheel.envs import make_env
from vla_flywheel.envs.tabletop.experts import ScriptedExpert
from vla_flywheel.errors import ConfigError
from vla_flywheel.models.policy import FlywheelPolicy
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.loop import train
from vla_flywheel.train.metrics import read_metrics
from vla_flywheel.train.optimizer_step import TrainingDiverged

TINY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": (16, 16), "flow_hidden": 64, "keypoints": 4}


def losses(run) -> list[float]:
    return [m["loss"] for m in read_metrics(run)]


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_a_resumed_run_retraces_the_uninterrupted_loss_curve(tmp_path, ee_delta_demos, ema):
    common = {"datasets": (ee_delta_demos,), "batch_size": 4, "log_every": 1, "save_every": 3, "ema_decay": ema,
              "policy": TINY}  # fmt: skip
    train(TrainConfig(out=tmp_path / "whole", steps=6, **common), progress=False)
    train(TrainConfig(out=tmp_path / "split", steps=3, **common), progress=False)
    train(resume=tmp_path / "split", steps=6, progress=False)
    whole, split = losses(tmp_path / "whole"), losses(tmp_path / "split")
    assert len(whole) == 6 and whole == split  # bit-for-bit, step by step
    a = FlywheelPolicy.from_pretrained(tmp_path / "whole").state_dict()
    b = FlywheelPolicy.from_pretrained(tmp_path / "split").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_follow_lerobots_layout(tmp_path, ee_delta_demos):
    run = tmp_path / "run"
    train(TrainConfig(datasets=(ee_delta_demos,), out=run, steps=4, batch_size=4, save_every=2, policy=TINY),
          progress=False)  # fmt: skip
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000002", "000004", "last"]
    assert (run / "checkpoints" / "last").resolve().name == "000004"
    last = run / "checkpoints" / "last"
    pretrained = {"config.json", "model.safetensors", "normalization.safetensors", "tokenizer.json",
                  "train_config.json"}  # fmt: skip
    state = {"optimizer_state.safetensors", "optimizer_param_groups.json", "rng_state.safetensors",
             "scheduler_state.json", "training_step.json"}  # fmt: skip
    assert {p.name for p in (last / "pretrained_model").iterdir()} == pretrained
    assert {p.name for p in (last / "training_state").iterdir()} == state
    assert json.loads((last / "training_state" / "training_step.json").read_text())["step"] == 4


def test_a_diverging_run_stops_with_one_clear_message_and_keeps_the_last_good_checkpoint(tmp_path, ee_delta_demos):
    run = tmp_path / "run"
    cfg = TrainConfig(datasets=(ee_delta_demos,), out=run, steps=50, batch_size=4, lr=1e30, warmup_steps=0,
                      grad_clip=0.0, save_every=1, policy=TINY)  # fmt: skip
    with pytest.raises(TrainingDiverged) as error:
        train(cfg, progress=False)
    message = str(error.value)
    assert "\n" not in message and "diverged at step" in message and "last good checkpoint" in message
    step = int(message.split("diverged at step ")[1].split(":")[0])
    good = run / "checkpoints" / f"{step - 1:06d}"
    assert f"checkpoints/{step - 1:06d}" in message
    assert (run / "checkpoints" / "last").resolve() == good.resolve()
    FlywheelPolicy.from_pretrained(good)  # loads: the good checkpoint was not overwritten by a bad one


def test_the_primitive_policy_learns_to_point_at_the_demonstrated_pick_and_place(tmp_path, primitive_demos):
    """After a short training run, picks and places on the demo scenes land within 2 cm of the expert's."""
    run = tmp_path / "run"
    train(TrainConfig(datasets=(primitive_demos,), out=run, steps=300, batch_size=16, save_every=300), progress=False)
    policy = FlywheelPolicy.from_pretrained(run)
    env = make_env(family="pick_place", interface="primitive")
    expert = ScriptedExpert()
    errors = []
    for seed in range(10):  # the first 10 demo scenes
        obs, _ = env.reset(seed=seed)
        expert.reset(env, seed)
        target = expert.act(env, obs)
        predicted = policy.predict_action_chunk(observation_batch(obs))[0, 0].numpy()
        errors.append([np.linalg.norm(predicted[i : i + 2] - target[i : i + 2]) * 25 for i in (0, 3)])  # cm
    env.close()
    assert np.median(errors) < 2.0, errors


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where torch sees no CUDA device")
def test_asking_for_cuda_without_one_is_one_clear_error(tmp_path, ee_delta_demos):
    with pytest.raises(ConfigError, match="torch sees no CUDA device; use --device cpu or auto"):
        train(TrainConfig(datasets=(ee_delta_demos,), out=tmp_path / "run", steps=1, device="cuda", policy=TINY),
              progress=False)  # fmt: skip
    assert not (tmp_path / "run" / "checkpoints").exists()
