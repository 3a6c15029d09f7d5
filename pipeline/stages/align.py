"""The align stage: each region-level description linked to a region, or kept unaligned (annotators.align)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from annotators.align import align
from annotators.regions import Region
from annotators.reports import Description
from pipeline.stage import Stage
from schemas.work import LINK


@dataclass(frozen=True)
class Align(Stage):
    name = "align"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        rows = batch.select(["descriptions", "regions", "view"]).to_pylist()
        links = [[asdict(link) for link in align([Description(**d) for d in row["descriptions"] or ()],
                                                 [Region(**r) for r in row["regions"] or ()], row["view"])]
                 for row in rows]
        return batch.set_column(batch.schema.get_field_index("links"), "links", pa.array(links, pa.list_(LINK)))
