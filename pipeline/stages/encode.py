"""The encode stage: a row with its parsed report and links -> a shard row (PNG image, split, provenance)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from annotators.align import Link
from annotators.duplicates import signature
from annotators.imaging import encode_png
from annotators.quality import perceptual_hash
from annotators.regions import Region
from annotators.reports import Description, ParsedReport
from pipeline.records import Provenance, assemble, assign_split
from pipeline.stage import Stage
from schemas.record import ArrowSchemas, adopt, arrow_schemas
from schemas.work import BOOKKEEPING, annotated_schema


@dataclass(frozen=True)
class Encode(Stage):
    """The shard row, and the image's near-duplicate signature (when `signatures`) while its pixels are here."""

    validation: float
    test: float
    provenance: Provenance
    signatures: bool = True
    schemas: ArrowSchemas = field(default_factory=arrow_schemas)  # made where the stage list is (the driver)

    name = "encode"

    @property
    def output_schema(self) -> pa.Schema:
        return annotated_schema()

    def setup(self) -> None:
        """A worker takes the driver's schemas rather than making its own (schemas.record.adopt)."""
        adopt(self.schemas)

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        out = []
        for row in batch.drop_columns(["report"]).to_pylist():
            pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
            parsed = ParsedReport(row["findings"], row["impression"], row["other"], row["global_text"],
                                  tuple(Description(**d) for d in row["descriptions"]), tuple(row["negatives"]),
                                  row["report_truncated"])
            split = assign_split(row["patient_key"], row["split"], self.validation, self.test)
            record = assemble(row, encode_png(pixels), perceptual_hash(pixels), [Region(**r) for r in row["regions"]],
                              parsed, [Link(**link) for link in row["links"]], split, self.provenance)
            found = signature(pixels).to_row() if self.signatures else None
            out.append({**record, **{f.name: row[f.name] for f in BOOKKEEPING}, "signature": found})
        return pa.Table.from_pylist(out, schema=annotated_schema())
