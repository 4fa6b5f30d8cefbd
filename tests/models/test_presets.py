"""Model presets: each one builds and trains on the CPU, sizes grow, and an explicit override beats the preset."""

import json

import numpy as np
import pytest
import torch

from tests.robustness.helpers import flywheel, one_line
from tests.train import conftest as train_fixtures
from vla_flywheel.envs.tabletop.camera import front_camera_homography
from vla_flywheel.envs.tabletop.describe import explanation_corpus
from vla_flywheel.envs.tabletop.language import corpus
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig
from vla_flywheel.models.normalize import Normalizer
from vla_flywheel.models.policy import FlywheelPolicy, PolicyConfig
from vla_flywheel.models.presets import PRESETS, cpu_warning, get_preset
from vla_flywheel.models.tokenizer import WordTokenizer
from vla_flywheel.train.config import TrainConfig

ee_delta_demos = train_fixtures.ee_delta_demos  # 3 collected pick_place episodes, shared with tests/train
HOMOGRAPHY = front_camera_homography(64).tolist()
TASKS = ["put the red block on the blue pad", "set the green cube down on the red target"]


def make_policy(overrides: dict, head: str = "flow") -> FlywheelPolicy:
    """The tabletop policy as `flywheel train` configures it: pointing, tool x, y at state indices 0, 1."""
    torch.manual_seed(0)
    table = {"state_table_xy": (0, 1)} if head == "flow" else {}
    config = PolicyConfig(head=head, workspace_homography=HOMOGRAPHY, **table, **overrides)
    stats = {"observation.state": torch.randn(32, 5), "action": torch.randn(32, 5)}
    return FlywheelPolicy(config, WordTokenizer.from_corpus(corpus()), Normalizer.from_data(stats))


def make_judge(overrides: dict) -> FlywheelJudge:
    torch.manual_seed(0)
    config = JudgeConfig(roles=("critic", "success"), **overrides)
    return FlywheelJudge(config, WordTokenizer.from_corpus([*corpus(), *explanation_corpus()]))


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def frames(*shape: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (*shape, 64, 64, 3), np.uint8))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_takes_a_training_step_on_the_cpu(name):
    preset = PRESETS[name]
    TrainConfig(datasets=("d",), out="o", **preset.train, policy=preset.policy)  # the overrides are valid fields
    policy = make_policy(preset.policy).train()
    h = policy.config.chunk_size
    batch = {
        "observation.images.front": frames(2),
        "observation.state": torch.randn(2, 5),
        "task": TASKS,
        "action": torch.randn(2, h, 5),
        "action_is_pad": torch.zeros(2, h, dtype=torch.bool),
        "primitive.pick": torch.rand(2, 3) * 2 - 1,
        "primitive.place": torch.rand(2, 2) * 2 - 1,
    }
    loss, _ = policy(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in policy.parameters() if p.grad is not None)
    judge = make_judge(preset.judge)
    logit = judge.success_logit(frames(2, judge.config.frames), TASKS)
    logit.sum().backward()
    assert logit.shape == (2,) and torch.isfinite(logit).all()


def test_presets_grow_in_parameters_for_every_model():
    sizes = {
        name: (params(make_policy(p.policy)), params(make_policy(p.policy, "primitive")), params(make_judge(p.judge)))
        for name, p in PRESETS.items()
    }
    small, base, large = sizes["cpu-small"], sizes["gpu-base"], sizes["gpu-large"]
    assert all(s < b < g for s, b, g in zip(small, base, large, strict=True)), sizes
    assert 4 <= base[0] / small[0] <= 8 and 30 <= large[0] / small[0] <= 60, sizes  # flow policy, as documented
    assert PRESETS["cpu-small"].policy == {} and not PRESETS["cpu-small"].gpu  # the CPU size is the defaults


def test_an_unknown_preset_is_one_clear_line_listing_the_choices(tmp_path, capsys):
    with pytest.raises(ConfigError) as error:
        RunConfig(out=tmp_path, preset="gpu-xl")
    assert str(error.value) == "run: unknown preset 'gpu-xl'; choose from cpu-small, gpu-base, gpu-large"
    with pytest.raises(ConfigError, match="^preset: unknown preset"):
        get_preset("large")
    code, stderr = flywheel(capsys, "train", "--dataset", tmp_path, "--out", tmp_path / "run", "--preset", "gpu-xl")
    assert code == 2
    one_line(stderr, "--preset", "gpu-xl", "gpu-base")


def test_explicit_policy_overrides_beat_the_preset_and_survive_a_saved_run_config(tmp_path):
    cfg = RunConfig(out=tmp_path, preset="gpu-large", policy={"dim": 256, "chunk_size": 8})
    assert cfg.policy == {**PRESETS["gpu-large"].policy, "dim": 256, "chunk_size": 8}
    loaded = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert loaded.policy == cfg.policy and loaded.preset == "gpu-large"  # --base-from compares these
    assert RunConfig(out=tmp_path).policy == {}


def test_train_flags_beat_the_preset_and_a_gpu_preset_on_the_cpu_warns_once(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr("vla_flywheel.train.loop.train", lambda cfg, progress: seen.append(cfg) or _Done())
    code, stderr = flywheel(capsys, "train", "--dataset", tmp_path, "--out", tmp_path / "run", "--preset", "gpu-base",
                            "--device", "cpu", "--batch-size", "4", "--no-bf16", "--chunk-size", "8")  # fmt: skip
    assert code == 0, stderr
    one_line(stderr, "warning", "gpu-base", "CPU", "slow")
    (cfg,) = seen
    assert (cfg.batch_size, cfg.bf16) == (4, False)
    assert cfg.policy == {**PRESETS["gpu-base"].policy, "chunk_size": 8}
    code, stderr = flywheel(capsys, "train", "--dataset", tmp_path, "--out", tmp_path / "run", "--preset", "gpu-base",
                            "--device", "cpu")  # fmt: skip
    assert (seen[-1].batch_size, seen[-1].bf16) == (128, True)  # no flag: the preset's values
    assert cpu_warning(PRESETS["cpu-small"], "cpu") is None and cpu_warning(PRESETS["gpu-large"], "cuda") is None


class _Done:
    def lines(self) -> list[str]:
        return ["done"]


def test_flywheel_train_with_the_cpu_preset_trains_the_default_model(tmp_path, capsys, ee_delta_demos):
    run = tmp_path / "run"
    code, stderr = flywheel(capsys, "train", "--dataset", ee_delta_demos, "--out", run, "--preset", "cpu-small",
                            "--steps", 2, "--batch-size", 2, "--threads", 1, "--no-progress")  # fmt: skip
    assert code == 0, stderr
    assert "warning" not in stderr
    saved = json.loads((run / "checkpoints" / "last" / "pretrained_model" / "config.json").read_text())
    defaults = PolicyConfig()
    assert (saved["dim"], saved["depth"], saved["pooled_grid"]) == (defaults.dim, defaults.depth, defaults.pooled_grid)
