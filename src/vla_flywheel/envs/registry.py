"""Gymnasium ids for the built-in environments, and `make_env`.

Ids are `vla_flywheel/Tabletop-<Family>-<Interface>-v0` (e.g. `vla_flywheel/Tabletop-PickPlace-EEDelta-v0`) plus
`vla_flywheel/Tabletop-v0`, whose family, interface and split are keyword arguments.
"""

from __future__ import annotations

import gymnasium as gym

from vla_flywheel.envs.tabletop.config import ALL_FAMILIES, INTERFACES, TabletopConfig
from vla_flywheel.envs.tabletop.language import FAMILIES

ENTRY_POINT = "vla_flywheel.envs.tabletop.env:TabletopEnv"


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


def make_env(config: TabletopConfig | None = None, render_mode: str | None = None, **overrides):
    """Build the tabletop directly (no wrappers), from a config and/or keyword overrides."""
    from vla_flywheel.envs.tabletop.env import TabletopEnv

    return TabletopEnv(config, render_mode=render_mode, **overrides)
