"""COVID-19 image data collection (Cohen et al., github ieee8023/covid-chestxray-dataset; layout of commit 584034a).

`metadata.csv` has one row per image (`folder`/`filename`, `patientid`, `view`, `modality`, `finding`,
`license`, `clinical_notes`); images live in `images/`, CT volumes in `volumes/`. Lung boxes come from the
COCO file `annotations/imageannotation_ai_lung_bounding_boxes.json` (`bbox` = [x, y, w, h] pixels;
"Right Lung" is the patient's right, on the image's left). Its width/height can disagree with the real file,
so boxes are scaled to the size read from the image header. Images the COCO file leaves out get per-lung boxes
from their lungVAE mask (`annotations/lungVAE-masks/<stem>_mask.png`, annotators.lung_masks) when there is one,
scaled the same way from the mask's size; not on CT images, which the radiograph segmenter was not made for (on a
coronal slice its mask stops well short of the lung bases). Rows whose file is absent, CT volume rows, and rows without
clinical notes (`empty_report`: the finding label alone is the collection's diagnosis, not a report of the image,
and too short for the report filter whenever it is one word, as "COVID-19" is) are rejects with their reason; a
row's licence is its own `license` cell.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from annotators.lung_masks import lung_boxes
from connectors.base import Connector, StudyRef
from connectors.tables import (
    MALFORMED,
    ROW_ERROR,
    SourceLayoutError,
    distinct_boxes,
    image_size,
    number,
    read_json,
    read_table,
    rejected,
    require_dir,
    row_rejected,
    scaled_box,
)
from schemas.labels import canonical_label

REQUIRED = ("patientid", "finding", "view", "modality", "folder", "filename", "license", "clinical_notes")
VIEWS = {"PA": "PA", "AP": "AP", "AP SUPINE": "AP SUPINE", "APS": "AP SUPINE", "L": "LATERAL",
         "AXIAL": "axial", "CORONAL": "coronal"}
MODALITIES = {"X-RAY": "DX", "CT": "CT"}
UNKNOWN_LICENCE = "unknown"


class CovidChestXray(Connector):
    name = "covid_chestxray"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        metadata: str = "metadata.csv"
        boxes: str = "annotations/imageannotation_ai_lung_bounding_boxes.json"  # "" for none
        masks: str = "annotations/lungVAE-masks"  # lung masks, for images without COCO boxes; "" for none
        volumes: bool = False  # decode CT volumes (volumes/*.nii.gz) when present; else their rows are rejects

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "covid_chestxray root")
        table = read_table(root / self.options.metadata, REQUIRED, report_columns=("clinical_notes",), row_errors=True)
        boxes = self._boxes(root) if self.options.boxes else {}
        for row in table.iter_rows(named=True):
            yield self._ref(root, row, boxes.get(row["filename"], ()))

    def _ref(self, root: Path, row: dict, coco_boxes) -> StudyRef:
        path = root / row["folder"] / row["filename"]
        ref = StudyRef(
            source=self.source,
            source_id=row["filename"],
            patient_key=self.patient_key(row["patientid"]),
            license=row["license"] or UNKNOWN_LICENCE,
            image=str(path),
            report=_report(row),
            view=VIEWS.get(row["view"].upper(), row["view"]),
            modality=MODALITIES.get(row["modality"].upper(), row["modality"]),
            body_part="CHEST",  # a collection of chest images
            report_style="notes",
        )
        if row[ROW_ERROR]:
            return row_rejected(ref, row[ROW_ERROR])
        ref = self.contain(ref)  # before the file is looked at
        if ref.reject:
            return ref
        if row["folder"] == "volumes" and not (self.options.volumes and path.is_file()):
            why = "excluded by options (volumes: false)" if path.is_file() else "the volume is not in this copy"
            return rejected(ref, "ct_volume", f"CT volume {row['filename']}: {why}")
        if not path.is_file():
            return rejected(ref, "missing_image", f"{row['folder']}/{row['filename']} is not in this copy")
        if not row["clinical_notes"]:
            return rejected(ref, "empty_report", f"no clinical_notes, only the finding label {row['finding']!r}")
        coco_boxes = coco_boxes or (self._mask_boxes(root, path) if ref.modality != "CT" else [])
        if coco_boxes:
            actual = image_size(str(path))
            scaled = (scaled_box(*box, actual) for box in coco_boxes)
            ref = replace(ref, boxes=distinct_boxes(b for b in scaled if b))
        return ref

    def _mask_boxes(self, root: Path, image: Path) -> list[tuple]:
        """The per-lung boxes of the image's lung mask, in the same form as `_boxes`; [] without a usable mask."""
        mask_path = root / self.options.masks / f"{image.stem}_mask.png" if self.options.masks else None
        if mask_path is None or not mask_path.is_file():
            return []
        with Image.open(mask_path) as mask:
            pixels = np.asarray(mask.convert("L"))
        declared = (float(pixels.shape[1]), float(pixels.shape[0]))
        return [(*box, declared) for box in lung_boxes(pixels)]

    def _boxes(self, root: Path) -> dict[str, list[tuple]]:
        """file name -> [(x0, y0, x1, y1, label, (declared width, height))]; null and empty boxes skipped."""
        path = root / self.options.boxes
        coco = read_json(path)
        parts = ("images", "categories", "annotations")
        if not isinstance(coco, dict) or not all(isinstance(coco.get(k, []), list) for k in parts):
            raise SourceLayoutError(f"{path}: expected a COCO object with lists of images, categories, annotations")
        images = {i["id"]: i for i in coco.get("images", []) if isinstance(i, dict) and _is_id(i.get("id"))}
        labels = {c["id"]: canonical_label(str(c.get("name")))
                  for c in coco.get("categories", []) if isinstance(c, dict) and _is_id(c.get("id"))}
        out: dict[str, list[tuple]] = defaultdict(list)
        for note in coco.get("annotations", []):
            try:
                image, bbox, category = images.get(note["image_id"]), note["bbox"], labels.get(note["category_id"])
            except MALFORMED:  # not an object, a key missing, an id that is a list
                continue
            values = [number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
            if image is None or category is None or values is None or None in values or not image.get("file_name"):
                continue
            x, y, w, h = values
            declared = (number(image.get("width")) or 0.0, number(image.get("height")) or 0.0)
            out[str(image["file_name"])].append((x, y, x + w, y + h, category, declared))
        return out


def _is_id(value) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _report(row: dict) -> str:
    """The clinical notes, then the collection's finding label as a "Label:" part (the collection's diagnosis, not a
    statement about the image)."""
    notes = row["clinical_notes"]
    finding = f"Label: {row['finding']}." if row["finding"] else ""
    return "\n\n".join(part for part in (notes, finding) if part)


CONNECTOR = CovidChestXray
