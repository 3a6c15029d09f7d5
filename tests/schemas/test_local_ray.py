"""schemas.local_ray: a build's local Ray starts without the processes it has no use for, and its driver looks
for the node once the node has registered (in a process of its own: the session fixture's Ray is another)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STARTING_RAY = """
import json, psutil, ray
from ray._private import services
from ray._raylet import GcsClient
from schemas.runtime import RayConfig, ensure_ray

registered_first = []
ray_get_node = services.get_node

def get_node(gcs_address, node_id):  # Ray's own first look for the node: was it registered by then?
    alive = GcsClient(address=gcs_address).get_all_node_info(timeout=5)
    registered_first.append(any(i.hex() == node_id and n.state == n.ALIVE for i, n in alive.items()))
    return ray_get_node(gcs_address, node_id)

services.get_node = get_node
ensure_ray(RayConfig(num_cpus=1))
answer = ray.get(ray.remote(lambda: 41 + 1).remote())
commands = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)]
print(json.dumps([answer, registered_first, commands, ray._private.node.Node.__name__]))
"""


def test_a_local_ray_starts_without_the_processes_it_has_no_use_for_and_finds_its_node_at_once():
    done = subprocess.run([sys.executable, "-c", STARTING_RAY], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    answer, registered_first, commands, node_class = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == 42
    assert registered_first == [True]
    started = " ".join(commands)
    assert "gcs_server" in started and "raylet" in started and "dashboard/agent.py" in started
    for skipped in ("dashboard/dashboard.py", "autoscaler/_private/monitor.py", "log_monitor.py"):
        assert skipped not in started
    assert node_class == "Node"  # ray.init's own head node is back once the local one started
