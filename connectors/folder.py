"""Any folder of images with reports: a CSV, TSV or JSONL index of (image path, text[, boxes]) rows, or none.

Without an index (`index: ""`) every image file under the root (.png, .jpg, .jpeg, .tif, .tiff, .bmp, .gif, .webp,
.jp2, .pgm, .ppm, .dcm, .dicom, .nii, .nii.gz, and DICOM files of any name by their preamble, as CD and PACS
exports name them, DICOMDIR aside; hidden files and folders skipped) is an input, and its report is the .txt file
of the same name beside it (`scan1.nii.gz` and `scan1.txt`, the suffix in any case). Its path is its id and its
patient id, so such a source's splits are by image. A study folder below the root whose only .txt file is named
after none of its images (`study7/1.dcm`, `study7/2.dcm`, `study7/report.txt`) gives that report to each of its
images without one of its own, and the folder is their patient id: a study's images stay in one split. An image
with no report either way is a `no_report` reject.

With an index:

Columns / keys: `image` (a path relative to the root, or absolute; either must lie inside the root unless
`allow_outside_paths` is set) and `text` are required; optional are `id`
(default: the image path), `patient_id` (default: the id), `split`, `license` (default: the `license`
option), `view`, `modality` and `boxes`: a list (in JSONL) or a JSON string (in CSV) of
`{"x0", "y0", "x1", "y1", "label"[, "frame"]}` objects or `[x0, y0, x1, y1, label[, frame]]` lists, in
pixels of the image as decoded (`frame`: the slice of a volume the box is drawn on, a whole number; -1, null
or none: a 2-D image, or every slice). A label the vocabulary does not know is "other"; a box without a label
(none, null, "") or with a frame like 1.5 makes the row a `bad_boxes` reject, as does a box of no area. A `text` of
only NA, NaN, None or null is empty; a CSV row with more fields than the header (an unquoted comma) or too few to
hold its image and text (a line cut short; trailing cells a spreadsheet leaves out are empty), and a JSONL row with
an array or object in a text cell (`"text": {"findings": ...}`), are `bad_index_row` rejects.

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
from connectors.tables import (
    MALFORMED,
    ROW_ERROR,
    distinct_boxes,
    is_missing,
    number,
    read_table,
    rejected,
    require_dir,
    resolve,
    row_rejected,
    text_lines,
)
from schemas.labels import canonical_label

STYLES = ("radiology", "iu_xray", "caption", "notes")
SOURCE_IDS = ("keyed", "as_given")
CORNERS = ("x0", "y0", "x1", "y1")  # a box's keys in an index, in pixels of the image as decoded
TABLE_SUFFIXES = (".csv", ".tsv")  # index files read as tables (the separator is read from the header)
TEXT_KEYS = ("image", "text", "id", "patient_id", "split", "license", "view", "modality")  # an index row's text cells
DICOM_PREAMBLE = 128  # bytes before a DICOM file's "DICM"
# An index-less folder's inputs: the raster formats that annotators.imaging.raster reads, DICOM and NIfTI
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".jp2", ".pgm", ".ppm",
                  ".dcm", ".dicom", ".nii", ".nii.gz")


class Folder(Connector):
    name = "folder"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        index: str = "index.csv"  # .csv, .tsv or .jsonl, under root; "" for none: images paired with .txt reports
        license: str = "unknown"  # the licence of rows that state none
        report_style: str = "caption"
        source_ids: str = "keyed"  # keyed: a keyed hash of each row's id (or image path); as_given: verbatim

        def __post_init__(self):
            if self.report_style not in STYLES:
                raise ValueError(f"report_style must be one of {STYLES}, got {self.report_style!r}")
            if self.source_ids not in SOURCE_IDS:
                raise ValueError(f"source_ids must be one of {SOURCE_IDS}, got {self.source_ids!r}")
            if self.index and not self.index.lower().endswith((*TABLE_SUFFIXES, ".jsonl")):
                raise ValueError(f"index must be a .csv, .tsv or .jsonl file, or empty for none, got {self.index!r}")

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "folder root")
        if not self.options.index:
            yield from (self._paired_ref(image, report) for image, report in _image_files(root))
            return
        for line, row in enumerate(self._rows(root / self.options.index), start=1):
            yield self._ref(root, line, row)

    def _paired_ref(self, image: Path, report: Path | None) -> StudyRef:
        """An image of an index-less folder, with its report (None: there is none): the .txt of its name beside it,
        or its study folder's, which makes the folder its patient."""
        relative = image.relative_to(self.options.root).as_posix()
        shared = report is not None and report.stem != _stem(image.name)
        patient = image.parent.relative_to(self.options.root).as_posix() if shared else relative
        ref = StudyRef(
            source=self.source,
            source_id=self._published_id(relative),
            patient_key=self.patient_key(patient),
            license=self.options.license,
            image=str(image),
            report_path=str(report) if report else "",
            report_style=self.options.report_style,
        )
        return ref if ref.report_path else rejected(ref, "no_report", "no .txt report of its name beside the image")

    def _rows(self, path: Path) -> Iterator[dict]:
        if path.suffix.lower() in TABLE_SUFFIXES:
            yield from read_table(path, ("image", "text"), row_errors=True,
                                  optional=(*TEXT_KEYS[2:], "boxes")).iter_rows(named=True)
            return
        for line_number, line in enumerate(text_lines(path, "folder index"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:  # nested past the parser's depth
                row = {ROW_ERROR: f"line {line_number}: {exc}"}
            why = _not_text(row) if isinstance(row, dict) else "not an object"
            yield {ROW_ERROR: f"line {line_number}: {why}"} if why else row

    def _ref(self, root: Path, line: int, row: dict) -> StudyRef:
        image, text = _cell(row, "image"), str(row.get("text") or "")
        given_id = _cell(row, "id") or image or f"line-{line}"
        ref = StudyRef(
            source=self.source,
            source_id=self._published_id(given_id),
            patient_key=self.patient_key(_cell(row, "patient_id") or given_id),
            license=_cell(row, "license") or self.options.license,
            image=resolve(root, image),
            report="" if is_missing(text) else text,
            view=_cell(row, "view"),
            modality=_cell(row, "modality"),
            split=_cell(row, "split"),
            report_style=self.options.report_style,
        )
        if row.get(ROW_ERROR):
            return row_rejected(ref, str(row[ROW_ERROR]))
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


def _stem(name: str) -> str:
    """An image file's name less its image suffix (all of it when it has none: a DICOM file named IM000001)."""
    return name[: len(name) - len(_suffix(name))]


def _is_image(folder: str, name: str) -> bool:
    """An input of an index-less folder: a file with an image suffix, or a DICOM file by its preamble whatever its
    name (as CD and PACS exports name them: IM000001, 1.2.840...), but for DICOMDIR, the export's index."""
    if name.startswith(".") or name.lower().endswith(".txt"):
        return False
    if _suffix(name):
        return True
    if name.upper() == "DICOMDIR":
        return False
    try:
        with open(os.path.join(folder, name), "rb") as handle:
            return handle.read(DICOM_PREAMBLE + 4)[DICOM_PREAMBLE:] == b"DICM"
    except OSError:  # a file that cannot be opened is no input here (an indexed one would be a reject)
        return False


def _image_files(root: Path) -> list[tuple[Path, Path | None]]:
    """(image, its report or None) for the image files under `root` in a stable order, hidden files and folders left
    out (links not followed into folders; a linked file is refused later if it leads out of the root)."""
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        images = [name for name in files if _is_image(folder, name)]
        reports = _reports(files)
        study = _study_report(reports, images) if Path(folder) != root else None
        for name in images:
            report = reports.get(_stem(name), study)
            found.append((Path(folder) / name, Path(folder) / report if report else None))
    return sorted(found, key=lambda pair: pair[0].relative_to(root).as_posix())


def _study_report(reports: dict[str, str], images: list[str]) -> str | None:
    """A study folder's report: its only .txt file, when that is named after none of its images."""
    stems = {_stem(name) for name in images}
    return next(iter(reports.values())) if len(reports) == 1 and not stems & reports.keys() else None


def _reports(files: list[str]) -> dict[str, str]:
    """Stem -> the report file of that stem among `files`: `<stem>.txt`, else `<stem>.TXT` (the suffix in any case)."""
    found: dict[str, str] = {}
    for name in sorted(files, key=lambda name: (not name.endswith(".txt"), name)):
        if name.lower().endswith(".txt"):
            found.setdefault(name[:-4], name)
    return found


def _not_text(row: dict) -> str:
    """Why a JSONL row is refused for a cell that must be text or a number but holds an array or an object (kept, it
    would be its Python repr: a report "{'findings': ...}", an image path "['a.png']"); "" when none does."""
    key = next((key for key in TEXT_KEYS if isinstance(row.get(key), (list, dict))), None)
    return f"`{key}` is a JSON {'array' if isinstance(row[key], list) else 'object'}, not a text" if key else ""


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
        if isinstance(item, dict) and all(k in item for k in CORNERS):
            coords, name, frame = [item[k] for k in CORNERS], item.get("label"), item.get("frame")
        elif isinstance(item, list) and len(item) >= 4:
            coords, (name, frame) = item[:4], (item[4:6] + [None, None])[:2]
        else:
            raise ValueError(f"{str(item)[:80]} is not a box: an object with {', '.join(CORNERS)} (and label, frame) "
                             "or a list [x0, y0, x1, y1, label(, frame)]")
        values = [number(v) for v in coords]
        if None in values or values[2] <= values[0] or values[3] <= values[1]:
            raise ValueError(f"{coords} is not a box (x0 < x1, y0 < y1)")
        out.append(SourceBox(*values, _label(name, coords), _frame(frame, coords)))
    return distinct_boxes(out)


def _label(name, coords: list) -> str:
    """A box's label in the vocabulary: a name it does not know is "other", but a box must name something."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"box {coords} has no label name ({name!r})")
    return canonical_label(name)


def _frame(value, coords: list) -> int:
    """A box's frame: a whole number from -1 (a 2-D image, or every frame) up, None for -1; 2.0 is 2, but 1.5 or "2"
    is no frame."""
    if value is None:
        return -1
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or value < -1:
        raise ValueError(f"box {coords} has frame {value!r}, not a whole number from -1 up")
    return int(value)


CONNECTOR = Folder
