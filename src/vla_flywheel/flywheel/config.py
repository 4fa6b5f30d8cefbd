"""Every value that shapes a flywheel run, validated up front and saved as the run's `config.json`.

A recipe is a choice per stage, not a program: `RECIPES` gives each named recipe's defaults (interface, judge, how
new experience is proposed), and any field can be overridden, e.g. `lacy` with `judge="oracle"` for the ablation
that swaps the learned verifier for the simulator's truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from vla_flywheel.config_check import check_counts, check_fields, check_positive_ints, read_json
from vla_flywheel.engine.backends import check_backend
from vla_flywheel.envs.metaworld.language import MT10, is_metaworld_family
from vla_flywheel.envs.registry import KNOWN_FAMILIES, ee_delta_overrides
from vla_flywheel.envs.tabletop.language import FAMILIES, SPLITS
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.layout import IMAGINED_ROUND_STRIDE, ROUND_SEED_STRIDE
from vla_flywheel.models.presets import get_preset

CONFIG_FILE = "config.json"

# recipe -> defaults. propose: "rollouts" (the policy acts, episodes are judged whole), "lacy" (L2A candidates
# voted by A2L explanations, gated by L2C), "pld" (residual specialists probe, hybrid rollouts are kept on success)
# or "vlaw" (real rollouts, then the policy imagined in a world model post-trained on them; flywheel/vlaw.py).
# judge: who decides what is kept (see flywheel.judging.JUDGES). rl_reward: what the RL specialists of a "pld"
# proposal are rewarded by (train.rewards): PLD's sparse success, or VLAC's critic (the run's critic judge).
RECIPES: dict[str, dict] = {
    "filtered-bc": {"interface": "primitive", "propose": "rollouts", "judge": "oracle"},
    "self-train": {"interface": "primitive", "propose": "rollouts", "judge": "keep-all"},
    "lacy": {"interface": "primitive", "propose": "lacy", "judge": "verifier"},
    "vlac": {"interface": "ee_delta", "propose": "rollouts", "judge": "critic"},
    "pld": {"interface": "ee_delta", "propose": "pld", "judge": "oracle", "rl_reward": "sparse"},
    "vlac-rl": {"interface": "ee_delta", "propose": "pld", "judge": "critic", "rl_reward": "critic"},
    "vlaw": {"interface": "ee_delta", "propose": "vlaw", "judge": "oracle", "full_videos": True},
}
JUDGES = ("oracle", "keep-all", "success", "critic", "verifier")
UPDATES = ("finetune", "retrain")
REPLAN_WHEN = ("kept", "held")  # flywheel/replan.py
REPLAN_WEIGHTS = ("judge", "uniform")  # flywheel/replan_check.py
JUDGE_ROLES = {"success": ("success",), "critic": ("critic",), "verifier": ("explainer", "verifier")}


@dataclass
class RunConfig:
    """A flywheel run. The defaults are the README's main job: filtered BC on pick_place from 10 demos, three rounds
    of 400 episodes, sized to finish within 15 minutes on 2 CPU cores.

    out: run directory (config.json, data/, checkpoints/, eval/, rounds.jsonl, report.html).
    recipe: one of RECIPES; interface / judge / propose default to the recipe's and may be overridden.
    families: task families; seed demos, rollouts and evaluation cycle through them.
    seed_demos: scripted-expert demonstrations per family (the only human-like labels of the run).
    rounds: flywheel rounds after the base policy.
    episodes_per_round: autonomous env episodes per round (LACY: the candidates it executes).
    lacy_pool: LACY observes lacy_pool x episodes_per_round scenes and acts on the least confident ones.
    lacy_samples: L2A candidates sampled per scene, voted by the meaning of their A2L explanations.
    relabel: hindsight relabelling (flywheel/relabel.py): an episode the judge did not keep is kept for the
        instruction that says what it did, as the simulator (oracle) or LACY's explainer (verifier) tells it.
    replan: re-execution (flywheel/replan.py): each ee_delta rollout the judge keeps is played again from its seed by
        the waypoint controller through the pick and place it chose, judged again, and trained on in its place.
        Re-executions are env episodes of the round (the round still plays episodes_per_round in all).
        replan_when: which rollouts are re-executed, "kept" (by the judge) or "held" (also those whose gripper held
        something through the carry it chose, whatever the judge said: replan.held).
        replan_verifier: a judge with LACY's explainer and verifier roles; it then decides which re-executions are
        kept: those whose gripper held something and whose pick/place the explainer describes in words the
        verifier finds consistent with the instruction (P > threshold) (flywheel/replan_check.py). None: the run's
        judge decides. replan_weights: what a kept re-execution's frames then weigh: "judge", what the run's judge
        gives them (the critic: the progress each step made), or "uniform", 1 each (as LACY and the oracle train).
    rl_reward: the RL specialists' reward, "sparse" (pld) or "critic" (vlac-rl: VLAC's RL loop, rewarded by the run's
        critic judge; graded expert help via specialist={"expert_help": ...}) or "critic-value" (the change of that
        critic's integrated value: potential-based, see train.rewards).
    pld_alpha: PLD's hybrid rollouts let the base act alone for T_base ~ U[0, pld_alpha x horizon] steps before its
        residual specialist takes over (PLD's best: 0.6). specialist_steps / specialist_xi: each round's residual
        SAC budget per family in env steps (train.specialist; counted as rl_env_steps) and its residual bound;
        specialist: any other SpecialistConfig field, e.g. {"offline_successes": 20, "eval_episodes": 20}.
        help_demos: whose demonstrations expert help's demo replay learns from: "expert" (new episodes of the scripted
        expert) or "seed" (the run's own seed demos, replayed from their seeds: help that asks for no new supervision).
    imagined_per_round: VLAW's N, imagined episodes per round in total (families in turn, like episodes_per_round),
        from real initial frames on seeds of their own; 0 = no world model and no imagination (the ablation that
        leaves VLAW's real half: filtered BC by the success classifier). Counted as imagined_episodes, never as env
        episodes. world_model_steps: each round's world-model post-training in gradient steps (counted as
        world_model_gradient_steps). world_model: a trained world model round 1 continues from (None: round 1
        trains one from scratch; later rounds continue from the last round's). world_model_train: any other
        WorldModelTrainConfig field, e.g. {"batch_size": 8, "world_model": {"hidden": 64}}. fidelity_episodes: the
        fresh real episodes each round's world model is checked against (measurement only, never training data; 8
        undercounted the steps a round-1 model beats copying at: 35 of 49, 47 on 32, 46-49 on 100; README "VLAW").
    base_steps / round_steps: gradient steps of the base policy and of each round's update.
    update: "finetune" continues from the last policy, "retrain" trains a fresh one on all data kept so far.
    judge_model: a trained judge (train-judge run) for learned judges; None trains one on the seed demos (vlaw: its
        success classifier; None trains one in round 1 on the seed demos and round 1's labelled real rollouts).
    judge_steps / judge_round_steps: gradient steps for that judge, and for refreshing it each round (LACY: its
        explainer and verifier learn from the triplets they kept; 0 = never).
    threshold: a learned judge keeps an episode when its score exceeds this (VLAW's alpha = 0.8).
    eval_episodes / eval_splits: evaluation episodes per (family, split) on the fixed evaluation seeds.
    budget_env_episodes / budget_gradient_steps: hard limits; None = exactly what the plan needs. A plan that
        exceeds its budget is refused before anything runs.
    base_from: start from this run's seed demos, base policy and base evaluation (recipes compared at equal
        budget share one base; the settings that shape the base must agree).
    max_steps: episode horizon (control steps) of rollouts, seed demos and evaluation on ee_delta; None = the env's
        own (tabletop 100, Meta-World 500). A failing episode runs to it, so it bounds a round's cost.
    full_videos: ee_delta episodes (seed demos, rollouts, evaluation) run the whole horizon instead of ending on their
        success, so their last frames show the outcome (`envs.registry.ee_delta_overrides`). The vlaw recipe's
        default: its success classifier judges whole imagined videos and cannot read an ending that hides the block
        in the hand (README "VLAW"). Success is then the outcome at the horizon.
    seed / threads / eval_workers: randomness, torch threads, evaluation processes.
    workers / backend: where a round's policy rollouts run, whole episodes each (engine.backends: inprocess,
        process, ray; auto = inprocess for one worker); the episodes and their order do not depend on it.
    videos: rollouts per round previewed as GIFs for the report (evaluation writes up to 2 per group).
    policy: PolicyConfig field overrides for the base policy (e.g. {"chunk_size": 8}).
    preset: a named model size (models/presets.py: cpu-small, gpu-base, gpu-large); its policy overrides are merged
        under `policy`, whose own entries win. None = the defaults.
    """

    out: Path
    recipe: str = "filtered-bc"
    interface: str | None = None
    judge: str | None = None
    propose: str | None = None
    rl_reward: str | None = None
    families: tuple[str, ...] = ("pick_place",)
    seed_demos: int = 10
    rounds: int = 3
    episodes_per_round: int = 400
    lacy_pool: int = 3
    lacy_samples: int = 8
    relabel: bool = False
    replan: bool = False
    replan_when: str = "kept"
    replan_verifier: Path | None = None
    replan_weights: str = "judge"
    pld_alpha: float = 0.6
    specialist_steps: int = 20_000
    specialist_xi: float = 0.3
    specialist: dict = field(default_factory=dict)
    help_demos: str = "expert"
    imagined_per_round: int = 1000
    world_model_steps: int = 600
    world_model: Path | None = None
    world_model_train: dict = field(default_factory=dict)
    fidelity_episodes: int = 32
    base_steps: int = 1000
    round_steps: int = 500
    update: str = "finetune"
    judge_model: Path | None = None
    judge_steps: int = 1500
    judge_round_steps: int = 300
    threshold: float = 0.8
    eval_episodes: int = 200
    eval_splits: tuple[str, ...] = ("train",)
    max_steps: int | None = None
    full_videos: bool | None = None
    budget_env_episodes: int | None = None
    budget_gradient_steps: int | None = None
    seed: int = 0
    threads: int = 2
    eval_workers: int = 2
    workers: int = 1
    backend: str = "auto"
    videos: int = 4
    policy: dict = field(default_factory=dict)
    preset: str | None = None
    base_from: Path | None = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.base_from = None if self.base_from is None else Path(self.base_from)
        self.world_model = None if self.world_model is None else Path(self.world_model)
        self.families, self.eval_splits = tuple(self.families), tuple(self.eval_splits)
        if self.recipe not in RECIPES:
            raise ConfigError(f"run: unknown recipe {self.recipe!r}; choose from {', '.join(RECIPES)}")
        for key, value in RECIPES[self.recipe].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        self.full_videos = bool(self.full_videos)
        if self.interface not in ("primitive", "ee_delta"):
            raise ConfigError(f"run: interface={self.interface!r} must be primitive or ee_delta")
        if self.judge not in JUDGES:
            raise ConfigError(f"run: judge={self.judge!r} is not one of {', '.join(JUDGES)}")
        if self.propose == "lacy" and (self.interface != "primitive" or self.judge not in ("verifier", "oracle")):
            raise ConfigError("run: LACY proposals need interface=primitive and judge=verifier (or oracle)")
        if self.propose == "pld" and self.interface != "ee_delta":
            raise ConfigError("run: PLD's residual specialists correct ee_delta actions; use interface=ee_delta")
        if not 0 <= self.pld_alpha <= 1 or not 0 < self.specialist_xi <= 1:
            raise ConfigError(f"run: pld_alpha={self.pld_alpha} must be in [0, 1] and specialist_xi="
                              f"{self.specialist_xi} in (0, 1]")  # fmt: skip
        owned = {"base", "out", "family", "env_steps", "xi", "max_steps", "seed", "threads", "reward",
                 "critic", "demos"} & set(self.specialist)  # fmt: skip
        if owned:
            raise ConfigError(f"run: specialist={{...}} may not set {', '.join(sorted(owned))}; the run sets them (use "
                              "specialist_steps / specialist_xi / max_steps / rl_reward / help_demos)")  # fmt: skip
        if self.help_demos not in ("expert", "seed"):
            raise ConfigError(f"run: help_demos={self.help_demos!r} must be expert (new scripted-expert episodes) or "
                              "seed (the run's seed demos, replayed)")  # fmt: skip
        if self.help_demos == "seed" and len(self.families) > 1:
            raise ConfigError("run: help_demos=seed replays the seed demos of a one-family run (they do not record "
                              "their family); run one family, or use help_demos=expert")  # fmt: skip
        from vla_flywheel.train.rewards import CRITIC_REWARDS
        from vla_flywheel.train.specialist import SpecialistConfig

        if self.rl_reward is not None and self.rl_reward not in ("sparse", *CRITIC_REWARDS):
            raise ConfigError(f"run: rl_reward={self.rl_reward!r} must be sparse, {' or '.join(CRITIC_REWARDS)}")
        if self.rl_reward in CRITIC_REWARDS and self.judge != "critic":
            raise ConfigError(f"run: rl_reward={self.rl_reward} rewards the specialists with the run's critic; use "
                              "judge=critic")  # fmt: skip

        check_fields(SpecialistConfig, self.specialist, "run: specialist")
        if self.propose == "vlaw":
            self._check_vlaw()
        if self.judge == "verifier" and self.propose != "lacy":
            raise ConfigError("run: the verifier judges LACY's explained proposals; use recipe lacy")
        if self.relabel and (self.judge not in ("oracle", "verifier") or self.propose not in ("rollouts", "lacy")
                             or any(is_metaworld_family(f) for f in self.families)):  # fmt: skip
            raise ConfigError("run: --relabel needs words for what an episode did: the oracle (simulator) or LACY's "
                              "verifier judge, on rollouts or LACY proposals of tabletop families")  # fmt: skip
        if self.replan and (self.interface != "ee_delta" or self.propose != "rollouts" or self.relabel
                            or any(is_metaworld_family(f) for f in self.families)):  # fmt: skip
            raise ConfigError("run: --replan re-executes the pick and place of kept ee_delta rollouts of tabletop "
                              "families (interface=ee_delta, recipe filtered-bc, self-train or vlac; not with "
                              "--relabel)")  # fmt: skip
        if self.replan_when not in REPLAN_WHEN or (self.replan_when != "kept" and not self.replan):
            raise ConfigError(f"run: replan_when={self.replan_when!r} chooses what --replan re-executes: "
                              f"{' or '.join(REPLAN_WHEN)}, with --replan")  # fmt: skip
        if self.replan_verifier is not None and not self.replan:
            raise ConfigError("run: --replan-verifier checks re-executions; add --replan")
        if self.replan_weights not in REPLAN_WEIGHTS or (
            self.replan_weights != "judge" and self.replan_verifier is None
        ):
            raise ConfigError(f"run: replan_weights={self.replan_weights!r} weighs what --replan-verifier keeps: "
                              f"{' or '.join(REPLAN_WEIGHTS)}, with --replan-verifier")  # fmt: skip
        if self.judge in ("critic", "success") and self.interface != "ee_delta":
            raise ConfigError(f"run: the {self.judge} judge watches ee_delta videos; use interface=ee_delta")
        for family in self.families:
            if family not in KNOWN_FAMILIES:
                raise ConfigError(
                    f"run: unknown family {family!r}; choose from {', '.join(FAMILIES)} or mw/<task> "
                    f"(Meta-World, e.g. mw/{MT10[0]})"
                )
            if is_metaworld_family(family) and self.interface != "ee_delta":
                raise ConfigError(f"run: Meta-World's {family} acts in ee_delta; pass --interface ee_delta")
        for split in self.eval_splits:
            if split not in SPLITS:
                raise ConfigError(f"run: unknown split {split!r}; choose from {', '.join(SPLITS)}")
        if self.update not in UPDATES:
            raise ConfigError(f"run: update={self.update!r} must be finetune or retrain")
        check_positive_ints("run", self, ("seed_demos", "episodes_per_round", "lacy_pool", "lacy_samples", "base_steps",
                                          "round_steps", "judge_steps", "eval_episodes", "threads", "eval_workers",
                                          "workers", "specialist_steps", "world_model_steps", "fidelity_episodes"),
                           optional=("max_steps",))  # fmt: skip
        check_counts("run", self, ("rounds", "judge_round_steps", "seed", "videos", "imagined_per_round"))
        check_backend(self.backend, self.workers, "run")
        if self.max_steps is not None and self.interface != "ee_delta":
            raise ConfigError("run: --max-steps caps ee_delta episodes; a primitive episode is its pick/place")
        if self.full_videos and self.interface != "ee_delta":
            raise ConfigError("run: --full-videos runs ee_delta episodes to the horizon; a primitive episode is one "
                              "pick/place")  # fmt: skip
        if not 0 < self.threshold < 1:
            raise ConfigError(f"run: threshold={self.threshold} must be in (0, 1)")
        if self.judge_model is not None:
            self.judge_model = Path(self.judge_model)
        if self.replan_verifier is not None:
            self.replan_verifier = Path(self.replan_verifier)
        if self.preset is not None:
            self.policy = {**get_preset(self.preset, "run").policy, **self.policy}
        planned = self.planned()
        for name, need in planned.items():
            limit = getattr(self, f"budget_{name}")
            if limit is not None and need > limit:
                raise ConfigError(
                    f"run: the plan needs {need} {name.replace('_', ' ')} but the budget is {limit}; "
                    f"lower --rounds / --episodes-per-round / --round-steps or raise --budget-{name.replace('_', '-')}"
                )

    @property
    def ee_overrides(self) -> dict:
        """make_env overrides of the run's ee_delta episodes: max_steps and full_videos."""
        return ee_delta_overrides(self.max_steps, self.full_videos)

    def _check_vlaw(self) -> None:
        """VLAW imagines ee_delta episodes, judged by the success classifier; `judge` labels the real rollouts: the
        oracle (VLAW's success labels given at reset) or, with a trained classifier, the classifier itself."""
        if self.interface != "ee_delta":
            raise ConfigError("run: VLAW imagines ee_delta episodes in its world model; use interface=ee_delta")
        if self.judge not in ("oracle", "success"):
            raise ConfigError(f"run: VLAW labels real rollouts with judge=oracle (its labels at reset) or success, "
                              f"not {self.judge}; the success classifier judges imagined ones")  # fmt: skip
        if self.judge == "success" and self.judge_model is None:
            raise ConfigError(
                "run: VLAW with judge=success judges real rollouts by the classifier too, so it needs "
                "a trained one (--judge-model); with judge=oracle round 1 trains it on labelled rollouts"
            )
        n, most = self.imagined_per_round, IMAGINED_ROUND_STRIDE  # each round's imagined seeds are a range this long
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= most:
            raise ConfigError(f"run: imagined_per_round={n!r} must be an integer in [0, {most}] (VLAW's N)")
        if self.fidelity_episodes > ROUND_SEED_STRIDE:  # each round's fidelity seeds are a range this long
            raise ConfigError(f"run: fidelity_episodes={self.fidelity_episodes} must be at most {ROUND_SEED_STRIDE}")
        owned = {"datasets", "out", "steps", "seed", "threads", "init_from"} & set(self.world_model_train)
        if owned:
            raise ConfigError(f"run: world_model_train={{...}} may not set {', '.join(sorted(owned))}; the run sets "
                              "them (use world_model_steps / world_model / seed / threads)")  # fmt: skip
        from vla_flywheel.train.world_model_loop import WorldModelTrainConfig

        check_fields(WorldModelTrainConfig, self.world_model_train, "run: world_model_train")
        from vla_flywheel.models.world_model import WorldModelConfig

        shape = self.world_model_train.get("world_model", {})
        check_fields(WorldModelConfig, shape, "run: world_model_train.world_model")

    @property
    def learned_judge(self) -> bool:
        return self.judge in JUDGE_ROLES

    @property
    def imagines(self) -> bool:
        """Whether the run trains a world model and imagines in it (VLAW with N > 0)."""
        return self.propose == "vlaw" and self.imagined_per_round > 0

    def planned(self) -> dict[str, int]:
        """What the plan spends: autonomous env episodes and policy gradient steps (judge steps are listed apart)."""
        return {
            "env_episodes": self.rounds * self.episodes_per_round,
            "gradient_steps": self.base_steps + self.rounds * self.round_steps,
        }

    def budgets(self) -> dict[str, int]:
        planned = self.planned()
        imagined = {}
        if self.imagines:  # VLAW's synthetic budget: exactly the plan (no separate limit to set)
            imagined = {"imagined_episodes": self.rounds * self.imagined_per_round,
                        "world_model_gradient_steps": self.rounds * self.world_model_steps}  # fmt: skip
        return {
            "seed_demos": self.seed_demos * len(self.families),
            **{name: getattr(self, f"budget_{name}") or need for name, need in planned.items()},
            **imagined,
        }

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out)
        for name in ("judge_model", "base_from", "world_model", "replan_verifier"):
            data[name] = None if data[name] is None else str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict, where: str = "run config") -> RunConfig:
        """A saved config.json back as a config; unknown keys and wrong types name `where`."""
        check_fields(cls, data, where)
        return cls(**data)

    @classmethod
    def load(cls, run: Path) -> RunConfig:
        """The config.json of a run directory, checked: a hand-edited or damaged file is one clear line."""
        path = Path(run) / CONFIG_FILE
        if not path.is_file():
            raise ConfigError(f"run: {run} has no {CONFIG_FILE}; is it a flywheel run directory?")
        data = read_json(path, f"restore it, or start a new run with `flywheel run --out` instead of {run}")
        data["out"] = str(run)  # the run lives where it is now: resumed from another directory, or moved since
        data.setdefault("full_videos", False)  # runs saved before it existed ended every episode on its success
        return cls.from_dict(data, where=str(path))
