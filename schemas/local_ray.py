"""The head node of a build's private local Ray (`ensure_ray` without an address): Ray's own head without the three
processes that one offline node, whose driver reads no worker logs, has no use for, and that connects its driver
as soon as the node has registered rather than a second later.

What it leaves out (each a Python process, 0.33 to 0.45 CPU-s to start here, on the CPUs that the workers' imports
wait for):
- the dashboard's head, which with `include_dashboard=False` runs only Ray's usage statistics, off in the offline
  environment;
- the autoscaler's monitor, with nothing to scale on a fixed local node (and whose exit handler held
  `ray.shutdown` a second);
- the log monitor, which streams the workers' output to drivers that ask for it (`log_to_driver=True`); the
  workers still write their logs to the session folder.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import ray._private.node as ray_node
from ray._raylet import NodeID
from ray.core.generated.gcs_pb2 import GcsNodeInfo
from ray.core.generated.gcs_service_pb2 import GetAllNodeInfoRequest

POLL_S = 0.01  # between two looks for the node's registration with the GCS
PATIENCE_S = 30.0  # then Ray's own wait for the node takes over, with its errors


class LocalHeadNode(ray_node.Node):
    """Ray's head node less the dashboard's head, the autoscaler's monitor and the log monitor. Once its raylet is
    started it waits for the raylet's registration with the GCS: Ray's own first look comes 0.1 s after the start,
    before the raylet's agents are up, and its next a second later (half a second lost per start here)."""

    def start_api_server(self, *, include_dashboard, raise_on_failure) -> None:
        pass

    def start_monitor(self) -> None:
        pass

    def start_log_monitor(self) -> None:
        pass

    def start_ray_processes(self) -> None:
        super().start_ray_processes()
        self.wait_until_registered()

    def wait_until_registered(self) -> None:
        """Until the GCS holds this node alive, looked for every `POLL_S`, or for `PATIENCE_S` at most."""
        only_this = GetAllNodeInfoRequest.NodeSelector(node_id=NodeID.from_hex(self._node_id).binary())
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline and not self.get_gcs_client().get_all_node_info(
                timeout=1, node_selectors=[only_this], state_filter=GcsNodeInfo.GcsNodeState.ALIVE):
            time.sleep(POLL_S)


@contextmanager
def local_head() -> Iterator[None]:
    """`ray.init` starts a `LocalHeadNode` for a local Ray inside the block."""
    saved = ray_node.Node
    ray_node.Node = LocalHeadNode
    try:
        yield
    finally:
        ray_node.Node = saved
