"""VinDr-CXR 1.0.0 (Nguyen et al. 2022, PhysioNet), and the Kaggle competition's copy of its training set.

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
The Kaggle competition (vinbigdata-chest-xray-abnormalities-detection) holds the training set alone: `train.csv`
(image_id, class_name, class_id, rad_id, x_min, ...) at the root, read when `annotations/annotations_train.csv` is
not there; its test images are unlabelled. An image is found by its id whatever its suffix (.dicom, .dcm, .png,
.jpg, in any case): Kaggle's PNG and JPEG conversions are mostly resized, so their boxes are scaled from the DICOM's
size, which such a copy states as `width`, `height` columns of its table (awsaf49's) or in `<split>_meta.csv`
(image_id, dim0 = rows, dim1 = columns; xhlulu's); a conversion without either is a layout error, as its boxes
cannot be placed. An image not in its split folder is rejected when decoded: a partial download builds what it holds.
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
    FolderFiles,
    SourceLayoutError,
    distinct_boxes,
    image_size,
    labels_text,
    number,
    read_table,
    rejected,
    require_dir,
    row_error,
    row_rejected,
    scaled_box,
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
KAGGLE_TABLE = "train.csv"  # the Kaggle competition's annotations: the training set only
DICOM_SUFFIXES = (".dicom", ".dcm")  # .dicom as PhysioNet and Kaggle name them
IMAGE_SUFFIXES = (*DICOM_SUFFIXES, ".png", ".jpg", ".jpeg")  # the rest: conversions, sized as SIZES or META state
SIZES = ("width", "height")  # columns of a conversion's table: the DICOM's size (awsaf49's vinbigdata-512 PNGs)
META = "{split}_meta.csv"  # image_id, dim0 (rows), dim1 (columns) of each DICOM (xhlulu's resized PNGs)


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
class SplitImages:
    """The image files of one split folder and, for conversions, the size of the DICOM each was made from."""

    folder: Path
    names: dict[str, str]  # image_id -> its file name in the folder (any suffix of IMAGE_SUFFIXES, any case)
    sizes: dict[str, tuple[float, float]]  # image_id -> (width, height) of its DICOM, as the copy states it

    def path(self, image_id: str) -> Path:
        """The image's file; `<id>.dicom` where the folder has none (the decode stage rejects it as missing)."""
        return self.folder / self.names.get(image_id, f"{image_id}.dicom")


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
        for split in self.options.splits:
            table = _read(self._annotations(root, split), REQUIRED)
            labels = self._image_labels(root / self.options.annotations / f"image_labels_{split}.csv")
            images = _split_images(root, split, table)
            min_readers = self.options.min_readers if _has_readers(table) else 1
            groups = {str(key[0]): group for key, group in table.group_by("image_id", maintain_order=True)}
            for image_id in sorted(groups.keys() | labels.keys()):
                yield self._ref(images, split, image_id, groups.get(image_id), labels.get(image_id, ImageLabels()),
                                min_readers)

    def _annotations(self, root: Path, split: str) -> Path:
        """The split's annotations table: PhysioNet's, else (train) the Kaggle competition's; a layout error naming
        them when neither is there."""
        physionet, kaggle = root / self.options.annotations / f"annotations_{split}.csv", root / KAGGLE_TABLE
        if physionet.is_file():
            return physionet
        if split == "train" and kaggle.is_file():
            return kaggle
        if kaggle.is_file():
            raise SourceLayoutError(f"vindr_cxr {split}: no {physionet}; {KAGGLE_TABLE} is the Kaggle competition's "
                                    f"copy, whose {split} images are unlabelled: set splits: [train]")
        either = f" nor {kaggle} (the Kaggle competition's)" if split == "train" else ""
        raise SourceLayoutError(f"vindr_cxr {split}: no {physionet} (PhysioNet){either}")

    def _ref(self, images: SplitImages, split: str, image_id: str, group: pl.DataFrame | None, labels: ImageLabels,
             min_readers: int) -> StudyRef:
        ref = StudyRef(
            source=self.source,
            source_id=image_id,
            patient_key=self.patient_key(image_id),  # VinDr-CXR links no images to a patient
            license=LICENCE,
            image=str(images.path(image_id)),
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
        ref = replace(ref, report=labels_text([name for name, _ in fused] + list(labels.diagnoses)),
                      boxes=distinct_boxes(SourceBox(*box, canonical_label(name)) for name, box in fused))
        return self._on_conversion(ref, images) if ref.boxes and not _is_dicom(ref.image) else ref

    def _on_conversion(self, ref: StudyRef, images: SplitImages) -> StudyRef:
        """`ref` with its boxes, drawn on the DICOM, moved to the size of the conversion it reads."""
        declared = images.sizes.get(ref.source_id)
        if declared is None:
            return rejected(ref, "no_image_size", f"{ref.source_id}: the copy states no size of the DICOM its "
                                                  f"{Path(ref.image).suffix} was made from")
        ref = self.contain(ref)  # before the file is looked at
        if ref.reject:
            return ref
        actual = image_size(ref.image)
        scaled = (scaled_box(b.x0, b.y0, b.x1, b.y1, b.label, declared, actual) for b in ref.boxes)
        return replace(ref, boxes=distinct_boxes(b for b in scaled if b))

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


def _split_images(root: Path, split: str, table: pl.DataFrame) -> SplitImages:
    """The split folder's images by id, and the DICOM sizes its conversions state; a layout error for a folder that
    is not there or holds no image, or that holds conversions and states no size."""
    folder = require_dir(root / split, f"vindr_cxr {split} images (set splits: to those downloaded)")
    files = FolderFiles(folder, IMAGE_SUFFIXES)
    if not files:
        raise SourceLayoutError(f"vindr_cxr {split}: no image ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    names = {name[: name.rfind(".")]: name for name in sorted(files.names.values(), reverse=True)}  # the first by name
    if all(_is_dicom(name) for name in names.values()):
        return SplitImages(folder, names, {})
    sizes = _stated_sizes(root / META.format(split=split), table)
    if not sizes:
        raise SourceLayoutError(f"vindr_cxr {split}: {folder} holds PNG or JPEG conversions, and neither "
                                f"{', '.join(SIZES)} columns nor {META.format(split=split)} (dim0, dim1) state the "
                                "DICOM sizes their boxes are drawn on")
    return SplitImages(folder, names, sizes)


def _stated_sizes(meta: Path, table: pl.DataFrame) -> dict[str, tuple[float, float]]:
    """image_id -> (width, height) of its DICOM from the annotations' SIZES columns, else from the META table."""
    if all(column in table.columns for column in SIZES):
        rows = zip(table["image_id"], table[SIZES[0]], table[SIZES[1]])
    elif meta.is_file():
        sized = read_table(meta, ("image_id", "dim0", "dim1"))
        rows = zip(sized["image_id"], sized["dim1"], sized["dim0"])
    else:
        return {}
    return {image_id: (width, height) for image_id, w, h in rows
            if (width := number(w) or 0.0) > 0 and (height := number(h) or 0.0) > 0}


def _is_dicom(name: str) -> bool:
    return name.lower().endswith(DICOM_SUFFIXES)


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
