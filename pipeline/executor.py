"""Running a list of stages over work items: on Ray (one task per block of work items carrying it through every
stage, or Ray Data where a GPU detector's actor pool splits that chain), or in this one process. Either way the rows
end in parts (pipeline.shards.write_parts), whose summaries come back to `Tally`: progress, the build's stats
and the failure check."""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import ray

from pipeline.config import FailureConfig
from pipeline.runtime import cluster_cpus, configure_ray_data, one_thread_per_task
from pipeline.shards import BuildLayout, write_parts
from pipeline.stage import Resources, Stage
from pipeline.stats import BuildStats

# Work items per input block (one task of the stage chain): a task holds its block's pixels, and on a GPU node the
# decode tasks emit them to the detector's pool, so small blocks keep what a process holds or what waits for the
# detector small in bytes whatever the corpus size (memory stays flat as the corpus grows).
MAX_ROWS_PER_BLOCK = 64
# The share of the cluster's CPUs that actor pools may reserve together: the rest runs the task stages, which the
# actors' input waits on (pools holding every CPU would leave the build waiting forever at 0 inputs).
ACTOR_CPU_SHARE = 0.5
# Pieces of each of the last blocks (one per CPU) on the one-chain path: a 64-row block took 2.2 to 2.7 s here, which
# one CPU could spend alone at the end of the stages.
TAIL_PIECES = 4
# Tasks sent ahead per CPU on the one-chain path: the next block starts as soon as a task ends, and the queued
# tasks hold only their work items (paths and text).
TASKS_PER_CPU = 2
# What a build's worker imports for its tasks: the stage chain, the dedup steps, and pandas, which pyarrow.compute
# loads. A local Ray's workers import them as they start (schemas.runtime.ensure_ray's `preload`), while ray.init
# and the driver leave CPU idle (1.2 to 1.5 CPU-s per worker here), rather than on its first task.
WORKER_MODULES = ("pipeline.executor", "pipeline.stage_list", "pipeline.dedup", "pandas")


class StageFailures(RuntimeError):
    """More rows failed in a stage than `failures:` allows: a bug to fix, not bad inputs."""


@dataclass
class Tally:
    """Adds up the part summaries: inputs done (for `progress`), the build stats, and the rows each stage
    failed on, stopping the build when they pass `policy`."""

    stats: BuildStats
    policy: FailureConfig
    done: float = 0.0
    progress: Callable[[float], None] = lambda done: None
    rows: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, summaries: pa.Table) -> None:
        self.stats.add(summaries)
        self.done += sum(summaries.column("inputs").to_pylist())
        self.rows += sum(summaries.column("rows").to_pylist())
        for part in summaries.column("failures").to_pylist():
            for stage, count in part or ():
                self.failures[stage] = self.failures.get(stage, 0) + count
        self.progress(self.done)
        for stage, count in sorted(self.failures.items()):
            if count >= self.policy.min_rows and count > self.policy.max_share * self.rows:
                raise StageFailures(
                    f"stage {stage!r} failed on {count} of {self.rows} rows so far (more than failures.max_share = "
                    f"{self.policy.max_share:g}); their rejects (reason internal_error:...) say where it raised. Fix "
                    "it and run the same command again: the build resumes and redoes those inputs")


