"""The sections stage: a report's text -> its (kind, text) parts (annotators.sections); the text is dropped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from annotators.sections import report_parts
from pipeline.stage import Stage
from schemas.work import REPORT_PART


@dataclass(frozen=True)
class Sections(Stage):
    name = "sections"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        parts = [[{"kind": kind, "text": text} for kind, text in report_parts(report, style)]
                 for report, style in zip(batch.column("report").to_pylist(), batch.column("report_style").to_pylist())]
        batch = batch.set_column(batch.schema.get_field_index("report_parts"), "report_parts",
                                 pa.array(parts, pa.list_(REPORT_PART)))
        return batch.set_column(batch.schema.get_field_index("report"), "report", pa.nulls(batch.num_rows, pa.string()))
