"""LACY's explainer (A2L): (frame before, primitive action) -> the words for what the action does.

A mixin of FlywheelJudge (models/judges/modeling.py), whose encoders and transformer it reads through: the action is
the query the image is FiLM-conditioned on, two glimpses cut around the pick and place points show the block under
the pick and what lies near the place, and a GRU decodes the description word by word from the task token's output.
Its parameters (action_proj, word_embedding, begin, decoder, word_out, the homography buffer) are built by
FlywheelJudge when the config has the explainer role, so checkpoints keep their keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vla_flywheel.constants import EXPLANATION
from vla_flywheel.models.encoders import to_float_images


class ExplainerRole:
    """The explainer's methods; `self` is a FlywheelJudge."""

    def _explain_context(self, frame: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(frame [B, S, S, 3], action [B, 5] normalized pick x, y, yaw, place x, y) -> [B, D]."""
        action = action.to(self.device).float()
        query = self.action_proj(action)  # [B, D]
        image = to_float_images(frame).to(self.device)
        g = self.config.glimpse_pixels
        pick = self._frame_tokens(self._glimpse(image, action[:, :2], g // 2)[:, None], query, True, centre=True)
        place = self._frame_tokens(self._glimpse(image, action[:, 3:5], g)[:, None], query, False, centre=True)
        whole = self._frame_tokens(image[:, None], query, False)
        parts = [whole, pick + self.segment_embedding[0], place + self.segment_embedding[1], query[:, None]]
        return self._read("explain", parts, None)

    def _glimpse(self, image: torch.Tensor, xy: torch.Tensor, pixels: int) -> torch.Tensor:
        """[B, 3, S, S] -> [B, 3, pixels, pixels] centred on table point xy [B, 2] (border pixels repeat)."""
        b, size = image.shape[0], image.shape[-1]
        h = torch.cat([xy, torch.ones_like(xy[:, :1])], dim=-1) @ self.homography.T
        uv = h[:, :2] / h[:, 2:]  # [B, 2] continuous pixels
        theta = torch.zeros(b, 2, 3, device=image.device)
        theta[:, 0, 0] = theta[:, 1, 1] = pixels / size
        theta[:, :, 2] = uv * 2 / size - 1
        grid = F.affine_grid(theta, [b, 3, pixels, pixels], align_corners=False)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def explanation_logits(self, frame: torch.Tensor, action: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: target words [B, L] -> logits [B, L, V] for each word given the ones before it."""
        context = self._explain_context(frame, action)  # [B, D]
        previous = torch.cat([self.begin.expand(len(words), 1, -1), self.word_embedding(words[:, :-1])], dim=1)
        inputs = torch.cat([previous, context[:, None].expand_as(previous)], dim=-1)  # [B, L, 2D]
        hidden, _ = self.decoder(inputs, context[None].contiguous())
        return self.word_out(hidden)

    @torch.no_grad()
    def explain(self, frame: torch.Tensor, action: torch.Tensor) -> list[str]:
        """Greedy decoding: one sentence per (frame, action); stops at the padding token."""
        context = self._explain_context(frame, action)
        b = context.shape[0]
        state, word = context[None].contiguous(), self.begin.expand(b, -1)
        out = torch.zeros(b, self.config.max_explanation_length, dtype=torch.long, device=self.device)
        finished = torch.zeros(b, dtype=torch.bool, device=self.device)
        for i in range(self.config.max_explanation_length):
            hidden, state = self.decoder(torch.cat([word, context], dim=-1)[:, None], state)
            choice = self.word_out(hidden[:, 0]).argmax(-1).masked_fill(finished, self.tokenizer.pad_id)
            out[:, i] = choice
            finished |= choice == self.tokenizer.pad_id
            if finished.all():
                break
            word = self.word_embedding(choice)
        return [self.tokenizer.decode(row.tolist()) for row in out]

    def _explanation_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of the true description's words, teacher-forced."""
        words = self.tokenizer(batch[EXPLANATION])[0].to(self.device)  # [B, L], padding after the last word
        logits = self.explanation_logits(batch["frame"], batch["action"], words)  # [B, L, V]
        # every word and the first padding token (the stop signal); nothing after it
        is_pad = (words == self.tokenizer.pad_id).long()
        counted = (is_pad.cumsum(1) - is_pad) == 0  # [B, L]
        loss = F.cross_entropy(logits[counted], words[counted])
        return loss, {"explainer_loss": loss.item()}
