"""Gymnasium ids for the built-in environments, `make_env` and `make_expert`.

Tabletop ids are `vla_flywheel/Tabletop-<Family>-<Interface>-v0` (e.g. `vla_flywheel/Tabletop-PickPlace-EEDelta-v0`)
plus `vla_flywheel/Tabletop-v0`, whose family, interface and split are keyword arguments. Meta-World tasks (optional
extra) are families named "mw/<task>" (`vla_flywheel.envs.metaworld`): `make_env(family="mw/pick-place-v3")` or
`gym.make("vla_flywheel/MetaWorld-v0", family="mw/pick-place-v3")`.
"""

from __future__ import annotations

import gymnasium as gym

from vla_flywheel.envs.metaworld.config import MetaWorldConfig
from vla_flywheel.envs.metaworld.language import FAMILIES as METAWORLD_FAMILIES
from vla_flywheel.envs.metaworld.language import is_metaworld_family
from vla_flywheel.envs.tabletop.config import ALL_FAMILIES, INTERFACES, TabletopConfig
from vla_flywheel.envs.tabletop.language import FAMILIES

ENTRY_POINT = "vla_flywheel.envs.tabletop.env:TabletopEnv"
# Every family a run, a collection or an evaluation can name: the tabletop's, then Meta-World's "mw/<task>".
KNOWN_FAMILIES: tuple[str, ...] = (*FAMILIES, *METAWORLD_FAMILIES)
METAWORLD_ID = "vla_flywheel/MetaWorld-v0"
METAWORLD_ENTRY_POINT = "vla_flywheel.envs.metaworld.env:MetaWorldEnv"


def _camel(name: str) -> str:
    return {"ee_delta": "EEDelta"}.get(name, "".join(part.capitalize() for part in name.split("_")))


def env_id(family: str, interface: str) -> str:
    return f"vla_flywheel/Tabletop-{_camel(family)}-{_camel(interface)}-v0"


ENV_IDS: dict[str, dict] = {"vla_flywheel/Tabletop-v0": {}}
for _family in (*FAMILIES, ALL_FAMILIES):
    for _interface in INTERFACES:
        ENV_IDS[env_id(_family, _interface)] = {"family": _family, "interface": _interface}

for _id, _kwargs in ENV_IDS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=ENTRY_POINT, kwargs=_kwargs, disable_env_checker=True)

ENV_IDS[METAWORLD_ID] = {}  # family="mw/<task>" as a keyword; needs the [metaworld] extra when made
if METAWORLD_ID not in gym.registry:
    gym.register(id=METAWORLD_ID, entry_point=METAWORLD_ENTRY_POINT, disable_env_checker=True)


def make_env(config: TabletopConfig | MetaWorldConfig | None = None, render_mode: str | None = None, **overrides):
    """Build an env directly (no wrappers), from a config and/or keyword overrides.

    A MetaWorldConfig, or a family named "mw/<task>", makes a Meta-World env; anything else the tabletop.
    """
    if isinstance(config, MetaWorldConfig) or (config is None and is_metaworld_family(overrides.get("family"))):
        from vla_flywheel.envs.metaworld.env import MetaWorldEnv

        return MetaWorldEnv(config, render_mode=render_mode, **overrides)
    from vla_flywheel.envs.tabletop.env import TabletopEnv

    return TabletopEnv(config, render_mode=render_mode, **overrides)


def ee_delta_overrides(max_steps: int | None = None, full_videos: bool = False) -> dict:
    """make_env overrides of an ee_delta episode: a horizon cap, and `full_videos`, which runs the whole horizon past a
    success instead of ending on it (the tabletop expert parks after placing), so that a video's last frames show
    its outcome: an episode cut at its success ends with the block hidden in the hand (README "VLAW")."""
    return {**({} if max_steps is None else {"max_steps": max_steps}),
            **({"terminate_on_success": False} if full_videos else {})}  # fmt: skip


def make_expert(env, noise=None):
    """The scripted expert of `env` (tabletop or Meta-World), with optional `ExpertNoise`."""
    if isinstance(env.unwrapped.config, MetaWorldConfig):
        from vla_flywheel.envs.metaworld.experts import MetaWorldExpert

        return MetaWorldExpert(noise)
    from vla_flywheel.envs.tabletop.experts import ScriptedExpert

    return ScriptedExpert(noise)
