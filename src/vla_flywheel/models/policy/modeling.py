"""FlywheelPolicy: images + instruction + state -> ee_delta action chunks (flow matching) or a pick/place primitive.

The API has LeRobot's shape: `forward(batch) -> (loss, logs)` for training, `predict_action_chunk(batch)` and
`select_action(batch)` (with an action queue refilled every `n_action_steps`) for acting, `reset()` between episodes,
and `save_pretrained` / `from_pretrained` writing config.json + model.safetensors + normalization.safetensors +
tokenizer.json (no pickle is ever loaded).

Batch keys: `observation.images.<cam>` uint8 [B, S, S, 3] (as envs and datasets give them) or float [B, 3, S, S] in
[0, 1]; `observation.state` [B, state_dim]; `task` (list of B strings) or pre-tokenized
`observation.language.tokens` / `observation.language.attention_mask` [B, L]; for training also `action`
[B, H, A] and `action_is_pad` [B, H] (+ `primitive.pick` [B, 3] / `primitive.place` [B, 2] for flow pointing).

Token sequence (tens of tokens, cheap on CPU): [act, pick, place readouts | state | per camera: grid + keypoint |
text]. The readout outputs condition the heads.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from vla_flywheel.constants import (
    ACTION,
    OBS_LANG_MASK,
    OBS_LANG_TOKENS,
    OBS_STATE,
    PRIMITIVE_PICK,
    PRIMITIVE_PLACE,
    TASK,
)
from vla_flywheel.errors import ConfigError
from vla_flywheel.models.encoders import ImageEncoder, ImageTokens, TextEncoder
from vla_flywheel.models.loading import check_tensors, load_weights, read_model_config, read_tensors, save_model
from vla_flywheel.models.normalize import Normalizer
from vla_flywheel.models.policy.config import PolicyConfig
from vla_flywheel.models.policy.flow_matching import VelocityField, euler_sample, flow_matching_loss, sample_time
from vla_flywheel.models.policy.primitive_head import BinsPrimitiveHead, HeatmapPrimitiveHead
from vla_flywheel.models.tokenizer import WordTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZATION_FILE = "normalization.safetensors"
ACTION_IS_PAD = "action_is_pad"
EPISODE_START = "episode_start"  # optional [B] bool: frames that open an episode (pointing loss only on those)
LOAD_FIX = "pass a `flywheel train` run, a checkpoints/<step> or a pretrained_model directory (retrain if damaged)"
NUM_READOUTS = 3  # act, pick, place
RELATIVE_TARGET_SCALE = 0.1  # metres: tool-to-target offsets enter the velocity MLP in units of 10 cm
# (the scripted expert's gain of 0.5 makes its Δxy action exactly the offset in these units, saturated at ±1)


class Encoding(NamedTuple):
    readouts: tuple[torch.Tensor, ...]  # act, pick, place transformer outputs, each [B, D]
    instruction: torch.Tensor  # [B, D] pooled text: the scene-independent query for what to pick
    maps: tuple[torch.Tensor, torch.Tensor]  # the first camera's (half, quarter) feature maps
    shift: torch.Tensor  # [B, 2] pixels the images were translated by (training augmentation; zeros otherwise)


class FlywheelPolicy(nn.Module):
    name = "flywheel_vla"
    source: Path | None = None  # the pretrained_model directory it was loaded from, for messages

    def __init__(self, config: PolicyConfig, tokenizer: WordTokenizer, normalizer: Normalizer):
        super().__init__()
        self.config, self.tokenizer, self.normalizer = config, tokenizer, normalizer
        c = config
        self.text = TextEncoder(len(tokenizer), c.dim, c.max_text_length, c.num_heads)
        self.image = ImageEncoder(c.channels, c.dim)
        self.image_tokens = ImageTokens(c.channels[1], c.dim, c.pooled_grid, c.keypoints)
        self.camera_embedding = nn.Parameter(torch.zeros(len(c.image_keys), 1, c.dim))
        self.state_proj = nn.Linear(c.state_dim, c.dim)
        self.readouts = nn.Parameter(torch.randn(NUM_READOUTS, c.dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            c.dim, c.num_heads, c.ff_mult * c.dim, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(c.dim)
        if c.uses_pointing:
            homography = torch.tensor(c.workspace_homography, dtype=torch.float64)
            self.primitive = HeatmapPrimitiveHead(c.dim, c.channels, c.yaw_bins, homography)
        elif c.head == "primitive":
            self.primitive = BinsPrimitiveHead(c.dim, c.coordinate_bins, c.yaw_bins)
        if c.head == "flow":
            # context: act readout [D] + pick/place [5] and relative targets [4 + 4 clipped] when pointing + state
            relative = 8 if c.state_table_xy is not None else 0
            invariant = self._translation_invariant
            points = (1 if invariant else 5) + relative if c.uses_pointing else 0
            state = c.state_dim - (2 if invariant else 0)
            context = (c.dim if c.flow_uses_readout else 0) + points + state
            self.velocity = VelocityField(context, c.chunk_size, c.action_dim, c.flow_hidden)
        self._queue: deque[torch.Tensor] = deque()
        self._latched: torch.Tensor | None = None  # [B, 5] pick/place points held for the episode (latch_points)
        self._features: torch.Tensor | None = None  # [B, dim + 5] set by select_action (see acting_features)

    # ------------------------------------------------------------------ encoding
    @property
    def device(self) -> torch.device:
        return self.readouts.device

    def _images(self, batch: dict, key: str) -> torch.Tensor:
        image = batch[key]
        if image.dtype == torch.uint8:  # [B, S, S, 3] -> [B, 3, S, S] in [0, 1]
            image = image.permute(0, 3, 1, 2).float() / 255.0
        if image.shape[-2:] != (self.config.image_size, self.config.image_size):
            raise ConfigError(
                f"policy: {key} is {tuple(image.shape[-2:])} px but the policy was trained at {self.config.image_size}"
            )
        return image.to(self.device)

    def _text(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if OBS_LANG_TOKENS in batch:
            return batch[OBS_LANG_TOKENS].to(self.device), batch[OBS_LANG_MASK].to(self.device)
        tokens, mask = self.tokenizer(list(batch[TASK]))
        return tokens.to(self.device), mask.to(self.device)

    def _random_shift(self, images: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Translate every camera's images by one random integer (du, dv) per sample; -> images, shift [B, 2] px."""
        b, size, pad = images[0].shape[0], self.config.image_size, self.config.augment_shift
        shift = torch.randint(-pad, pad + 1, (b, 2), device=self.device).float()  # (du, dv): content moves by +shift
        theta = torch.zeros(b, 2, 3, device=self.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, :, 2] = -2.0 * shift / size  # sample from x - shift
        grid = F.affine_grid(theta, [b, 3, size, size], align_corners=False)
        shifted = [F.grid_sample(im, grid, mode="nearest", padding_mode="border", align_corners=False) for im in images]
        return shifted, shift

    def encode(self, batch: dict, augment: bool = False) -> Encoding:
        """Images, instruction and state -> readouts, the pooled instruction, the first camera's maps, the shift.

        With `augment` (training), images are randomly translated first and the shift is returned so that pixel
        targets can move with them.
        """
        tokens, mask = self._text(batch)
        text, pooled = self.text(tokens, mask)  # [B, L, D], [B, D]
        state = self.normalizer.normalize(OBS_STATE, batch[OBS_STATE].to(self.device).float())
        b = state.shape[0]
        parts = [self.readouts.expand(b, -1, -1), self.state_proj(state)[:, None]]
        images = [self._images(batch, key) for key in self.config.image_keys]
        shift = torch.zeros(b, 2, device=self.device)
        if augment and self.config.augment_shift:
            images, shift = self._random_shift(images)
        maps = None
        for i, image in enumerate(images):
            half, quarter = self.image(image, pooled)
            maps = maps or (half, quarter)
            parts.append(self.image_tokens(quarter) + self.camera_embedding[i])
        parts.append(text)
        sequence = torch.cat(parts, dim=1)  # [B, 3 + 1 + cams * (G*G + 1) + L, D]
        keep = torch.ones(b, sequence.shape[1] - mask.shape[1], dtype=torch.bool, device=self.device)
        out = self.out_norm(self.transformer(sequence, src_key_padding_mask=~torch.cat([keep, mask], dim=1)))
        return Encoding(tuple(out[:, i] for i in range(NUM_READOUTS)), pooled, maps, shift)

    def _flow_context(self, batch: dict, encoding: Encoding, pointing) -> torch.Tensor:
        """What the velocity field is conditioned on; `pointing` = primitive head outputs.

        [act readout (D) if `flow_uses_readout`] + with pointing: the pick/place points (normalized table units) and,
        when the state holds the tool's table position, where they lie relative to the tool, raw and saturated (a
        servo target that does not depend on where the scene put the blocks) + the normalized state. Translation
        invariant (the default with tool xy): of the points only the pick yaw, and the state without the tool's x, y.
        Training feeds the episode's true points (plus `teacher_point_noise`), so the velocity learns to go exactly
        where the points are; acting uses the head's predictions (latched at the episode's first observation by
        `select_action` with `latch_points`). Training may also perturb the state (`flow_state_noise`).
        """
        c = self.config
        parts = [encoding.readouts[0].float()] if c.flow_uses_readout else []
        state = batch[OBS_STATE].to(self.device).float()
        if self.training and c.flow_state_noise:
            state = state + torch.randn_like(state) * state.new_tensor(c.flow_state_noise)
        if pointing is not None:
            if self.training and PRIMITIVE_PICK in batch:
                truth = self._true_points(batch)
                points = truth + c.teacher_point_noise * torch.randn_like(truth)
            elif self._latched is not None:
                points = self._latched
            else:
                points = self.primitive.predict(pointing, encoding.shift)  # [B, 5]
            parts.append(points[:, 2:3] if self._translation_invariant else points)
            if c.state_table_xy is not None:
                tool = state[:, list(c.state_table_xy)].repeat(1, 2)  # [B, 4] metres, as (pick, place) pairs
                targets = points[:, [0, 1, 3, 4]] * c.table_half_extent  # [B, 4] metres
                relative = (targets - tool) / RELATIVE_TARGET_SCALE
                # also saturated at one unit: in action units, what a servo toward each point would command
                parts += [relative, relative.clamp(-1.0, 1.0)]
        state = self.normalizer.normalize(OBS_STATE, state)
        if self._translation_invariant:
            state = state[:, [i for i in range(c.state_dim) if i not in c.state_table_xy]]
        parts.append(state)
        return torch.cat(parts, dim=-1)

    @property
    def _translation_invariant(self) -> bool:
        c = self.config
        return c.flow_translation_invariant and c.uses_pointing and c.state_table_xy is not None

    def _true_points(self, batch: dict) -> torch.Tensor:
        """[B, 5] the episode's recorded pick (x, y, yaw) and place (x, y), normalized."""
        return torch.cat([batch[PRIMITIVE_PICK], batch[PRIMITIVE_PLACE]], dim=-1).to(self.device).float()

    def _pointing(self, encoding: Encoding):
        """The primitive head's outputs, or None when the model has no such head."""
        if not hasattr(self, "primitive"):
            return None
        return self.primitive(encoding.maps, encoding.readouts[1:], encoding.instruction)

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        encoding = self.encode(batch, augment=self.training)
        pointing = self._pointing(encoding)
        action = batch[ACTION].to(self.device).float()  # [B, H, A]
        if self.config.head == "primitive":
            loss, logs = self.primitive.loss(pointing, action[:, 0], encoding.shift)
        else:
            c = self.config
            pad = batch.get(ACTION_IS_PAD, torch.zeros(action.shape[:2], dtype=torch.bool)).to(self.device)
            context = self._flow_context(batch, encoding, pointing)
            # several (noise, time) draws per observation: the velocity MLP is cheap next to the encoder
            k = c.flow_samples
            t = sample_time(
                action.shape[0] * k, c.time_beta_alpha, c.time_beta_beta, c.time_scale, c.time_offset, self.device
            )
            target = self.normalizer.normalize(ACTION, action).repeat_interleave(k, 0)  # [B*k, H, A]
            loss = flow_matching_loss(
                self.velocity, target, context.repeat_interleave(k, 0), t, pad.repeat_interleave(k, 0)
            )
            logs = {"flow_loss": loss.item()}
            if pointing is not None:
                truth, shift = self._true_points(batch), encoding.shift
                if EPISODE_START in batch and bool(batch[EPISODE_START].any()):
                    keep = batch[EPISODE_START].to(self.device)
                    pointing, truth, shift = tuple(o[keep] for o in pointing), truth[keep], shift[keep]
                pointing_loss, pointing_logs = self.primitive.loss(pointing, truth, shift)
                loss = loss + pointing_loss
                logs.update(pointing_logs)
        return loss, logs

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def predict_action_chunk(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """-> [B, H, A] actions in env units: H = chunk_size (flow) or 1 (primitive)."""
        return self._predict(batch, generator)[0]

    def _predict(self, batch: dict, generator: torch.Generator | None) -> tuple[torch.Tensor, Encoding]:
        encoding = self.encode(batch)
        pointing = self._pointing(encoding)
        if self.config.head == "primitive":
            return self.primitive.predict(pointing, encoding.shift)[:, None], encoding
        context = self._flow_context(batch, encoding, pointing)
        chunk = euler_sample(self.velocity, context, self.config.num_inference_steps, generator)
        return self.normalizer.unnormalize(ACTION, chunk), encoding

    @property
    def feature_dim(self) -> int:
        """Size of `acting_features`: the act readout and the latched pick/place points."""
        return self.config.dim + 5

    @property
    def acting_features(self) -> torch.Tensor:
        """[B, dim + 5]: what the policy saw when it last predicted a chunk in `select_action` (its act readout) and
        the pick/place points it latched (zeros without them), for a frozen-feature learner such as PLD's residual."""
        if self._features is None:
            raise ConfigError("policy: no features yet; call select_action() after reset() first")
        return self._features

    @torch.no_grad()
    def sample_primitives(self, batch: dict, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        """-> [B, 5] pick/place actions drawn from the primitive head's heatmaps instead of their argmax."""
        if self.config.head != "primitive" or self.config.primitive_param != "heatmap":
            raise ConfigError("policy: sampling pick/place candidates needs the heatmap primitive head")
        encoding = self.encode(batch)
        return self.primitive.predict(self._pointing(encoding), encoding.shift, temperature, generator)

    @torch.no_grad()
    def select_action(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """-> [B, A]: the next queued action, predicting a new chunk when the queue is empty."""
        if not self._queue:
            if self.config.latch_points and self.config.head == "flow" and hasattr(self, "primitive"):
                if self._latched is None:  # first call since reset(): point once for the whole episode
                    encoding = self.encode(batch)
                    self._latched = self.primitive.predict(self._pointing(encoding), encoding.shift)
                elif self._latched.shape[0] != batch[OBS_STATE].shape[0]:
                    raise ConfigError("policy: the batch size changed within an episode; call reset() between episodes")
            chunk, encoding = self._predict(batch, generator)
            points = self._latched if self._latched is not None else encoding.readouts[0].new_zeros(chunk.shape[0], 5)
            self._features = torch.cat([encoding.readouts[0], points], dim=-1)
            steps = min(self.config.n_action_steps, chunk.shape[1])
            self._queue.extend(chunk[:, :steps].transpose(0, 1))
        return self._queue.popleft()

    def reset(self) -> None:
        """Forget queued actions (and latched points); call at every env reset."""
        self._queue.clear()
        self._latched = None
        self._features = None

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        directory = save_model(directory, self.config.to_dict(), self, WEIGHTS_FILE)
        save_file(
            {k: v.cpu().contiguous() for k, v in self.normalizer.tensors().items()}, directory / NORMALIZATION_FILE
        )
        self.tokenizer.save(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> FlywheelPolicy:
        """Load a saved policy in eval mode; `directory` is a pretrained_model/ dir (or a run dir, see resolve).

        Every file is checked before use (see `models.loading`): the config must be a policy's, the normalization
        stats and weights must have exactly the names, shapes and dtypes the config's model has, all finite.
        """
        directory = resolve_pretrained_dir(directory)
        path = directory / CONFIG_FILE
        config = PolicyConfig.from_dict(read_model_config(path, cls.name, "policy", LOAD_FIX), where=str(path))
        normalizer = Normalizer.from_tensors(_read_normalization(directory / NORMALIZATION_FILE, config))
        policy = cls(config, WordTokenizer.load(directory), normalizer)
        load_weights(policy, directory / WEIGHTS_FILE, LOAD_FIX)
        policy.source = directory
        return policy.to(device).eval()


def _read_normalization(path: Path, config: PolicyConfig) -> dict[str, torch.Tensor]:
    """normalization.safetensors, checked: mean and std of the state and the action, sized as the config says."""
    sizes = {OBS_STATE: config.state_dim, ACTION: config.action_dim}
    expected = {f"{key}/{stat}": torch.zeros(n) for key, n in sizes.items() for stat in ("mean", "std")}
    tensors = read_tensors(path, LOAD_FIX)
    check_tensors(path, tensors, expected, LOAD_FIX)
    return tensors


def resolve_pretrained_dir(path: str | Path, what: str = "policy") -> Path:
    """Accept a pretrained_model/ dir, a checkpoint dir (…/checkpoints/<step>) or a training run dir (uses `last`)."""
    path = Path(path)
    for candidate in (path, path / "pretrained_model", path / "checkpoints" / "last" / "pretrained_model"):
        if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
            return candidate
    raise ConfigError(
        f"{path} holds no saved {what} (config.json + model.safetensors); pass a training run directory, "
        "a checkpoints/<step> directory or a pretrained_model directory"
    )
