"""Columns of the rows that flow between pipeline stages (never published).

`DECODED` is what the decode stage hands to the detector and the annotate stage; `ANNOTATED` is a shard row
plus the bookkeeping that the part writer and the compaction need (`shard`, `expected`, `input`, reject columns).
A row with a non-empty `reject_reason` is a reject passing through: later stages leave it alone.
"""
from __future__ import annotations

import pyarrow as pa

from schemas.record import arrow_schema

WORK_REGION = pa.struct(
    [("x0", pa.float64()), ("y0", pa.float64()), ("x1", pa.float64()), ("y1", pa.float64()),
     ("label", pa.string()), ("origin", pa.string()), ("score", pa.float64())]
)

TIMED_STAGES = ("decode", "detect", "parse", "align", "encode")
CLOCKS = ("", "_cpu")  # wall seconds; CPU seconds of the stage's whole process (all its threads)


def timer_names(stages: tuple[str, ...]) -> list[str]:
    return [f"{stage}{clock}" for stage in stages for clock in CLOCKS]


# A row's share of each stage's wall and CPU seconds (decode, decode_cpu, detect, ...).
STAGE_SECONDS = pa.struct([(name, pa.float64()) for name in timer_names(TIMED_STAGES)])

BOOKKEEPING = [
    pa.field("shard", pa.int32()),  # the output shard this input belongs to
    pa.field("expected", pa.int32()),  # how many images its input yields (rows + rejects), for resume
    pa.field("input", pa.string()),  # the input's path or reference, for the rejects table
    pa.field("reject_stage", pa.string()),
    pa.field("reject_reason", pa.string()),
    pa.field("reject_detail", pa.string()),
    pa.field("node", pa.string()),  # the Ray node that decoded the row ("" outside Ray), for the build stats
    pa.field("seconds", STAGE_SECONDS),  # the stages' times so far, carried to the part summaries (pipeline.stats)
]

DECODED = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("patient_key", pa.string()),
        pa.field("license", pa.string()),
        pa.field("split", pa.string()),  # the source's own split, or "" to assign by patient key
        pa.field("report", pa.string()),  # raw report text (scrubbed by the annotate stage)
        pa.field("report_style", pa.string()),
        pa.field("modality", pa.string()),
        pa.field("view", pa.string()),
        pa.field("body_part", pa.string()),
        pa.field("pixel_spacing", pa.list_(pa.float32())),
        pa.field("frame", pa.int32()),
        pa.field("detect", pa.bool_()),
        pa.field("input_sha256", pa.string()),
        pa.field("pixels", pa.binary()),  # uint8 greyscale, height x width, row-major
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("orig_width", pa.int32()),
        pa.field("orig_height", pa.int32()),
        pa.field("regions", pa.list_(WORK_REGION)),
        *BOOKKEEPING,
    ]
)


def annotated_schema() -> pa.Schema:
    """A shard row's columns (with their `huggingface` metadata) followed by the bookkeeping columns."""
    record = arrow_schema()
    return pa.schema(list(record) + BOOKKEEPING, metadata=record.metadata)