def run_on_ray(stages: Sequence[Stage], items: pa.Table, layout: BuildLayout, tally: Tally,
               blocks_per_cpu: int) -> None:
    """Run `stages` over the work items on Ray and stream the part summaries into `tally`: as one task per block
    when every stage runs as a task of the same resources (a CPU-only cluster), otherwise mapped onto Ray Data."""
    n, cpus = items.num_rows, cluster_cpus()
    blocks = max(1, min(n, max(blocks_per_cpu * cpus, -(-n // MAX_ROWS_PER_BLOCK))))
    per_block = -(-n // blocks)
    if one_chain(stages):
        _run_as_tasks(stages, tapered_blocks(items, per_block, cpus), layout, tally, TASKS_PER_CPU * cpus)
    else:
        _run_on_ray_data(stages, [items.slice(start, per_block) for start in range(0, n, per_block)], per_block,
                         layout, tally, cpus)


def tapered_blocks(items: pa.Table, per_block: int, cpus: int) -> list[pa.Table]:
    """The work items in blocks of `per_block`, the last `cpus` of them each cut into `TAIL_PIECES`: the build's
    stages end when the last CPU finishes, up to a whole block after the first with equal blocks."""
    starts = range(0, items.num_rows, per_block)
    tail = starts[max(0, len(starts) - cpus)] if starts else 0
    piece = -(-per_block // TAIL_PIECES)
    return ([items.slice(start, per_block) for start in range(0, tail, per_block)]
            + [items.slice(start, piece) for start in range(tail, items.num_rows, piece)])


def run_in_process(stages: Sequence[Stage], items: pa.Table, layout: BuildLayout, tally: Tally,
                   batch_size: int = 64) -> None:
    """The same stages, one block of work items after another, in this process."""
    for start in range(0, items.num_rows, batch_size):
        tally.add(run_chain(items.slice(start, batch_size), stages, layout))


def run_chain(block: pa.Table, stages: Sequence[Stage], layout: BuildLayout) -> pa.Table:
    """A block of work items through `stages`, each called on batches of its `batch_size` as the rows stream
    through (a block's decoded images are never all held at once), into its parts; their summaries. OpenCV runs
    on one thread, as in a Ray task."""
    one_thread_per_task()
    batches: Iterator[pa.Table] = iter([block])
    for stage in stages:
        batches = map(stage, rebatched(batches, stage.batch_size))
    return write_parts(pa.concat_tables(list(batches)), layout)


def rebatched(tables: Iterable[pa.Table], size: int | None) -> Iterator[pa.Table]:
    """The rows of `tables`, in order, in batches of `size` rows (the last one smaller); None: the tables as they
    are."""
    if size is None:
        yield from tables
        return
    held: list[pa.Table] = []
    for table in tables:
        held.append(table)
        rows = pa.concat_tables(held)
        while rows.num_rows >= size:
            yield rows.slice(0, size)
            rows = rows.slice(size)
        held = [rows]
    if held and held[0].num_rows:
        yield held[0]


def one_chain(stages: Sequence[Stage]) -> bool:
    """Every stage runs as a task of the same resources: a block goes from its work items to its parts in one
    task."""
    return len({stage.resources for stage in stages}) == 1 and not stages[0].resources.actors


def _run_as_tasks(stages: Sequence[Stage], blocks: list[pa.Table], layout: BuildLayout, tally: Tally,
                  ahead: int) -> None:
    """One Ray task per block (`run_chain`), at most `ahead` sent ahead. When the build stops (a failure policy, an
    interrupt) the tasks already sent are not cancelled: Ray 2.60's cancel races with a task's completion and can
    abort the driver (ray-project/ray#54798 fixed one such race; "Tried to complete task that was not pending" is
    another). They end with the driver's job when it exits, or else write their blocks' parts, which a resumed build
    keeps (the same bytes it would write)."""
    chain = ray.remote(run_chain).options(**_remote_args(stages[0].resources))
    stages_ref, layout_ref = ray.put(list(stages)), ray.put(layout)
    todo, running = collections.deque(blocks), []
    while todo or running:
        while todo and len(running) < ahead:
            running.append(chain.remote(todo.popleft(), stages_ref, layout_ref))
        [done], running = ray.wait(running, num_returns=1)
        tally.add(ray.get(done))


def _run_on_ray_data(stages: Sequence[Stage], blocks: list[pa.Table], per_block: int, layout: BuildLayout,
                     tally: Tally, cpus: int) -> None:
    """Map `stages` onto Ray Data (consecutive task stages of equal resources fused, an actor pool between them)
    and stream the part summaries into `tally`."""
    configure_ray_data(cpus)
    ds = ray.data.from_arrow(blocks)  # fused stages bundle blocks up to their batch size: keep batches within one
    scale = actor_cpu_scale(stages, cpus)
    for stage in stages:
        ds = _map(ds, stage, per_block, scale)
    ds = ds.map_batches(write_parts, batch_format="pyarrow", batch_size=None, fn_kwargs={"layout": layout},
                        **_remote_args(Resources()))  # in the task chain of the last stages
    for summaries in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        tally.add(summaries)


def actor_cpu_scale(stages: Sequence[Stage], cpus: float) -> float:
    """The factor on actors' CPU reservations that keeps all pools within ACTOR_CPU_SHARE of `cpus` (1 when they
    fit as they are): on a small node, two detectors share a CPU rather than starve the decoder of one."""
    reserved = sum(s.resources.cpus * s.resources.actors for s in stages)
    return min(1.0, ACTOR_CPU_SHARE * cpus / reserved) if reserved else 1.0


def _remote_args(need: Resources, cpu_scale: float = 1.0) -> dict[str, Any]:
    """Ray's arguments for a worker of `need` (equal arguments let Ray Data fuse consecutive task stages)."""
    args: dict[str, Any] = {"num_cpus": need.cpus * cpu_scale if need.actors else need.cpus, "num_gpus": need.gpus}
    if need.memory:
        args["memory"] = need.memory
    return args


def _map(ds: Any, stage: Stage, per_block: int, cpu_scale: float = 1.0) -> Any:
    need = stage.resources
    args: dict[str, Any] = {"batch_format": "pyarrow", **_remote_args(need, cpu_scale),
                            "batch_size": min(stage.batch_size, per_block) if stage.batch_size else None}
    if need.actors:
        return ds.map_batches(_Actor, fn_constructor_kwargs={"stage": stage},
                              compute=ray.data.ActorPoolStrategy(size=need.actors), **args)
    return ds.map_batches(_task, fn_kwargs={"stage": stage}, **args)


def _task(batch: pa.Table, stage: Stage) -> pa.Table:
    one_thread_per_task()
    return stage(batch)


class _Actor:
    """An actor of a stage's pool: its state is set up once, when the actor starts."""

    def __init__(self, stage: Stage):
        one_thread_per_task()
        self.stage, self.state = stage, stage.setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.stage.run(batch, self.state)
