"""FlywheelWorldModel: given the current frame, state and a chunk of actions, predict the frame and states after it.

VLAW imagines policy rollouts in an action-conditioned video model (Ctrl-World, a video diffusion model on an A100);
this is the CPU-sized analogue, a latent dynamics model in the shape of TD-MPC2's and Dreamer's:

    o_0 ──encode──► z_0 ──step(s_0, a_0:k)──► z_1 ──step(s_1, a_k:2k)──► z_2 ... ──decode──► ô_k, ô_2k, ...
                                     └─► ŝ_1..k                  └─► ŝ_k+1..2k

- encode: three stride-2 convs, 64 px -> an 8x8 grid of `latent_channels`.
- step: residual conv blocks on the grid, FiLM-conditioned on (state, the chunk's k actions), with two coordinate
  channels so a conv knows *where* the gripper is told to go. It also predicts the k states inside the chunk, as
  residuals on where the controller's setpoint goes (`kinematic_prior`, when the config knows it) or on the
  current state.
- decode: transposed convs back to 64 px, composited over the rollout's first real frame (with the blocks the
  gripper holds moved along, `carry.BlockCarry`, when the config knows its opening) with a predicted mask
  (the "copy the context, paint what moved" trick of CDNA/SV2P-style video predictors). Most of a tabletop frame
  never changes; with the composite the model spends its few parameters on the gripper and the block, and the static
  scene stays sharp however long the rollout. The mask starts nearly shut, so training starts from the
  copy-the-first-frame baseline instead of from noise. The decoder also sees the predicted state (broadcast, and
  through a per-pixel MLP of coordinates and state), since where the gripper is drawn follows from the tool's position.
- tool (when the camera is known, `camera_projection`): the tool position is projected into the image; a spot there
  feeds the decoder (`ToolMarker`) and a learned sprite of the gripper is pasted there (`ToolSprite`). A 64 px
  gripper is a few pixels wide, and a conv decoder that must find out from the image loss alone where to draw it
  needs far more than the few minutes of CPU training this model gets (measured: a faint blob after 1000 steps).

The latent is normalized to zero mean and unit variance per example after every encode and step, so an open-loop
rollout of fifty steps cannot drift in scale. Training (see `compute_loss`) unrolls K steps open loop from a real
frame ("overshooting") with image, image-gradient, state and latent-consistency losses at every step (plus
reconstructing the window's last real frame from its own encoding), so what the model learns is what it will be asked
to do: roll out many steps on its own predictions.

Saving writes config.json + model.safetensors only; the state/action normalization lives in the weights file as
buffers, so a checkpoint is one checked tensor file (see `models.loading`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vla_flywheel.errors import ConfigError
from vla_flywheel.models.encoders import to_float_images
from vla_flywheel.models.loading import load_weights, read_model_config, save_model
from vla_flywheel.models.policy.modeling import CONFIG_FILE, WEIGHTS_FILE, resolve_pretrained_dir
from vla_flywheel.models.world_model.carry import BlockCarry, StillScene
from vla_flywheel.models.world_model.config import WORLD_MODEL_TYPE, WorldModelConfig
from vla_flywheel.models.world_model.grasp_odds import GraspOdds
from vla_flywheel.models.world_model.tool import MASK_INIT_LOGIT, STATE_CHANNELS, TOOL_CHANNELS, ToolMarker, ToolSprite

LOAD_FIX = "pass a `flywheel train-world-model` run, a checkpoints/<step> or a pretrained_model directory"
FRAMES, STATES, ACTIONS = "frames", "states", "actions"  # training batch keys (see train.world_model_data)
GRADIENT_WEIGHT = 1.0  # image-gradient loss: keeps block edges from blurring into the table
LATENT_WEIGHT = 0.5  # predicted latent vs the encoding of the real frame it should match
STATE_WEIGHT = 0.1
RECONSTRUCTION_WEIGHT = 0.5  # decoding each real frame's own encoding
RENDER_WIDTH = 16  # hidden width of the per-pixel (coordinates, state) renderer
EDIT_DEADZONE = 2 / 255  # edits of the first frame smaller than this are dropped (see FlywheelWorldModel.decode)


def to_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """float [..., 3, S, S] in [0, 1] -> uint8 [..., S, S, 3], as datasets and policies take them."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).movedim(-3, -1)


