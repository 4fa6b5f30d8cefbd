"""JudgeEnsemble: K critics or success classifiers trained alike, each from its own start, read as one judge.

A small judge trained on ~100 demonstrations varies with its training seed about as much as with any design change
(README "Judges": the same critic's VOC 0.77-0.91 and rollout AUROC 0.86-0.94 over four seeds). Averaging what K
members say cancels much of that spread at K times the training cost:
- critic: the mean of the members' potentials phi (or, read as pairs, of their progress), and of their done logits;
- success classifier: the mean of their logits.
The explainer decodes words and the verifier is read alongside it, so neither is averaged (JudgeConfig refuses it).
Members share the config (with `members` = 1) and the tokenizer; their weights are saved together under
`members.<k>.` in one model.safetensors, so an ensemble saves, loads and resolves like any judge.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from vla_flywheel.models.judges.config import JudgeConfig
from vla_flywheel.models.judges.modeling import WEIGHTS_FILE, FlywheelJudge
from vla_flywheel.models.loading import save_model
from vla_flywheel.models.tokenizer import WordTokenizer


class JudgeEnsemble(nn.Module):
    name = FlywheelJudge.name

    def __init__(self, config: JudgeConfig, tokenizer: WordTokenizer):
        super().__init__()
        self.config, self.tokenizer = config, tokenizer
        member = replace(config, members=1)
        self.members = nn.ModuleList(FlywheelJudge(member, tokenizer) for _ in range(config.members))

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    def _mean(self, read) -> torch.Tensor:
        return torch.stack([read(member) for member in self.members]).mean(0)

    def potential(self, frame: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """[B] the members' mean phi (see FlywheelJudge.potential)."""
        return self._mean(lambda m: m.potential(frame, texts))

    def progress(self, first: torch.Tensor, second: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """[B] progress from the mean phi of each frame (potential critics) or the members' mean progress (pairs)."""
        if self.config.progress_reading == "potential":
            phi = self.potential(torch.cat([first, second]), texts + texts)  # [2B]: firsts then seconds
            return FlywheelJudge._between_potentials(*phi.chunk(2))
        return self._mean(lambda m: m.progress(first, second, texts))

    def progress_along(self, video: torch.Tensor, task: str) -> torch.Tensor:
        """Progress [N-1] between consecutive frames of video [N, S, S, 3]."""
        if self.config.progress_reading == "potential":
            phi = self.potential(video, [task] * len(video))  # [N]
            return FlywheelJudge._between_potentials(phi[:-1], phi[1:])
        return self._mean(lambda m: m.progress_along(video, task))

    def done_logit(self, frame: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self._mean(lambda m: m.done_logit(frame, texts))

    def success_logit(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self._mean(lambda m: m.success_logit(frames, texts))

    def grounding(self, frames: torch.Tensor, texts: list[str], where: torch.Tensor,
                  known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Each member's placing, pooled: (mean loss, every member's hits [K * hits])."""
        losses, hits = zip(*(m.grounding(frames, texts, where, known) for m in self.members), strict=True)
        return torch.stack(losses).mean(), torch.cat(hits)

    def save_pretrained(self, directory: str | Path) -> None:
        directory = save_model(directory, self.config.to_dict(), self, WEIGHTS_FILE)
        self.tokenizer.save(directory)
