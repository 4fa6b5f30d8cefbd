"""Small shared helpers for environment tests."""

from vla_flywheel.envs.tabletop.experts import ExpertNoise, ScriptedExpert


def run_expert(env, seed: int, noise: ExpertNoise | None = None):
    """One expert episode; returns (observations, actions, final info)."""
    expert = ScriptedExpert(noise)
    obs, info = env.reset(seed=seed)
    expert.reset(env, seed)
    observations, actions = [obs], []
    for _ in range(env.config.max_steps):
        action = expert.act(env)
        obs, _, terminated, truncated, info = env.step(action)
        observations.append(obs)
        actions.append(action)
        if terminated or truncated:
            break
    return observations, actions, info
