"""The sample source's connector: renders the corpus when needed, then reads its tables (never the truth).

Each (n, seed) has its own folder under `root` (connectors.sample.generate.render_folder), so builds of other n
share the root without re-rendering, or changing the times of, each other's files."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, SourceBox, StudyRef
from connectors.sample.generate import ANNOTATION_COLUMNS, STUDY_COLUMNS, ensure, render_folder
from connectors.tables import read_table, rejected
from schemas.labels import canonical_label


class SampleConnector(Connector):
    """Synthetic chest studies rendered from a seed (connectors.sample.generate), read like a real source."""

    name = "sample"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        root: str = "out/sample"  # holds a folder per (n, seed): out/sample/n1000-s0/
        n: int = 1000
        seed: int = 0
        license: str = "CC0-1.0"

        def __post_init__(self):
            if self.n < 1:
                raise ValueError(f"n: {self.n} studies; give at least 1")

    def prepare(self) -> None:
        ensure(self.options.root, self.options.n, self.options.seed)

    def source_refs(self) -> Iterator[StudyRef]:
        root = render_folder(self.options.root, self.options.n, self.options.seed).resolve()
        boxes = _read_boxes(root / "annotations.csv")
        for row in read_table(root / "studies.csv", required=STUDY_COLUMNS).sort("source_id").iter_rows(named=True):
            image = root / row["image"]
            missing = not image.is_file()  # the only flaw a table shows; decoding finds broken files
            ref = StudyRef(
                source=self.source,
                source_id=row["source_id"],
                patient_key=self.patient_key(row["patient_id"]),
                license=self.options.license,
                image="" if missing else str(image),
                report_path=str(root / row["report"]),
                boxes=tuple(boxes.get(row["source_id"], ())),
                view=row["view"],
                modality=row["modality"],
                report_style="radiology",
            )
            yield rejected(ref, "missing_image", f"image file not found: {row['image']}") if missing else ref


def _read_boxes(path: Path) -> dict[str, list[SourceBox]]:
    """Annotated boxes per source id, labels made canonical."""
    boxes: dict[str, list[SourceBox]] = defaultdict(list)
    for row in read_table(path, required=ANNOTATION_COLUMNS).iter_rows(named=True):
        x0, y0, x1, y1 = (float(row[k]) for k in ("x0", "y0", "x1", "y1"))
        boxes[row["source_id"]].append(SourceBox(x0, y0, x1, y1, canonical_label(row["label"]), int(row["frame"])))
    return boxes
