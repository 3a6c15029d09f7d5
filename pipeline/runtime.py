"""Ray settings of a build: the CPUs a cluster offers, Ray Data's settings (where it runs), a task's threads."""
from __future__ import annotations

import logging

import cv2
import ray

OBJECT_STORE_PER_CPU = 256 * 1024**2  # Ray Data's budget for queued blocks: a few batches of decoded images per CPU


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def configure_ray_data(cpus: int, bytes_per_cpu: int = OBJECT_STORE_PER_CPU) -> None:
    """Ray Data quiet (the build shows its own progress and summary), and the object store that it may fill with
    queued blocks capped in proportion to the cluster's `cpus`.

    Without a cap, a fast stage keeps the free CPUs (Ray Data prefers the operator holding the least memory) while
    the blocks it makes pile up in front of a slower one: on 2 CPUs, with the detector's actor on one, the decoded
    and detected images of the whole corpus queued for the annotate stage. With it, upstream stages wait once the
    budget is used and downstream ones drain it, so memory stays flat whatever the corpus size."""
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    limits = context.execution_options.resource_limits
    context.execution_options.resource_limits = limits.copy(object_store_memory=bytes_per_cpu * cpus)


def one_thread_per_task() -> None:
    """OpenCV on one thread in this process, as Ray sets OpenMP's libraries (OMP_NUM_THREADS=1): a task of the
    stage chain holds one CPU, and OpenCV's own pool, as large as the node, only adds switching between the
    tasks that share it (the detector sets its threads itself)."""
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
