"""A block the gripper holds moves with it in imagined frames, for a world model that knows the camera and the
gripper's opening (`WorldModelConfig.opening_index`).

The decoder composites its edits over the rollout's first real frame, so a block the gripper lifts stays painted
where it lay, and no imagined rollout ever shows a block on its pad: the success classifier then believes no imagined
success (measured, README "VLAW"). Learning to erase the block there and repaint it under the gripper from a few
hundred rollouts is as slow as learning to draw the gripper was; but the state already says when the fingers close on
something (their opening stops at a block's width instead of closing to 0) and where the tool is. So the frame the
decoder composites over follows the state:
- grasp: when the fingers close (their opening stays under a block's width for a whole chunk) at a block's height,
  they hold a block with a probability drawn once per closing. With fitted grasp odds (grasp_odds.GraspOdds, which
  train-world-model fits to the recorded closings of its data) the probability reads the scene under the tool.
  Without them (models saved before, or data with too few closings) it is the predicted opening / HELD_OPENING: the
  state head is trained with a squared error, so where the data hold both outcomes from one situation it predicts
  their mean, 4 cm x P(hold). A grasp cuts the pixels under the tool unlike the table around them (the block) out of
  the scene and fills their place with that table colour;
- carry: while held, the cut block is drawn where the tool projects;
- release: when the fingers open past a block's width, the block is left on the table under the tool.
Only where pixels go is decided here. How likely the fingers are to hold is learnt from the data: a world model that
never saw a failed grasp believes in a held block wherever the fingers close.
"""

from __future__ import annotations

import torch

from vla_flywheel.models.world_model.grasp_odds import GraspOdds, patch_at
from vla_flywheel.models.world_model.tool import project

HELD_OPENING = 0.04  # metres of finger opening when closed on a 4 cm block (open 0.07, closed on nothing 0)
OPEN_ABOVE = 0.046  # an opening above this is open: below it the fingers have closed, above it again they let go
PATCH = 9  # pixels cut around the tool at a grasp: a 4 cm block is 4-6 px wide at 64 px
BLOCK_CENTRE_Z = 0.02  # a released block rests with its centre this high (the table top is z = 0)
GRASP_HEIGHT = 0.05  # the tool is at most this high when its fingers close on a block resting on the table
UNLIKE_TABLE = 0.12  # mean |RGB difference| from the patch border's median above which a pixel is block


