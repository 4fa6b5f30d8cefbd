"""Every value that shapes a judge model, validated when it is made and saved as `config.json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vla_flywheel.config_check import check_fields, check_positive_ints
from vla_flywheel.errors import ConfigError

ROLES = ("critic", "success", "explainer", "verifier")
PROGRESS_READINGS = ("pair", "potential")


@dataclass
class JudgeConfig:
    """A judge model: one shared backbone and one head per role. Defaults are sized for a 2-core CPU.

    roles: the roles this model serves. One role is a separate model; several share one backbone and are told
        apart by a learned role token (LACY and VLAC both use one model for all their roles).
        - critic: (frame i, frame j, instruction) -> signed progress in [-1, 1], plus done (frame, instruction) (VLAC).
        - success: (trajectory subsampled to `frames` frames, instruction) -> P(success) (VLAW).
        - explainer: (frame before, pick/place action) -> words saying what the action does (LACY's A2L).
        - verifier: (frame, text a, text b) -> consistency in [0, 1] (LACY's L2C).
    image_key / image_size: the camera the judge watches and its side in pixels (a multiple of 16).
    frames: frames the success classifier sees per trajectory (VLAW samples 16; 8 keeps a CPU step cheap).
    dim / depth / num_heads / ff_mult: the transformer over [role, image tokens, extra tokens, text tokens].
    channels / pooled_grid: conv encoder widths and image tokens per side (pooled_grid^2 + 1 tokens per image).
    max_text_length: tokens per text input; max_explanation_length: tokens the explainer may generate.
    shared_words: the verifier marks each word that the other text also has (train-judge turns it on; configs
        saved before it existed load with it off).
    word_dropout: in training, the chance that a word of an instruction (never of a description) is read as [UNK].
        Held-out wordings ("set the red cube down on the blue target") reach the judge with [UNK] where the words are
        new; a judge that never saw [UNK] in training takes it for noise it cannot read past, so it is shown some.
    word_dropout_spread: each instruction draws its own dropout rate, uniform in [0, 2 * word_dropout] (capped
        below 1), instead of every instruction losing the same share: a held-out wording loses one word in eight
        ("get the red block onto the blue pad") or four in nine ("set the red cube down on the blue target"),
        so training shows both few and many [UNK]s. Spread around a rate of 0 it drops nothing.
    word_edits: in training, the chance that a word of an instruction is deleted or followed by an extra [UNK] (half
        each): held-out wordings are also longer or shorter than the ones trained on ("set the red cube down on ...").
    relation: each frame the success classifier (or a potential-reading critic) watches also gives a token saying
        where the instruction's block and pad are and how much of the block lies on the pad
        (models/judges/relation.py; `train-judge --relation`). Off by default: its gain did not hold across
        training seeds (README "Judges").
    progress_reading: how the critic reads a pair of frames.
        - pair: both frames and their difference in one sequence -> progress (VLAC's pairwise reading).
        - potential: each frame alone -> a potential phi in (0, 1), and progress c = (phi_j - phi_i) / (1 - phi_i):
          VLAC's labels are exactly this with phi = t / T, so it can fit them. Equal frames then get exactly 0 (the
          pixel filter's label) and a wrong instruction needs only a flat phi (its label), where a pairwise reader
          must learn both from examples.
    potential_anchor: weight of a loss pinning a potential critic's phi on a demo's frames to t / T, the potential
        VLAC's labels come from. The labels alone fix phi only up to a scale (c depends on (1 - phi_j) / (1 - phi_i)),
        and an unanchored critic settles near phi = 1, where the value's division by 1 - phi_first magnifies every
        small error. Measured (README "Judges"), it did not pay: on 100 demos VOC 0.890 -> 0.855 and rollout AUROC
        0.853 -> 0.746, since a frame's absolute phase generalizes worse than its ratio to another's. So 0, the
        default (and what configs saved before it existed load as), trains on the labels alone.
    grounding: weight of a loss teaching the relation token (of a potential critic or a success classifier) where
        the instruction's block and pad are, from where successes' gripper closed and opened
        (train.grounding_labels); needs `relation`. Measured (README "Judges"): the success classifier's relation
        then learns with both training seeds (AUROC 0.970 / 0.948, precision at 0.8 0.950 / 0.864, where the relation
        alone gave 0.784 / 0.865), in 9.6 min alone for 5000 steps. The critic places the named things within 2 px on
        80-87% of held-out frames and a wrong instruction's final value falls from 0.81-0.84 to 0.68-0.77 of the
        true one's, at a cost in VOC. Its labels need episodes that record the gripper, so 0 (off) is the default.
    members: judges trained alike, each from its own initialization and draw of examples, and read as one
        (models/judges/ensemble.py: the critic averages their potentials and done logits, the success classifier
        their logits); critic and success roles only. Measured (README "Judges"): two critics on 100 demos + 800
        noise-injected episodes rank rollouts at AUROC 0.904 / 0.927 (training seeds 0 / 2), where single critics'
        AUROC spread over 0.861-0.935; VOC stays near the members' mean (0.857 / 0.858). Training takes K times as
        long, so 1.
    workspace_homography: 3x3 map from normalized table (x, y) to pixels; the explainer looks through glimpses
        centred on the pick and place points, and a grounded judge's labels are pixels through it.
    glimpse_pixels: side of the place glimpse in pixels (the pick glimpse is half of it); 32 px at 64 px spans
        about +-8 cm, past LACY's relative-description radius (0.3 normalized = 7.5 cm).
    """

    roles: tuple[str, ...] = ("critic",)
    image_key: str = "observation.images.front"
    image_size: int = 64
    frames: int = 8
    dim: int = 64
    depth: int = 2
    num_heads: int = 4
    ff_mult: int = 2
    channels: tuple[int, int] = (16, 32)
    pooled_grid: int = 4
    max_text_length: int = 16
    max_explanation_length: int = 16
    workspace_homography: tuple[tuple[float, ...], ...] | None = None
    glimpse_pixels: int = 32
    shared_words: bool = False
    word_dropout: float = 0.0
    word_dropout_spread: bool = False
    word_edits: float = 0.0
    relation: bool = False
    progress_reading: str = "pair"
    potential_anchor: float = 0.0
    grounding: float = 0.0
    members: int = 1
    type: str = field(default="flywheel_judge", init=False)

    def __post_init__(self):
        self.roles = tuple(self.roles)
        self.channels = tuple(self.channels)
        if not self.roles or any(r not in ROLES for r in self.roles) or len(set(self.roles)) != len(self.roles):
            raise ConfigError(f"judge: roles={list(self.roles)} must be distinct names from {', '.join(ROLES)}")
        check_positive_ints("judge", self, ("image_size", "frames", "dim", "depth", "num_heads", "ff_mult",
                                            "pooled_grid", "max_text_length", "max_explanation_length",
                                            "glimpse_pixels", "members"))  # fmt: skip
        if self.members > 1 and set(self.roles) - {"critic", "success"}:
            raise ConfigError(f"judge: members={self.members} averages critics and success classifiers only; train "
                              f"{sorted(set(self.roles) - {'critic', 'success'})} as a judge of its own")  # fmt: skip
        if self.image_size % 16:
            raise ConfigError(f"judge: image_size={self.image_size} must be a multiple of 16")
        if (self.image_size // 4) % self.pooled_grid:
            raise ConfigError(f"judge: pooled_grid={self.pooled_grid} must divide image_size/4={self.image_size // 4}")
        if self.workspace_homography is not None:
            self.workspace_homography = tuple(tuple(float(v) for v in row) for row in self.workspace_homography)
        if "explainer" in self.roles and self.workspace_homography is None:
            raise ConfigError("judge: the explainer needs workspace_homography (train-judge sets it for the tabletop)")
        if self.glimpse_pixels % 32 or self.glimpse_pixels > self.image_size:
            raise ConfigError(f"judge: glimpse_pixels={self.glimpse_pixels} must be a multiple of 32, <= image_size")
        if not 0 <= self.word_dropout < 1:
            raise ConfigError(f"judge: word_dropout={self.word_dropout} is a probability; use a value in [0, 1)")
        if not 0 <= self.word_edits < 1:
            raise ConfigError(f"judge: word_edits={self.word_edits} is a probability; use a value in [0, 1)")
        if self.progress_reading not in PROGRESS_READINGS:
            readings = ", ".join(PROGRESS_READINGS)
            raise ConfigError(f"judge: progress_reading={self.progress_reading!r} is not one of {readings}")
        if self.potential_anchor < 0 or (self.potential_anchor and self.progress_reading != "potential"):
            raise ConfigError(f"judge: potential_anchor={self.potential_anchor} must be >= 0, and 0 unless "
                              "progress_reading is 'potential'")  # fmt: skip
        reads_relation = "success" in self.roles or ("critic" in self.roles and self.progress_reading == "potential")
        if self.grounding < 0 or (self.grounding and not (self.relation and reads_relation)):
            raise ConfigError(f"judge: grounding={self.grounding} must be >= 0, and 0 unless the judge reads the "
                              "relation token (--relation): a success classifier or a potential critic")  # fmt: skip
        if self.grounding and self.workspace_homography is None:
            raise ConfigError("judge: grounding needs workspace_homography (train-judge sets it for the tabletop)")
        if self.dim % self.num_heads:
            raise ConfigError(f"judge: dim={self.dim} must be divisible by num_heads={self.num_heads}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "judge config") -> JudgeConfig:
        """A saved config.json back as a config: its type first (a policy's config is not a judge's), then keys."""
        if data.get("type", "flywheel_judge") != "flywheel_judge":
            raise ConfigError(f"{where}: type={data['type']!r} is not flywheel_judge; pass a judge, not a policy")
        check_fields(cls, data, where)
        return cls(**{k: v for k, v in data.items() if k != "type"})
