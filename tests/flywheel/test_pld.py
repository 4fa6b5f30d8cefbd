"""The `pld` recipe runs a whole round: a residual specialist probes, hybrid rollouts are judged and kept on success,
the generalist is fine-tuned on them, and the specialist's RL budget is counted in rounds.jsonl."""

import json

import numpy as np
import pytest

from vla_flywheel import constants as k
from vla_flywheel.data import DatasetReader
from vla_flywheel.errors import ConfigError
from vla_flywheel.flywheel.config import RunConfig
from vla_flywheel.flywheel.engine import run_flywheel
from vla_flywheel.flywheel.layout import RunLayout, rollout_seed
from vla_flywheel.flywheel.pld import takeover_step
from vla_flywheel.train.specialist import CURVE_FILE, SUMMARY_FILE

TINY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": [16, 16], "flow_hidden": 64, "keypoints": 4}
SPECIALIST = {"offline_successes": 1, "offline_episodes": 2, "warmup_episodes": 1, "batch_size": 16, "hidden": 32,
              "capacity": 200, "eval_every": 40, "eval_episodes": 2}  # fmt: skip


def test_a_pld_round_probes_rolls_out_hybrid_episodes_and_counts_its_rl_budget(tmp_path):
    out = tmp_path / "pld"
    cfg = RunConfig(out=out, recipe="pld", seed_demos=2, rounds=1, episodes_per_round=3, base_steps=5, round_steps=5,
                    eval_episodes=2, threads=1, eval_workers=1, videos=1, max_steps=20, specialist_steps=40,
                    specialist=SPECIALIST, policy=TINY)  # fmt: skip
    rounds = run_flywheel(cfg, progress=False)
    run = RunLayout(out)
    specialist = run.specialist(1, "pick_place")
    summary = json.loads((specialist / SUMMARY_FILE).read_text())
    assert (specialist / CURVE_FILE).exists() and summary["online"]["env_steps"] >= 40
    spent = rounds[1]["budgets"]["spent"]
    assert spent["rl_env_steps"] == summary["offline"]["env_steps"] + summary["online"]["env_steps"]
    assert spent["rl_episodes"] > 0 and spent["env_episodes"] == 3
    data = DatasetReader(run.round_data(1))
    for episode in data.iter_episodes():
        assert set(episode[k.SOURCE]) == {"residual"}
        success = bool(np.asarray(episode[k.NEXT_SUCCESS]).ravel()[-1])
        assert bool(np.asarray(episode[k.JUDGE_KEEP]).ravel()[0]) == success  # PLD keeps successes only
    assert "rl_env_steps" in rounds[0]["budgets"]["spent"]
    assert 'class="plot rl-curve-plot"' in (out / "report.html").read_text()  # the specialist's RL curve


def test_a_vlac_rl_round_rewards_its_specialist_with_the_runs_critic_and_counts_the_expert_help(tmp_path):
    """VLAC's RL loop on the same stage: the critic trained on the seed demos rewards the specialist (the simulator's
    success is not its reward), the expert helps as asked, and the critic keeps the rollouts."""
    out = tmp_path / "vlac_rl"
    cfg = RunConfig(out=out, recipe="vlac-rl", seed_demos=2, rounds=1, episodes_per_round=2, base_steps=5,
                    round_steps=5, judge_steps=5, eval_episodes=2, threads=1, eval_workers=1, videos=0, max_steps=20,
                    specialist_steps=40, pld_alpha=0.0, policy=TINY,
                    specialist={**SPECIALIST, "expert_help": "expert-guided", "demo_episodes": 1,
                                "restart_fraction": 1.0, "expert_steps": 5})  # fmt: skip
    assert (cfg.judge, cfg.rl_reward) == ("critic", "critic")
    rounds = run_flywheel(cfg, progress=False)
    run = RunLayout(out)
    summary = json.loads((run.specialist(1, "pick_place") / SUMMARY_FILE).read_text())
    assert summary["config"]["reward"] == "critic" and summary["config"]["critic"] == str(run.judge(0))
    assert summary["demos"]["episodes"] == 1 and summary["online"]["restarts"] > 0
    assert summary["online"]["expert_env_steps"] > 0
    assert rounds[1]["budgets"]["spent"]["env_episodes"] == 2
    with pytest.raises(ConfigError, match="rl_reward=critic rewards the specialists with the run's critic"):
        RunConfig(out=tmp_path / "x", recipe="vlac-rl", judge="oracle")


def test_vlac_rl_with_seed_demo_help_replays_the_runs_own_demos_and_rewards_by_the_critics_value(tmp_path):
    """No new supervision: the help's demonstrations are the run's seed demos replayed, the reward the change of the
    run's critic's value."""
    out = tmp_path / "vlac_rl_seed"
    cfg = RunConfig(out=out, recipe="vlac-rl", rl_reward="critic-value", help_demos="seed", seed_demos=2, rounds=1,
                    episodes_per_round=1, base_steps=5, round_steps=5, judge_steps=5, eval_episodes=1, threads=1,
                    eval_workers=1, videos=0, specialist_steps=30, pld_alpha=0.0, policy=TINY,
                    specialist={**SPECIALIST, "expert_help": "demo-replay"})  # fmt: skip
    run_flywheel(cfg, progress=False)
    run = RunLayout(out)
    summary = json.loads((run.specialist(1, "pick_place") / SUMMARY_FILE).read_text())
    assert summary["config"]["reward"] == "critic-value" and summary["config"]["demos"] == str(run.demos)
    assert summary["demos"] == {"episodes": 2, "successes": 2, "env_steps": DatasetReader(run.demos).num_frames}


def test_hybrid_rollouts_hand_over_within_alpha_of_the_horizon():
    draws = [takeover_step(0.6, 100, rollout_seed(1, i)) for i in range(400)]
    assert min(draws) == 0 and 55 <= max(draws) <= 60  # U[0, 60], seeded
    assert draws == [takeover_step(0.6, 100, rollout_seed(1, i)) for i in range(400)]
    assert {takeover_step(0.0, 100, s) for s in range(50)} == {0}  # alpha = 0: the specialist from the first step


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"interface": "primitive"}, "PLD's residual specialists correct ee_delta actions"),
        ({"pld_alpha": 1.5}, "pld_alpha=1.5 must be in"),
        ({"specialist": {"env_steps": 5}}, "may not set env_steps"),
        ({"specialist": {"reward": "progress"}}, "may not set reward"),
        ({"specialist": {"warmup_episode": 5}}, "did you mean 'warmup_episodes'"),
        ({"specialist": {"demos": "data"}}, "may not set demos"),
        ({"help_demos": "human"}, "help_demos='human' must be expert"),
        ({"help_demos": "seed", "families": ("pick_place", "stack")}, "replays the seed demos of a one-family run"),
    ],
)
def test_bad_pld_settings_are_refused_before_anything_runs(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(out=tmp_path / "x", recipe="pld", **overrides)
    assert not (tmp_path / "x").exists()
