"""`pipeline.inspect` reads a build's shards whole, or says which one it cannot."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.inspect import read_shards, summarize


def _first_shard(build: Path) -> tuple[Path, dict]:
    entry = json.loads((build / "manifest.json").read_text())["shards"][0]
    return build / entry["file"], entry


@pytest.mark.parametrize("cut", ["at a batch's end", "inside a batch"])
def test_a_shard_cut_short_is_an_error_naming_it_not_fewer_rows(sample_build, tmp_path, cut, message_ends):
    build = Path(shutil.copytree(sample_build, tmp_path / "build"))
    shard, entry = _first_shard(build)
    table = pa.ipc.open_stream(shard.read_bytes()).read_all()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=7)  # several batches, as a longer shard holds
    data = sink.getvalue().to_pybytes()
    end = message_ends(data)[-2]
    shard.write_bytes(data[:end] if cut == "at a batch's end" else data[: end - 100])
    with pytest.raises(OSError, match=re.escape(str(shard)) + ".*damaged or cut short"):
        read_shards(build, ["id"])
    with pytest.raises(OSError, match=re.escape(str(shard))):
        summarize(build)
    assert entry["rows"] > 7
