"""A real sample build on the session's Ray, read back with datasets, polars and pyarrow."""
import glob
import json
from pathlib import Path

import datasets
import numpy as np
import polars as pl
import pyarrow as pa
import pydicom
import pytest

from annotators.regions import iou
from pipeline.build import build
from schemas.record import features, validate_record


def _truth(sample_root: Path) -> dict[str, dict]:
    return {t["source_id"]: t for t in map(json.loads, (sample_root / "truth.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def shards(sample_build):
    return sorted(glob.glob(str(sample_build / "shards" / "*.arrow")))


def test_shards_load_with_datasets_and_images_decode(sample_build, shards):
    ds = datasets.load_dataset("arrow", data_files=shards, split="train")
    assert ds.features == features()
    one = datasets.Dataset.from_file(shards[0])
    assert one.features == features() and len(one) > 0
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert len(ds) == manifest["totals"]["rows"] == sum(s["rows"] for s in manifest["shards"])
    for row in ds.select(range(0, len(ds), 7)):
        assert row["image"].size == (row["width"], row["height"])
        assert max(row["width"], row["height"]) <= 512
        assert validate_record({**row, "image": {"bytes": b"x", "path": ""}}) == []


def test_boxes_texts_and_rejects_match_the_truth(sample_build, sample_root, shards):
    truth = _truth(sample_root)
    rows = pl.concat([pl.read_ipc_stream(s) for s in shards]).to_dicts()
    assert all(0.0 <= v <= 1.0 for row in rows for region in row["regions"] for v in region["box"])
    assert all(row["global_text"].strip() for row in rows)
    annotated = described = 0
    for row in rows:
        expected = truth[row["source_id"]]
        if not expected["annotated"]:
            continue
        for region in expected["regions"]:
            annotated += 1
            match = [r for r in row["regions"] if r["label"] == region["label"] and iou(r["box"], region["box"]) > 0.9]
            assert match, (row["source_id"], region)
            described += bool(match[0]["text"].strip())
    assert annotated and described / annotated >= 0.9

    rejects = pa.ipc.open_stream(sample_build / "rejects.arrow").read_all().to_pylist()
    broken = {sid for sid, t in truth.items() if t["broken"]}
    assert {r["source_id"] for r in rejects if r["stage"] != "dedup"} == broken
    assert {r["reason"] for r in rejects} >= {"missing_image", "empty_report", "truncated_image"}
    planted = {sid for sid, t in truth.items() if t["duplicate_of"]} | {t["duplicate_of"] for t in truth.values()}
    assert {r["source_id"] for r in rejects if r["stage"] == "dedup"} <= planted  # no false merges
    manifest = json.loads((sample_build / "manifest.json").read_text())
    counts = manifest["sources"]["sample"]
    assert counts["inputs"] == len(truth) and counts["rejects"] == len(rejects)
    assert counts["inputs"] == len({r["source_id"] for r in rows} | {r["source_id"] for r in rejects})


def test_rebuild_is_byte_identical(ray_cluster, sample_build, sample_config, tmp_path):
    again = build(sample_config(tmp_path / "again"))
    first = sorted(p.relative_to(sample_build) for p in sample_build.rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert first == second and again.manifest["shards"]
    for rel in first:
        assert (sample_build / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel


def test_no_patient_identifier_reaches_the_output(sample_build, sample_root):
    phi = {s for t in _truth(sample_root).values() for s in t.get("phi", []) if len(s) >= 4}
    for path in (sample_root / "images").glob("*.dcm"):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue  # the corrupt DICOM on purpose
        phi |= {str(header.PatientName), str(header.PatientID), str(header.PatientBirthDate)}
    assert phi
    blob = b"".join(p.read_bytes() for p in sample_build.rglob("*") if p.is_file())
    text = pl.concat([pl.read_ipc_stream(s) for s in sorted((sample_build / "shards").glob("*.arrow"))])
    for secret in phi:
        assert secret.encode() not in blob, secret
    assert not np.any(text["patient_key"].str.contains("SAMPLE-P").to_numpy())


def test_the_inputs_hash_follows_report_and_image_files_rewritten_in_place(tmp_path):
    import os

    from connectors.base import StudyRef
    from pipeline.build import Inputs

    (tmp_path / "scan.txt").write_text("The heart is normal.")
    (tmp_path / "scan.png").write_bytes(b"png")
    ref = StudyRef("f", "scan", "p", "CC BY", image=str(tmp_path / "scan.png"), report_path=str(tmp_path / "scan.txt"))

    def digest() -> str:
        return Inputs((ref,), (0,), 1).sha256

    first = digest()
    assert digest() == first
    (tmp_path / "scan.txt").write_text("The heart is markedly enlarged.")
    second = digest()
    assert second != first
    os.utime(tmp_path / "scan.png", ns=(0, 0))
    assert digest() != second


def test_a_duplicate_id_is_renamed_to_an_id_no_row_has():
    from connectors.base import StudyRef
    from pipeline.build import _unique_ids

    refs = [StudyRef("f", source_id, "p", "CC BY") for source_id in ("a#dup2", "a", "a", "a")]
    out = _unique_ids(refs)
    assert [(r.source_id, r.reject) for r in out] == [
        ("a#dup2", ""), ("a", ""), ("a#dup3", "duplicate_source_id"), ("a#dup4", "duplicate_source_id")]


def test_a_mistyped_connector_is_named_before_the_missing_key(tmp_path, monkeypatch):
    from pipeline.build import collect_inputs
    from pipeline.config import BuildConfig, ConfigError, from_dict

    monkeypatch.delenv("MEDREGION_DEID_KEY", raising=False)
    cfg = from_dict(BuildConfig, {"output": str(tmp_path), "sources": [{"name": "s", "connector": "sampel"}]})
    with pytest.raises(ConfigError, match="sources.s: unknown connector 'sampel'"):
        collect_inputs(cfg)


def test_missing_weights_fail_before_the_sources_are_read(tmp_path):
    """The detectors' weights are read before the connectors: a path mistyped fails at once, not after a source
    of a million images is listed (here: the sample source is not rendered)."""
    from pipeline.config import BuildConfig, ConfigError, from_dict

    root = tmp_path / "sample"
    cfg = from_dict(BuildConfig, {
        "output": str(tmp_path / "out"),
        "sources": [{"name": "sample", "connector": "sample", "options": {"n": 4, "root": str(root)}}],
        "detectors": [{"name": "findings", "weights": str(tmp_path / "missing.pt")}]})
    with pytest.raises(ConfigError, match=r"detector findings: weights: cannot read .*missing\.pt"):
        build(cfg)
    assert not root.exists()


def test_a_ray_build_onto_memory_is_refused_before_it_starts():
    """fsspec's memory:// is this process's alone: the workers' parts would never reach the driver."""
    from pipeline.config import BuildConfig, ConfigError, from_dict

    cfg = from_dict(BuildConfig, {"output": "memory://corpus", "sources": [{"name": "s", "connector": "sample"}]})
    with pytest.raises(ConfigError, match="memory:// lives in one process.*local_build"):
        build(cfg)


def test_a_detector_that_does_not_load_is_one_config_error(ray_cluster, tmp_path):
    """Its workers fail to set it up; the build says so in one line, not in Ray's traceback."""
    from pipeline.config import BuildConfig, ConfigError, from_dict

    (tmp_path / "bad.pt").write_bytes(b"not a model" * 100)
    cfg = from_dict(BuildConfig, {
        "output": str(tmp_path / "out"),
        "sources": [{"name": "sample", "connector": "sample", "options": {"n": 4, "root": str(tmp_path / "s")}}],
        "detectors": [{"name": "findings", "weights": str(tmp_path / "bad.pt")}]})
    with pytest.raises(ConfigError, match=r"^stage detect: .*bad\.pt"):
        build(cfg)
