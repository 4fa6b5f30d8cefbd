"""Optional: LeRobot's own `LeRobotDataset` opens what we write and sees the same values.

LeRobot needs Python >= 3.12 and heavy extras, so it is not a dependency. The test runs when `lerobot`
is importable here, or when FLYWHEEL_LEROBOT_PYTHON names an interpreter that has `lerobot[dataset]`;
otherwise it is skipped and conformance rests on the layout tests.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from dataset_fixtures import IMAGE_KEY

from vla_flywheel.data import DatasetReader

_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    ds = LeRobotDataset("local/flywheel_compat", root=sys.argv[1])
    items = [ds[i] for i in range(len(ds))]
    np.savez(
        sys.argv[2],
        num_episodes=ds.num_episodes,
        image=np.stack([(it[sys.argv[3]].numpy() * 255).round().astype(np.uint8) for it in items]),
        state=np.stack([it["observation.state"].numpy() for it in items]),
        reward=np.stack([it["next.reward"].numpy() for it in items]),
        success=np.stack([it["next.success"].numpy() for it in items]),
        index=np.stack([it["index"].numpy() for it in items]),
        task=np.array([it["task"] for it in items]),
        explanation=np.array([it["explanation"] for it in items]),
        image_mean=np.asarray(ds.meta.stats[sys.argv[3]]["mean"]),
    )
    """
)


def _lerobot_python() -> str | None:
    if importlib.util.find_spec("lerobot") is not None:
        return sys.executable
    return os.environ.get("FLYWHEEL_LEROBOT_PYTHON") or None


@pytest.mark.skipif(_lerobot_python() is None, reason="lerobot not installed (set FLYWHEEL_LEROBOT_PYTHON)")
def test_lerobot_reads_our_dataset(tmp_path, write_dataset):
    root, _ = write_dataset(tmp_path / "ds", [4, 3, 5], tasks=["pick", "place", "pick"], data_files_size_in_mb=0.1)
    out = tmp_path / "lerobot.npz"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [_lerobot_python(), "-c", _SCRIPT, str(root), str(out), IMAGE_KEY],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out)
    r = DatasetReader(root)
    eps = list(r.iter_episodes())
    assert int(got["num_episodes"]) == 3
    np.testing.assert_array_equal(got["image"], np.concatenate([e[IMAGE_KEY] for e in eps]).transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(got["state"], np.concatenate([e["observation.state"] for e in eps]))
    np.testing.assert_array_equal(got["reward"], np.concatenate([e["next.reward"] for e in eps]).ravel())
    np.testing.assert_array_equal(got["success"], np.concatenate([e["next.success"] for e in eps]).ravel())
    np.testing.assert_array_equal(got["index"], np.arange(12))
    assert got["task"].tolist() == [t for e in eps for t in e["task"]]
    assert got["explanation"].tolist() == [t for e in eps for t in e["explanation"]]
    np.testing.assert_allclose(got["image_mean"], r.stats[IMAGE_KEY]["mean"])
