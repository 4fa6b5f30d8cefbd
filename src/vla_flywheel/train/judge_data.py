"""Training examples for the judges, built from recorded episodes the way the papers label them.

- critic (VLAC, papers.md §4.2): from successful episodes only. A pair (o_i, o_j) is labelled with the fraction of the
  remaining way it covers, c = (j - i) / (T - i), negative when j < i, clipped to [-1, 1]; 0 when the two frames differ
  in under 1% of their pixels. Pairs come in VLAC's four-sample groups (o_i, o_i+1), (o_i+1, o_i), (o_i, o_i+Δ),
  (o_i+Δ, o_i) (fine and global, forward and backward; "+1" is 0.2 s), and with 5% probability a group gets another
  episode's instruction and label 0. Done frames come in balanced pairs: one before 0.8 T (label 0), one after
  0.95 T (label 1, or 0 when the pair got another episode's instruction, with the same probability). T is the first
  successful frame; a recording that goes on after it also lends global partners and done frames from there, every
  one of them counted as the success frame (the task stays done). Each frame of a pair that kept its own instruction
  also carries its phase t / T, the potential VLAC's labels come from (JudgeConfig.potential_anchor), and, for a
  grounded critic, where the instruction's block and pad are in it (train.grounding_labels; not under another
  episode's instruction).
- success (VLAW): labelled successes and failures, classes balanced per batch, each trajectory subsampled to F frames
  evenly spread from the first to the last (the last always included), with a little jitter. Half the failures are
  made from successes: paired with another instruction, or cut before the step that succeeded.
- explainer (LACY A2L): every primitive row: (frame before, pick/place action) -> the environment's description.
- verifier (LACY L2C): (frame, instruction, description of what was done) -> consistent? Half the pairs are recorded
  successes; the other half are recorded failures and hard near misses made from successes (wrong colour, wrong
  relation or reference, neighbouring region).

The simulator's dense progress is never read: the critic learns from what a user would have, demonstrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vla_flywheel.constants import ACTION, EXPLANATION, JUDGE_EXPLANATION, JUDGE_KEEP, NEXT_SUCCESS, OBS_STATE, TASK
from vla_flywheel.data import DatasetReader
from vla_flywheel.envs.tabletop.describe import near_misses
from vla_flywheel.envs.tabletop.scene import COLOURS
from vla_flywheel.errors import DatasetError
from vla_flywheel.train.grounding_labels import named_pixels

FINE_STEP_SECONDS = 0.2  # VLAC's fine pair spacing
PIXEL_CHANGE = 0.01  # pairs differing in fewer pixels than this fraction are labelled "no progress"
PIXEL_TOLERANCE = 8  # a pixel counts as changed when a channel moves by more than this (of 255)
MISMATCH_PROBABILITY = 0.05
MADE_FAILURES = 0.5  # share of the success classifier's failures made from successes
DONE_BEFORE, DONE_AFTER = 0.8, 0.95
# share of global partners and done frames drawn from after the success, where there is one; 0.2 against 0.5 raised
# VOC on all three training seeds measured and rollout AUROC on average (README "Judges")
AFTER_SUCCESS = 0.2


@dataclass
class Episode:
    images: torch.Tensor  # uint8 [T, S, S, 3]
    task: str
    success: bool
    actions: torch.Tensor  # [T, A]
    row_success: list[bool]  # per row: the outcome of that row's action (primitive attempts)
    explanations: list[str]
    named_where: torch.Tensor | None = None  # float [T, 2, 2]: pixel of the named block and pad (grounding_labels)
    named_known: torch.Tensor | None = None  # bool [T, 2]: whether each is known in that frame


def load_episodes(
    roots: list[Path], image_key: str, homography: np.ndarray | None = None, as_judged: bool = True
) -> list[Episode]:
    """Every episode of the datasets, in memory (64 px frames are ~12 KB).

    With the camera's `homography`, each successful episode that records its gripper also carries where the
    instruction's block and pad are in its frames (train.grounding_labels).

    Flywheel round datasets hold the judge's verdicts: with `as_judged` (for training) only kept episodes load, as
    successes with the explainer's words, since a judge retrained on the flywheel's data may learn only what the
    flywheel believed. Measuring a judge needs the truth instead (`as_judged=False`): every episode, labelled by the
    simulator's `next.success`.
    """
    episodes = []
    for root in roots:
        reader = DatasetReader(root)
        if image_key not in reader.features:
            raise DatasetError(f"judge data: {root} has no {image_key!r} images; record that camera or pick another")
        for i in range(reader.num_episodes):
            e = reader.episode(i)
            success = np.asarray(e[NEXT_SUCCESS]).reshape(-1).astype(bool)
            explanations = list(e[EXPLANATION]) if EXPLANATION in e else [""] * len(success)
            if as_judged and JUDGE_KEEP in e:  # flywheel round data: only what was kept, labelled as believed
                if not bool(np.asarray(e[JUDGE_KEEP]).reshape(-1)[0]):
                    continue
                success = np.arange(len(success)) == len(success) - 1  # believed to succeed with its last step
                judged = list(e.get(JUDGE_EXPLANATION, []))
                explanations = judged if any(judged) else explanations
            named = None
            if homography is not None and OBS_STATE in e and success[-1]:  # a failure may grasp another block
                named = named_pixels(np.array(e[OBS_STATE]), np.array(e[ACTION]), homography,
                                     _names(reader, OBS_STATE), _names(reader, ACTION))  # fmt: skip
            episodes.append(
                Episode(torch.from_numpy(np.array(e[image_key])), e[TASK][0], bool(success[-1]),
                        torch.from_numpy(np.array(e[ACTION])).float(), success.tolist(), explanations,
                        *(named or (None, None)))
            )  # fmt: skip
    if not episodes:
        raise DatasetError(f"judge data: no episodes in {', '.join(map(str, roots))}")
    return episodes


def _names(reader: DatasetReader, key: str) -> list[str]:
    """A feature's per-dimension names from info.json ([] when it has none)."""
    return list(reader.features.get(key, {}).get("names") or [])


