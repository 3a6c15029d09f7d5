"""Any folder of images with reports: a CSV or JSONL index of (image path, text[, boxes]) rows, or none.

Without an index (`index: ""`) every image file under the root (.png, .jpg, .jpeg, .dcm, .dicom, .nii, .nii.gz;
hidden files and folders skipped) is an input, and its report is the .txt file of the same name beside it
(`scan1.nii.gz` and `scan1.txt`); an image without one is a `no_report` reject. Its path is its id and its patient
id, so such a source's splits are by image, not by patient.

With an index:

Columns / keys: `image` (a path relative to the root, or absolute; either must lie inside the root unless
`allow_outside_paths` is set) and `text` are required; optional are `id`
(default: the image path), `patient_id` (default: the id), `split`, `license` (default: the `license`
option), `view`, `modality` and `boxes`: a list (in JSONL) or a JSON string (in CSV) of
`{"x0", "y0", "x1", "y1", "label"[, "frame"]}` objects or `[x0, y0, x1, y1, label[, frame]]` lists, in
pixels of the image as decoded (`frame`: the slice of a volume the box is drawn on).

A folder's ids and file names are often a hospital's own (accession numbers, names, dates), so the published
`source_id` is a keyed hash of the row's id by default (`source_ids: keyed`); `source_ids: as_given` publishes
them verbatim, for a source whose ids are already public.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, SourceBox, StudyRef, keyed_hash
from connectors.tables import MALFORMED, number, read_table, rejected, require_dir, resolve, text_lines
from schemas.labels import canonical_label

STYLES = ("radiology", "iu_xray", "caption", "notes")
SOURCE_IDS = ("keyed", "as_given")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".nii", ".nii.gz")  # an index-less folder's inputs


class Folder(Connector):
    name = "folder"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        index: str = "index.csv"  # .csv or .jsonl, under root; "" for none: images paired with .txt reports
        license: str = "unknown"  # the licence of rows that state none
        report_style: str = "caption"
        source_ids: str = "keyed"  # keyed: a keyed hash of each row's id (or image path); as_given: verbatim

        def __post_init__(self):
            if self.report_style not in STYLES:
                raise ValueError(f"report_style must be one of {STYLES}, got {self.report_style!r}")
            if self.source_ids not in SOURCE_IDS:
                raise ValueError(f"source_ids must be one of {SOURCE_IDS}, got {self.source_ids!r}")
            if self.index and not self.index.endswith((".csv", ".jsonl")):
                raise ValueError(f"index must be a .csv or .jsonl file, or empty for none, got {self.index!r}")

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "folder root")
        if not self.options.index:
            yield from map(self._paired_ref, _image_files(root))
            return
        for line, row in enumerate(self._rows(root / self.options.index), start=1):
            yield self._ref(root, line, row)

    def _paired_ref(self, image: Path) -> StudyRef:
        """An image of an index-less folder, with the .txt report of the same name beside it."""
        report = image.with_name(f"{image.name[: -len(_suffix(image.name))]}.txt")
        relative = image.relative_to(self.options.root).as_posix()
        ref = StudyRef(
            source=self.source,
            source_id=self._published_id(relative),
            patient_key=self.patient_key(relative),
            license=self.options.license,
            image=str(image),
            report_path=str(report) if report.is_file() else "",
            report_style=self.options.report_style,
        )
        return ref if ref.report_path else rejected(ref, "no_report", "no .txt report of its name beside the image")

    def _rows(self, path: Path) -> Iterator[dict]:
        if path.suffix == ".csv":
            yield from read_table(path, ("image", "text")).iter_rows(named=True)
            return
        for line_number, line in enumerate(text_lines(path, "folder index"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:  # nested past the parser's depth
                row = {"_error": f"line {line_number}: {exc}"}
            yield row if isinstance(row, dict) else {"_error": f"line {line_number}: not an object"}

    def _ref(self, root: Path, line: int, row: dict) -> StudyRef:
        image = _cell(row, "image")
        given_id = _cell(row, "id") or image or f"line-{line}"
        ref = StudyRef(
            source=self.source,
            source_id=self._published_id(given_id),
            patient_key=self.patient_key(_cell(row, "patient_id") or given_id),
            license=_cell(row, "license") or self.options.license,
            image=resolve(root, image),
            report=str(row.get("text") or ""),
            view=_cell(row, "view"),
            modality=_cell(row, "modality"),
            split=_cell(row, "split"),
            report_style=self.options.report_style,
        )
        if "_error" in row:
            return rejected(ref, "bad_index_row", row["_error"])
        if not image:
            return rejected(ref, "no_image", f"index row {line} names no image")
        try:
            boxes = _boxes(row.get("boxes"))
        except MALFORMED as exc:
            return rejected(ref, "bad_boxes", f"index row {line}: {type(exc).__name__}: {exc}"[:300])
        return replace(ref, boxes=boxes)

    def _published_id(self, given: str) -> str:
        if self.options.source_ids == "as_given":
            return given
        return "k" + keyed_hash(f"{self.source}\x1fsource_id\x1f{given}", self._secret)


def _suffix(name: str) -> str:
    """The image suffix `name` ends with (case aside), or ""."""
    return next((suffix for suffix in IMAGE_SUFFIXES if name.lower().endswith(suffix)), "")


def _image_files(root: Path) -> list[Path]:
    """The image files under `root` in a stable order, hidden files and folders left out (links not followed into
    folders; a linked file is refused later if it leads out of the root)."""
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [Path(folder) / name for name in files if not name.startswith(".") and _suffix(name)]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _cell(row: dict, key: str) -> str:
    """A row's value as text, stripped; "" when absent or null (a JSON 0 is the id "0", not a missing one)."""
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _boxes(value) -> tuple[SourceBox, ...]:
    if value in (None, ""):
        return ()
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("boxes must be a list")
    out = []
    for item in items:
        if isinstance(item, dict):
            coords, name, frame = [item[k] for k in ("x0", "y0", "x1", "y1")], item["label"], item.get("frame", -1)
        else:
            coords, name, frame = item[:4], item[4], item[5] if len(item) > 5 else -1
        values = [number(v) for v in coords]
        if None in values or values[2] <= values[0] or values[3] <= values[1]:
            raise ValueError(f"{coords} is not a box (x0 < x1, y0 < y1)")
        out.append(SourceBox(*values, canonical_label(str(name)), int(frame)))
    return tuple(out)


CONNECTOR = Folder
