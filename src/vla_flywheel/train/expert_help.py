"""VLAC's graded human help for an RL learner (papers.md §4.3 step 6), with the scripted expert as the human.

Each level includes the ones before it:
- `demo-replay`: `demo_episodes` expert episodes fill a demonstration buffer, and the actor's loss gains a
  behaviour-cloning term on it (VLAC: an extra NLL loss on a human-demo buffer). For a residual learner the term
  pulls the executed mean action, base + residual, towards the demonstrated one. The demonstrations are new ones of
  the scripted expert, or recorded ones replayed (`RecordedActions`: e.g. a flywheel run's own seed demos, so the
  help asks for no new supervision).
- `return-explore`: each failed RL episode leaves one state, drawn uniformly from its steps (reservoir sampling), in
  a bounded pool; a `restart_fraction` of later RL episodes start from such a state (`set_state`) instead of a fresh
  scene (VLAC: the operator resets robot and objects to states where the policy often fails).
- `expert-guided`: such a restart is led by the expert, replanned from that state, for its first `expert_steps`
  steps; those steps enter the online buffer like the learner's own (VLAC: the operator shows the way through cases
  the policy cannot find).

Every expert step is a real env step and is counted: demonstrations apart, expert-led steps within the online budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_flywheel.errors import ConfigError

HELP_LEVELS = ("none", "demo-replay", "return-explore", "expert-guided")


@dataclass(frozen=True)
class ExpertHelp:
    level: str = "none"

    def __post_init__(self):
        if self.level not in HELP_LEVELS:
            raise ConfigError(f"specialist: expert_help={self.level!r} is not one of {', '.join(HELP_LEVELS)}")

    def _at_least(self, level: str) -> bool:
        return HELP_LEVELS.index(self.level) >= HELP_LEVELS.index(level)

    @property
    def demo_replay(self) -> bool:
        return self._at_least("demo-replay")

    @property
    def return_explore(self) -> bool:
        return self._at_least("return-explore")

    @property
    def expert_guided(self) -> bool:
        return self._at_least("expert-guided")


class FailureStates:
    """A bounded pool of env states from failed episodes, one per episode drawn uniformly from its steps; when full,
    a new state replaces a random old one (so the pool follows where the learner fails now)."""

    def __init__(self, capacity: int, rng: np.random.Generator):
        self.capacity, self.rng = capacity, rng
        self.states: list[dict] = []
        self._candidate: dict | None = None
        self._seen = 0

    def __len__(self) -> int:
        return len(self.states)

    def start_episode(self) -> None:
        self._candidate, self._seen = None, 0

    def watch(self, env) -> None:
        """Call once per learner step: keeps this step's state with probability 1/(steps so far)."""
        self._seen += 1
        if self.rng.random() < 1.0 / self._seen:
            self._candidate = env.unwrapped.get_state()

    def end_episode(self, success: bool) -> None:
        if success or self._candidate is None:
            return
        if len(self.states) < self.capacity:
            self.states.append(self._candidate)
        else:
            self.states[int(self.rng.integers(len(self.states)))] = self._candidate

    def draw(self) -> dict:
        return self.states[int(self.rng.integers(len(self.states)))]


class ExpertLed:
    """Agent protocol around a learner agent: the expert, replanned from the episode's start state, acts for the
    first `steps` steps (all of them for a demonstration), then the learner. The learner agent still reads the base
    at every step, so each expert step is a transition the learner can store (its `last` is rewritten to the expert's
    action)."""

    def __init__(self, learner, expert, steps: int | None):
        self.learner, self.expert, self.steps = learner, expert, steps
        self.t = 0

    @property
    def last(self):
        return self.learner.last

    @property
    def base(self):
        return self.learner.base

    def reset(self, env, seed: int) -> None:
        self.learner.reset(env, seed)
        self.expert.replan(env.unwrapped)
        self.t = 0

    def act(self, env, obs) -> np.ndarray:
        action = self.learner.act(env, obs)
        if self.steps is None or self.t < self.steps:
            action = self.expert.act(env.unwrapped, obs)
            view, _, _ = self.learner.last
            self.learner.last = (view, action, True)
        self.t += 1
        return action


class RecordedActions:
    """Expert protocol over one recorded episode: its actions in order, then zeros. Replayed from the episode's
    recorded seed in a deterministic simulator, the recording passes through the states it was recorded in, where
    the learner's base and critic state can be read (a dataset stores neither)."""

    def __init__(self, actions: np.ndarray):
        self.actions = actions  # [T, action_dim]
        self.t = 0

    def replan(self, env) -> None:
        self.t = 0

    def act(self, env, obs) -> np.ndarray:
        action = self.actions[self.t] if self.t < len(self.actions) else np.zeros_like(self.actions[0])
        self.t += 1
        return np.asarray(action, dtype=np.float64)


def recorded_demos(root, episodes: int) -> list[tuple[int, np.ndarray]]:
    """The first `episodes` successful episodes of the dataset at `root` as (seed, actions [T, action_dim])."""
    from vla_flywheel.data.reader import DatasetReader

    reader, found = DatasetReader(root), []
    for ep in reader.iter_episodes():
        if len(found) == episodes:
            break
        if "episode.seed" not in ep:
            raise ConfigError(f"specialist: demos={root} has no 'episode.seed' column to replay its episodes from; "
                              "pass a flywheel run's seed demos (RUN/data/demos), which record it")  # fmt: skip
        if bool(np.asarray(ep["next.success"]).reshape(-1)[-1]):
            found.append((int(np.asarray(ep["episode.seed"]).reshape(-1)[0]), np.asarray(ep["action"])))
    if not found:
        raise ConfigError(f"specialist: demos={root} holds no successful episode to replay")
    return found


def check_expert_help(env, help: ExpertHelp) -> None:
    """Expert help needs an expert that can take over from any state and an env that can be restored and observed
    there: the tabletop's (its expert replans) and Meta-World's (its experts read only the current observation)."""
    if help.level != "none" and not hasattr(env.unwrapped, "observe"):
        raise ConfigError(f"specialist: expert_help={help.level!r} needs an env whose expert takes over from any "
                          "state (the tabletop, Meta-World); use expert_help='none' on this env")  # fmt: skip
