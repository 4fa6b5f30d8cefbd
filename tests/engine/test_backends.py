"""Collection backends: the same seeds give the same episodes in-process, on spawned processes and on Ray actors; a
Ray worker killed mid-run (a real process death) costs nothing but a retry; bad choices are one line.

The Ray tests run against a real local cluster (2 CPUs) started once for the module.
"""

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vla_flywheel.cli import main
from vla_flywheel.data import DatasetReader
from vla_flywheel.engine.backends import make_backend
from vla_flywheel.engine.collect import CollectConfig, collect
from vla_flywheel.envs.tabletop.config import TabletopConfig
from vla_flywheel.errors import ConfigError, FlywheelError
from vla_flywheel.eval.evaluate import EvalConfig, evaluate
from vla_flywheel.train.config import TrainConfig
from vla_flywheel.train.loop import train

TINY = {"dim": 32, "depth": 1, "num_heads": 2, "channels": (16, 16), "flow_hidden": 64, "keypoints": 4}
BACKENDS = [("inprocess", 1), ("process", 2), ("ray", 2)]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason='Ray is not installed: pip install -e ".[ray]" to run the Ray tests')
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def _needs(backend: str, request) -> None:
    if backend == "ray":
        request.getfixturevalue("ray_cluster")


def _same_datasets(a: Path, b: Path) -> None:
    ra, rb = DatasetReader(a), DatasetReader(b)
    assert ra.num_episodes == rb.num_episodes
    for i in range(ra.num_episodes):
        ea, eb = ra.episode(i), rb.episode(i)
        assert ea.keys() == eb.keys()
        for key in ea:  # images, actions, success, task, provenance, indices
            if isinstance(ea[key], np.ndarray):
                np.testing.assert_array_equal(ea[key], eb[key], err_msg=f"episode {i} {key}")
            else:
                assert list(ea[key]) == list(eb[key]), f"episode {i} {key}"


