"""The device a policy trains on, and the CUDA settings that keep its training repeatable to the bit.

On a CPU torch's kernels give the same bits on every run. On CUDA some do not: cuBLAS picks reduction orders by
workspace, cuDNN may autotune a different algorithm per process, and atomic-add kernels (the fused attentions'
backward passes) sum in arrival order. A run killed and resumed then differs from the uninterrupted one in the
last bits of its weights (seen on an H100: `tests/flywheel/test_faults.py` and `test_vlaw.py` failed there by one
ulp), and the difference grows over the rounds. `bench/gpu_presets.py` measures what the deterministic kernels cost.
"""

from __future__ import annotations

import os

import torch

from vla_flywheel.errors import ConfigError


def training_device(name: str) -> torch.device:
    """name: auto (CUDA when torch sees one), cpu or cuda. A CUDA device comes with deterministic kernels."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train: device='cuda' but torch sees no CUDA device; use --device cpu or auto")
    device = torch.device(name)
    if device.type == "cuda":
        deterministic_cuda(True)
    return device


def deterministic_cuda(on: bool) -> None:
    """Deterministic CUDA kernels on or off, for the whole process.

    cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it creates its handle, so the variable is set before the first matrix
    product and left set. An op with no deterministic CUDA kernel warns instead of stopping the run.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = on
    torch.use_deterministic_algorithms(on, warn_only=True)
    # attention: the fused kernels' backward passes (cuDNN, memory-efficient, flash) accumulate with atomics; the
    # plain math kernel does not. With it, training runs at 0.62-1.07 of the defaults' speed on an H100
    # (bench/gpu_presets.py; docs/results/gpu_presets_h100.md)
    torch.backends.cuda.enable_flash_sdp(not on)
    torch.backends.cuda.enable_mem_efficient_sdp(not on)
    torch.backends.cuda.enable_cudnn_sdp(not on)
