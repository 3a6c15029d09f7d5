"""Columns of the rows that flow between pipeline stages (never published).

`WORK_ITEM` is one input as the driver hands it out; the decode stage turns it into `WORK` rows (one per image),
which every later stage reads and fills in (detector boxes, report parts, the parsed report, links); the encode
stage makes `annotated_schema()` rows: a shard row plus the bookkeeping the part writer, the near-duplicate step
and compaction need.
A row with a non-empty `reject_reason` is a reject passing through: later stages leave it alone.
"""
from __future__ import annotations

import pyarrow as pa

from schemas.record import arrow_schema

WORK_REGION = pa.struct(
    [("x0", pa.float64()), ("y0", pa.float64()), ("x1", pa.float64()), ("y1", pa.float64()),
     ("label", pa.string()), ("origin", pa.string()), ("score", pa.float64())]
)
PIXEL_BOX = pa.struct([("x0", pa.float64()), ("y0", pa.float64()), ("x1", pa.float64()), ("y1", pa.float64())])
REPORT_PART = pa.struct([("kind", pa.string()), ("text", pa.string())])  # annotators.sections.report_parts
PARSED_DESCRIPTION = pa.struct(
    [("text", pa.string()), ("label", pa.string()), ("laterality", pa.string()), ("zone", pa.string()),
     ("anatomy", pa.string()), ("uncertain", pa.bool_())]
)  # annotators.reports.Description
LINK = pa.struct([("description", pa.int32()), ("region", pa.int32()), ("score", pa.float64())])  # align.Link

# What the near-duplicate step keeps of an image (annotators.duplicates.Signature as bytes), made by the encode
# stage from the pixels it holds and carried in the parts to pipeline.dedup; never in a shard.
SIGNATURE = pa.struct([("points", pa.binary()), ("descriptors", pa.binary()), ("detail", pa.binary())])

REJECT_COLUMNS = ("reject_stage", "reject_reason", "reject_detail")
INTERNAL_ERROR = "internal_error:"  # the reason prefix of a row a stage raised on (pipeline.stage)
# A row's share of each stage's wall and CPU seconds ("decode", "decode_cpu", ...), see pipeline.stats.
STAGE_SECONDS = pa.map_(pa.string(), pa.float64())

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

WORK_ITEM = pa.schema(
    [
        pa.field("id", pa.string()),  # the id of the input's reject row (frame -1)
        pa.field("source", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("ref", pa.string()),  # connectors.base.StudyRef as JSON, so every block has one schema
        *BOOKKEEPING,
    ]
)

WORK = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("patient_key", pa.string()),
        pa.field("license", pa.string()),
        pa.field("split", pa.string()),  # the source's own split, or "" to assign by patient key
        pa.field("report", pa.string()),  # report text (cleaned, capped); the sections stage makes `report_parts` of it
        pa.field("report_truncated", pa.bool_()),  # the report was cut at annotators.report_text's cap
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
        pa.field("source_boxes", pa.list_(PIXEL_BOX)),  # the source's boxes in original pixels, for the box filter
        pa.field("regions", pa.list_(WORK_REGION)),
        pa.field("report_parts", pa.list_(REPORT_PART)),  # (kind, text) in order; de-identified by its stage
        pa.field("findings", pa.string()),
        pa.field("impression", pa.string()),
        pa.field("other", pa.string()),
        pa.field("global_text", pa.string()),
        pa.field("descriptions", pa.list_(PARSED_DESCRIPTION)),
        pa.field("negatives", pa.list_(pa.string())),
        pa.field("links", pa.list_(LINK)),  # one per description, in order
        *BOOKKEEPING,
    ]
)


def annotated_schema() -> pa.Schema:
    """A shard row's columns (with their `huggingface` metadata) followed by the bookkeeping columns and the
    image's near-duplicate signature (null when near-duplicates are off)."""
    record = arrow_schema()
    return pa.schema([*record, *BOOKKEEPING, pa.field("signature", SIGNATURE)], metadata=record.metadata)