# ---------------------------------------------------------------------------------------------- same seeds, same data
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """4 primitive expert episodes collected in-process: what every backend must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "primitive"
    collect(CollectConfig(out=out, env=TabletopConfig(interface="primitive"), episodes=4), progress=False)
    return out


@pytest.mark.parametrize(("backend", "workers"), BACKENDS[1:])
def test_expert_collection_gives_the_same_episodes_on_every_backend(tmp_path, request, reference, backend, workers):
    _needs(backend, request)
    out = tmp_path / backend
    env = TabletopConfig(interface="primitive")
    cfg = CollectConfig(out=out, env=env, episodes=4, workers=workers, backend=backend)
    summary = collect(cfg, progress=False)
    assert summary.episodes == 4
    _same_datasets(reference, out)


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("policy")
    collect(CollectConfig(out=root / "demos", env=TabletopConfig(interface="primitive"), episodes=3), progress=False)
    train(TrainConfig(datasets=(root / "demos",), out=root / "run", steps=2, batch_size=2, threads=1, policy=TINY),
          progress=False)  # fmt: skip
    return root / "run"


def test_evaluation_gives_the_same_episodes_on_every_backend(tmp_path, request, tiny_policy):
    request.getfixturevalue("ray_cluster")
    infos = {}
    for backend, workers in BACKENDS:
        cfg = EvalConfig(policy=tiny_policy, out=tmp_path / backend, episodes=2, workers=workers, backend=backend,
                         videos=1)  # fmt: skip
        infos[backend] = evaluate(cfg, progress=False)
    ref = infos["inprocess"]
    assert len(ref["episodes"]) == 4
    for backend, info in infos.items():
        assert info["episodes"] == ref["episodes"], backend
        assert info["groups"] == ref["groups"], backend
        assert info["config"]["backend"] == backend
        saved = json.loads((tmp_path / backend / "eval_info.json").read_text())
        assert saved["episodes"] == ref["episodes"]


# ---------------------------------------------------------------------------------------------- a worker dies
_marker: dict = {}


def _init_marker(path: str) -> None:
    _marker["path"] = path


def _die_once_at_job_3(job: int) -> tuple[int, int]:
    """Job 3 kills its worker process the first time (the marker file is the 'first time'), then runs normally."""
    time.sleep(0.05)
    if job == 3:
        try:
            os.unlink(_marker["path"])
        except FileNotFoundError:
            pass
        else:
            os._exit(1)  # a real process death: no exception, no cleanup
    return job, job * job


def test_a_ray_worker_that_dies_mid_map_has_its_jobs_rerun_once_each_in_order(tmp_path, ray_cluster):
    marker = tmp_path / "die"
    marker.touch()
    with make_backend("ray", 2, _init_marker, (str(marker),)) as backend:
        results = list(backend.map(_die_once_at_job_3, range(10)))
        assert backend.restarts == 1
    assert not marker.exists()  # the death did happen
    assert results == [(j, j * j) for j in range(10)]


def _always_die(job: int) -> int:
    os._exit(1)


def test_a_job_that_keeps_killing_its_worker_fails_in_one_line_after_the_retries(ray_cluster):
    with make_backend("ray", 2, _init_marker, ("unused",), max_retries=1) as backend, pytest.raises(FlywheelError) as e:
        list(backend.map(_always_die, [7]))
    assert "job 0 (7) was lost with its worker 2 times" in str(e.value) and "\n" not in str(e.value)


def _our_ray_workers() -> list[int]:
    """PIDs of this test's episode actors: `ray::EpisodeWorker` processes whose raylet is a child of this process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "cmdline").read_bytes().startswith(b"ray::EpisodeWorker"):
                continue
            raylet = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            driver = int(Path(f"/proc/{raylet}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if driver == os.getpid():
            pids.append(int(entry.name))
    return pids


def test_killing_a_ray_worker_mid_collection_still_gives_every_seed_once(tmp_path, ray_cluster):
    env = TabletopConfig(image_size=32)  # ee_delta: ~100-step episodes, long enough to kill a worker mid-run
    collect(CollectConfig(out=tmp_path / "ref", env=env, episodes=8), progress=False)
    out, killed = tmp_path / "ray", {}
    earlier = set(_our_ray_workers())  # actors of earlier tests still exiting: not this run's workers

    def kill_one_worker_after_the_first_episode():
        info, deadline = out / "meta" / "info.json", time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                written = json.loads(info.read_text())["total_episodes"]
            except (OSError, ValueError, KeyError):
                written = 0
            workers = [pid for pid in _our_ray_workers() if pid not in earlier]
            if written >= 1 and workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.update(pid=workers[0], written=written)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker_after_the_first_episode)
    killer.start()
    summary = collect(CollectConfig(out=out, env=env, episodes=8, workers=2, backend="ray"), progress=False)
    killer.join()
    assert killed and killed["written"] < 8, f"the worker was not killed mid-run: {killed}"
    assert summary.episodes == 8
    _same_datasets(tmp_path / "ref", out)  # every seed exactly once, in order, identical to the in-process episodes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_collection_joins_an_existing_ray_cluster_and_leaves_it_running(tmp_path, reference):
    """A cluster started apart (`ray start --head`, as on a real cluster's head node) and named by RAY_ADDRESS: a
    fresh process collects on it the same episodes as in-process, and the cluster outlives the run."""
    pytest.importorskip("ray", reason='Ray is not installed: pip install -e ".[ray]" to run the Ray tests')
    address = f"127.0.0.1:{_free_port()}"
    # `ray start` turns on token authentication; a driver sends the token (~/.ray/auth_token) only when asked to
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_ADDRESS": address}
    log = tmp_path / "head.log"
    scratch = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short (socket paths) and its own: /tmp/ray is left alone
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2",
                             "--node-ip-address", "127.0.0.1", "--port", address.split(":")[1], "--temp-dir", scratch,
                             "--include-dashboard", "false", "--disable-usage-stats"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, f"the head did not start: {log.read_text()}"
            time.sleep(0.5)
        out = tmp_path / "joined"
        script = ("from vla_flywheel.engine.collect import CollectConfig, collect; "
                  "from vla_flywheel.envs.tabletop.config import TabletopConfig; "
                  f"collect(CollectConfig(out={str(out)!r}, env=TabletopConfig(interface='primitive'), episodes=4, "
                  "workers=2, backend='ray'), progress=False)")  # fmt: skip
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        _same_datasets(reference, out)
        assert head.poll() is None  # the run disconnected; the cluster it did not start is still up
    finally:
        head.terminate()  # --block: the head stops every process it started
        head.wait(timeout=120)
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- errors are one line
def _init_fails() -> None:
    raise ConfigError("the policy checkpoint is broken; retrain it")


def _identity(job):
    return job


@pytest.mark.parametrize("backend", ["process", "ray"])
def test_an_init_error_on_a_worker_reaches_the_caller_as_raised(request, backend):
    _needs(backend, request)
    with make_backend(backend, 1, _init_fails) as b, pytest.raises(ConfigError, match="^the policy checkpoint is bro"):
        list(b.map(_identity, [1, 2]))


def test_a_bad_backend_name_or_combination_is_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="unknown backend 'dask'; choose from auto, inprocess, process, ray"):
        CollectConfig(out=tmp_path / "d", backend="dask")
    with pytest.raises(ConfigError, match="backend 'inprocess' runs one worker, not 2"):
        EvalConfig(policy=tmp_path, out=tmp_path / "e", backend="inprocess", workers=2)
    assert main(["collect", "--out", str(tmp_path / "d"), "--backend", "inprocess", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs one worker" in err
    with pytest.raises(SystemExit) as e:
        main(["eval", "--policy", str(tmp_path), "--backend", "dask"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'dask'" in err


def test_choosing_ray_without_ray_installed_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra: ImportError
    with pytest.raises(ConfigError, match=r'collect: the ray backend needs Ray; install it with pip install -e "\.\['):
        CollectConfig(out=tmp_path / "d", backend="ray", workers=2)
    assert main(["eval", "--policy", str(tmp_path), "--backend", "ray", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[ray]"' in err
    assert not (tmp_path / "d").exists()
