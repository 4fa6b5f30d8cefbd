"""Failpoints: named moments at which a test can kill the process, to prove a run survives a crash there.

A robot-learning run dies mid-write in real life (OOM killer, preemption, power). Killing it from outside at a
random time rarely lands inside the few milliseconds of a dataset commit or a checkpoint rename, so the places
where a crash would hurt are named in the code, and `FLYWHEEL_FAILPOINT=NAME[:N]` makes the N-th pass through
NAME (default the first) send SIGKILL to the process itself: no cleanup, no `finally`, no flush, exactly what a
power cut leaves behind. Unset, a failpoint is one environment lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "FLYWHEEL_FAILPOINT"

# Every failpoint in the code base, in the order a run passes them (tests iterate over this).
NAMES = (
    "demos.episode",  # a seed demo was written
    "dataset.write",  # an episode's data file is written, its metadata not yet
    "train.step",  # a policy gradient step finished, not yet checkpointed
    "checkpoint.save",  # a checkpoint is written to its temporary directory, not yet renamed
    "checkpoint.link",  # a checkpoint is renamed, `last` not yet pointed at it
    "eval.episode",  # an evaluation episode finished
    "eval.write",  # evaluation finished, its eval_info.json not yet written
    "rollout.acted",  # a round's episode was acted, not yet judged
    "judge.verdict",  # the judge gave its verdict, the episode not yet written
    "replan.replaced",  # a kept episode is written, its re-execution (trained on in its place) not yet
    "judge.step",  # a judge gradient step finished
    "lacy.proposed",  # LACY's proposals are saved, none executed yet
    "world_model.step",  # a world-model gradient step finished, not yet checkpointed
    "vlaw.world_model",  # VLAW's round world model is trained, nothing imagined yet
    "vlaw.imagined",  # an imagined episode is judged and written
    "round.record",  # a round is evaluated, its rounds.jsonl line not yet written
    "report.write",  # report.html is being written
)

_passes: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Kill this process (SIGKILL) if FLYWHEEL_FAILPOINT names this point and this is the chosen pass."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _passes[name] += 1
    if _passes[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
