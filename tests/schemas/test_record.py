import pyarrow as pa
from datasets import Features

from schemas.record import arrow_schema, features, reject_arrow_schema, validate_record


def _row(**changes):
    row = {
        "id": "sample-1", "source": "sample", "source_id": "S1", "patient_key": "ab", "split": "train",
        "modality": "CR", "view": "PA", "image": {"bytes": b"png", "path": "sample-1.png"},
        "width": 512, "height": 400, "orig_width": 1024, "orig_height": 800,
        "acquisition": {"body_part": "CHEST", "pixel_spacing": [0.2, 0.2], "frame": -1},
        "report": {"findings": "f", "impression": "i", "other": ""}, "global_text": "i",
        "regions": [{"box": [0.1, 0.2, 0.3, 0.4], "label": "nodule", "origin": "annotation", "score": 1.0,
                     "text": "A nodule.", "align_score": 0.9}],
        "descriptions": [{"text": "A nodule.", "label": "nodule", "laterality": "right", "zone": "upper",
                          "region": 0, "align_score": 0.9}],
        "negatives": ["No effusion."], "license": "CC0-1.0", "phash": "00",
        "provenance": {"input_sha256": "x", "pipeline_version": "0", "config_sha256": "y"},
    }
    row.update(changes)
    return row


def test_arrow_schema_carries_features_metadata_that_round_trips():
    schema = arrow_schema()
    assert b"huggingface" in schema.metadata
    assert Features.from_arrow_schema(schema) == features()
    assert schema.field("image").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert reject_arrow_schema().names == ["source", "source_id", "input", "stage", "reason", "detail"]


def test_valid_row_passes_and_table_builds():
    assert validate_record(_row()) == []
    table = pa.Table.from_pylist([_row()], schema=arrow_schema())
    assert table.num_rows == 1


def test_validator_names_each_problem():
    bad = _row(split="dev", width=0, extra=1)
    assert validate_record(bad) == ["unknown column extra"]
    bad.pop("extra")
    errors = validate_record(bad)
    assert any("split" in e for e in errors) and any("width" in e for e in errors)
    region = dict(_row()["regions"][0], box=[0.5, 0.2, 0.3, 1.2], origin="guess")
    errors = validate_record(_row(regions=[region]))
    assert any("not an ordered box" in e for e in errors) and any("origin" in e for e in errors)
    desc = dict(_row()["descriptions"][0], region=3)
    assert any("out of range" in e for e in validate_record(_row(descriptions=[desc])))
