"""Encoders shared by the policy and (later) the judges: images with language FiLM, text, and time.

The image encoder is a small CNN (FiLM-conditioned on the instruction at every block) whose 1/4-resolution map
becomes a few tokens (average-pooled grid with position embeddings + one spatial-softmax keypoint token), so the
transformer above it sees tens of tokens, not hundreds (sequence length is what costs on a CPU). Its 1/2-resolution
map is kept for heads that point at pixels. The CNN gets no coordinate channels: its features are translation-
equivariant, so a head that points by appearance cannot fall back on remembering positions; heads that need
absolute positions add coordinates themselves.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [..., S, S, 3] as datasets hold images -> float [..., 3, S, S] in [0, 1] (float input passes through)."""
    if images.dtype == torch.uint8:
        return images.movedim(-1, -3).float() / 255.0
    return images


def coordinate_grid(height: int, width: int, device=None) -> torch.Tensor:
    """[2, H, W] x (columns) and y (rows) in [-1, 1], cell centres."""
    ys = (torch.arange(height, device=device) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device) + 0.5) / width * 2 - 1
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"))


class FiLMBlock(nn.Module):
    """conv3x3 -> GroupNorm -> FiLM(text) -> SiLU."""

    def __init__(self, cin: int, cout: int, stride: int, text_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.norm = nn.GroupNorm(8, cout)
        self.film = nn.Linear(text_dim, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(text)[:, :, None, None].chunk(2, dim=1)  # [B, C, 1, 1] each
        return F.silu(self.norm(self.conv(x)) * (1 + gamma) + beta)


class ImageEncoder(nn.Module):
    """RGB [B, 3, S, S] in [0, 1] + text vector [B, D] -> half map [B, c1, S/2, S/2], quarter map [B, c2, S/4, S/4]."""

    def __init__(self, channels: tuple[int, int], text_dim: int):
        super().__init__()
        c1, c2 = channels
        self.block1 = FiLMBlock(3, c1, 2, text_dim)
        self.block2 = FiLMBlock(c1, c2, 2, text_dim)
        self.block3 = FiLMBlock(c2, c2, 1, text_dim)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.block1(image * 2 - 1, text)  # [B, c1, S/2, S/2]
        quarter = self.block2(half, text)  # [B, c2, S/4, S/4]
        quarter = quarter + self.block3(quarter, text)
        return half, quarter


def grid_pool(features: torch.Tensor, grid: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, grid, grid] cell means.

    Where the cells tile the map exactly (every size the presets use), avg_pool2d gives the same bits as adaptive
    pooling on the CPU and, unlike it, has a deterministic CUDA backward (train/device.py).
    """
    h, w = features.shape[-2:]
    if h % grid or w % grid:
        return F.adaptive_avg_pool2d(features, grid)
    return F.avg_pool2d(features, (h // grid, w // grid))


class ImageTokens(nn.Module):
    """Quarter map -> pooled_grid^2 grid tokens + 1 keypoint token, each [B, ., D]."""

    def __init__(self, channels: int, dim: int, pooled_grid: int, keypoints: int):
        super().__init__()
        self.pooled_grid = pooled_grid
        self.proj = nn.Linear(channels, dim)
        self.position = nn.Parameter(torch.randn(pooled_grid * pooled_grid, dim) * 0.02)
        self.keypoint_logits = nn.Conv2d(channels, keypoints, 1)
        self.keypoint_proj = nn.Linear(2 * keypoints, dim)

    def forward(self, quarter: torch.Tensor) -> torch.Tensor:
        b, _, h, w = quarter.shape
        grid = self.proj(grid_pool(quarter, self.pooled_grid).flatten(2).transpose(1, 2)) + self.position  # [B, G*G, D]
        attention = self.keypoint_logits(quarter).flatten(2).softmax(dim=-1)  # [B, K, H*W]
        coords = coordinate_grid(h, w, quarter.device).flatten(1).to(attention.dtype)  # [2, H*W]
        keypoints = torch.einsum("bkn,cn->bkc", attention, coords).flatten(1)  # [B, 2K] expected (x, y)
        return torch.cat([grid, self.keypoint_proj(keypoints)[:, None]], dim=1)  # [B, G*G + 1, D]


class TextEncoder(nn.Module):
    """Token ids [B, L] + mask [B, L] -> token embeddings [B, L, D] and a pooled vector [B, D].

    One self-attention layer lets word order matter ("red on blue" is not "blue on red") before pooling.
    """

    def __init__(self, vocab_size: int, dim: int, max_length: int, num_heads: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.position = nn.Parameter(torch.randn(max_length, dim) * 0.02)
        self.layer = nn.TransformerEncoderLayer(dim, num_heads, 2 * dim, 0.0, "gelu", batch_first=True, norm_first=True)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.layer(self.embed(tokens) + self.position[: tokens.shape[1]], src_key_padding_mask=~mask)
        weights = mask.to(x.dtype)[..., None]  # [B, L, 1]
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return x, pooled


def sinusoidal_embedding(t: torch.Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0) -> torch.Tensor:
    """t [B] -> [B, dim] sine-cosine features with periods from min_period to max_period (openpi's choice)."""
    fraction = torch.linspace(0.0, 1.0, dim // 2, device=t.device, dtype=torch.float32)
    period = min_period * (max_period / min_period) ** fraction
    angle = t.float()[:, None] * (2 * math.pi / period)[None]
    return torch.cat([angle.sin(), angle.cos()], dim=-1)
