"""Hindsight relabelling in a flywheel round (`--relabel`): an episode the judge did not keep for the instruction it
was played for is kept for the instruction that says what it did (HER and DIAL; `envs/tabletop/hindsight.py`).

Why: a filter keeps only what the policy already does right, so what it never does right never enters its data.
On the 10-demo pick_place base, the block colours missing from the seed demos succeed in 0-1% of a round's rollouts
while the others succeed in 9-37%, and filtered BC levels off after three rounds. Many failures still put some
block on some pad; relabelled, each becomes an example of that (block, pad) pair. From 20 demos this adds 14 points
to filtered BC and 15 to LACY after three rounds (README, "Hindsight relabelling").

Who says what an episode did:
- the oracle: the simulator (`EpisodeRecord.achieved`: the end state under the env's own success predicate);
- LACY's verifier: its explainer (A2L), whose description of the action is read as the family's instruction. The
  simulator's truth for that instruction is stored as the episode's success, so the relabelling's precision is
  measured like any judge's, never used.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vla_flywheel import constants as k
from vla_flywheel.engine.rollout import EpisodeRecord
from vla_flywheel.envs.tabletop.describe import parse_description
from vla_flywheel.envs.tabletop.hindsight import instruction_for
from vla_flywheel.envs.tabletop.language import FAMILIES
from vla_flywheel.flywheel.judging import Verdict


def relabel(record: EpisodeRecord, family: str, explanation: str | None) -> EpisodeRecord | None:
    """The episode stored under the instruction that says what it did, its success the simulator's truth for that
    instruction; None when no instruction of `family` says it.

    explanation: what the judge's explainer said the action did; None lets the simulator say (the oracle).
    """
    if family not in FAMILIES:
        return None
    if explanation is None:
        task = record.achieved[0] if record.achieved else None
    else:
        task = instruction_for(family, parse_description(explanation))
    if task is None:
        return None
    success = task in record.achieved
    outcome = np.zeros_like(np.asarray(record.frames[k.NEXT_SUCCESS]))  # [T, 1]: only the end is judged
    outcome[-1] = success
    return replace(record, frames={**record.frames, k.NEXT_SUCCESS: outcome}, task=task, success=success)


def hindsight(enabled: bool, record: EpisodeRecord, verdict: Verdict, family: str,
              explanation: str | None = None) -> tuple[EpisodeRecord, Verdict, str | None]:  # fmt: skip
    """(record, verdict, the instruction it was played for) as a round stores them: unchanged unless relabelling is
    `enabled` and finds an instruction for what a rejected episode did, for which it is then kept."""
    if not enabled:
        return record, verdict, None
    relabelled = None if verdict.keep else relabel(record, family, explanation)
    if relabelled is None:
        return record, verdict, record.task
    return relabelled, Verdict(verdict.score, True, np.ones(record.length)), record.task
