import pytest

from vla_flywheel.engine.collect import CollectConfig, collect
from vla_flywheel.envs.tabletop.config import TabletopConfig


@pytest.fixture(scope="session")
def ee_delta_demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "ee_delta"
    collect(CollectConfig(out=out, env=TabletopConfig(family="pick_place"), episodes=3), progress=False)
    return out


@pytest.fixture(scope="session")
def primitive_demos(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "primitive"
    env = TabletopConfig(family="pick_place", interface="primitive")
    collect(CollectConfig(out=out, env=env, episodes=20), progress=False)
    return out
