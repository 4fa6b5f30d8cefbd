"""P(the closing fingers hold a block), read from the scene under the tool: what an imagined grasp is drawn from.

The world model's 8x8 latent cannot see whether the fingers close on the block or beside it, and its state head,
trained with a squared error, predicts the mean opening of holding (4 cm) and missing (0). That mean ranks held
against missed closings at AUROC 0.60 on `bench/judges.py`'s data, and every wrong draw moves a block that stayed put
or leaves one that was carried, which is what lost the late frames of a weak policy's videos to copying the first
frame (README "VLAW"). The first frame shows what decides most grasps: how far the block lies from where the tool
comes down, how it is turned, and what crowds it. A small CNN over that patch, fitted to the closings the training
data recorded (train/world_model_grasps.py), ranks the 139 closings of the held-out videos at AUROC 0.92, where a
logistic regression on two hand-made features of the patch (the block pixels' offset, and a crowded patch) reached
0.85, and cuts the expected share of wrong draws from 0.35 to 0.20.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GRASP_PATCH = 15  # px side: a 4 cm block is 4-6 px wide at 64 px; the patch also shows its neighbours and the pads
WIDTH = 16  # conv channels (32 after the pooling)


class GraspOdds(nn.Module):
    """patches [N, 3, P, P] (floats in [0, 1], centred where the tool projects) -> logit of P(hold) [N]."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, WIDTH, 3, padding=1), nn.ReLU(),
            nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [N, W, P/2, P/2]
            nn.Conv2d(WIDTH, 2 * WIDTH, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # [N, 2W]
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(2 * WIDTH, 2 * WIDTH), nn.ReLU(), nn.Linear(2 * WIDTH, 1))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(patches))[:, 0]

    @torch.no_grad()
    def probability(self, patch: torch.Tensor) -> float:
        """One patch [3, P, P] -> P(hold)."""
        return float(torch.sigmoid(self(patch[None].to(self.head[0].weight.device))))


def patch_at(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """(image [3, S, S], pixel (u, v) [2]) -> the GRASP_PATCH-sided patch centred at the nearest pixel [3, P, P], zero
    beyond the image's edge."""
    padded = F.pad(image, (GRASP_PATCH,) * 4)  # [3, S + 2P, S + 2P]
    u, v = (int(x) + GRASP_PATCH - GRASP_PATCH // 2 for x in uv.round().long())  # the patch's corner in `padded`
    if not (0 <= u <= padded.shape[-1] - GRASP_PATCH and 0 <= v <= padded.shape[-2] - GRASP_PATCH):
        return image.new_zeros(3, GRASP_PATCH, GRASP_PATCH)  # the tool projects far off the image: nothing there
    return padded[:, v : v + GRASP_PATCH, u : u + GRASP_PATCH]
