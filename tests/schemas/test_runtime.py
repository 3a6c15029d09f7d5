"""schemas.runtime: Ray settings refused before Ray starts, and a local Ray stopped whole (in a process of its own:
the session fixture's Ray is another)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from schemas.runtime import LOCAL_SYSTEM_CONFIG, RayConfig, require_reachable
from schemas.typed_config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("settings,message", [({"num_cpus": 0}, "ray.num_cpus: 0"),
                                              ({"blocks_per_cpu": 0}, "ray.blocks_per_cpu: 0")])
def test_settings_that_would_hang_a_build_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        RayConfig(**settings)


def test_an_address_where_no_head_answers_is_refused_at_once():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        require_reachable(f"127.0.0.1:{port}")  # something answers: Ray's own handshake decides
        require_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"ray.address 127.0.0.1:{port}: no Ray head answers there"):
        require_reachable(f"127.0.0.1:{port}")
    require_reachable("auto")  # Ray finds the local cluster itself


LOCAL_RAY = """
import json, sys, psutil, ray
from schemas.runtime import RayConfig, ensure_ray
ensure_ray(RayConfig(num_cpus=1))
assert ray.get(ray.remote(lambda: 1).remote()) == 1
started = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps(started), flush=True)
if sys.argv[1] == "shutdown":
    ray.shutdown()
    gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in started if psutil.pid_exists(pid)], timeout=30)
    print(json.dumps([p.pid for p in alive]))
"""


@pytest.mark.parametrize("how", ["shutdown", "exit"])
def test_a_local_ray_stops_whole_and_quietly(how):
    """`ray.shutdown`, or the process's exit, leaves none of the local Ray's processes and prints nothing of it."""
    done = subprocess.run([sys.executable, "-c", LOCAL_RAY, how], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    started = json.loads(lines[0])
    assert len(started) >= 5  # GCS, raylet, its two agents, worker, ...
    if how == "shutdown":
        assert json.loads(lines[1]) == []
    else:
        _, alive = psutil.wait_procs([psutil.Process(pid) for pid in started if psutil.pid_exists(pid)], timeout=30)
        assert alive == []
    assert "autoscaler" not in done.stderr.lower() and "Traceback" not in done.stderr


PRELOADING_RAY = """
import json, sys, ray
from schemas.runtime import RayConfig, ensure_ray
ensure_ray(RayConfig(num_cpus=1), preload=["pipeline.stage_list", "no_such_module_anywhere"])

def probe():
    import ray._raylet
    return "pipeline.stage_list" in sys.modules, ray._raylet.Config.raylet_client_connect_timeout_milliseconds()

print(json.dumps([ray.get(ray.remote(probe).remote()), "pipeline.stage_list" in sys.modules,
                  ray._private.state.state.get_system_config()]))
"""


def test_a_local_ray_runs_with_its_settings_and_its_workers_import_the_preloaded_modules_first():
    """The workers import `preload` as they start (a module that is not there is passed over) and the driver does
    not; the local settings (schemas.runtime.LOCAL_SYSTEM_CONFIG) are the cluster's and reach the workers."""
    done = subprocess.run([sys.executable, "-c", PRELOADING_RAY], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    in_worker, in_driver, system_config = json.loads(done.stdout.strip().splitlines()[-1])
    assert in_worker == [True, LOCAL_SYSTEM_CONFIG["raylet_client_connect_timeout_milliseconds"]]
    assert in_driver is False
    assert system_config.items() >= LOCAL_SYSTEM_CONFIG.items()
