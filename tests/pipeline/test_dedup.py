"""The build's near-duplicate step on the sample corpus: exactly the planted copies go, their originals stay; the
signature files it reads pairs from."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa

from annotators.duplicates import signature
from pipeline.dedup import SIGNATURE_BATCH, read_signatures, write_signatures
from pipeline.inspect import read_shards
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


def test_signature_files_give_back_the_rows_asked_for(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (200, 160), dtype=np.uint8) for _ in range(2 * SIGNATURE_BATCH + 5)]
    images[SIGNATURE_BATCH + 1] = np.full((64, 64), 90, np.uint8)  # no keypoints
    signatures = [signature(image) for image in images]
    url = str(tmp_path / "shard.arrow")
    write_signatures(url, pa.array([s.to_row() for s in signatures], SIGNATURE))
    wanted = {0, SIGNATURE_BATCH - 1, SIGNATURE_BATCH + 1, len(images) - 1}  # first, last and a keypoint-less row
    found = read_signatures(url, wanted)
    assert set(found) == wanted
    for row in wanted:
        for name in ("points", "descriptors", "detail"):
            assert np.array_equal(getattr(found[row], name), getattr(signatures[row], name)), (row, name)
