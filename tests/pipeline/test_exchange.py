"""Partitioned exchange files: every row comes back in its partition, in order, on a local disk and on memory://."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.exchange import read_partition, write_partitioned

SCHEMA = pa.schema([("owner", pa.int32()), ("key", pa.uint64())])


@pytest.mark.parametrize("where", ["local", "memory"])
def test_each_partition_reads_back_its_rows_in_order(tmp_path, where):
    url = str(tmp_path / "x.arrow") if where == "local" else f"memory://exchange-{tmp_path.name}/x.arrow"
    rng = np.random.default_rng(0)
    columns = {"owner": np.arange(50, dtype=np.int64), "key": rng.integers(0, 2**63, 50, dtype=np.uint64)}
    partition = rng.choice([0, 1, 3], 50)  # partition 2 gets no row
    write_partitioned(url, columns, SCHEMA, partition, 4)
    for p in range(4):
        back = read_partition(url, p)
        assert back["owner"].tolist() == np.flatnonzero(partition == p).tolist()
        assert np.array_equal(back["key"], columns["key"][partition == p])
        assert back["key"].dtype == np.uint64 and back["owner"].dtype == np.int64  # widened: arithmetic never wraps
    assert len(read_partition(url, 2)["owner"]) == 0


def test_a_value_that_does_not_fit_its_column_is_an_error(tmp_path):
    with pytest.raises(pa.ArrowInvalid):
        write_partitioned(str(tmp_path / "x.arrow"), {"owner": np.array([2**40]), "key": np.array([1], np.uint64)},
                          SCHEMA, np.array([0]), 1)
