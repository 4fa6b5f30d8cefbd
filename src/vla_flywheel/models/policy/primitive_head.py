"""The primitive head (LACY's L2A): one pick(x, y, yaw) / place(x, y) action per observation.

Two parameterizations, chosen by measured accuracy (see README):
- "heatmap": a query vector per role is dotted with a per-pixel feature map at 1/2 resolution; a softmax over cells
  says where to act. The cell is refined by a local soft-argmax and mapped to table coordinates by the camera's
  workspace homography. The pick query comes from the instruction alone and the pick features carry no image
  coordinates, so picking is translation-equivariant: the head must find the named block by its look, not remember
  where blocks stood in the few demos it saw (README has the measured effect). The place query comes from the
  transformer's place readout and its features do see coordinates, because places may be absolute ("the top left
  cell") or relative to other objects.
- "bins": each coordinate is classified into `coordinate_bins` bins from the role's readout token alone.
Yaw is classified into `yaw_bins` bins in both (a cube has two grasps 90 degrees apart: a multimodal target that
regression would average). Targets are soft (Gaussian over neighbouring cells/bins) so near misses cost less.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_flywheel.models.encoders import coordinate_grid

SOFT_SIGMA = 0.75  # target width, in cells or bins


def soft_targets(position: torch.Tensor, size: int) -> torch.Tensor:
    """position [B] in cell units (continuous, centre of cell i at i + 0.5) -> [B, size] Gaussian target."""
    centres = torch.arange(size, device=position.device, dtype=torch.float32) + 0.5
    logits = -0.5 * ((centres[None] - position[:, None]) / SOFT_SIGMA) ** 2
    return logits.softmax(dim=-1)


def soft_argmax_1d(logits: torch.Tensor) -> torch.Tensor:
    """[B, N] -> [B] position in cell units: the argmax refined by the probability-weighted mean of its neighbours."""
    n = logits.shape[-1]
    best = logits.argmax(dim=-1)  # [B]
    window = (best[:, None] + torch.arange(-1, 2, device=logits.device)[None]).clamp(0, n - 1)  # [B, 3]
    weights = logits.gather(1, window).softmax(dim=-1)
    return (weights * (window.float() + 0.5)).sum(-1)


def soft_argmax_2d(logits: torch.Tensor) -> torch.Tensor:
    """[B, H, W] -> [B, 2] (u, v) in cell units, refined in the 3x3 window around the argmax."""
    b, h, w = logits.shape
    flat = logits.flatten(1).argmax(dim=-1)
    row, col = flat // w, flat % w
    offsets = torch.arange(-1, 2, device=logits.device)
    rows = (row[:, None] + offsets[None]).clamp(0, h - 1)  # [B, 3]
    cols = (col[:, None] + offsets[None]).clamp(0, w - 1)
    window = logits[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]  # [B, 3, 3]
    weights = window.flatten(1).softmax(dim=-1).view(b, 3, 3)
    v = (weights.sum(2) * (rows.float() + 0.5)).sum(1)
    u = (weights.sum(1) * (cols.float() + 0.5)).sum(1)
    return torch.stack([u, v], dim=-1)


def sample_cell(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """[B, H, W] -> [B, 2] (u, v) in cell units: a cell drawn from softmax(logits / temperature), at its centre."""
    b, h, w = logits.shape
    probs = (logits.flatten(1).float() / temperature).softmax(dim=-1)  # [B, H*W]
    flat = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(logits.device)
    return torch.stack([flat % w, flat // w], dim=-1).float() + 0.5


def unit_to_bin(yaw: torch.Tensor, bins: int) -> torch.Tensor:
    """A value in [-1, 1] (coordinate or yaw) -> continuous bin position in [0, bins]."""
    return (yaw.clamp(-1, 1) + 1) / 2 * bins


def bin_to_unit(position: torch.Tensor, bins: int) -> torch.Tensor:
    return position / bins * 2 - 1


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * logits.float().log_softmax(dim=-1)).sum(-1).mean()


class HeatmapPrimitiveHead(nn.Module):
    """Pixel heatmaps for pick and place over the first camera's 1/2-resolution map."""

    def __init__(self, dim: int, channels: tuple[int, int], yaw_bins: int, homography: torch.Tensor):
        super().__init__()
        c1, c2 = channels
        width = 32
        self.pick_features = nn.Sequential(nn.Conv2d(c1 + c2, width, 1), nn.SiLU(), nn.Conv2d(width, width, 1))
        self.place_features = nn.Sequential(nn.Conv2d(c1 + c2 + 2, width, 1), nn.SiLU(), nn.Conv2d(width, width, 1))
        self.pick_query = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, width))
        self.place_query = nn.Linear(dim, width)
        self.yaw = nn.Sequential(nn.Linear(width + dim, dim), nn.SiLU(), nn.Linear(dim, yaw_bins))
        self.yaw_bins = yaw_bins
        self.cell = 2.0  # pixels per cell of the 1/2-resolution map
        self.register_buffer("homography", homography.float(), persistent=False)
        self.register_buffer("inverse", torch.linalg.inv(homography.double()).float(), persistent=False)

    def forward(self, maps, readouts, instruction: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """-> (pick features [B, E, h, w], pick logits [B, h, w], place logits [B, h, w], pick readout [B, D]).

        `readouts` = (pick, place) transformer outputs [B, D]; `instruction` [B, D] pooled text. Computed once per
        batch; `loss` and `predict` both read these outputs.
        """
        (half, quarter), (pick, place) = maps, readouts
        b, _, h, w = half.shape
        up = F.interpolate(quarter, size=(h, w), mode="nearest")
        coords = coordinate_grid(h, w, half.device).expand(b, -1, -1, -1).to(half.dtype)
        features = self.pick_features(torch.cat([half, up], dim=1))  # [B, E, h, w]
        place_features = self.place_features(torch.cat([half, up, coords], dim=1))  # [B, E, h, w]
        scale = features.shape[1] ** -0.5
        pick_logits = torch.einsum("bchw,bc->bhw", features, self.pick_query(instruction)) * scale
        place_logits = torch.einsum("bchw,bc->bhw", place_features, self.place_query(place)) * scale
        return features, pick_logits, place_logits, pick

    def _yaw_logits(self, features: torch.Tensor, cell_uv: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
        _, _, h, w = features.shape
        col = cell_uv[:, 0].long().clamp(0, w - 1)
        row = cell_uv[:, 1].long().clamp(0, h - 1)
        local = features[torch.arange(features.shape[0]), :, row, col]  # [B, E]
        return self.yaw(torch.cat([local, pick.to(local.dtype)], dim=-1))

    def _to_cells(self, xy: torch.Tensor) -> torch.Tensor:
        """[B, 2] table xy -> [B, 2] (u, v) in cell units."""
        h = torch.cat([xy, torch.ones_like(xy[:, :1])], dim=-1) @ self.homography.T
        return h[:, :2] / h[:, 2:] / self.cell

    def _to_table(self, cells: torch.Tensor) -> torch.Tensor:
        h = torch.cat([cells * self.cell, torch.ones_like(cells[:, :1])], dim=-1) @ self.inverse.T
        return (h[:, :2] / h[:, 2:]).clamp(-1, 1)

    def loss(self, outputs, action: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """action [B, 5] = pick x, y, yaw, place x, y (normalized); shift [B, 2] pixels the images were moved by."""
        features, pick_logits, place_logits, pick = outputs
        cell_shift = shift / self.cell
        _, h, w = pick_logits.shape
        losses = {}
        for name, logits, xy in (("pick", pick_logits, action[:, :2]), ("place", place_logits, action[:, 3:5])):
            uv = self._to_cells(xy) + cell_shift
            target = soft_targets(uv[:, 1], h)[:, :, None] * soft_targets(uv[:, 0], w)[:, None, :]  # [B, h, w]
            losses[name] = _soft_ce(logits.flatten(1), target.flatten(1))
        yaw_logits = self._yaw_logits(features, self._to_cells(action[:, :2]) + cell_shift, pick)
        losses["yaw"] = _soft_ce(yaw_logits, soft_targets(unit_to_bin(action[:, 2], self.yaw_bins), self.yaw_bins))
        return sum(losses.values()), {f"{k}_loss": v.item() for k, v in losses.items()}

    def predict(self, outputs, shift: torch.Tensor, temperature: float = 0.0, generator=None) -> torch.Tensor:
        """-> [B, 5] pick x, y, yaw, place x, y; `shift` [B, 2] undoes a training-time image translation.

        temperature 0 takes the refined argmax of each heatmap; above 0 it draws the pick and place cells from the
        heatmaps (LACY samples several L2A candidates and lets them vote).
        """
        features, pick_logits, place_logits, pick = outputs
        if temperature > 0:
            pick_cells = sample_cell(pick_logits, temperature, generator)
            place_cells = sample_cell(place_logits, temperature, generator)
        else:
            pick_cells = soft_argmax_2d(pick_logits.float())  # in the (possibly shifted) image
            place_cells = soft_argmax_2d(place_logits.float())
        yaw = bin_to_unit(soft_argmax_1d(self._yaw_logits(features, pick_cells, pick).float()), self.yaw_bins)
        pick_xy = self._to_table(pick_cells - shift / self.cell)
        place_xy = self._to_table(place_cells - shift / self.cell)
        return torch.cat([pick_xy, yaw[:, None], place_xy], dim=-1)  # [B, 5]


class BinsPrimitiveHead(nn.Module):
    """Coordinate classification from the pick and place readout tokens alone."""

    def __init__(self, dim: int, coordinate_bins: int, yaw_bins: int):
        super().__init__()
        self.bins, self.yaw_bins = coordinate_bins, yaw_bins
        self.pick = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 2 * coordinate_bins + yaw_bins))
        self.place = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 2 * coordinate_bins))

    def forward(self, maps, readouts, instruction: torch.Tensor) -> list[torch.Tensor]:
        """-> logits of pick x, pick y, yaw, place x, place y (maps are not used: that is this head's point)."""
        pick, place = self.pick(readouts[0]), self.place(readouts[1])
        n = self.bins
        return [pick[:, :n], pick[:, n : 2 * n], pick[:, 2 * n :], place[:, :n], place[:, n:]]

    def loss(self, logits, action: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """As the heatmap head's; the shift is ignored (a table coordinate does not move with the image)."""
        losses = {}
        for i, name in enumerate(("pick_x", "pick_y", "yaw", "place_x", "place_y")):
            size = self.yaw_bins if name == "yaw" else self.bins
            losses[name] = _soft_ce(logits[i], soft_targets(unit_to_bin(action[:, i], size), size))
        return sum(losses.values()), {f"{k}_loss": v.item() for k, v in losses.items()}

    def predict(self, logits, shift: torch.Tensor) -> torch.Tensor:
        sizes = (self.bins, self.bins, self.yaw_bins, self.bins, self.bins)
        values = [bin_to_unit(soft_argmax_1d(x.float()), n) for x, n in zip(logits, sizes, strict=True)]
        return torch.stack(values, dim=-1)  # [B, 5]
