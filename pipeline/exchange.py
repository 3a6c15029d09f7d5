"""The map-reduce exchange of the dedup index, through files: each map task writes one Arrow IPC file with one
record batch per reduce task (`write_partitioned`), and each reduce task reads its batch from every map task's file
(`read_partition`; memory-mapped when local, a ranged read on an object store). Nothing waits in Ray's object store
or in the driver, so what a task holds is one partition, whatever the corpus size."""
from __future__ import annotations

import io

import numpy as np
import pyarrow as pa

from pipeline import storage


def write_partitioned(url: str, columns: dict[str, np.ndarray], schema: pa.Schema, partition: np.ndarray,
                      n_partitions: int) -> None:
    """`columns` (equal lengths) as one file whose batch p holds the rows with `partition` p, in their order; each
    column is stored as its `schema` type (a value that does not fit is an error, never wrapped)."""
    order = np.argsort(partition, kind="stable")
    bounds = np.searchsorted(partition[order], np.arange(n_partitions + 1))
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, schema) as writer:
        for low, high in zip(bounds[:-1], bounds[1:]):
            rows = order[low:high]
            batch = pa.record_batch([pa.array(columns[f.name][rows], f.type) for f in schema], schema=schema)
            writer.write_batch(batch)
    storage.write_bytes(url, sink.getvalue())


def read_partition(url: str, partition: int) -> dict[str, np.ndarray]:
    """Batch `partition` of a file from `write_partitioned`, as arrays of its own (int64 for every integer column but
    uint64, so that arithmetic on them does not wrap)."""
    with storage.open_arrow(url) as source:
        batch = pa.ipc.open_file(source).get_batch(partition)
        return {f.name: _widened(batch.column(f.name).to_numpy()) for f in batch.schema}


def _widened(values: np.ndarray) -> np.ndarray:
    return values.copy() if values.dtype == np.uint64 else values.astype(np.int64)
