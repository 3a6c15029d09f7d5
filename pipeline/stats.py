"""Build statistics: the time each stage took, measured inside the stage functions, and where the work ran.

A stage function times itself and shares each batch's seconds evenly over the batch's rows, in their `seconds`
column (a map, schemas.work.STAGE_SECONDS). The part writer sums the column into its summary, beside its own time and
its node, so the figures reach the driver with the summaries it already streams back, from any node, with no
other channel. `BuildStats` adds them up beside the driver's own phase timings.
"""
from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from schemas.work import STAGE_SECONDS

WRITE = "write"  # the part writer's own timer


class StageClock:
    """Wall and CPU seconds per stage (`stage`, `stage_cpu`), added up over `with clock("stage"):` blocks.

    CPU seconds count every thread of the process (a detector's intra-op threads too), so on a machine shared
    with other work they still say what a stage costs, where wall seconds also count the waiting."""

    def __init__(self):
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - wall
            self.seconds[f"{stage}_cpu"] += time.process_time() - cpu


def add_seconds(table: pa.Table, seconds: dict[str, float]) -> pa.Table:
    """`table` with a batch's seconds per timer (StageClock.seconds) shared evenly over its rows, added to their
    `seconds` column."""
    if table.num_rows == 0 or not seconds:
        return table
    share = {name: value / table.num_rows for name, value in seconds.items()}
    rows = []
    for current in table.column("seconds").to_pylist():
        merged = dict(current or ())
        for name, value in share.items():
            merged[name] = merged.get(name, 0.0) + value
        rows.append(sorted(merged.items()))
    return table.set_column(table.schema.get_field_index("seconds"), "seconds", pa.array(rows, STAGE_SECONDS))


def summed_seconds(table: pa.Table) -> dict[str, float]:
    """Seconds per timer over the rows of `table`."""
    total: Counter[str] = Counter()
    for current in table.column("seconds").to_pylist():
        total.update(dict(current or ()))
    return dict(total)


def node_id() -> str:
    """The id of the Ray node this process runs on; "" outside Ray."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


def stamp_node(table: pa.Table) -> pa.Table:
    """`table` with this process's Ray node in its `node` column (the decode stage marks where it ran)."""
    return table.set_column(table.schema.get_field_index("node"), "node",
                            pa.array([node_id()] * table.num_rows, pa.string()))


def inputs_by_node(part: pa.Table) -> list[tuple[str, float]]:
    """How many inputs of `part` (an input of k images counts 1/k per image) each node decoded."""
    counts: Counter[str] = Counter()
    for node, expected in zip(part.column("node").to_pylist(), part.column("expected").to_pylist()):
        counts[node or ""] += 1.0 / expected
    return sorted(counts.items())


@dataclass
class BuildStats:
    """What a build measured: driver phases (`with stats.phase("dedup"):`, wall seconds), worker seconds per
    stage, and the inputs each Ray node decoded."""

    phase: StageClock = field(default_factory=StageClock)
    stage_seconds: Counter = field(default_factory=Counter)
    images: int = 0  # rows through the stages, rejects included
    inputs_by_node: Counter = field(default_factory=Counter)

    def add(self, summaries: pa.Table) -> None:
        """Add the part writer's summaries (see pipeline.shards.write_parts)."""
        self.images += pc.sum(summaries.column("rows")).as_py() or 0
        for part in summaries.column("inputs_by_node").to_pylist():
            for node, inputs in part:
                self.inputs_by_node[node] += inputs
        self.stage_seconds.update(summed_seconds(summaries))

    def to_dict(self) -> dict:
        return {
            "phases": dict(self.phase.seconds),
            "stage_seconds": dict(sorted(self.stage_seconds.items())),
            "images": self.images,
            "inputs_by_node": {node: round(n, 6) for node, n in sorted(self.inputs_by_node.items())},
        }
