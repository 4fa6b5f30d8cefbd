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


TINY_POLICY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": (16, 16), "flow_hidden": 64, "keypoints": 4}


def _tiny_run(root, demos):
    from vla_flywheel.train.config import TrainConfig
    from vla_flywheel.train.loop import train

    train(TrainConfig(datasets=(demos,), out=root, steps=2, batch_size=2, threads=1, policy=TINY_POLICY),
          progress=False)  # fmt: skip
    return root


@pytest.fixture(scope="session")
def ee_delta_policy(tmp_path_factory, ee_delta_demos):
    """A 2-step flow policy: untrained, but a real base for the residual learner's plumbing."""
    return _tiny_run(tmp_path_factory.mktemp("policy") / "ee_delta", ee_delta_demos)


@pytest.fixture(scope="session")
def primitive_policy(tmp_path_factory, primitive_demos):
    return _tiny_run(tmp_path_factory.mktemp("policy") / "primitive", primitive_demos)