class BlockCarry:
    """One rollout batch's carried blocks: `after(states)` -> the frame [B, 3, S, S] to composite over next.

    The grasps are drawn from `generator`, so one generator seed gives one imagined outcome.
    """

    def __init__(self, context: torch.Tensor, projection: torch.Tensor, xyz: tuple[int, ...], opening: int,
                 generator: torch.Generator, grasp_odds: GraspOdds | None = None):  # fmt: skip
        self.scene = context.clone()  # [B, 3, S, S]: the first frame, with dropped and lifted blocks moved
        self.projection, self.xyz, self.opening, self.generator = projection, list(xyz), opening, generator
        self.grasp_odds = grasp_odds  # None: P = opening / HELD_OPENING
        self.closings: list[tuple[torch.Tensor, float]] = []  # every closing: the scene under the tool [3, P, P], and
        # P from its opening (near 0 or 1 when the states are recorded ones: train/world_model_grasps.py reads that)
        b = len(context)
        self.holding = torch.zeros(b, dtype=torch.bool, device=context.device)
        self.armed = torch.ones(b, dtype=torch.bool, device=context.device)  # open since the last closing
        self.block = torch.zeros(b, 3, PATCH, PATCH, device=context.device)  # the cut pixels
        self.alpha = torch.zeros(b, 1, PATCH, PATCH, device=context.device)  # 1 where they are block

    def _pixel(self, xyz: torch.Tensor) -> torch.Tensor:
        """[B, 3] metres -> [B, 2] integer (column, row) of the patch's top-left corner centred there."""
        uv, _ = project(self.projection, xyz)
        return self._corner(uv)

    @staticmethod
    def _corner(uv: torch.Tensor) -> torch.Tensor:
        return (uv - PATCH / 2).round().long()

    def _window(self, corner: torch.Tensor) -> tuple[slice, slice, slice, slice] | None:
        """(rows, columns) of the image and of the patch where a patch at `corner` overlaps the image."""
        size = self.scene.shape[-1]
        c, r = int(corner[0]), int(corner[1])
        r0, c0, r1, c1 = max(r, 0), max(c, 0), min(r + PATCH, size), min(c + PATCH, size)
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1), slice(r0 - r, r1 - r), slice(c0 - c, c1 - c)

    def _patch(self, i: int, corner: torch.Tensor):
        """The scene under a patch at `corner`: (window, pixels [3, h, w], table colour [3, 1, 1], block mask
        [1, h, w]), or None off the image."""
        window = self._window(corner)
        if window is None:
            return None
        rows, cols, _, _ = window
        pixels = self.scene[i, :, rows, cols]  # [3, h, w]
        border = torch.cat([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], dim=1)  # [3, n]
        table = border.median(dim=1).values[:, None, None]  # [3, 1, 1]
        block = ((pixels - table).abs().mean(0, keepdim=True) > UNLIKE_TABLE).float()  # [1, h, w]
        return window, pixels, table, block

    def _grasp(self, i: int, patch) -> None:
        (rows, cols, pr, pc), pixels, table, block = patch
        self.block[i].zero_()
        self.alpha[i].zero_()
        self.block[i, :, pr, pc], self.alpha[i, :, pr, pc] = pixels, block
        self.scene[i, :, rows, cols] = block * table + (1 - block) * pixels
        self.holding[i] = True

    def _paste(self, image: torch.Tensor, i: int, corner: torch.Tensor) -> None:
        window = self._window(corner)
        if window is not None:
            rows, cols, pr, pc = window
            alpha = self.alpha[i, :, pr, pc]
            image[i, :, rows, cols] = alpha * self.block[i, :, pr, pc] + (1 - alpha) * image[i, :, rows, cols]

    @torch.no_grad()
    def after(self, states: torch.Tensor) -> torch.Tensor:
        """states [B, k, D] after a chunk's actions -> the frame the decoder composites over after it [B, 3, S, S]."""
        opening = states[:, :, self.opening]  # [B, k]
        tool = states[:, -1, self.xyz]  # [B, 3]
        closing = self.armed & (opening <= OPEN_ABOVE).all(dim=1) & (tool[:, 2] <= GRASP_HEIGHT)  # [B]
        p_hold = (opening[:, -1] / HELD_OPENING).clamp(0, 1)  # [B]
        draw = torch.rand(len(states), generator=self.generator).to(states.device)  # [B]
        self.armed = (self.armed & ~closing) | (opening[:, -1] > OPEN_ABOVE)
        uv, _ = project(self.projection, tool)  # [B, 2]
        corners = self._corner(uv)
        dropped = tool.clone()
        dropped[:, 2] = BLOCK_CENTRE_Z
        drop_corners = self._pixel(dropped)
        for i in range(len(states)):
            if self.holding[i] and opening[i, -1] > OPEN_ABOVE:  # let go: the block stays on the table below
                self._paste(self.scene, i, drop_corners[i])
                self.holding[i] = False
            elif not self.holding[i] and closing[i] and (patch := self._patch(i, corners[i])) is not None:
                view = patch_at(self.scene[i], uv[i])  # [3, P, P] what the fingers close on
                self.closings.append((view, float(p_hold[i])))
                p = float(p_hold[i]) if self.grasp_odds is None else self.grasp_odds.probability(view)
                if draw[i] < p:
                    self._grasp(i, patch)
        frame = self.scene.clone()
        for i in torch.nonzero(self.holding).flatten().tolist():
            self._paste(frame, i, corners[i])
        return frame


class StillScene:
    """The first frame, unchanged: what a world model composites over when it does not know the gripper's opening."""

    def __init__(self, context: torch.Tensor):
        self.context = context

    def after(self, states: torch.Tensor) -> torch.Tensor:
        return self.context
