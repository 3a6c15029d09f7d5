"""COVID-19 image data collection (Cohen et al., github ieee8023/covid-chestxray-dataset; layout of commit 584034a).

`metadata.csv` has one row per image (`folder`/`filename`, `patientid`, `view`, `modality`, `finding`,
`license`, `clinical_notes`); images live in `images/`, CT volumes in `volumes/`. Lung boxes come from the
COCO file `annotations/imageannotation_ai_lung_bounding_boxes.json` (`bbox` = [x, y, w, h] pixels;
"Right Lung" is the patient's right, on the image's left). Its width/height can disagree with the real file,
so boxes are scaled to the size read from the image header. Images the COCO file leaves out get per-lung boxes
from their lungVAE mask (`annotations/lungVAE-masks/<stem>_mask.png`, annotators.lung_masks) when there is one,
scaled the same way from the mask's size. Rows whose file is absent, and CT volume rows,
are rejects with their reason; a row's licence is its own `license` cell.
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
from connectors.tables import image_size, number, read_json, read_table, rejected, require_dir, scaled_box
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

    def refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "covid_chestxray root")
        table = read_table(root / self.options.metadata, REQUIRED)
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
            report_style="notes",
        )
        if row["folder"] == "volumes" and not (self.options.volumes and path.is_file()):
            why = "excluded by options (volumes: false)" if path.is_file() else "the volume is not in this copy"
            return rejected(ref, "ct_volume", f"CT volume {row['filename']}: {why}")
        if not path.is_file():
            return rejected(ref, "missing_image", f"{row['folder']}/{row['filename']} is not in this copy")
        coco_boxes = coco_boxes or self._mask_boxes(root, path)
        if coco_boxes:
            actual = image_size(str(path))
            scaled = (scaled_box(*box, actual) for box in coco_boxes)
            ref = replace(ref, boxes=tuple(b for b in scaled if b))
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
        coco = read_json(root / self.options.boxes)
        images = {image["id"]: image for image in coco.get("images", [])}
        labels = {c["id"]: canonical_label(c["name"]) for c in coco.get("categories", [])}
        out: dict[str, list[tuple]] = defaultdict(list)
        for note in coco.get("annotations", []):
            image, bbox = images.get(note.get("image_id")), note.get("bbox")
            values = [number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
            if image is None or values is None or None in values or note.get("category_id") not in labels:
                continue
            x, y, w, h = values
            declared = (number(image.get("width")) or 0.0, number(image.get("height")) or 0.0)
            out[image["file_name"]].append((x, y, x + w, y + h, labels[note["category_id"]], declared))
        return out


def _report(row: dict) -> str:
    """The clinical notes, then the collection's finding label (so a row without notes still says something)."""
    notes = row["clinical_notes"]
    finding = f"Finding: {row['finding']}." if row["finding"] else ""
    return "\n\n".join(part for part in (notes, finding) if part)


CONNECTOR = CovidChestXray
