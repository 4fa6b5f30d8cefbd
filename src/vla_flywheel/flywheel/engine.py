"""`flywheel run`: seed demos -> base policy (and judge) -> K rounds of act -> judge -> filter/weight -> train ->
evaluate, under explicit budgets, writing one `rounds.jsonl` line per round.

Every stage is resumable (see stages.py) and `rounds.jsonl` is appended only after a round's evaluation, so
`--resume` after a kill at any point redoes at most the interrupted stage's unfinished part. Budgets (seed demos,
autonomous env episodes, policy gradient steps) are counted from what is on disk, checked before each stage, and
reported per round; evaluation episodes are measurement, counted apart. VLAW's imagined episodes and world-model
gradient steps are counted as such, never as env episodes or policy steps.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from vla_flywheel.data.layout import write_json_atomic
from vla_flywheel.errors import ConfigError, FlywheelError
from vla_flywheel.failpoints import failpoint
from vla_flywheel.flywheel import memory, pld, records, stages, vlaw
from vla_flywheel.flywheel.config import CONFIG_FILE, RunConfig
from vla_flywheel.flywheel.layout import RunLayout
from vla_flywheel.flywheel.model_checks import check_judge_model, check_world_model

GENERATE_STAGES = {
    "rollouts": "act + judge",
    "lacy": "propose (L2A) + explain (A2L) + verify (L2C)",
    "pld": "probe (residual SAC specialists) + hybrid rollouts",
    "vlaw": "act + judge, post-train the world model, imagine + judge",
}


class BudgetExceeded(FlywheelError):
    """A stage would spend more than the run's budget allows."""


class Clock:
    """Stage headers (always printed, also without progress bars) with round, elapsed time and an ETA from the rounds
    done so far; stage times go to stages.jsonl."""

    def __init__(self, cfg: RunConfig, run: RunLayout):
        self.cfg, self.run = cfg, run
        self.began = time.perf_counter()
        self.round_seconds: list[float] = []

    def stage(self, r: int, name: str) -> None:
        elapsed = time.perf_counter() - self.began
        eta = ""
        if self.round_seconds:
            left = (self.cfg.rounds - r + 1) * sum(self.round_seconds) / len(self.round_seconds)
            eta = f", ETA {left / 60:.1f} min"
        where = "base" if r == 0 else f"round {r}/{self.cfg.rounds}"
        print(f"[flywheel {self.cfg.recipe}] {where} · {name} (elapsed {elapsed / 60:.1f} min{eta})", flush=True)

    def record(self, r: int, seconds: dict[str, float]) -> None:
        records.append_line(self.run.stages, {"round": r, **seconds})


def _stage_seconds(run: RunLayout, r: int) -> dict[str, float]:
    """Wall time per stage of round r, summed over every process that worked on it (a resumed run adds up)."""
    total: dict[str, float] = {}
    if run.stages.exists():
        for line in run.stages.read_text().splitlines():
            entry = json.loads(line)
            if entry.pop("round") == r:
                for name, s in entry.items():
                    total[name] = total.get(name, 0.0) + s
    return total


def _spent(cfg: RunConfig, run: RunLayout, upto: int) -> dict[str, int]:
    """Budgets used by rounds 0..upto: seed demos, autonomous env episodes and policy gradient steps (plus, counted
    apart, judge gradient steps, PLD's specialist RL env steps and episodes, and for VLAW its imagined episodes and
    world-model gradient steps)."""
    episodes = sum(stages.dataset_episodes(run.round_data(r)) for r in range(1, upto + 1))
    steps = sum(
        (cfg.base_steps if r == 0 else cfg.round_steps) for r in range(upto + 1) if stages.trained(run.policy(r))
    )
    judge_steps = 0
    for r in range(upto + 1):
        if stages.trained(run.judge(r)):
            judge_steps += json.loads((run.judge(r) / "train_summary.json").read_text())["steps"]
    imagined = vlaw.spent(run, upto) if cfg.propose == "vlaw" else {}
    return {"seed_demos": stages.dataset_episodes(run.demos), "env_episodes": episodes, "gradient_steps": steps,
            "judge_gradient_steps": judge_steps, **pld.rl_spent(run, upto), **imagined}  # fmt: skip


def _check_budget(cfg: RunConfig, spent: dict[str, int], name: str, more: int) -> None:
    limit = cfg.budgets()[name]
    if spent[name] + more > limit:
        raise BudgetExceeded(
            f"run: {name.replace('_', ' ')} budget exhausted ({spent[name]} spent + {more} needed > {limit}); "
            f"raise --budget-{name.replace('_', '-')} or plan fewer rounds"
        )


def _to_generate(cfg: RunConfig, run: RunLayout, r: int) -> dict[str, int]:
    """What round r's generate stage has left to spend: env episodes (and VLAW's imagined episodes, world-model
    steps and fidelity check)."""
    left = {"env_episodes": max(cfg.episodes_per_round - stages.dataset_episodes(run.round_data(r)), 0)}
    return {**left, **(vlaw.to_generate(cfg, run, r) if cfg.propose == "vlaw" else {})}