def image_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + L2 between [B, 3, S, S] images. Unweighted: up-weighting the pixels that moved (tried) makes the
    decoder paint blurry guesses over the table wherever the gripper might be, which costs more than it gains."""
    error = predicted - target
    return (error.abs() + error.pow(2)).mean()


def coordinates(size: int) -> torch.Tensor:
    """[1, 2, size, size]: each cell's (row, column) in [-1, 1], the CoordConv channels."""
    ramp = torch.linspace(-1, 1, size)
    return torch.stack(torch.meshgrid(ramp, ramp, indexing="ij"))[None]


def normalize_latent(z: torch.Tensor) -> torch.Tensor:
    """[B, C, G, G] -> zero mean, unit variance per example (GroupNorm with one group, no affine)."""
    return F.group_norm(z, 1)


def image_gradients(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[..., H, W] -> horizontal and vertical finite differences."""
    return images[..., :, 1:] - images[..., :, :-1], images[..., 1:, :] - images[..., :-1, :]


class DynamicsBlock(nn.Module):
    """x + conv(FiLM(conv(x))): a residual block whose middle is scaled and shifted by the action/state embedding."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.norm = nn.GroupNorm(4, width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.film = nn.Linear(hidden, 2 * width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(condition)[:, :, None, None].chunk(2, dim=1)  # [B, W, 1, 1] each
        h = F.gelu(self.conv1(F.gelu(self.norm(x))))
        return x + self.conv2(F.gelu(h * (1 + scale) + shift))


class FlywheelWorldModel(nn.Module):
    name = WORLD_MODEL_TYPE

    def __init__(self, config: WorldModelConfig):
        super().__init__()
        self.config = c = config
        c0, c1, c2 = c.channels
        k, latent, g = c.action_chunk, c.latent_channels, c.latent_grid
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c0, 4, 2, 1), nn.GroupNorm(4, c0), nn.GELU(),
            nn.Conv2d(c0, c1, 4, 2, 1), nn.GroupNorm(4, c1), nn.GELU(),
            nn.Conv2d(c1, c2, 4, 2, 1), nn.GroupNorm(4, c2), nn.GELU(),
            nn.Conv2d(c2, latent, 1),
        )  # fmt: skip
        self.condition = nn.Sequential(
            nn.Linear(c.state_dim + k * c.action_dim, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden)
        )
        self.register_buffer("coords", coordinates(g), persistent=False)  # [1, 2, G, G]
        self.register_buffer("pixel_coords", coordinates(c.image_size), persistent=False)  # [1, 2, S, S]
        self.dynamics_in = nn.Conv2d(latent + 2, c2, 3, padding=1)
        self.dynamics = nn.ModuleList(DynamicsBlock(c2, c.hidden) for _ in range(c.dynamics_blocks))
        self.dynamics_out = nn.Conv2d(c2, latent, 1)
        self.state_head = nn.Sequential(
            nn.Linear(latent * g * g + c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, k * c.state_dim)
        )
        # the kinematic prior the state head corrects (config.setpoint_moves): gain [A, D], bounds [D]
        gain, low, high = (
            torch.zeros(c.action_dim, c.state_dim),
            torch.full((c.state_dim,), -math.inf),
            torch.full((c.state_dim,), math.inf),
        )
        for action, state, g, lo, hi in c.setpoint_moves:
            gain[int(action), int(state)], low[int(state)], high[int(state)] = g, lo, hi
        self.register_buffer("setpoint_gain", gain, persistent=False)
        self.register_buffer("setpoint_low", low, persistent=False)
        self.register_buffer("setpoint_high", high, persistent=False)
        self.state_embedding = nn.Sequential(nn.Linear(c.state_dim, STATE_CHANNELS), nn.GELU(),
                                             nn.Linear(STATE_CHANNELS, STATE_CHANNELS))  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(latent + 2 + STATE_CHANNELS, c2, 3, padding=1), nn.GELU(),  # + coordinates + state
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.GroupNorm(4, c1), nn.GELU(),
            nn.ConvTranspose2d(c1, c0, 4, 2, 1), nn.GroupNorm(4, c0), nn.GELU(),
        )  # fmt: skip
        self.tool = ToolMarker(c) if c.camera_projection is not None else None
        self.sprite = ToolSprite(c) if c.camera_projection is not None else None
        self.grasp_odds = GraspOdds().requires_grad_(False) if c.grasp_odds else None  # fitted apart (set_grasp_odds)
        marker = TOOL_CHANNELS if self.tool is not None else 0
        # RGB + composite mask logit at full size; no 3x3 conv at 64 px (its CPU cost would double the decoder's)
        self.to_pixels = nn.ConvTranspose2d(c0 + marker, 4, 4, 2, 1)
        with torch.no_grad():  # the composite mask starts nearly shut: an untrained model copies the first frame
            self.to_pixels.bias[3] = MASK_INIT_LOGIT
        # a per-pixel MLP of (pixel coordinates, state): draws what the state alone places, the gripper
        # (its first layer is linear in [coordinates, state], so it is computed as a sum of two broadcasts)
        self.render_coords = nn.Conv2d(2, RENDER_WIDTH, 1)
        self.render_state = nn.Linear(STATE_CHANNELS, RENDER_WIDTH, bias=False)
        self.renderer = nn.Sequential(
            nn.ReLU(), nn.Conv2d(RENDER_WIDTH, RENDER_WIDTH, 1), nn.ReLU(), nn.Conv2d(RENDER_WIDTH, 4, 1)
        )
        # normalization of the state and the action, fitted to the training data (`set_normalization`)
        self.register_buffer("state_mean", torch.zeros(c.state_dim))
        self.register_buffer("state_std", torch.ones(c.state_dim))
        self.register_buffer("action_mean", torch.zeros(c.action_dim))
        self.register_buffer("action_std", torch.ones(c.action_dim))

    @property
    def device(self) -> torch.device:
        return self.state_mean.device

    def set_normalization(self, state_mean, state_std, action_mean, action_std) -> None:
        """Fit the state/action normalization (a std near zero, a constant dimension, is kept at 1)."""
        for name, value in (("state_mean", state_mean), ("state_std", state_std), ("action_mean", action_mean),
                            ("action_std", action_std)):  # fmt: skip
            value = torch.as_tensor(value, dtype=torch.float32)
            if name.endswith("std"):
                value = torch.where(value < 1e-6, torch.ones_like(value), value)
            getattr(self, name).copy_(value)

    def set_grasp_odds(self, odds: GraspOdds | None) -> None:
        """Draw imagined grasps from `odds` (fitted to recorded closings by train/world_model_grasps.py), or from the
        predicted opening (None). They are not trained with the rest of the model, so their weights are frozen."""
        if odds is not None and self.config.opening_index is None:
            raise ConfigError(
                "world model: grasp odds need opening_index in the config (they decide whether a "
                "closing holds a block); train it with `flywheel train-world-model` on tabletop data"
            )
        self.grasp_odds = None if odds is None else odds.to(self.device).requires_grad_(False)
        self.config.grasp_odds = odds is not None

    # ------------------------------------------------------------------ the model
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, S, S, 3] -> latent [B, L, G, G]."""
        return normalize_latent(self.encoder(to_float_images(images.to(self.device))))

    def step(self, z: torch.Tensor, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One chunk: (latent [B, L, G, G], state [B, D], actions [B, k, A]) -> (next latent, states [B, k, D]).

        States are in env units; the states returned are those after each of the chunk's k actions.
        """
        s = (state - self.state_mean) / self.state_std  # [B, D]
        a = ((actions - self.action_mean) / self.action_std).flatten(1)  # [B, k*A]
        condition = self.condition(torch.cat([s, a], dim=-1))  # [B, H]
        h = self.dynamics_in(torch.cat([z, self.coords.expand(len(z), -1, -1, -1)], dim=1))  # [B, W, G, G]
        for block in self.dynamics:
            h = block(h, condition)
        z_next = normalize_latent(z + self.dynamics_out(h))  # [B, L, G, G]
        delta = self.state_head(torch.cat([z_next.flatten(1), condition], dim=-1))  # [B, k*D]
        prior = (self.kinematic_prior(state, actions) - self.state_mean) / self.state_std  # [B, k, D], normalized
        s_next = prior + delta.unflatten(1, (self.config.action_chunk, -1))  # [B, k, D], normalized
        return z_next, s_next * self.state_std + self.state_mean

    def kinematic_prior(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(state [B, D], actions [B, k, A]) -> [B, k, D]: where each action puts the setpoint (config.setpoint_moves),
        the state itself where nothing moves it.

        An ee_delta action moves the tool up to 5 cm, and a state head that must learn that sum from the latent drifts
        open loop (measured, 800 steps: the tool 4-9 cm off after 10-60 steps, the gripper drawn beside the real
        one); with the prior it predicts only the tracking lag and contacts (0.2-0.5 cm off).
        """
        priors = []
        for action in actions.unbind(1):
            state = torch.clamp(state + action.clamp(-1, 1) @ self.setpoint_gain, self.setpoint_low, self.setpoint_high)
            priors.append(state)
        return torch.stack(priors, dim=1)

    def decode(self, z: torch.Tensor, state: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(latent [B, L, G, G], state [B, D], the rollout's first real frame, float [B, 3, S, S]) -> frame float
        [B, 3, S, S].

        The decoder also sees the state, broadcast next to coordinate channels: where the gripper is drawn is a
        function of the tool's position, which the state head predicts far more precisely than a 8x8 grid holds it.
        """
        s = self.state_embedding((state - self.state_mean) / self.state_std)  # [B, E]
        g = z.shape[-1]
        grid = torch.cat([z, self.coords.expand(len(z), -1, -1, -1), s[:, :, None, None].expand(-1, -1, g, g)], 1)
        pixels = self.render_coords(self.pixel_coords) + self.render_state(s)[:, :, None, None]  # [B, R, S, S]
        features = self.decoder(grid)  # [B, c0, S/2, S/2]
        if self.tool is not None:
            features = torch.cat([features, self.tool(state, s)], dim=1)
        out = self.to_pixels(features) + self.renderer(pixels)  # [B, 4, S, S]
        rgb, mask = torch.sigmoid(out[:, :3]), torch.sigmoid(out[:, 3:])
        frame = mask * rgb + (1 - mask) * context
        if self.sprite is not None:
            sprite = self.sprite(state, s, self.state_mean)  # [B, 4, S, S]
            frame = sprite[:, 3:] * sprite[:, :3] + (1 - sprite[:, 3:]) * frame
        # where the model changes a pixel by less than two grey levels, it keeps the real one: a sigmoid mask and a
        # sprite's alpha never reach 0, and their faint tint over a still scene costs more than copying does
        # (measured on 50 held-out rollouts, 800 steps, one seed: open-loop steps that beat copying 1 -> 20 of 49)
        return context + F.softshrink(frame - context, EDIT_DEADZONE)

    def scene(self, context: torch.Tensor, seed: int | None = None, recorded: bool = False) -> BlockCarry | StillScene:
        """What the decoder composites over, chunk after chunk, from the rollout's first real frame: the frame itself,
        or with held blocks moving with the gripper when the config knows its opening (carry.BlockCarry, whose
        grasps are drawn from a generator seeded with `seed`; None takes one from torch's seeded RNG, as training
        does). `recorded`: the states it is driven by are real, so their openings say which grasps held (the grasp
        odds, which guess that from the scene, are not used)."""
        if self.sprite is None or self.config.opening_index is None:
            return StillScene(context)
        seed = int(torch.randint(2**31, ())) if seed is None else seed
        generator = torch.Generator().manual_seed(seed)
        c = self.config
        odds = None if recorded else self.grasp_odds
        return BlockCarry(context, self.sprite.projection, c.state_xyz, c.opening_index, generator, odds)

    @torch.no_grad()
    def rollout(self, image: torch.Tensor, state: torch.Tensor, actions: torch.Tensor,
                seed: int = 0) -> tuple[torch.Tensor, ...]:  # fmt: skip
        """Open loop from a real frame: image uint8 [B, S, S, 3], state [B, D], actions [B, N, k, A]
        -> (frames uint8 [B, N, S, S, 3] after each chunk, states [B, N, k, D] after each action); `seed` draws the
        grasps (see `scene`)."""
        z, scene = self.encode(image), self.scene(to_float_images(image.to(self.device)), seed)
        state, frames, states = state.to(self.device).float(), [], []
        for n in range(actions.shape[1]):
            z, chunk_states = self.step(z, state, actions[:, n].to(self.device).float())
            state = chunk_states[:, -1]
            frames.append(to_uint8_images(self.decode(z, state, scene.after(chunk_states))))
            states.append(chunk_states)
        return torch.stack(frames, dim=1), torch.stack(states, dim=1)

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        return self.compute_loss(batch)

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Unroll K chunks open loop from the window's first real frame and compare every step with the real one.

        batch: frames uint8 [B, K+1, S, S, 3] (every k-th frame from t), states [B, K*k + 1, D] (every frame from t),
        actions [B, K, k, A]. Only the first frame and state are inputs; everything after is a target.
        """
        frames = batch[FRAMES].to(self.device)
        states = batch[STATES].to(self.device).float()
        actions = batch[ACTIONS].to(self.device).float()
        b, steps, k = actions.shape[:3]
        target_images = to_float_images(frames)  # [B, K+1, 3, S, S]
        target_z = normalize_latent(self.encoder(target_images[:, 1:].flatten(0, 1))).unflatten(0, (b, steps))
        z, state, scene = self.encode(frames[:, 0]), states[:, 0], self.scene(target_images[:, 0], recorded=True)
        image_loss = gradient_loss = latent_loss = state_loss = reconstruction_loss = 0.0
        for n in range(steps):
            z, chunk_states = self.step(z, state, actions[:, n])  # [B, L, G, G], [B, k, D]
            state = chunk_states[:, -1]
            real_states = states[:, n * k + 1 : (n + 1) * k + 1]  # [B, k, D]
            # the scene follows the recorded grasps, not the predicted ones: composited over grasps drawn from the
            # state head's hedged openings, often wrong, the decoder learnt to distrust the scene and lost to copying
            # the first frame late in episodes (README "VLAW"); imagination still draws them from its predictions
            context = scene.after(real_states)  # [B, 3, S, S]
            predicted, target = self.decode(z, state, context), target_images[:, n + 1]  # [B, 3, S, S]
            image_loss = image_loss + image_error(predicted, target)
            gradient_loss = gradient_loss + sum(
                F.l1_loss(p, t) for p, t in zip(image_gradients(predicted), image_gradients(target), strict=True)
            )
            if n == steps - 1:  # the real frame's own encoding must decode to it (Dreamer's reconstruction): the
                # latent learns to hold the gripper from frames where it is plainly there, long before the dynamics
                # learn to move it. The last frame only: it differs most from the first, and a decode is not free.
                reconstructed = self.decode(target_z[:, n], real_states[:, -1], context)
                reconstruction_loss = image_error(reconstructed, target) * steps  # (parts are / steps)
            latent_loss = latent_loss + F.mse_loss(z, target_z[:, n].detach())  # stop-gradient target, as TD-MPC2
            state_loss = state_loss + F.mse_loss(
                (chunk_states - self.state_mean) / self.state_std, (real_states - self.state_mean) / self.state_std
            )
        parts = {"image_loss": image_loss, "gradient_loss": gradient_loss, "latent_loss": latent_loss,
                 "state_loss": state_loss, "reconstruction_loss": reconstruction_loss}  # fmt: skip
        parts = {name: value / steps for name, value in parts.items()}
        weights = {"image_loss": 1.0, "gradient_loss": GRADIENT_WEIGHT, "latent_loss": LATENT_WEIGHT,
                   "state_loss": STATE_WEIGHT, "reconstruction_loss": RECONSTRUCTION_WEIGHT}  # fmt: skip
        loss = sum(weights[name] * value for name, value in parts.items())
        logs = {name: float(value.detach()) for name, value in parts.items()}
        return loss, logs

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        save_model(Path(directory), self.config.to_dict(), self, WEIGHTS_FILE)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> FlywheelWorldModel:
        """Load a saved world model in eval mode, every file checked before use (see `models.loading`)."""
        directory = resolve_world_model_dir(directory)
        path = directory / CONFIG_FILE
        config = WorldModelConfig.from_dict(read_model_config(path, cls.name, "world model", LOAD_FIX), str(path))
        model = cls(config)
        load_weights(model, directory / WEIGHTS_FILE, LOAD_FIX)
        model.source = directory
        return model.to(device).eval()


def resolve_world_model_dir(path: str | Path) -> Path:
    """A pretrained_model/ dir, a checkpoint dir or a training run dir (uses `last`) holding a world model."""
    directory = resolve_pretrained_dir(path, "world model")
    read_model_config(directory / CONFIG_FILE, FlywheelWorldModel.name, "world model", LOAD_FIX)
    return directory


def check_chunk(model: FlywheelWorldModel, chunk: int, who: str) -> None:
    """A policy or a replay must step in the world model's chunks; anything else is one clear line."""
    if chunk != model.config.action_chunk:
        raise ConfigError(
            f"{who} acts in chunks of {chunk} actions but the world model steps {model.config.action_chunk} at a "
            "time; train the world model with --action-chunk equal to the policy's n_action_steps"
        )
