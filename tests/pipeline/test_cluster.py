"""A real two-node Ray cluster on this machine: `medregion build --ray-address` joins it, both nodes do work, and
the output equals the local build's byte for byte.

Each node is started by `ray start` in a session of its own, so every process of the cluster (daemons and workers
alike) carries that session id; the nodes are stopped by those processes' ids. Not `ray stop`: it stops every Ray
process on the machine, this test session's own Ray included.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
import yaml

from annotators import offline
from pipeline.config import to_dict

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 120
START_ATTEMPTS = 3
BUILD_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session_processes(sessions: list[int]) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) in sessions:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def _stop(sessions: list[int]) -> list[psutil.Process]:
    """Terminate every process of `sessions`, then kill what is left; returns any that survived."""
    processes = _session_processes(sessions)
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=5)
    for process in alive:
        process.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return alive


def _node_ids(sessions: list[int]) -> set[str]:
    """The node id of each raylet in `sessions` (from its command line)."""
    ids = set()
    for process in _session_processes(sessions):
        args = process.cmdline()
        if args and Path(args[0]).name == "raylet":
            ids |= {a.split("=", 1)[1] for a in args if a.startswith("--node_id=")}
    return ids


def _start_cluster(env: dict, temp: Path, sessions: list[int]) -> tuple[str, str]:
    """Start a head and a second node (2 CPUs each); returns (address, "") or ("", why it failed)."""
    port = _free_port()
    nodes = {"head": ["--head", f"--port={port}", "--include-dashboard=false"],
             "node": [f"--address=127.0.0.1:{port}"]}
    for name, args in nodes.items():
        command = [RAY, "start", *args, "--num-cpus=2", f"--temp-dir={temp / name}", "--disable-usage-stats"]
        start = subprocess.Popen(command, env=env, start_new_session=True, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sessions.append(start.pid)
        output, _ = start.communicate(timeout=START_TIMEOUT_S)
        if start.returncode:
            return "", output[-3000:]
    return f"127.0.0.1:{port}", ""


@pytest.fixture(scope="module")
def loopback_cluster():
    """A head and a second node on loopback; yields (address, sessions) and always stops both.

    Ray gives a starting node 30 seconds to register; a machine busy with other work can run that out, so a
    failed start is stopped and tried again."""
    env = {**os.environ, **offline.apply()}
    temp = Path(tempfile.mkdtemp(prefix="mr-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 characters
    sessions: list[int] = []
    try:
        for attempt in range(START_ATTEMPTS):
            address, failure = _start_cluster(env, temp / str(attempt), sessions)
            if address:
                break
            _stop(sessions)
        assert address, failure
        yield address, sessions
    finally:
        survivors = _stop(sessions)
        shutil.rmtree(temp, ignore_errors=True)
    assert not survivors, f"Ray processes outlived the cluster: {survivors}"


def test_a_build_on_two_nodes_uses_both_and_equals_the_local_build(loopback_cluster, sample_build, sample_config,
                                                                    tmp_path):
    address, sessions = loopback_cluster
    nodes = _node_ids(sessions)
    assert len(nodes) == 2
    output, stats = tmp_path / "cluster", tmp_path / "stats.json"
    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump(to_dict(sample_config(output))))
    command = [sys.executable, "-m", "pipeline.cli", "build", str(config), "--ray-address", address,
               "--stats", str(stats)]
    run = subprocess.run(command, cwd=ROOT, env={**os.environ, **offline.apply()}, capture_output=True, text=True,
                         timeout=BUILD_TIMEOUT_S)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    by_node = json.loads(stats.read_text())["inputs_by_node"]
    assert set(by_node) == nodes, by_node  # decode tasks are spread: each node decoded some of the inputs
    inputs = json.loads((output / "manifest.json").read_text())["totals"]["inputs"]
    assert sum(by_node.values()) == pytest.approx(inputs)
    local = sorted(p.relative_to(sample_build) for p in sample_build.rglob("*") if p.is_file())
    remote = sorted(p.relative_to(output) for p in output.rglob("*") if p.is_file())
    assert remote == local and any(p.parts[0] == "shards" for p in local)
    for rel in local:
        assert (output / rel).read_bytes() == (sample_build / rel).read_bytes(), rel


def test_a_driver_inside_a_ray_job_gives_the_cluster_the_offline_environment(loopback_cluster):
    """Inside a Ray job RAY_ADDRESS names the cluster and no address is configured: the job still carries the
    offline environment to workers that nodes started elsewhere (without it) would run."""
    address, _ = loopback_cluster
    probe = ("import json, ray; from schemas.runtime import RayConfig, ensure_ray; ensure_ray(RayConfig()); "
             "print(json.dumps(ray.get_runtime_context().runtime_env.get('env_vars', {})))")
    env = {key: value for key, value in os.environ.items() if key not in offline.OFFLINE_ENV}
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**env, "RAY_ADDRESS": address},
                         capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert run.returncode == 0, run.stderr[-3000:]
    job_env = json.loads(run.stdout.strip().splitlines()[-1])
    assert {key: job_env.get(key) for key in ("HF_HUB_OFFLINE", "YOLO_OFFLINE")} == {"HF_HUB_OFFLINE": "1",
                                                                                     "YOLO_OFFLINE": "1"}
