"""Checking a re-execution with LACY's judges (`--replan-verifier`): did the pick and place it executed do what the
instruction asked?

Why: a re-execution (flywheel/replan.py) is one pick/place of the primitive interface, so LACY's explainer (A2L) can
say in words what it did, from the scene before it and the pick/place alone, and LACY's verifier (L2C) can score
those words against the instruction. That asks what the progress critic answers worst. On place_grid the critic's
false positives among re-executions are a block set down in another region or beside another object, or a grasp
that closed on nothing (`docs/results/replan_place_grid.md`); the first is a question about words, the second one
the robot's own fingers answer (`replan.held`). Nothing here reads the simulator: the pick/place comes from the
robot's record, the words from a judge trained like LACY's.

The check decides which re-executions are kept; the run's judge still weighs their frames (the critic by the
progress each step made), or every frame weighs 1 (`--replan-weights uniform`). Measured offline on the
re-executions of a `vlac --replan --replan-when held` run (place_grid, 3 rounds, 71/68/73 successes among
395/322/365): L2C on A2L's words ranks them at AUROC 0.91/0.93/0.94 against the critic's 0.87/0.81/0.84; held and
P > 0.8 keeps 52/57/60 successes and 16/17/9 failures, where the critic kept 31/29/27 and 20/33/26.
In a run from the same base (`vlac --replan --replan-when held --replan-verifier`) the policy gains +15.0 points in
three rounds, 75% of the oracle's +20.0, where the critic choosing gained +4.0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from vla_flywheel.engine.rollout import EpisodeRecord
from vla_flywheel.flywheel.judging import Verdict
from vla_flywheel.flywheel.replan import chosen_pick_place, held


@dataclass
class Check:
    passed: bool
    words: str  # A2L's description of the executed pick/place ("" when the gripper held nothing)
    consistency: float  # L2C's P(the words are consistent with the instruction); 0 when it held nothing


class ReexecutionCheck:
    """A re-execution passes when its gripper held something through its carry and L2C finds A2L's words for its
    pick/place consistent with the instruction (P > threshold)."""

    def __init__(self, model, threshold: float, uniform: bool = False):
        self.model, self.threshold = model, threshold  # its roles are checked before a run starts: model_checks
        self.uniform = uniform  # a kept re-execution's frames weigh 1 each, not what the run's judge gives them

    @torch.no_grad()
    def __call__(self, record: EpisodeRecord) -> Check:
        if not held(record.frames):
            return Check(False, "", 0.0)
        frame = torch.from_numpy(np.asarray(record.frames[self.model.config.image_key][0]))[None]  # [1, S, S, 3]
        action = torch.from_numpy(chosen_pick_place(record.frames))[None]  # [1, 5] pick x, y, yaw, place x, y
        words = self.model.explain(frame, action)[0]
        p = float(torch.sigmoid(self.model.verify_logit(frame, [record.task], [words]))[0])
        return Check(p > self.threshold, words, p)

    def decide(self, verdict: Verdict, record: EpisodeRecord) -> tuple[Verdict, str]:
        """The run's judge's verdict on a re-execution, with the score and keep decision this check's instead; the
        frames of a kept one weigh what the judge would weigh them (the critic's progress; 1 for others, or with
        `uniform`). -> (that verdict, A2L's words for what the re-execution did)."""
        check = self(record)
        if not check.passed:
            weights = np.zeros(record.length)
        elif verdict.progress is not None and not self.uniform:
            weights = verdict.progress
        else:
            weights = np.ones(record.length)
        return replace(verdict, score=check.consistency, keep=check.passed, weights=weights), check.words
