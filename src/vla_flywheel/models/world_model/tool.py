"""Where the state puts the tool in the camera image, as decoder features (`ToolMarker`) and as a pasted gripper
sprite (`ToolSprite`), for a world model whose camera is known (`WorldModelConfig.camera_projection`).

A 64 px gripper is a few pixels wide, and a conv decoder that must find out from the image loss alone where to draw it
needs far more than the few minutes of CPU training the world model gets (measured: a faint blob after 1000 steps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_flywheel.models.world_model.config import WorldModelConfig

MASK_INIT_LOGIT = -4.0  # sigmoid(-4) = 2%: training starts from the copy-the-first-frame baseline
STATE_CHANNELS = 32  # the state, embedded and broadcast over the grid the decoder starts from
TOOL_CHANNELS = 8  # feature maps the tool marker adds to the decoder (when the camera is known)
TOOL_SIGMA = 2.0  # pixels: the spot's width at full size
SPRITE_PIXELS = 24  # side of the learned tool sprite, in pixels at the reference depth
SPRITE_GAIN = 80.0  # see ToolSprite.__init__
SPRITE_BASES = 4  # sprites blended by the state (the gripper looks different open, closed, turned)


class ToolMarker(nn.Module):
    """Where the state puts the tool in the image, as feature maps at half resolution, when the camera is known.

    The tool's position is projected through the camera (`camera_projection`, a 3x4 pinhole matrix) to a Gaussian
    spot, and two convs (reaching ~14 px at full size) draw around it, FiLM-conditioned on the state embedding (yaw,
    opening, height change the gripper's look). Learning where a thin gripper appears from its coordinates alone
    takes a conv decoder thousands of steps; with the spot it is a local drawing, learnt in hundreds. The projected
    state is detached: the state head learns from the state loss, not from what helps the picture.
    """

    def __init__(self, c: WorldModelConfig):
        super().__init__()
        self.register_buffer("projection", torch.tensor(c.camera_projection, dtype=torch.float32), persistent=False)
        self.register_buffer("xyz", torch.tensor(c.state_xyz), persistent=False)
        half = c.image_size // 2
        centres = torch.arange(half, dtype=torch.float32) * 2 + 1  # half-size cell centres in full-size pixels
        self.register_buffer("centres", centres, persistent=False)
        self.spot = nn.Conv2d(1, TOOL_CHANNELS, 7, padding=3)
        self.film = nn.Linear(STATE_CHANNELS, 2 * TOOL_CHANNELS)
        self.draw = nn.Conv2d(TOOL_CHANNELS, TOOL_CHANNELS, 5, padding=4, dilation=2)

    def forward(self, state: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """(state [B, D] in env units, its embedding [B, E]) -> [B, M, S/2, S/2]."""
        point = torch.cat([state.detach()[:, self.xyz], torch.ones_like(state[:, :1])], dim=1)  # [B, 4]
        h = point @ self.projection.T  # [B, 3] homogeneous pixel
        uv = h[:, :2] / h[:, 2:].clamp_min(1e-3)  # [B, 2] continuous (u, v) at full size
        du = (self.centres[None] - uv[:, :1]) ** 2  # [B, S/2] along columns
        dv = (self.centres[None] - uv[:, 1:]) ** 2  # [B, S/2] along rows
        spot = torch.exp(-(dv[:, :, None] + du[:, None, :]) / (2 * TOOL_SIGMA**2))[:, None]  # [B, 1, S/2, S/2]
        scale, shift = self.film(embedding)[:, :, None, None].chunk(2, dim=1)
        return F.gelu(self.draw(F.gelu(self.spot(spot) * (1 + scale) + shift)))


def project(projection: torch.Tensor, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(3x4 pinhole matrix, points [B, 3]) -> (pixels (u, v) [B, 2], depth [B, 1])."""
    h = torch.cat([xyz, torch.ones_like(xyz[:, :1])], dim=1) @ projection.T  # [B, 3]
    depth = h[:, 2:].clamp_min(1e-3)
    return h[:, :2] / depth, depth


class ToolSprite(nn.Module):
    """The gripper drawn as a learned RGBA sprite pasted where the camera sees the tool, scaled by its depth.

    A decoder has to discover that a thin white shape sits where the state says; a sprite is told, and only learns
    what the gripper looks like (a blend of a few learned images, weighted by the state: open, closed, turned).
    Its pixels get the image loss's gradient directly, so it is drawn within a few hundred steps. What the sprite
    cannot know, the colour of a block the gripper carries, is left to the decoder under it.
    """

    def __init__(self, c: WorldModelConfig):
        super().__init__()
        self.register_buffer("projection", torch.tensor(c.camera_projection, dtype=torch.float32), persistent=False)
        self.register_buffer("xyz", torch.tensor(c.state_xyz), persistent=False)
        centres = torch.arange(c.image_size, dtype=torch.float32) + 0.5  # pixel centres
        self.register_buffer("centres", centres, persistent=False)
        # logits / SPRITE_GAIN: Adam moves a parameter by about lr per step, too slow for a pixel to go from
        # transparent (-4) to opaque (+4) in a few hundred steps; the gain is a learning-rate multiplier for the sprite
        self.bases = nn.Parameter(torch.randn(SPRITE_BASES, 4, SPRITE_PIXELS, SPRITE_PIXELS) * 0.01)
        with torch.no_grad():
            self.bases[:, 3] = MASK_INIT_LOGIT / SPRITE_GAIN  # transparent until trained
        self.mix = nn.Linear(STATE_CHANNELS, SPRITE_BASES)

    def forward(self, state: torch.Tensor, embedding: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """(state [B, D], its embedding [B, E], the mean state [D]) -> RGBA [B, 4, S, S], alpha 0 off the sprite."""
        uv, depth = project(self.projection, state.detach()[:, self.xyz])  # [B, 2], [B, 1]
        _, reference_depth = project(self.projection, reference[None, self.xyz])
        scale = reference_depth / depth  # [B, 1] apparent size relative to the reference depth
        weights = self.mix(embedding).softmax(-1)  # [B, K]
        sprite = torch.einsum("bk,kcij->bcij", weights, torch.sigmoid(SPRITE_GAIN * self.bases))  # [B, 4, P, P]
        half = SPRITE_PIXELS / 2
        # sprite coordinates of each pixel, in [-1, 1]; the tool point sits a quarter from the sprite's bottom, since
        # the gripper rises above its tool centre point
        x = (self.centres[None] - uv[:, :1]) / (scale * half)  # [B, S] along columns
        y = (self.centres[None] - uv[:, 1:]) / (scale * half) + 0.5  # [B, S] along rows
        size = len(self.centres)
        grid = torch.stack([x[:, None, :].expand(-1, size, -1), y[:, :, None].expand(-1, -1, size)], dim=-1)
        return F.grid_sample(sprite, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
