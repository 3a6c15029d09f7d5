"""The de-identification stage: every part of every report scrubbed on its own (annotators.deid), before any
text is parsed, stored or counted. The image attributes (modality, view, body part: a source's index columns or
allow-listed DICOM values, which people fill by hand) keep only the code words such attributes hold
(annotators.dicom_codes: "AP SUPINE", "CHEST"): a name typed beside them ("PA - John Smith") is dropped, as DICOM
values lose theirs at decode. Patient ids are keyed hashes from the connectors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from annotators.deid import scrub_text
from annotators.dicom_codes import known_words
from pipeline.stage import Stage
from schemas.work import REPORT_PART

ATTRIBUTES = ("modality", "view", "body_part")  # short free text that a source may fill with anything


@dataclass(frozen=True)
class Deidentify(Stage):
    name = "deidentify"

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        parts = [[{"kind": part["kind"], "text": scrub_text(part["text"])} for part in report or ()]
                 for report in batch.column("report_parts").to_pylist()]
        batch = batch.set_column(batch.schema.get_field_index("report_parts"), "report_parts",
                                 pa.array(parts, pa.list_(REPORT_PART)))
        for name in ATTRIBUTES:
            index = batch.schema.get_field_index(name)
            values = [value and known_words(value) for value in batch.column(name).to_pylist()]
            batch = batch.set_column(index, name, pa.array(values, batch.schema.field(name).type))
        return batch
