"""VinDr-CXR 1.0.0 (Nguyen et al. 2022, PhysioNet).

`train/<image_id>.dicom`, `test/<image_id>.dicom`; `annotations/annotations_{train,test}.csv` (image_id,
rad_id, class_name, x_min, y_min, x_max, y_max in pixels of the DICOM; three readers per training image,
one consensus for test; "No finding" rows have empty coordinates) and `annotations/image_labels_{train,test}.csv`
(image_id, rad_id, one 0/1 column per label, global diagnoses included). Readers' boxes of one label are
fused: boxes that overlap (IoU >= `iou`) from different readers form a cluster whose mean is kept when at
least `min_readers` readers drew it. A table without reader ids (the test split's consensus) is kept whole: each
of its boxes and labels stands for the readers' agreement. A box with swapped corners is put in order. The
source has no reports: a row's text names its labels.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import polars as pl

from annotators.regions import iou
from connectors.base import Connector, SourceBox, StudyRef
from connectors.tables import labels_text, number, read_table, require_dir
from schemas.labels import canonical_label

LICENCE = "PhysioNet Credentialed Health Data License 1.5.0"
GLOBAL_LABELS = ("COPD", "Lung tumor", "Pneumonia", "Tuberculosis", "Other diseases")
REQUIRED = ("image_id", "class_name", "x_min", "y_min", "x_max", "y_max")


@dataclass(frozen=True)
class ReaderBox:
    reader: str
    label: str  # the source's class name
    box: tuple[float, float, float, float]


def fuse_readers(boxes: Sequence[ReaderBox], iou_threshold: float, min_readers: int) -> list[tuple[str, tuple]]:
    """(class name, mean box) per cluster of same-label boxes from different readers, in a stable order."""
    clusters: dict[str, list[list[ReaderBox]]] = defaultdict(list)
    for item in sorted(boxes, key=lambda b: (b.label, b.reader, b.box)):
        best, best_iou = None, 0.0
        for cluster in clusters[item.label]:
            if any(member.reader == item.reader for member in cluster):
                continue  # one box per reader in a cluster
            overlap = iou(_mean(cluster), item.box)
            if overlap >= iou_threshold and overlap > best_iou:
                best, best_iou = cluster, overlap
        if best is None:
            clusters[item.label].append([item])
        else:
            best.append(item)
    fused = [(label, _mean(c)) for label in sorted(clusters) for c in clusters[label]
             if len({m.reader for m in c}) >= min_readers]
    return sorted(fused, key=lambda f: (f[0], f[1]))


def _mean(cluster: Sequence[ReaderBox]) -> tuple[float, float, float, float]:
    return tuple(sum(m.box[i] for m in cluster) / len(cluster) for i in range(4))  # type: ignore[return-value]


class VindrCxr(Connector):
    name = "vindr_cxr"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        splits: tuple[str, ...] = ("train", "test")
        annotations: str = "annotations"
        iou: float = 0.4  # boxes of one label from different readers that overlap this much are one finding
        min_readers: int = 1  # keep a fused box (or a global label) when at least this many readers gave it

        def __post_init__(self):
            if not 0.0 < self.iou <= 1.0 or self.min_readers < 1:
                raise ValueError("iou must lie in (0, 1] and min_readers be at least 1")

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "vindr_cxr root")
        folder = require_dir(root / self.options.annotations, "vindr_cxr annotations")
        for split in self.options.splits:
            table = read_table(folder / f"annotations_{split}.csv", REQUIRED)
            diagnoses = self._diagnoses(folder / f"image_labels_{split}.csv")
            min_readers = self.options.min_readers if _has_readers(table) else 1
            for image_id, group in sorted(table.group_by("image_id", maintain_order=True), key=lambda g: g[0][0]):
                yield self._ref(root, split, str(image_id[0]), group, diagnoses.get(str(image_id[0]), []),
                                min_readers)

    def _ref(self, root: Path, split: str, image_id: str, group: pl.DataFrame, diagnoses: list[str],
             min_readers: int) -> StudyRef:
        readers = [ReaderBox(row.get("rad_id", ""), row["class_name"], box) for row in group.iter_rows(named=True)
                   if (box := _box(row)) is not None]
        fused = fuse_readers(readers, self.options.iou, min_readers)
        return StudyRef(
            source=self.source,
            source_id=image_id,
            patient_key=self.patient_key(image_id),  # VinDr-CXR links no images to a patient
            license=LICENCE,
            image=str(root / split / f"{image_id}.dicom"),
            report=labels_text([name for name, _ in fused] + diagnoses),
            boxes=tuple(SourceBox(*box, canonical_label(name)) for name, box in fused),
            view="PA",
            split=split,
            report_style="caption",
        )

    def _diagnoses(self, path: Path) -> dict[str, list[str]]:
        """image_id -> the global labels at least `min_readers` readers marked; {} without the file."""
        if not path.is_file():
            return {}
        table = read_table(path, ("image_id",))
        present = [c for c in GLOBAL_LABELS if c in table.columns]
        votes = table.group_by("image_id").agg([(pl.col(c) == "1").sum().alias(c) for c in present])
        min_readers = self.options.min_readers if _has_readers(table) else 1
        return {row["image_id"]: [c for c in present if row[c] >= min_readers] for row in votes.iter_rows(named=True)}


def _has_readers(table: pl.DataFrame) -> bool:
    """The table names its readers (`rad_id`), so their votes can be counted."""
    return "rad_id" in table.columns and bool((table["rad_id"] != "").any())


def _box(row: dict) -> tuple[float, float, float, float] | None:
    """The row's box with its corners in order; None for a "No finding" row or a box of no area."""
    values = [number(row[k]) for k in ("x_min", "y_min", "x_max", "y_max")]
    if None in values:
        return None
    x0, x1 = sorted((values[0], values[2]))
    y0, y1 = sorted((values[1], values[3]))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


CONNECTOR = VindrCxr
