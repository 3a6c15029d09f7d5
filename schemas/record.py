"""The corpus record: the single source of truth for every column of shards and rejects.

`features()` (datasets) is the definition; the pyarrow schema is derived from it, so the shards carry the
`huggingface` metadata and `image` decodes with no cast. `validate_record` checks one row as a dict.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from datasets import Features

SCHEMA_VERSION = "1.0"

SPLITS = ("train", "validation", "test")
ORIGINS = ("annotation", "detector", "derived")  # derived: a part of a lung box that alignment cut out
LATERALITIES = ("left", "right", "bilateral", "")


@functools.cache
def features() -> Features:
    """The record's columns as `datasets` features: the definition of every shard column."""
    from datasets import Features, Image, Sequence, Value

    region = {
        "box": Sequence(Value("float32"), length=4),  # [x0, y0, x1, y1], normalised to [0, 1]
        "label": Value("string"),
        "origin": Value("string"),  # one of ORIGINS: the source's box, a detector's proposal, or derived from those
        "score": Value("float32"),  # 1.0 for annotations, detector confidence otherwise
        "text": Value("string"),  # the region-level descriptions aligned to this box, joined; "" when none
        "align_score": Value("float32"),  # best alignment score of those descriptions; 0.0 when none
    }

    description = {
        "text": Value("string"),  # one positive region-level statement, de-identified
        "label": Value("string"),  # the finding it names ("" when none from the vocabulary)
        "laterality": Value("string"),  # one of LATERALITIES (patient side)
        "zone": Value("string"),  # upper / middle / lower / ... ("" when not stated)
        "region": Value("int32"),  # index into `regions`, -1 when unaligned (kept, never forced)
        "align_score": Value("float32"),
    }

    return Features(
        {
            "id": Value("string"),
            "source": Value("string"),
            "source_id": Value("string"),
            "patient_key": Value("string"),
            "split": Value("string"),
            "modality": Value("string"),
            "view": Value("string"),
            "image": Image(),
            "width": Value("int32"),
            "height": Value("int32"),
            "orig_width": Value("int32"),
            "orig_height": Value("int32"),
            "acquisition": {
                "body_part": Value("string"),
                "pixel_spacing": Sequence(Value("float32")),  # mm per stored pixel (row, col); [] when unknown
                "frame": Value("int32"),  # frame or slice index inside a multi-frame file or volume; -1 when 2-D
            },
            "report": {
                "findings": Value("string"),
                "impression": Value("string"),
                "other": Value("string"),
                "truncated": Value("bool"),  # the report was longer than annotators.report_text's cap and was cut
            },
            "global_text": Value("string"),
            "regions": [region],
            "descriptions": [description],
            "negatives": Sequence(Value("string")),
            "license": Value("string"),
            "phash": Value("string"),  # perceptual hash of the stored image, hex
            "provenance": {
                "input_sha256": Value("string"),  # HMAC-SHA256 of the input file under the de-identification key
                "pipeline_version": Value("string"),
                "config_sha256": Value("string"),
            },
        }
    )


@functools.cache
def reject_features() -> Features:
    """The rejects table's columns as `datasets` features."""
    from datasets import Features, Value

    return Features(
        {
            "source": Value("string"),
            "source_id": Value("string"),
            "input": Value("string"),  # what was given: a path relative to the source root, or a row reference
            "stage": Value("string"),  # connector / decode / detect / parse / align / quality / dedup / licence
            "reason": Value("string"),  # a short machine-readable code, e.g. "decode:truncated_png"
            "detail": Value("string"),  # a human-readable explanation
        }
    )


@dataclass(frozen=True)
class ArrowSchemas:
    """The pyarrow forms of the record's and the rejects' features (with the `huggingface` metadata): all that a
    build's workers need of this module. The driver hands its own to them (`adopt`), so that they never import
    `datasets` (0.7 s of CPU per process here)."""

    record: pa.Schema
    reject: pa.Schema


_arrow: ArrowSchemas | None = None


def arrow_schemas() -> ArrowSchemas:
    """This process's pyarrow schemas: adopted, or made from the features once."""
    global _arrow
    if _arrow is None:
        _arrow = ArrowSchemas(features().arrow_schema, reject_features().arrow_schema)
    return _arrow


def adopt(schemas: ArrowSchemas) -> None:
    """Take the pyarrow schemas another process made from the same features (a build's driver)."""
    global _arrow
    _arrow = _arrow or schemas


def arrow_schema() -> pa.Schema:
    """The shards' pyarrow schema, with the `huggingface` features metadata."""
    return arrow_schemas().record


def reject_arrow_schema() -> pa.Schema:
    """The rejects table's pyarrow schema."""
    return arrow_schemas().reject


def _check_box(box: Any) -> str | None:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return "box must have 4 numbers"
    if any(not isinstance(v, (int, float)) or math.isnan(v) for v in box):
        return "box holds a non-number"
    x0, y0, x1, y1 = box
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        return f"box {list(box)} is not an ordered box inside [0, 1]"
    return None


def validate_record(row: dict) -> list[str]:
    """Every way `row` breaks the record contract; an empty list when it is valid."""
    columns = arrow_schema().names
    errors = [f"missing column {k}" for k in columns if k not in row]
    errors += [f"unknown column {k}" for k in row if k not in columns]
    if errors:
        return errors
    for key in ("id", "source", "source_id", "patient_key", "license"):
        if not row[key]:
            errors.append(f"{key} is empty")
    if row["split"] not in SPLITS:
        errors.append(f"split {row['split']!r} not in {SPLITS}")
    image = row["image"] or {}
    if not image.get("bytes"):
        errors.append("image has no bytes")
    for key in ("width", "height", "orig_width", "orig_height"):
        if not isinstance(row[key], int) or row[key] <= 0:
            errors.append(f"{key} must be a positive integer")
    for i, region in enumerate(row["regions"]):
        problem = _check_box(region.get("box"))
        if problem:
            errors.append(f"regions[{i}]: {problem}")
        if region.get("origin") not in ORIGINS:
            errors.append(f"regions[{i}]: origin {region.get('origin')!r} not in {ORIGINS}")
        if not region.get("label"):
            errors.append(f"regions[{i}]: empty label")
    for i, desc in enumerate(row["descriptions"]):
        if not desc.get("text"):
            errors.append(f"descriptions[{i}]: empty text")
        if not -1 <= desc.get("region", -1) < len(row["regions"]):
            errors.append(f"descriptions[{i}]: region index {desc.get('region')} out of range")
        if desc.get("laterality", "") not in LATERALITIES:
            errors.append(f"descriptions[{i}]: laterality {desc.get('laterality')!r} not in {LATERALITIES}")
    return errors
