"""The parse stage: de-identified report parts -> sections, global text, region-level descriptions, negatives."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa

from annotators.reports import ReportParser
from annotators.sections import join_parts
from pipeline.stage import Stage
from schemas.work import WORK

COLUMNS = ("findings", "impression", "other", "global_text", "descriptions", "negatives")


@dataclass(frozen=True)
class Parse(Stage):
    scispacy_model: str | None

    name = "parse"

    def setup(self) -> ReportParser:
        return ReportParser(self.scispacy_model)

    def process(self, batch: pa.Table, parser: ReportParser) -> pa.Table:
        parts = batch.column("report_parts").to_pylist()
        styles = batch.column("report_style").to_pylist()
        parsed = parser.parse_sections([join_parts([(p["kind"], p["text"]) for p in report or ()], style)
                                        for report, style in zip(parts, styles)],
                                       styles, batch.column("report_truncated").to_pylist())
        for name in COLUMNS:
            values = [getattr(report, name) for report in parsed]
            if name == "descriptions":
                values = [[asdict(d) for d in descriptions] for descriptions in values]
            batch = batch.set_column(batch.schema.get_field_index(name), name,
                                     pa.array([list(v) if isinstance(v, tuple) else v for v in values],
                                              WORK.field(name).type))
        return batch
