"""MS-CXR phrase grounding 0.1 / 1.x (Boecking et al. 2022, PhysioNet), joined to MIMIC-CXR-JPG images.

`MS_CXR_Local_Alignment_v1.*.csv`: one row per box-phrase pair (dicom_id, category_name, label_text, path
(relative to the MIMIC-CXR-JPG root, `files/pXX/p<subject_id>/s<study_id>/<dicom_id>.jpg`), x, y, w, h in
pixels of an image of image_width x image_height, split). An image becomes one row: its phrases (the
region-level descriptions) are its text, each box keeps its category, a repeated (category, box) row adds no
region; boxes are scaled to the real image size read from its header when the stated size differs. The patient
key is the subject id in the path. An image with a row that has more fields than the header (an unquoted comma
in a phrase) is a `bad_index_row` reject. The table is the same in MS-CXR 0.1 (`..._v1.0.0.csv`, no split column:
splits then go by patient) and 1.1.0 (`..._v1.1.0.csv`, with `split`). An image not under `images_root` is a
`missing_image` reject, so a partial MIMIC-CXR-JPG download (MS-CXR's images alone) builds what it holds; when
none of the table's images is there, `images_root` is the wrong folder (files/ itself, say): a SourceLayoutError.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import polars as pl

from connectors.base import Connector, StudyRef
from connectors.tables import (
    SourceLayoutError,
    distinct_boxes,
    image_size,
    number,
    read_table,
    rejected,
    require_dir,
    resolve,
    row_error,
    row_rejected,
    scaled_box,
)
from schemas.labels import canonical_label

LICENCE = "PhysioNet Credentialed Health Data License 1.5.0"
REQUIRED = ("dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height")
SUBJECT = re.compile(r"/p(\d{6,})/")


class MsCxr(Connector):
    name = "ms_cxr"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        csv: str = ""  # "" = the newest MS_CXR_Local_Alignment_v*.csv under root
        images_root: str = ""  # the MIMIC-CXR-JPG root the `path` column is relative to; "" = root

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "ms_cxr root")
        table = read_table(self._csv(root), REQUIRED, report_columns=("label_text",), row_errors=True)
        images_root = self.options.images_root or str(root)
        groups = sorted(table.group_by("dicom_id", maintain_order=True), key=lambda g: g[0][0])
        _require_an_image([group for _, group in groups], images_root)
        for (dicom_id,), group in groups:
            yield self._ref(str(dicom_id), group, images_root)

    def _csv(self, root: Path) -> Path:
        if self.options.csv:
            return root / self.options.csv
        found = sorted(root.glob("MS_CXR_Local_Alignment_v*.csv"), key=_version)
        if not found:
            raise SourceLayoutError(f"ms_cxr: no MS_CXR_Local_Alignment_v*.csv under {root}")
        return found[-1]

    def _ref(self, dicom_id: str, group: pl.DataFrame, images_root: str) -> StudyRef:
        rows = group.to_dicts()
        first = rows[0]
        subject = SUBJECT.search("/" + first["path"])
        image = resolve(images_root, first["path"])
        ref = StudyRef(
            source=self.source,
            source_id=dicom_id,
            patient_key=self.patient_key(subject.group(1) if subject else dicom_id),
            license=LICENCE,
            image=image,
            report="\n\n".join(dict.fromkeys(r["label_text"] for r in rows if r["label_text"])),
            split=first.get("split", ""),
            report_style="caption",
        )
        if error := row_error(group):
            return row_rejected(ref, error)
        ref = self.contain(ref)  # before the file is looked at
        if ref.reject:
            return ref
        if not Path(image).is_file():
            return rejected(ref, "missing_image", f"{first['path']} is not under {images_root}")
        actual = image_size(image)
        boxes = []
        for r in rows:
            x, y, w, h = (number(r[k]) for k in ("x", "y", "w", "h"))
            declared = (number(r["image_width"]) or 0.0, number(r["image_height"]) or 0.0)
            box = None if None in (x, y, w, h) else scaled_box(x, y, x + w, y + h, canonical_label(r["category_name"]),
                                                              declared, actual)
            if box is None:
                return rejected(ref, "bad_box", f"{dicom_id}: box {r['x']},{r['y']},{r['w']},{r['h']} is not a box")
            boxes.append(box)
        return replace(ref, boxes=distinct_boxes(boxes))


CONNECTOR = MsCxr


def _require_an_image(groups: list[pl.DataFrame], images_root: str) -> None:
    """A SourceLayoutError naming `images_root` and a path looked for when the images of `groups` (an image's rows
    each; those with a ROW_ERROR left out) name some file and none of them is under `images_root`; stops at the
    first found."""
    paths = [group["path"][0] for group in groups if group["path"][0] and not row_error(group)]
    if paths and not any(Path(resolve(images_root, path)).is_file() for path in paths):
        raise SourceLayoutError(f"ms_cxr: none of the table's {len(paths)} images is under {images_root} (no "
                                f"{resolve(images_root, paths[0])}): images_root must be the MIMIC-CXR-JPG root, the "
                                "folder that holds files/")


def _version(path: Path) -> tuple[int, ...]:
    """The release numbers in a table's name, compared as numbers: v1.10 is newer than v1.2."""
    return tuple(int(n) for n in re.findall(r"\d+", path.name.rpartition("_v")[2]))
