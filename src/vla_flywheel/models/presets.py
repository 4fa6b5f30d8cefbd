"""Named model sizes: `cpu-small` (the defaults) and two larger presets for CUDA, as config overrides.

DESIGN §3: bigger configs for GPU are presets, not forks. A preset is nothing but field overrides of PolicyConfig,
TrainConfig and JudgeConfig: the same model code, heads, data and checkpoints at another width and depth. An override
given explicitly (a flag, a run's `policy`) beats the preset's.

Parameters, measured by building the models (the tabletop ee_delta flow policy with pointing, the primitive heatmap
policy, a critic judge), with the multiple of cpu-small:

    preset      flow policy       primitive policy   critic judge
    cpu-small    1.16 M            0.58 M             0.16 M
    gpu-base     6.56 M  (5.6x)    4.34 M  (7.5x)     1.13 M  (7.2x)
    gpu-large   38.36 M (33x)     29.73 M (51x)       6.05 M (38x)

Besides width and depth, the GPU presets see more of each image (pooled_grid 8: 64 grid tokens per camera instead
of 16; ~85 tokens in all, cheap on a GPU, not on 2 CPU cores) and train at larger batches with bf16 autocast. The
learning rate and step counts stay the defaults: they were not tuned for the larger models, so a preset is a size that
runs, not a tuned recipe. The judge overrides are ready for judge training, which runs on the CPU today and takes no
preset yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vla_flywheel.errors import ConfigError

DEFAULT_PRESET = "cpu-small"


@dataclass(frozen=True)
class Preset:
    """name: what `--preset` takes. gpu: sized for CUDA (on the CPU it still runs, slowly).
    policy / train / judge: PolicyConfig, TrainConfig and JudgeConfig field overrides, in JSON's types (lists, not
        tuples), so that a run's saved config compares equal to the one it was made from.
    """

    name: str
    gpu: bool
    policy: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    judge: dict = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("cpu-small", gpu=False),  # the config defaults, sized for a 2-core CPU
        Preset(
            "gpu-base",
            gpu=True,
            policy={
                "dim": 256,
                "depth": 4,
                "num_heads": 8,
                "ff_mult": 4,
                "channels": [64, 128],
                "pooled_grid": 8,
                "keypoints": 32,
                "flow_hidden": 1024,
            },
            train={"batch_size": 128, "bf16": True},
            judge={"dim": 128, "depth": 4, "num_heads": 4, "ff_mult": 4, "channels": [32, 64], "frames": 16},
        ),
        Preset(
            "gpu-large",
            gpu=True,
            policy={
                "dim": 512,
                "depth": 8,
                "num_heads": 8,
                "ff_mult": 4,
                "channels": [128, 256],
                "pooled_grid": 8,
                "keypoints": 32,
                "flow_hidden": 2048,
            },
            train={"batch_size": 256, "bf16": True},
            judge={"dim": 256, "depth": 6, "num_heads": 8, "ff_mult": 4, "channels": [64, 128], "frames": 16},
        ),
    )
}


def get_preset(name: str, where: str = "preset") -> Preset:
    """The preset called `name`; an unknown name is one line listing the choices."""
    if name not in PRESETS:
        raise ConfigError(f"{where}: unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def cpu_warning(preset: Preset, device: str = "auto") -> str | None:
    """One line when a GPU preset is about to train on the CPU (it works, only slowly); None otherwise.

    device: "auto" (CUDA when torch sees one), "cpu" or "cuda" (a missing CUDA device is the trainer's error).
    """
    if not preset.gpu or device == "cuda":
        return None
    import torch

    if device == "auto" and torch.cuda.is_available():
        return None
    why = "--device cpu" if device == "cpu" else "torch sees no CUDA device"
    return f"preset {preset.name} is sized for CUDA but will run on the CPU ({why}); expect it to be slow"
