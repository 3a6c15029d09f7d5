"""The build's near-duplicate step on the sample corpus: exactly the planted copies go, their originals stay; the
signatures its pair checks read from the parts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from annotators.duplicates import signature
from pipeline.dedup import read_signatures
from pipeline.inspect import read_shards
from pipeline.shards import stream_bytes
from schemas.work import SIGNATURE


def test_planted_copies_are_dropped_and_nothing_else(sample_build, sample_root):
    truth = [json.loads(line) for line in (sample_root / "truth.jsonl").read_text().splitlines()]
    planted = {t["source_id"]: t["duplicate_of"] for t in truth if t["duplicate_of"]}
    assert len(planted) >= 2

    rejects = pl.read_ipc_stream(sample_build / "rejects.arrow").filter(pl.col("stage") == "dedup")
    assert set(rejects["reason"]) == {"near_duplicate"}
    assert dict.fromkeys(sorted(rejects["source_id"])) == dict.fromkeys(sorted(planted))  # found all, no false merge

    rows = read_shards(sample_build, ["id", "source_id"])
    source_of = dict(zip(rows["id"], rows["source_id"]))
    for copy, detail in zip(rejects["source_id"], rejects["detail"]):
        kept_id = detail.split()[2]
        assert source_of[kept_id] == planted[copy], detail  # the original is the one kept
    assert not set(planted) & set(rows["source_id"])

    summary = json.loads((sample_build / "manifest.json").read_text())["dedup"]
    assert summary["near_duplicates"]["rows_dropped"] == len(planted)
    assert summary["near_duplicates"]["rows_kept_with_copies"] == len(set(planted.values()))
    assert summary["templated_reports"]["inputs"] >= 2 * summary["templated_reports"]["reports"]


def test_the_signatures_asked_for_are_read_back_from_the_parts_that_hold_them(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (200, 160), dtype=np.uint8) for _ in range(7)]
    images[3] = np.full((64, 64), 90, np.uint8)  # no keypoints
    signatures = [signature(image) for image in images]
    parts = [str(tmp_path / "a.arrow"), str(tmp_path / "b.arrow")]
    schema = pa.schema([pa.field("signature", SIGNATURE)])
    for url, held in zip(parts, (signatures[:4], signatures[4:])):
        Path(url).write_bytes(stream_bytes(pa.table({"signature": [s.to_row() for s in held]}), schema))
    wanted = {(parts[0], 0), (parts[0], 3), (parts[1], 2)}  # first, a keypoint-less row, last
    found = read_signatures(wanted)
    assert set(found) == wanted
    for (url, row), expected in zip(sorted(wanted), (signatures[0], signatures[3], signatures[6])):
        for name in ("points", "descriptors", "detail"):
            assert np.array_equal(getattr(found[(url, row)], name), getattr(expected, name)), (url, row, name)
