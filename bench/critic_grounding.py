"""Why the critic's progress ignores the instruction: can the judge tell which instruction a frame's scene was set for?

The critic's mismatched/matched ratio stays near 1 (README "Judges"): under another episode's instruction it reports
the same progress. Before the critic can give flat progress for a wrong instruction it must tell the two apart, and
most wrong instructions name a block or pad colour the scene does not hold. This probe asks only that: frames of
recorded ee_delta pick_place episodes, each with its own instruction (label 1) or another episode's naming other
colours (label 0), half each, drawn from the held-out episodes' own instructions at test time so that a familiar
string gives nothing away. Readers, all `FlywheelJudge` parts trained from scratch:
- judge: the critic as it is (the done head's path: two learned queries over the words FiLM the CNN, transformer);
- relation: only the relation token (models/judges/relation.py) keyed by the two learned queries, then a linear;
- relation, colour words given: the same, keyed by the embeddings of the instruction's first two colour words, so
  the word attention need not be learned (a probe, not a judge: it knows which words are colours);
- relation, grounded: the relation reader, also taught where each frame's named block and pad are by the
  successful episodes' gripper record (train.grounding_labels, the critic's `--grounding`).
Each trains on 100 expert demos, or on them plus 800 noise-injected expert episodes (more scenes), and prints the
final training loss and held-out accuracy by the frame's phase (1000 frames of 50 held-out expert episodes).

    python bench/critic_grounding.py [--out runs/critic_grounding] [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from judges import EE, HELDOUT_SEED, dataset  # noqa: E402
from vla_flywheel.envs.tabletop.camera import front_camera_homography  # noqa: E402
from vla_flywheel.envs.tabletop.experts import ExpertNoise  # noqa: E402
from vla_flywheel.envs.tabletop.language import corpus  # noqa: E402
from vla_flywheel.envs.tabletop.scene import COLOURS  # noqa: E402
from vla_flywheel.models.encoders import to_float_images  # noqa: E402
from vla_flywheel.models.judges import FlywheelJudge, JudgeConfig  # noqa: E402
from vla_flywheel.models.tokenizer import WordTokenizer, words  # noqa: E402
from vla_flywheel.train.judge_data import (  # noqa: E402
    Episode,
    load_episodes,
    named_at,
    other_instruction,
    until_success,
)
from vla_flywheel.train.optimizer_step import checked_step  # noqa: E402

IMAGE = "observation.images.front"
READERS = ("judge", "relation", "relation, colour words given", "relation, grounded")
BATCH, TEST_FRAMES = 32, 1000
HOMOGRAPHY = front_camera_homography(64)


class MatchReader(nn.Module):
    """(frames uint8 [B, S, S, 3], instructions) -> [B] logit of "this instruction was this scene's"."""

    def __init__(self, reader: str, tasks: list[str]):
        super().__init__()
        grounded = {"grounding": 1.0, "workspace_homography": HOMOGRAPHY.tolist()} if "grounded" in reader else {}
        config = JudgeConfig(roles=("critic",), progress_reading="potential", relation=reader != "judge", **grounded)
        self.reader = reader
        self.judge = FlywheelJudge(config, WordTokenizer.from_corpus([*corpus(), *tasks], config.max_text_length))
        self.out = nn.Linear(config.dim, 1)

    def _colour_words(self, texts: list[str]) -> torch.Tensor:
        """The embeddings of each instruction's first two colour words (object, goal) [B, 2, D]."""
        tokens, _ = self.judge.tokenizer(texts)
        embedded = self.judge.text.embed(tokens)  # [B, L, D]
        where = [[i for i, w in enumerate(words(t)) if w in COLOURS][:2] for t in texts]
        return torch.stack([embedded[b, idx] for b, idx in enumerate(where)])

    def forward(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        if self.reader == "judge":
            return self.judge.done_logit(frames, texts)
        named = self._colour_words(texts) if "colour" in self.reader else self.judge._texts(texts)[2]
        return self.out(F.gelu(self.judge.relation(to_float_images(frames), named)))[:, 0]


def frames_with_instructions(episodes: list[Episode], pool: list[str], n: int, rng: np.random.Generator) -> tuple:
    """n random frames, half with their own instruction and half with another from `pool` -> (frames, texts, labels,
    phases)."""
    frames, texts, labels, phases, own, where, known = [], [], [], [], [], [], []
    while len(labels) < n:
        e = episodes[rng.integers(len(episodes))]
        t = int(rng.integers(len(e.images)))
        other = other_instruction(pool, e.task, rng) if rng.random() < 0.5 else None
        frames.append(e.images[t])
        texts.append(other or e.task)
        labels.append(float(other is None))
        phases.append(t / max(len(e.images) - 1, 1))
        own.append(e.task)
        w, k = named_at(e, (t,))
        where.append(w[0])
        known.append(k[0])
    named = (own, torch.stack(where), torch.stack(known))  # each frame's own instruction and its grounding labels
    return torch.stack(frames), texts, torch.tensor(labels), np.asarray(phases), named


def probe(reader: str, train: list[Episode], test: list[Episode], steps: int, seed: int) -> dict:
    torch.manual_seed(seed)
    train_pool, test_pool = sorted({e.task for e in train}), sorted({e.task for e in test})
    model = MatchReader(reader, train_pool + test_pool).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng, began, losses = np.random.default_rng(seed), time.perf_counter(), []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 100)
        frames, texts, labels, _, named = frames_with_instructions(train, train_pool, BATCH, rng)
        loss = F.binary_cross_entropy_with_logits(model(frames, texts), labels)
        if "grounded" in reader:
            loss = loss + model.judge.grounding(frames, *named)[0]
        losses.append(checked_step(model, optimizer, loss, 1.0, f"grounding probe step {step}", "lower the lr")[0])
    model.eval()
    frames, texts, labels, phases, _ = frames_with_instructions(test, test_pool, TEST_FRAMES, np.random.default_rng(1))
    with torch.no_grad():
        logits = torch.cat([model(frames[i : i + 100], texts[i : i + 100]) for i in range(0, TEST_FRAMES, 100)])
    correct = (logits > 0).numpy() == (labels.numpy() > 0.5)
    thirds = {name: correct[(phases >= lo) & (phases < hi)].mean() for name, lo, hi in
              (("first third", 0, 1 / 3), ("middle third", 1 / 3, 2 / 3), ("last third", 2 / 3, 1.01))}  # fmt: skip
    return {"final_train_loss": float(np.mean(losses[-100:])), "heldout_accuracy": float(correct.mean()),
            **{k: float(v) for k, v in thirds.items()}, "minutes": (time.perf_counter() - began) / 60}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/critic_grounding"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=READERS, metavar="READER",
                        help=f"which readers to probe (default: all of {', '.join(READERS)})")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    demos = dataset(args.out, "expert", env=EE, episodes=100)
    noisy = dataset(args.out, "expert_noisy", env=EE, episodes=800, seed=2000,
                    noise=ExpertNoise(early_release=0.25, wrong_target=0.35))  # fmt: skip
    heldout = dataset(args.out, "expert_heldout", env=EE, episodes=50, seed=HELDOUT_SEED + 10_000)

    def load(*roots: Path) -> list[Episode]:  # a success's frames end at its success, as the critic's do
        return [until_success(e) if e.success else e for e in load_episodes(list(roots), IMAGE, HOMOGRAPHY)]

    test = load(heldout)
    data = {"100 demos": load(demos), "100 demos + 800 noisy expert episodes": load(demos, noisy)}
    written = args.out / "critic_grounding.json"
    results, lines = json.loads(written.read_text()) if written.exists() else {}, []  # a rerun of some readers adds
    for data_name, train in data.items():
        for reader in args.readers:
            r = probe(reader, train, test, args.steps, args.seed)
            results[f"{reader} | {data_name}"] = r
            lines.append(f"{reader:30s} {data_name:40s} train loss {r['final_train_loss']:.3f}  held-out accuracy "
                         f"{r['heldout_accuracy']:.3f} (thirds {r['first third']:.2f} / {r['middle third']:.2f} / "
                         f"{r['last third']:.2f})  {r['minutes']:.1f} min")  # fmt: skip
            print(lines[-1], flush=True)
    written.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
