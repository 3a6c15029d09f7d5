"""Starting or joining Ray with the offline environment, sized from the config."""
from __future__ import annotations

import logging

import ray

from annotators import offline
from pipeline.config import RayConfig


def ensure_ray(cfg: RayConfig) -> None:
    """Join `cfg.address`, or start a local Ray without a dashboard; reuse one already started in this process."""
    env = offline.apply()
    if ray.is_initialized():
        return
    quiet = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "logging_level": logging.WARNING}
    if cfg.address:
        ray.init(address=cfg.address, **quiet)
    else:
        ray.init(num_cpus=cfg.num_cpus, include_dashboard=False, **quiet)
    context = ray.data.DataContext.get_current()
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the build shows its own progress and summary
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
