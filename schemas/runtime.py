"""Starting or joining Ray under the offline environment, and holding a local folder: what the builder, the sample
renderer and the trainer run on."""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from annotators import offline
from schemas.typed_config import ConfigError


@dataclass(frozen=True)
class RayConfig:
    address: str | None = None  # join a cluster; None starts a local Ray
    num_cpus: int | None = None  # local Ray only; None uses every core
    blocks_per_cpu: int = 4  # input parallelism: the work list is cut into about this many blocks per CPU

    def __post_init__(self):
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError(f"ray.num_cpus: {self.num_cpus} is no number of CPUs (at least 1; none: every core)")
        if self.blocks_per_cpu < 1:
            raise ConfigError(f"ray.blocks_per_cpu: {self.blocks_per_cpu} is under 1")


# A local Ray's settings.
LOCAL_SYSTEM_CONFIG = {
    # Its raylet connects to its own object store while the store's thread starts; a first try that came too early
    # waited a whole second (Ray's default: 10 tries, 1,000 ms apart), which made about half of the local starts
    # here take 3.1 s instead of 2.1. The same 10 s of patience, tried every 50 ms.
    "raylet_client_connect_timeout_milliseconds": 50,
    "raylet_client_num_connect_attempts": 200,
    # No task events: only Ray's dashboard and state API read them, which a build's private Ray goes without, and
    # the driver's last flush of them held ray.shutdown 0.24 s of its 0.33.
    "task_events_report_interval_ms": 0,
}


def ensure_ray(cfg: RayConfig, preload: Sequence[str] = ()) -> None:
    """Join `cfg.address` (else the cluster that `RAY_ADDRESS` names, as inside a Ray job), or start a local Ray
    (`schemas.local_ray.LocalHeadNode`: no dashboard, autoscaler or log monitor); reuse one already started in this
    process. A local Ray's workers import the modules in `preload` as they start (a failed import is logged in the
    worker's log, not raised), on the CPU that ray.init and the driver leave idle, rather than on their first
    task."""
    import ray

    env = offline.apply()
    if ray.is_initialized():
        return
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address and cfg.num_cpus is not None:
        where = "ray.address" if cfg.address else "RAY_ADDRESS"
        raise ConfigError(f"ray.num_cpus is for a local Ray: this build joins the cluster at {address} ({where})")
    if address:  # the nodes were started elsewhere: their workers get the offline environment from the job
        require_reachable(address)
        ray.init(address=address, runtime_env={"env_vars": env}, **quiet)
    else:  # a local Ray's workers inherit this process's environment, so they start before the first task
        from schemas.local_ray import local_head

        with local_head():
            ray.init(num_cpus=cfg.num_cpus, include_dashboard=False, **quiet,
                     _system_config=LOCAL_SYSTEM_CONFIG | {"preload_python_modules": list(preload)})
    _terminate_as_interrupt()


def _terminate_as_interrupt() -> None:
    """SIGTERM (`kill`, a scheduler's or a container's stop) ends this process as Ctrl-C does, by KeyboardInterrupt:
    the handler ray.init leaves answers it with a stack dump and an abort, and nothing of the driver's clean-up
    runs. Only the main thread may set a handler."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


CONNECT_TIMEOUT_S = 10.0  # for the head node's port, before ray.init, which retries an unreachable one for minutes


def require_reachable(address: str) -> None:
    """A ConfigError unless `address` ("host:port", "ray://host:port"; "auto" is left to Ray) accepts a
    connection: ray.init would otherwise retry for minutes, deaf to SIGTERM."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"ray.address {address}: no Ray head answers there ({exc.strerror or exc})") from None


@contextmanager
def locked_folder(path: str | Path, wait: bool = True) -> Iterator[None]:
    """The kernel's exclusive lock on the local folder `path` (made when missing) while the block runs: no file is
    left behind, and it goes with the process however that ends. Held by another process, it is waited for, or
    without `wait` a BlockingIOError; a filesystem without such locks (NFS locks only files open for writing) is not
    locked."""
    os.makedirs(path, exist_ok=True)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise
        except OSError:
            pass
        yield
    finally:
        os.close(descriptor)
