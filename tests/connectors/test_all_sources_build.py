"""Acceptance: one config builds a corpus from every connector at once (generated sources plus the real copies)."""
import json

from typer.testing import CliRunner

from pipeline.cli import app
from schemas.record import validate_record

GENERATED = ("mimic_cxr_jpg", "mimic_cxr_dicom", "ms_cxr", "iu_xray", "roco", "vindr_cxr", "chestx_det", "ct_rate",
             "folder")


def test_every_input_of_every_source_is_a_row_or_a_reject(all_sources_build, build_rows, build_rejects, layouts):
    manifest = json.loads((all_sources_build / "manifest.json").read_text())
    sources = (*GENERATED, *layouts.REAL_SOURCES)
    assert set(manifest["sources"]) == set(sources)
    for name in sources:
        counts = manifest["sources"][name]
        inputs = {r["source_id"] for r in build_rows if r["source"] == name}
        refused = {r["source_id"] for r in build_rejects if r["source"] == name}
        assert counts["rows"] > 0 and not inputs & refused, name
        assert counts["inputs"] == len(inputs) + len(refused) and counts["rejects"] == len(refused), name
    assert all(validate_record(row) == [] for row in build_rows)


def test_inspect_shows_rows_and_rejects_per_source(all_sources_build):
    result = CliRunner().invoke(app, ["inspect", str(all_sources_build), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    manifest = json.loads((all_sources_build / "manifest.json").read_text())
    assert summary["by_source"] == manifest["sources"]
    table = CliRunner().invoke(app, ["inspect", str(all_sources_build)], terminal_width=200)
    assert table.exit_code == 0
    for name, counts in manifest["sources"].items():
        line = next(l for l in table.output.splitlines() if f" {name} " in l)
        assert [str(counts[k]) for k in ("inputs", "rows", "rejects")] == [c.strip() for c in line.split("│")[2:5]]


def test_no_patient_key_is_in_two_splits(build_rows, layouts):
    splits: dict[str, set] = {}
    for row in build_rows:
        splits.setdefault(row["patient_key"], set()).add(row["split"])
    assert len(splits) > (100 if layouts.REAL_SOURCES else 20) and all(len(s) == 1 for s in splits.values())
