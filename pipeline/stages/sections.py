"""The sections stage: a report's raw text, cleaned and capped (annotators.report_text) -> its (kind, text) parts
(annotators.sections); the raw text is dropped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from annotators.report_text import report_text
from annotators.sections import report_parts
from pipeline.stage import Stage
from schemas.work import REPORT_PART


@dataclass(frozen=True)
class Sections(Stage):
    name = "sections"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        read = [report_text(report) for report in batch.column("report").to_pylist()]
        parts = [[{"kind": kind, "text": text} for kind, text in report_parts(r.text, style)]
                 for r, style in zip(read, batch.column("report_style").to_pylist())]
        batch = batch.set_column(batch.schema.get_field_index("report_parts"), "report_parts",
                                 pa.array(parts, pa.list_(REPORT_PART)))
        batch = batch.set_column(batch.schema.get_field_index("report_truncated"), "report_truncated",
                                 pa.array([r.truncated for r in read], pa.bool_()))
        return batch.set_column(batch.schema.get_field_index("report"), "report", pa.nulls(batch.num_rows, pa.string()))
