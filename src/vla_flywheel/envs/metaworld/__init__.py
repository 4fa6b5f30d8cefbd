"""Meta-World (optional extra `[metaworld]`): its V3 tasks as environments with the project's observation keys.

Addressing a task: a Meta-World task is a *family* named "mw/<task>", e.g. "mw/pick-place-v3". The project already
passes a family name everywhere it makes an env (`make_env(family=..., interface=..., split=..., image_size=...,
cameras=...)` in collection, the flywheel's stages and evaluation), so `make_env` sends a "mw/" family to
`MetaWorldEnv` and everything else to the tabletop: no new argument, and one run can list tabletop and Meta-World
families side by side. `make_env(MetaWorldConfig(...))` and `gym.make("vla_flywheel/MetaWorld-v0",
family="mw/reach-v3")` work too, and `make_expert(env)` gives the env's scripted expert.

Within a task, the scenes are Meta-World's task variations (object and goal positions): `reset(seed=s)` picks one of
the 50 that its MT1 (or MT10) benchmark drew with a fixed seed. Success comes from Meta-World's `info["success"]`.

Parts: language.py (task names, MT10, instructions; no metaworld import), config.py (MetaWorldConfig), tasks.py (the
variation lists, importing metaworld lazily), camera.py (fast upright rendering), env.py (MetaWorldEnv), experts.py
(Meta-World's scripted policies as agents). Only tasks.py and experts.py import `metaworld`, and only when an env or
expert is made, so the tabletop works without the extra installed.
"""

from vla_flywheel.envs.metaworld.config import MetaWorldConfig
from vla_flywheel.envs.metaworld.language import FAMILIES, MT10, MT10_FAMILIES, PREFIX, is_metaworld_family

__all__ = ["FAMILIES", "MT10", "MT10_FAMILIES", "PREFIX", "MetaWorldConfig", "is_metaworld_family"]
