"""VinDr-CXR 1.0.0 (Nguyen et al. 2022, PhysioNet).

`train/<image_id>.dicom`, `test/<image_id>.dicom`; `annotations/annotations_{train,test}.csv` (image_id,
rad_id, class_name, x_min, y_min, x_max, y_max in pixels of the DICOM; three readers per training image,
one consensus for test; "No finding" rows have empty coordinates) and `annotations/image_labels_{train,test}.csv`
(image_id, rad_ID, one 0/1 column per label, global diagnoses included; the reader column is read in any case).
Readers' boxes of one label are fused: boxes that overlap (IoU >= `iou`) from different readers form a cluster whose
mean is kept when at least `min_readers` readers drew it. A table without reader ids (the test split's consensus) is
kept whole: each of its boxes and labels stands for the readers' agreement. Class names are read in any case and
spacing; a vote counts when it is 1 (or 1.0). A box with swapped corners is put in order, a repeated one is one region,
and an image with a box of no area is a `bad_box` reject, as is one listed in image_labels_*.csv alone
(`no_annotations`).
The source has no reports: a row's text names its labels.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import polars as pl

from annotators.regions import iou
from connectors.base import Connector, SourceBox, StudyRef
from connectors.tables import (
    ROW_ERROR,
    distinct_boxes,
    labels_text,
    number,
    read_table,
    rejected,
    require_dir,
    row_error,
    row_rejected,
)
from schemas.labels import canonical_label

LICENCE = "PhysioNet Credentialed Health Data License 1.5.0"
LOCAL_LABELS = ("Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Clavicle fracture",
                "Consolidation", "Edema", "Emphysema", "Enlarged PA", "ILD", "Infiltration", "Lung cavity", "Lung cyst",
                "Lung Opacity", "Mediastinal shift", "Nodule/Mass", "Other lesion", "Pleural effusion",
                "Pleural thickening", "Pneumothorax", "Pulmonary fibrosis", "Rib fracture")
GLOBAL_LABELS = ("COPD", "Lung tumor", "Pneumonia", "Tuberculosis", "Other diseases")
NO_FINDING = "No finding"
SPELLINGS = {name.casefold(): name for name in (*LOCAL_LABELS, *GLOBAL_LABELS, NO_FINDING)}
COORDINATES = ("x_min", "y_min", "x_max", "y_max")
READER = "rad_id"  # the reader column (R1 ... R17), as annotations_*.csv spell it
REQUIRED = ("image_id", "class_name", *COORDINATES)


def class_name(value: str) -> str:
    """A class name in VinDr's own spelling whatever its case and spacing (" nodule/mass " -> "Nodule/Mass"); a name
    VinDr does not use, with its spaces collapsed."""
    name = " ".join(value.split())
    return SPELLINGS.get(name.casefold(), name)


@dataclass(frozen=True)
class ImageLabels:
    """What image_labels_<split>.csv says of one image."""

    diagnoses: tuple[str, ...] = ()  # the global labels enough readers marked
    error: str = ""  # a row of the image is malformed (ROW_ERROR)


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
            table = _read(folder / f"annotations_{split}.csv", REQUIRED)
            labels = self._image_labels(folder / f"image_labels_{split}.csv")
            min_readers = self.options.min_readers if _has_readers(table) else 1
            groups = {str(key[0]): group for key, group in table.group_by("image_id", maintain_order=True)}
            for image_id in sorted(groups.keys() | labels.keys()):
                yield self._ref(root, split, image_id, groups.get(image_id), labels.get(image_id, ImageLabels()),
                                min_readers)

    def _ref(self, root: Path, split: str, image_id: str, group: pl.DataFrame | None, labels: ImageLabels,
             min_readers: int) -> StudyRef:
        ref = StudyRef(
            source=self.source,
            source_id=image_id,
            patient_key=self.patient_key(image_id),  # VinDr-CXR links no images to a patient
            license=LICENCE,
            image=str(root / split / f"{image_id}.dicom"),
            view="PA",
            split=split,
            report_style="caption",
        )
        if group is None:
            return rejected(ref, "no_annotations",
                            f"{image_id} is in image_labels_{split}.csv but not in annotations_{split}.csv")
        if error := row_error(group) or labels.error:
            return row_rejected(ref, error)
        readers, bad = _reader_boxes(image_id, group)
        if bad:
            return rejected(ref, "bad_box", bad)
        fused = fuse_readers(readers, self.options.iou, min_readers)
        return replace(ref, report=labels_text([name for name, _ in fused] + list(labels.diagnoses)),
                       boxes=distinct_boxes(SourceBox(*box, canonical_label(name)) for name, box in fused))

    def _image_labels(self, path: Path) -> dict[str, ImageLabels]:
        """image_id -> the global labels at least `min_readers` readers marked, and a malformed row of it; {} without
        the file."""
        if not path.is_file():
            return {}
        table = _read(path, ("image_id",))
        columns = {class_name(column): column for column in table.columns}
        present = [label for label in GLOBAL_LABELS if label in columns]
        votes = table.group_by("image_id").agg(
            *[(pl.col(columns[label]).cast(pl.Float64, strict=False) == 1).sum().alias(label) for label in present],
            pl.col(ROW_ERROR).max())  # an error, if any row has one ("" sorts first)
        min_readers = self.options.min_readers if _has_readers(table) else 1
        return {row["image_id"]: ImageLabels(tuple(c for c in present if row[c] >= min_readers), row[ROW_ERROR])
                for row in votes.iter_rows(named=True)}


def _read(path: Path, required: Sequence[str]) -> pl.DataFrame:
    """A VinDr table with its reader column named `rad_id` however it is spelled (image_labels_*.csv: `rad_ID`)."""
    table = read_table(path, required, row_errors=True)
    return table.rename({name: READER for name in table.columns if name.lower() == READER and name != READER})


def _has_readers(table: pl.DataFrame) -> bool:
    """The table names its readers (`rad_id`), so their votes can be counted."""
    return READER in table.columns and bool((table[READER] != "").any())


def _reader_boxes(image_id: str, group: pl.DataFrame) -> tuple[list[ReaderBox], str]:
    """The readers' boxes of one image's rows ("No finding" rows have none), and what is wrong with the first row
    whose box is no box of some area ("" when none is)."""
    boxes = []
    for row in group.iter_rows(named=True):
        name, box = class_name(row["class_name"]), _box(row)
        if name == NO_FINDING:
            continue
        if box is None:
            coordinates = ", ".join(row[k] for k in COORDINATES)
            return [], f"{image_id}: {row.get(READER) or 'the consensus'}'s {name} box [{coordinates}] has no area"
        boxes.append(ReaderBox(row.get(READER, ""), name, box))
    return boxes, ""


def _box(row: dict) -> tuple[float, float, float, float] | None:
    """The row's box with its corners in order; None for a "No finding" row or a box of no area."""
    values = [number(row[k]) for k in COORDINATES]
    if None in values:
        return None
    x0, x1 = sorted((values[0], values[2]))
    y0, y1 = sorted((values[1], values[3]))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


CONNECTOR = VindrCxr
