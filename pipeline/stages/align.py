"""The align stage: each region-level description linked to a region, or kept unaligned (annotators.align); the
lung parts that links are grounded in join the row's regions."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from annotators.align import align
from annotators.regions import Region
from annotators.reports import Description
from pipeline.stage import Stage
from schemas.work import LINK, WORK


@dataclass(frozen=True)
class Align(Stage):
    name = "align"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        regions, links = [], []
        for row in batch.select(["descriptions", "regions", "view"]).to_pylist():
            aligned = align([Description(**d) for d in row["descriptions"] or ()],
                            [Region(**r) for r in row["regions"] or ()], row["view"])
            regions.append([region.to_row() for region in aligned.regions])
            links.append([asdict(link) for link in aligned.links])
        batch = batch.set_column(batch.schema.get_field_index("regions"), "regions",
                                 pa.array(regions, WORK.field("regions").type))
        return batch.set_column(batch.schema.get_field_index("links"), "links", pa.array(links, pa.list_(LINK)))