def success_frame(episode: Episode) -> int:
    """The index of an episode's first successful frame (its last frame when no row says)."""
    return episode.row_success.index(True) if True in episode.row_success else len(episode.images) - 1


def until_success(episode: Episode) -> Episode:
    """The episode cut at its first successful frame: the "successful and efficient" trajectory VLAC's labels assume,
    on which VOC is measured (the parking after it is neither progress nor regress)."""
    end = success_frame(episode) + 1
    named = [None if x is None else x[:end] for x in (episode.named_where, episode.named_known)]
    return Episode(episode.images[:end], episode.task, episode.success, episode.actions[:end],
                   episode.row_success[:end], episode.explanations[:end], *named)  # fmt: skip


def progress_label(i: int, j: int, last: int) -> float:
    """VLAC's c = Δt / (T - i) for frames i -> j of a successful episode that succeeds at frame `last`.

    A frame after the success counts as the success frame: the task stays done while the recording goes on (the
    gripper parks), so reaching such a frame covers the whole remaining way, and leaving it goes back past all of it.
    """
    i, j = min(i, last), min(j, last)
    return float(np.clip((j - i) / max(last - i, 1), -1.0, 1.0))


def changed_fraction(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of pixels of two uint8 [S, S, 3] frames where some channel moved by more than PIXEL_TOLERANCE."""
    return float(((a.int() - b.int()).abs().amax(-1) > PIXEL_TOLERANCE).float().mean())


def same_task(a: str, b: str) -> bool:
    """Whether two instructions ask for the same thing, judged by the colours they name (paraphrases differ)."""
    return sorted(w for w in a.split() if w in COLOURS) == sorted(w for w in b.split() if w in COLOURS)


def other_instruction(tasks: list[str], task: str, rng: np.random.Generator) -> str | None:
    """One of `tasks` asking for something other than `task` (None when every one asks for the same)."""
    others = [t for t in tasks if not same_task(t, task)]
    return others[rng.integers(len(others))] if others else None


class CriticExamples:
    """Progress pairs in four-sample groups and balanced done pairs, from successful episodes.

    Pairs start before the success (VLAC's "successful and efficient" trajectory ends there). Where the recording
    goes on after it (the gripper parks), `after_success` of the global partners and of the late done frames come
    from there: rollouts are judged on such frames, and the task is done in every one of them.
    """

    def __init__(self, episodes: list[Episode], fps: int, mismatch: float = MISMATCH_PROBABILITY,
                 grounding: bool = False, after_success: float = AFTER_SUCCESS):  # fmt: skip
        self.episodes = [e for e in episodes if e.success and success_frame(e) >= 2]
        if not self.episodes:
            raise DatasetError("critic data: no successful episode of 3+ frames; the critic learns from successes")
        if grounding and all(e.named_where is None for e in self.episodes):
            raise DatasetError("critic data: grounding needs demos that record the gripper (state tcp.x, tcp.y and a "
                               "gripper action); record ee_delta demos or train without --grounding")  # fmt: skip
        self.fine = max(1, round(FINE_STEP_SECONDS * fps))
        self.mismatch, self.after_success = mismatch, after_success
        self.grounding = grounding
        self.tasks = sorted({e.task for e in self.episodes})

    def sample(self, rng: np.random.Generator, groups: int) -> dict:
        first, second, texts, labels, phases, anchored = [], [], [], [], [], []
        where, known = [], []  # per pair: the named things' pixels in (first, second) [2, 2, 2] and known [2, 2]
        for _ in range(groups):
            e = self.episodes[rng.integers(len(self.episodes))]
            last, end = success_frame(e), len(e.images) - 1
            i = int(rng.integers(0, last - self.fine + 1))
            k = i
            while k == i:
                after = end > last and rng.random() < self.after_success
                k = int(rng.integers(last + 1, end + 1)) if after else int(rng.integers(0, last + 1))
            task = e.task
            other = other_instruction(self.tasks, e.task, rng) if rng.random() < self.mismatch else None
            task, mismatched = other or task, other is not None
            for a, b in ((i, i + self.fine), (i + self.fine, i), (i, k), (k, i)):
                label = progress_label(a, b, last)
                if mismatched or changed_fraction(e.images[a], e.images[b]) < PIXEL_CHANGE:
                    label = 0.0
                first.append(e.images[a])
                second.append(e.images[b])
                texts.append(task)
                labels.append(label)
                phases.append((min(a, last) / last, min(b, last) / last))  # phi = t / T, done after the success
                anchored.append(not mismatched)
                if self.grounding:
                    w, k = named_at(e, (a, b))
                    where.append(w)
                    known.append(k & (not mismatched))
        done_frames, done_texts, done_labels = [], [], []
        for _ in range(groups):
            e = self.episodes[rng.integers(len(self.episodes))]
            last, end = success_frame(e), len(e.images) - 1
            early = int(rng.integers(0, max(1, int(DONE_BEFORE * last))))
            after = end > last and rng.random() < self.after_success
            late_from = last + 1 if after else int(np.ceil(DONE_AFTER * last))
            late = int(rng.integers(late_from, end + 1 if after else last + 1))
            other = other_instruction(self.tasks, e.task, rng) if rng.random() < self.mismatch else None
            done_frames += [e.images[early], e.images[late]]
            done_texts += [e.task, other or e.task]
            done_labels += [0.0, 0.0 if other else 1.0]
        grounding = {"named_where": torch.stack(where), "named_known": torch.stack(known)} if self.grounding else {}
        return {
            **grounding,
            "first": torch.stack(first), "second": torch.stack(second), TASK: texts,
            "progress": torch.tensor(labels), "done_frame": torch.stack(done_frames), "done_task": done_texts,
            "first_phase": torch.tensor(phases)[:, 0], "second_phase": torch.tensor(phases)[:, 1],
            "anchored": torch.tensor(anchored),
            "done": torch.tensor(done_labels),
        }  # fmt: skip


def named_at(episode: Episode, frames: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (pixels of the named block and pad in each frame [F, 2, 2], known [F, 2]); unknown without labels."""
    if episode.named_where is None:
        return torch.zeros(len(frames), 2, 2), torch.zeros(len(frames), 2, dtype=torch.bool)
    index = list(frames)
    return episode.named_where[index], episode.named_known[index]


def subsample(length: int, frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """`frames` indices from 0 to length-1, evenly spread, the last always included; jittered when rng is given."""
    idx = np.linspace(0, length - 1, frames)
    if rng is not None:
        idx[:-1] += rng.uniform(-0.5, 0.5, frames - 1) * (length - 1) / max(frames - 1, 1)
    return np.clip(np.round(idx), 0, length - 1).astype(int)


class SuccessExamples:
    """Balanced labelled trajectories, subsampled to F frames.

    Half the batch is successes. The other half is recorded failures, and failures made from successes the way a
    user could label them without a simulator: a success paired with another instruction (it did not do what that
    one asked, as the critic's mismatched negatives) or cut before the step that succeeded (it stopped short). Both
    make the classifier read the instruction and the end state instead of remembering the few hundred videos.
    """

    def __init__(self, episodes: list[Episode], frames: int, made_failures: float = MADE_FAILURES,
                 grounding: bool = False):  # fmt: skip
        self.positive = [e for e in episodes if e.success]
        self.negative = [e for e in episodes if not e.success]
        if not self.positive or not self.negative:
            raise DatasetError(
                f"success data: {len(self.positive)} successes and {len(self.negative)} failures; the classifier "
                "needs both (collect failures with the expert's noise knobs or a weak policy's rollouts)"
            )
        if grounding and all(e.named_where is None for e in self.positive):
            raise DatasetError("success data: grounding needs successes that record the gripper (state tcp.x, "
                               "tcp.y and a gripper action); record ee_delta episodes or drop --grounding")  # fmt: skip
        self.frames, self.made_failures, self.grounding = frames, made_failures, grounding
        self.tasks = sorted({e.task for e in episodes})

    def _made_failure(self, rng: np.random.Generator) -> tuple[Episode, int, str, str] | None:
        """(success, frames kept, instruction, kind) of a failure made from a recorded success; None when this one
        cannot be."""
        e = self.positive[rng.integers(len(self.positive))]
        if rng.random() < 0.5:
            other = other_instruction(self.tasks, e.task, rng)
            return (e, len(e.images), other, "other instruction") if other else None
        first_success = e.row_success.index(True) if True in e.row_success else len(e.images)
        if first_success < 2:
            return None
        return e, int(rng.integers(1, first_success)) + 1, e.task, "stopped short"

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        clips, texts, labels, kinds, where, known = [], [], [], [], [], []
        while len(labels) < batch:
            positive = len(labels) % 2 == 0
            made = None if positive or rng.random() >= self.made_failures else self._made_failure(rng)
            if made is None:
                pool = self.positive if positive else self.negative
                e = pool[rng.integers(len(pool))]
                made = e, len(e.images), e.task, "success" if positive else "recorded failure"
            e, length, task, kind = made
            idx = subsample(length, self.frames, rng)
            clips.append(e.images[idx])
            texts.append(task)
            labels.append(float(positive))
            kinds.append(kind)
            if self.grounding:  # the labels hold for the episode's own instruction only
                w, k = named_at(e, tuple(idx))
                where.append(w)
                known.append(k & (task == e.task))
        grounding = {"named_where": torch.stack(where), "named_known": torch.stack(known)} if self.grounding else {}
        return {**grounding, "frames": torch.stack(clips), TASK: texts, "success": torch.tensor(labels), "kind": kinds}


class ExplainerExamples:
    """(frame, primitive action) -> description, one example per primitive row."""

    def __init__(self, episodes: list[Episode]):
        self.rows = [(e, t) for e in episodes for t in range(len(e.images)) if e.explanations[t]]
        if not self.rows or self.rows[0][0].actions.shape[1] != 5:
            raise DatasetError("explainer data: needs primitive-interface episodes with explanations")

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        chosen = [self.rows[i] for i in rng.integers(len(self.rows), size=batch)]
        return {
            "frame": torch.stack([e.images[t] for e, t in chosen]),
            "action": torch.stack([e.actions[t] for e, t in chosen]),
            EXPLANATION: [e.explanations[t] for e, t in chosen],
        }


class VerifierExamples:
    """(frame, instruction, description, consistent?) from primitive rows, with hard negatives made from positives."""

    def __init__(self, episodes: list[Episode]):
        self.rows = [(e, t) for e in episodes for t in range(len(e.images)) if e.explanations[t]]
        self.positives = [(e, t) for e, t in self.rows if e.row_success[t]]
        self.failures = [(e, t) for e, t in self.rows if not e.row_success[t]]
        if not self.positives:
            raise DatasetError("verifier data: needs primitive-interface episodes with successful, explained rows")

    def sample(self, rng: np.random.Generator, batch: int) -> dict:
        """Half positives; the negatives are recorded failures and made near misses, half each."""
        frames, instructions, descriptions, labels, kinds = [], [], [], [], []
        while len(labels) < batch:
            draw = rng.random()
            if draw < 0.5:  # a success as recorded
                e, t = self.positives[rng.integers(len(self.positives))]
                text, label, kind = e.explanations[t], 1.0, "positive"
            elif draw < 0.75 and self.failures:  # a failure as recorded (a near-miss goal, a miss, ...)
                e, t = self.failures[rng.integers(len(self.failures))]
                text, label, kind = e.explanations[t], 0.0, "recorded failure"
            else:  # a near miss made from a success
                e, t = self.positives[rng.integers(len(self.positives))]
                misses = near_misses(e.explanations[t], list(COLOURS), rng)
                if not misses:
                    continue
                kind, text = misses[rng.integers(len(misses))]
                label = 0.0
            frames.append(e.images[t])
            instructions.append(e.task)
            descriptions.append(text)
            labels.append(label)
            kinds.append(kind)
        return {"frame": torch.stack(frames), TASK: instructions, "description": descriptions,
                "consistent": torch.tensor(labels), "kind": kinds}  # fmt: skip