def _start(cfg: RunConfig | None, resume: Path | None) -> RunConfig:
    if resume is not None:
        cfg = RunConfig.load(resume)
        check_judge_model(cfg)  # it may have been moved or damaged since the run began
        check_world_model(cfg)
        return cfg
    if (cfg.out / CONFIG_FILE).exists():
        raise ConfigError(f"run: {cfg.out} already holds a flywheel run; pass --resume to continue it or pick --out")
    check_judge_model(cfg)  # before anything is written: a wrong --judge-model is found now, not at round 1
    check_world_model(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    if cfg.base_from is not None:
        from vla_flywheel.flywheel.base import share_base

        share_base(cfg.base_from, cfg)
    write_json_atomic(cfg.out / CONFIG_FILE, cfg.to_dict())
    return cfg


def run_flywheel(cfg: RunConfig | None = None, *, resume: Path | None = None, progress: bool = True) -> list[dict]:
    """Run (or continue) a flywheel; -> the rounds.jsonl records, base first."""
    cfg = _start(cfg, resume)
    run = RunLayout(cfg.out)
    clock = Clock(cfg, run)
    done = {rec["round"] for rec in records.read_rounds(run.rounds)}
    judge_dir = cfg.judge_model

    clock.stage(0, "seed demos")
    t0 = time.perf_counter()
    stages.collect_demos(cfg, run, progress)
    seconds = {"demos": time.perf_counter() - t0}
    if cfg.learned_judge and judge_dir is None:
        clock.stage(0, f"train {cfg.judge} judge on the seed demos")
        t0 = time.perf_counter()
        stages.train_judge(cfg, run.judge(0), [run.demos], cfg.judge_steps, None, progress)
        seconds["train_judge"] = time.perf_counter() - t0
        judge_dir = run.judge(0)
    if 0 not in done:
        clock.stage(0, "train base policy")
        t0 = time.perf_counter()
        if not stages.trained(run.policy(0)):
            _check_budget(cfg, _spent(cfg, run, 0), "gradient_steps", cfg.base_steps)
            stages.train_policy(cfg, run.policy(0), [run.demos], cfg.base_steps, None, progress)
        seconds["train"] = time.perf_counter() - t0
        clock.stage(0, "evaluate")
        t0 = time.perf_counter()
        info = stages.evaluate_policy(cfg, run.policy(0), run.eval(0), progress)
        seconds["evaluate"] = time.perf_counter() - t0
        clock.record(0, seconds)
        _finish_round(cfg, run, 0, info, [])
    for r in range(1, cfg.rounds + 1):
        began = time.perf_counter()
        if r in done:
            judge_dir = run.judge(r) if stages.trained(run.judge(r)) else judge_dir
            continue
        memory.reset_peak()
        seconds = {}
        left = _to_generate(cfg, run, r)
        if any(left.values()):
            spent, limits = _spent(cfg, run, r), cfg.budgets()
            for name, more in left.items():
                if more and name in limits:
                    _check_budget(cfg, spent, name, more)
            clock.stage(r, GENERATE_STAGES[cfg.propose])
            generate = {"rollouts": stages.generate_rollouts, "lacy": stages.generate_lacy, "pld": pld.generate_pld,
                        "vlaw": vlaw.generate_vlaw}  # fmt: skip
            seconds.update(generate[cfg.propose](cfg, run, r, run.policy(r - 1), judge_dir, progress))
        verdicts = records.round_verdicts(run.round_data(r))
        if cfg.learned_judge and (warning := records.kept_nothing(verdicts, cfg.judge, cfg.threshold)):
            print(f"flywheel run: warning: round {r}: {warning}", file=sys.stderr, flush=True)
        data = [run.demos, *(run.round_data(i) for i in range(1, r + 1)), *vlaw.training_data(run, r)]
        if cfg.learned_judge and cfg.judge_round_steps and cfg.propose == "lacy":
            clock.stage(r, "refresh the explainer and verifier on what they kept")
            t0 = time.perf_counter()
            stages.train_judge(cfg, run.judge(r), data, cfg.judge_round_steps, judge_dir, progress)
            judge_dir = run.judge(r)
            seconds["train_judge"] = time.perf_counter() - t0
        clock.stage(r, f"{cfg.update} policy")
        t0 = time.perf_counter()
        if not stages.trained(run.policy(r)):
            _check_budget(cfg, _spent(cfg, run, r), "gradient_steps", cfg.round_steps)
            init = run.policy(r - 1) if cfg.update == "finetune" else None
            stages.train_policy(cfg, run.policy(r), data, cfg.round_steps, init, progress)
        seconds["train"] = time.perf_counter() - t0
        clock.stage(r, "evaluate")
        t0 = time.perf_counter()
        info = stages.evaluate_policy(cfg, run.policy(r), run.eval(r), progress)
        seconds["evaluate"] = time.perf_counter() - t0
        clock.record(r, seconds)
        _finish_round(cfg, run, r, info, verdicts)
        clock.round_seconds.append(time.perf_counter() - began)
    from vla_flywheel.report.run_report import write_report

    write_report(run.root)
    return records.read_rounds(run.rounds)


def _finish_round(cfg: RunConfig, run: RunLayout, r: int, info: dict, verdicts: list[dict]) -> None:
    record = {
        "round": r,
        "recipe": cfg.recipe,
        "interface": cfg.interface,
        "judge": cfg.judge,
        "success": records.success_table(info),
        "budgets": {
            "spent": _spent(cfg, run, r),
            "limits": cfg.budgets(),
            "eval_episodes": info["overall"]["n"],
        },  # fmt: skip
        "data_added": records.data_added(verdicts),
        "judge_quality": records.judge_quality(verdicts),
        "seconds": _stage_seconds(run, r),
        "memory": memory.memory_record(),  # of this process, since the round (or the resumed part of it) began
        "policy": str(run.policy(r)),
    }
    if cfg.propose == "vlaw" and r > 0:
        record["world_model"] = vlaw.round_record(cfg, run, r)
    failpoint("round.record")
    records.append_line(run.rounds, record)
