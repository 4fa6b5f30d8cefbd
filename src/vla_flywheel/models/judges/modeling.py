"""FlywheelJudge: the models that decide what the flywheel learns from, one backbone and one head per role.

Roles (see JudgeConfig): the VLAC progress critic with its done head, the VLAW trajectory success classifier, and
LACY's explainer (A2L) and consistency verifier (L2C). Every input is a short token sequence

    [task token | image tokens (per frame or glimpse, + frame embedding) | extra tokens | text tokens]

read by one small transformer; the task token's output feeds the head. Images are encoded by the policy's FiLM CNN,
conditioned on a query vector: the instruction (critic, success, verifier) or the action (explainer), so the
features already know what to look for. The explainer looks through glimpses cut around its pick and place points
(it must name the block under the pick and what lies near the place) and decodes words autoregressively with a GRU.

An image's tokens are an average-pooled grid, a keypoint token and a max-pooled token: the grid says where things
are, the max token whether the instruction-conditioned features fire anywhere (the block is on its pad somewhere),
which a 4x4 average dilutes for a 3-pixel block. With `relation` on, the success classifier's frames (and a potential
critic's) add a relation token (where the named block and pad are, how much of one lies on the other:
models/judges/relation.py).

Batches are dicts of tensors made by `vla_flywheel.train.judge_data`; images are uint8 [B, (N,) S, S, 3] as datasets
hold them. Saving writes config.json + model.safetensors + tokenizer.json, like the policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from vla_flywheel.constants import TASK
from vla_flywheel.errors import ConfigError
from vla_flywheel.models.encoders import ImageEncoder, ImageTokens, TextEncoder, to_float_images
from vla_flywheel.models.judges.config import JudgeConfig
from vla_flywheel.models.judges.explainer import ExplainerRole
from vla_flywheel.models.judges.relation import ObjectGoalRelation
from vla_flywheel.models.loading import load_weights, read_model_config, save_model
from vla_flywheel.models.policy.modeling import CONFIG_FILE, WEIGHTS_FILE, resolve_pretrained_dir
from vla_flywheel.models.tokenizer import WordTokenizer

if TYPE_CHECKING:
    from vla_flywheel.models.judges.ensemble import JudgeEnsemble

TASKS = ("progress", "done", "success", "explain", "verify")  # task tokens; the critic role uses the first two
LOAD_FIX = "pass a `flywheel train-judge` run, a checkpoints/<step> or a pretrained_model directory"
POTENTIAL_FLOOR = 0.02  # 1 - phi_i below this (the last 2% of a task) divides by it instead
COARSE_GRID = 2  # context frames and the pick glimpse: 2x2 + 1 tokens each


def head(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out))


class FlywheelJudge(ExplainerRole, nn.Module):
    name = "flywheel_judge"

    def __init__(self, config: JudgeConfig, tokenizer: WordTokenizer):
        super().__init__()
        self.config, self.tokenizer = config, tokenizer
        c = config
        self.text = TextEncoder(len(tokenizer), c.dim, c.max_text_length, c.num_heads)
        self.image = ImageEncoder(c.channels, c.dim)
        self.tokens_fine = ImageTokens(c.channels[1], c.dim, c.pooled_grid, 8)
        self.tokens_coarse = ImageTokens(c.channels[1], c.dim, COARSE_GRID, 8)
        self.pooled_proj = nn.Linear(c.channels[1], c.dim)  # a map pooled to one vector (max, or the centre) -> token
        self.task_tokens = nn.Parameter(torch.randn(len(TASKS), c.dim) * 0.02)
        self.role_queries = nn.Parameter(torch.randn(2, c.dim) * 0.02)  # what to look for: object, goal
        self.look_for = nn.Linear(2 * c.dim, c.dim)
        self.frame_embedding = nn.Parameter(torch.zeros(max(c.frames, 3), 1, c.dim))
        self.segment_embedding = nn.Parameter(torch.zeros(2, 1, c.dim))  # text a / text b (verifier)
        self.centre_embedding = nn.Parameter(torch.zeros(1, c.dim))  # a glimpse's centre token
        layer = nn.TransformerEncoderLayer(
            c.dim, c.num_heads, c.ff_mult * c.dim, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(c.dim)
        if c.relation and {"success", "critic"} & set(c.roles):
            self.relation = ObjectGoalRelation(c.dim)
            self.relation_embedding = nn.Parameter(torch.zeros(1, c.dim))
        if "critic" in c.roles:
            self.progress_head, self.done_head = head(c.dim, 1), head(c.dim, 1)
        if "success" in c.roles:
            self.success_head = head(c.dim, 1)
        if "verifier" in c.roles:
            self.verify_head = head(c.dim, 1)
            if c.shared_words:
                self.shared_word_embedding = nn.Parameter(torch.zeros(2, c.dim))  # word not / also in the other text
        if "explainer" in c.roles:
            self.register_buffer("homography", torch.tensor(c.workspace_homography).float(), persistent=False)
            self.action_proj = nn.Sequential(nn.Linear(5, c.dim), nn.GELU(), nn.Linear(c.dim, c.dim))
            self.word_embedding = nn.Embedding(len(tokenizer), c.dim)
            self.begin = nn.Parameter(torch.randn(c.dim) * 0.02)
            self.decoder = nn.GRU(2 * c.dim, c.dim, batch_first=True)
            self.word_out = nn.Linear(c.dim, len(tokenizer))

    @property
    def device(self) -> torch.device:
        return self.task_tokens.device

    # ------------------------------------------------------------------ encoding
    def _tokens(self, texts: list[str], drop: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (tokens [B, L], mask [B, L]); in training some known words of an instruction (`drop`) read as [UNK]."""
        tokens, mask = self.tokenizer(texts)
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        if not (drop and self.training):
            return tokens, mask
        if self.config.word_dropout:
            rate = torch.full((len(texts), 1), self.config.word_dropout, device=self.device)  # [B, 1]
            if self.config.word_dropout_spread:  # each instruction its own rate, uniform in [0, 2 * word_dropout]
                rate = (rate * 2 * torch.rand_like(rate)).clamp(max=0.95)
            dropped = mask & (torch.rand(tokens.shape, device=self.device) < rate)
            tokens = tokens.masked_fill(dropped, self.tokenizer.unk_id)
        if self.config.word_edits:
            tokens = self._edit_lengths(tokens, mask)
            mask = tokens != self.tokenizer.pad_id
        return tokens, mask

    def _edit_lengths(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, L] -> [B, L]: each word deleted, or followed by an [UNK], with chance word_edits / 2 each."""
        edited = torch.full_like(tokens, self.tokenizer.pad_id)
        draws = torch.rand(tokens.shape, device=self.device)  # [B, L]
        half = self.config.word_edits / 2
        for row, (ids, keep, u) in enumerate(zip(tokens.tolist(), mask.tolist(), draws.tolist(), strict=True)):
            words = []
            for word, real, draw in zip(ids, keep, u, strict=True):
                if real and draw >= half:  # under half: deleted
                    words += [word, self.tokenizer.unk_id] if draw < 2 * half else [word]
            words = words[: tokens.shape[1]] or ids[:1]  # never an empty instruction
            edited[row, : len(words)] = torch.tensor(words, device=self.device)
        return edited

    def _texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Instructions -> (words [B, L, D], what to look for [B, D], the two things named [B, 2, D], mask [B, L])."""
        tokens, mask = self._tokens(texts, drop=True)
        embedded, _ = self.text(tokens, mask)  # [B, L, D]
        named = self._named(embedded, mask)
        return embedded, self.look_for(named.flatten(1)), named, mask

    def _named(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Text tokens [B, L, D] -> the two things the instruction names [B, 2, D]: object, goal.

        Two learned queries attend over the words, one free to pick the object and one the goal ("the red block",
        "the blue pad"); a mean over the words would blur which colour plays which part. Projected together they
        are the vector the image encoder is FiLM-conditioned on.
        """
        scores = torch.einsum("qd,bld->bql", self.role_queries, words) / words.shape[-1] ** 0.5  # [B, 2, L]
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return torch.einsum("bql,bld->bqd", weights, words)

    def _frame_tokens(self, images: torch.Tensor, query: torch.Tensor, fine_last: bool, centre: bool = False,
                      related: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """images [B, N, 3, S, S] -> [B, N * tokens, D]; only the last frame gets the fine grid when `fine_last`.

        `centre` adds a token for the middle 2x2 cells of the map: a glimpse's subject (the block under the pick, the
        pad or block at the place point) sits there, and averaging it with its neighbours loses its colour.
        `related` [B, N, D] adds each frame's relation token.
        """
        b, n = images.shape[:2]
        _, quarter = self.image(images.flatten(0, 1), query.repeat_interleave(n, 0))  # [B*N, C, S/4, S/4]
        quarter = quarter.unflatten(0, (b, n))
        parts = []
        for i in range(n):
            fine = not fine_last or i == n - 1
            tokens = (self.tokens_fine if fine else self.tokens_coarse)(quarter[:, i])  # [B, G*G + 1, D]
            anywhere = self.pooled_proj(quarter[:, i].amax(dim=(-2, -1)))[:, None]  # [B, 1, D]
            tokens = torch.cat([tokens, anywhere], dim=1)
            if centre:
                h, w = quarter.shape[-2:]
                middle = quarter[:, i, :, h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1].mean(dim=(-2, -1))
                tokens = torch.cat([tokens, self.pooled_proj(middle)[:, None] + self.centre_embedding], dim=1)
            if related is not None:
                tokens = torch.cat([tokens, related[:, i, None] + self.relation_embedding], dim=1)
            parts.append(tokens + self.frame_embedding[min(i, len(self.frame_embedding) - 1)])
        return torch.cat(parts, dim=1)

    def _read(self, task: str, parts: list[torch.Tensor], text_mask: torch.Tensor | None) -> torch.Tensor:
        """Run the transformer over [task token | parts]; -> the task token's output [B, D]."""
        b = parts[0].shape[0]
        token = self.task_tokens[TASKS.index(task)].expand(b, 1, -1)
        sequence = torch.cat([token, *parts], dim=1)
        padding = None
        if text_mask is not None:  # text tokens are the sequence's tail
            keep = torch.ones(b, sequence.shape[1] - text_mask.shape[1], dtype=torch.bool, device=self.device)
            padding = ~torch.cat([keep, text_mask], dim=1)
        return self.out_norm(self.transformer(sequence, src_key_padding_mask=padding))[:, 0]

    def _watch(self, task: str, images: torch.Tensor, texts: list[str], fine_last: bool = False,
               relate: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """(frames [B, N, S, S, 3], instruction) -> ([B, D] for the critic, done and success tasks, and where the
        relation token located the named block and pad [B, N, 2, S/2, S/2] when it is read, else None)."""
        text, query, named, mask = self._texts(texts)
        images = to_float_images(images).to(self.device)
        related = located = None
        if relate and self.config.relation:
            b, n = images.shape[:2]
            related, located = self.relation(images.flatten(0, 1), named.repeat_interleave(n, 0))
            related, located = related.unflatten(0, (b, n)), located.unflatten(0, (b, n))
        frames = self._frame_tokens(images, query, fine_last, related=related)
        return self._read(task, [frames, text], mask), located

    # ------------------------------------------------------------------ roles
    def progress(self, first: torch.Tensor, second: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Signed progress [B] in [-1, 1] from frame `first` to frame `second` toward the instruction (VLAC).

        Read as a pair (see JudgeConfig.progress_reading), the encoder also sees the change itself,
        (second - first + 1) / 2 as a third image: what moved is then in one image's features instead of having to
        be matched across two.
        """
        if self.config.progress_reading == "potential":
            return self._potential_progress(first, second, texts)
        first, second = to_float_images(first), to_float_images(second)
        frames = torch.stack([first, second, (second - first + 1) / 2], dim=1)  # [B, 3, 3, S, S]
        return torch.tanh(self.progress_head(self._watch("progress", frames, texts)[0])[:, 0])

    def potential(self, frame: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """[B] potential phi in (0, 1) of one frame for the instruction: the fraction of the task it shows done."""
        return self._potential(frame, texts)[0]

    def _potential(self, frame: torch.Tensor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (phi [B], the relation's located logits [B, 1, 2, S/2, S/2] or None: see _watch)."""
        features, located = self._watch("progress", frame[:, None], texts, relate=True)
        return torch.sigmoid(self.progress_head(features)[:, 0]), located

    def progress_along(self, video: torch.Tensor, task: str) -> torch.Tensor:
        """Progress [N-1] between consecutive frames of video [N, S, S, 3]; a potential critic reads each frame once."""
        if self.config.progress_reading == "potential":
            phi = self.potential(video, [task] * len(video))  # [N]
            return self._between_potentials(phi[:-1], phi[1:])
        return self.progress(video[:-1], video[1:], [task] * (len(video) - 1))

    def _potential_progress(self, first: torch.Tensor, second: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """Both frames' phi read in one batch [2B]: firsts then seconds."""
        return self._between_potentials(*self.potential(torch.cat([first, second]), texts + texts).chunk(2))

    @staticmethod
    def _between_potentials(phi_i: torch.Tensor, phi_j: torch.Tensor) -> torch.Tensor:
        """c = (phi_j - phi_i) / (1 - phi_i), VLAC's label with phi = t / T, clipped to [-1, 1].

        The clip passes gradients straight through: a ratio past the clip for a label inside it still learns.
        """
        ratio = (phi_j - phi_i) / (1 - phi_i).clamp_min(POTENTIAL_FLOOR)
        return ratio + (ratio.clamp(-1, 1) - ratio).detach()

    def done_logit(self, frame: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """[B] logit of P(the instruction is complete in this frame)."""
        return self.done_head(self._watch("done", frame[:, None], texts)[0])[:, 0]

    def success_logit(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """frames [B, F, S, S, 3] (a trajectory subsampled, last frame last) -> [B] logit of P(success) (VLAW)."""
        return self._success(frames, texts)[0]

    def _success(self, frames: torch.Tensor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (logit [B], the relation's located logits [B, F, 2, S/2, S/2] or None: see _watch)."""
        features, located = self._watch("success", frames, texts, fine_last=True, relate=True)
        return self.success_head(features)[:, 0], located

    def verify_logit(self, frame: torch.Tensor, texts_a: list[str], texts_b: list[str]) -> torch.Tensor:
        """(frame, instruction, description) -> [B] logit of their consistency given the scene (LACY's L2C).

        Only the instruction's words may be dropped in training: a description is written by the environment or the
        explainer, in the judge's own vocabulary, and its colour or relation word is what a near miss changes.
        With `shared_words`, each word carries whether the other text has it too (as NLI readers mark exact
        matches): wrong-colour and wrong-relation near misses differ from a consistent pair in one such mark.
        """
        tokens_a, mask_a = self._tokens(texts_a, drop=True)
        tokens_b, mask_b = self._tokens(texts_b, drop=False)
        a, _ = self.text(tokens_a, mask_a)  # [B, La, D]
        b, _ = self.text(tokens_b, mask_b)  # [B, Lb, D]
        if self.config.shared_words:
            unk = self.tokenizer.unk_id
            known_a, known_b = mask_a & (tokens_a != unk), mask_b & (tokens_b != unk)
            same = (tokens_a[:, :, None] == tokens_b[:, None, :]) & known_a[:, :, None] & known_b[:, None, :]
            a = a + self.shared_word_embedding[same.any(2).long()]  # [B, La, D]: this word is also in b
            b = b + self.shared_word_embedding[same.any(1).long()]  # [B, Lb, D]: this word is also in a
        query = self.look_for(self._named(a, mask_a).flatten(1))
        image = self._frame_tokens(to_float_images(frame[:, None]).to(self.device), query, False)
        parts = [image, a + self.segment_embedding[0], b + self.segment_embedding[1]]
        return self.verify_head(self._read("verify", parts, torch.cat([mask_a, mask_b], dim=1)))[:, 0]

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """One role's batch (`batch["role"]`, made by train.judge_data) -> (loss, logs)."""
        role = batch["role"]
        if role not in self.config.roles:
            raise ConfigError(f"judge: this model serves {list(self.config.roles)}, not {role!r}")
        if role == "critic":
            return self._critic_loss(batch)
        if role == "success":
            logit, located = self._success(batch["frames"], batch[TASK])
            loss = F.binary_cross_entropy_with_logits(logit, batch["success"].to(self.device))
            logs = {"success_loss": loss.item()}
            if self.config.grounding:  # every frame of each trajectory [B, F, ...] -> [B*F, ...]
                placing, placed = self._placing_loss(located.flatten(0, 1), batch["named_where"].flatten(0, 1),
                                                     batch["named_known"].flatten(0, 1))  # fmt: skip
                loss = loss + self.config.grounding * placing
                logs.update(placed)
            return loss, logs
        if role == "verifier":
            logit = self.verify_logit(batch["frame"], batch[TASK], batch["description"])
            loss = F.binary_cross_entropy_with_logits(logit, batch["consistent"].to(self.device))
            return loss, {"verifier_loss": loss.item()}
        return self._explanation_loss(batch)

    def _critic_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """VLAC's progress regression and done classification, plus the potential's anchor (see JudgeConfig)."""
        anchor = located = None
        if self.config.progress_reading == "potential":  # firsts then seconds in one batch, [2B, ...]
            phi, located = self._potential(torch.cat([batch["first"], batch["second"]]), list(batch[TASK]) * 2)
            phi_i, phi_j = phi.chunk(2)  # [B] each
            progress = self._between_potentials(phi_i, phi_j)
            if self.config.potential_anchor:
                known = batch["anchored"].to(self.device)  # [B]: the pair kept its own instruction
                phi = torch.cat([phi_i[known], phi_j[known]])
                phase = torch.cat([batch["first_phase"][known], batch["second_phase"][known]]).to(self.device)
                anchor = F.mse_loss(phi, phase)
        else:
            progress = self.progress(batch["first"], batch["second"], batch[TASK])
        done = self.done_logit(batch["done_frame"], batch["done_task"])
        progress_loss = F.mse_loss(progress, batch["progress"].to(self.device))
        done_loss = F.binary_cross_entropy_with_logits(done, batch["done"].to(self.device))
        logs = {"progress_loss": progress_loss.item(), "done_loss": done_loss.item()}
        loss = progress_loss + done_loss
        if anchor is not None:
            loss = loss + self.config.potential_anchor * anchor
            logs["anchor_loss"] = anchor.item()
        if self.config.grounding:  # both frames of each pair, as read above: firsts then seconds, [2B, ...]
            placing, placed = self._placing_loss(located[:, 0], batch["named_where"].transpose(0, 1).flatten(0, 1),
                                                 batch["named_known"].transpose(0, 1).flatten(0, 1))  # fmt: skip
            loss = loss + self.config.grounding * placing
            logs.update(placed)
        return loss, logs

    def _placing_loss(self, located: torch.Tensor, where: torch.Tensor,
                      known: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
        """located [B, 2, S/2, S/2] (the relation's logits, as read for the role's loss), where [B, 2, 2], known [B, 2]
        -> (grounding loss, its logs: the loss and the share of known things placed within a cell)."""
        loss, hits = self.relation.placing(located, self.config.image_size, where.to(self.device),
                                           known.to(self.device))  # fmt: skip
        placed = hits.float().mean().item() if len(hits) else float("nan")
        return loss, {"grounding_loss": loss.item(), "grounding_hit": placed}

    def grounding(self, frames: torch.Tensor, texts: list[str], where: torch.Tensor,
                  known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Where the relation token puts the instruction's block and pad, against successes' gripper record
        (train.grounding_labels): frames [B, S, S, 3], where [B, 2, 2], known [B, 2] -> (loss, hits [K])."""
        _, _, named, _ = self._texts(texts)
        located = self.relation.locate(to_float_images(frames).to(self.device), named)
        return self.relation.placing(located, self.config.image_size, where.to(self.device), known.to(self.device))

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        directory = save_model(directory, self.config.to_dict(), self, WEIGHTS_FILE)
        self.tokenizer.save(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path,
                        device: str | torch.device = "cpu") -> FlywheelJudge | JudgeEnsemble:  # fmt: skip
        """Load a saved judge in eval mode, every file checked before use (see `models.loading`); a saved ensemble
        (config `members` > 1) loads as the JudgeEnsemble that reads like one judge."""
        from vla_flywheel.models.judges.ensemble import JudgeEnsemble

        directory = resolve_judge_dir(directory)
        path = directory / CONFIG_FILE
        config = JudgeConfig.from_dict(read_model_config(path, cls.name, "judge", LOAD_FIX), where=str(path))
        judge = (JudgeEnsemble if config.members > 1 else cls)(config, WordTokenizer.load(directory))
        load_weights(judge, directory / WEIGHTS_FILE, LOAD_FIX)
        return judge.to(device).eval()


def resolve_judge_dir(path: str | Path) -> Path:
    """Accept a pretrained_model/ dir, a checkpoint dir or a judge training run dir (uses `last`); the config there
    must be a judge's (a policy checkpoint passed as a judge is refused here, before anything loads)."""
    directory = resolve_pretrained_dir(path, "judge")
    read_model_config(directory / CONFIG_FILE, FlywheelJudge.name, "judge", LOAD_FIX)
    return directory
