"""MIMIC-CXR 2.x (DICOM) and MIMIC-CXR-JPG 2.x (PhysioNet; layouts of releases 2.0.0 / 2.1.0).

Images: `files/p<first two digits>/p<subject_id>/s<study_id>/<dicom_id>.dcm` (or `.jpg` in MIMIC-CXR-JPG);
reports: `files/p../p<subject_id>/s<study_id>.txt`, one per study, with a FINAL REPORT header and "___" where
identifiers were removed, read from `mimic-cxr-reports.zip` in `reports_root`, kept zipped, when it holds the study's
(MIMIC-CXR-JPG ships no reports: many copies hold that zip alone; each study's member is read once and no file is
looked for), else under `reports_root` as `wget -r` of MIMIC-CXR leaves them or under
`reports_root/mimic-cxr-reports/` (the zip unpacked into a folder of its name). The image list comes from
`mimic-cxr-2.0.0-metadata.csv(.gz)` (dicom_id, subject_id, study_id, ViewPosition, ...; MIMIC-CXR-JPG 2.0.0, and
2.1.0 keeps the 2.0.0 names) or, for the DICOM release alone, `cxr-record-list.csv(.gz)` (subject_id, study_id,
dicom_id, path); the split from `mimic-cxr-2.0.0-split.csv(.gz)` (train / validate / test). Both tables are read
into polars (377,110 rows); an image whose row in either has more fields than the header, or that the split table
puts in two splits, is a `bad_index_row` reject (a split row repeated as it is counts once). Images are not checked
one by one here (nor report files, unless both report folders are there): the decode stage rejects a missing image
or report, so a partial download (MIMIC-CXR-JPG's IMAGE_FILENAMES lets one fetch a subset) builds what it holds.
"""
from __future__ import annotations

import re
import zipfile
import zlib
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import polars as pl

from annotators.report_text import MARKUP_BYTES, ReportText, report_text
from connectors.base import Connector, StudyRef
from connectors.tables import (
    ROW_ERROR,
    SourceLayoutError,
    first_existing,
    read_table,
    rejected,
    require_dir,
    row_rejected,
)

LICENCE = "PhysioNet Credentialed Health Data License 1.5.0"
INDEXES = ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-metadata.csv", "cxr-record-list.csv.gz",
           "cxr-record-list.csv")
SPLITS = ("mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv")
KEYS = ("dicom_id", "subject_id", "study_id")
REPORTS_ZIP = "mimic-cxr-reports.zip"  # MIMIC-CXR 2.0.0 / 2.1.0: every report, as PhysioNet ships them
REPORT_FOLDERS = ("", "mimic-cxr-reports")  # where `files/` with the reports lies under reports_root
ZIPPED_REPORT = re.compile(r"(?:^|/)(files/p\d+/p\d+/s\d+\.txt)$")  # a member, whatever folder the zip nests it in


def study_folder(subject_id: str, study_id: str) -> str:
    """files/pXX/pNNNNNNNN/sNNNNNNNN, relative to a MIMIC-CXR(-JPG) root."""
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}"


class MimicCxr(Connector):
    name = "mimic_cxr"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        images: str = "jpg"  # "jpg" (MIMIC-CXR-JPG) or "dcm" (MIMIC-CXR)
        reports_root: str = ""  # the folder whose files/ holds the report .txt files; "" = root
        index: str = ""  # the image table under root; "" = the first of INDEXES that exists
        split: str = ""  # the split table under root; "" = the first of SPLITS that exists (none: by patient)
        # Keep only these ViewPositions (e.g. PA, AP), as the index states them; others become rejects. The DICOM
        # release's record list states none: give `index:` MIMIC-CXR-JPG's metadata table, which lists its images.
        views: tuple[str, ...] = ()

        def __post_init__(self):
            if self.images not in ("jpg", "dcm"):
                raise ValueError(f"images must be jpg or dcm, got {self.images!r}")

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "mimic_cxr root")
        views = {v.upper() for v in self.options.views}
        with ExitStack() as stack:
            reports = Reports(Path(self.options.reports_root or root), stack)
            for row in self.table(root).iter_rows(named=True):
                yield self._ref(root, row, reports, views)

    def _ref(self, root: Path, row: dict, reports: "Reports", views: set[str]) -> StudyRef:
        folder = study_folder(row["subject_id"], row["study_id"])
        view = row.get("ViewPosition", "")
        ref = StudyRef(
            source=self.source,
            source_id=row["dicom_id"],
            patient_key=self.patient_key(row["subject_id"]),
            license=LICENCE,
            image=str(root / folder / f"{row['dicom_id']}.{self.options.images}"),
            view=view,
            split=row.get("split", ""),
            report_style="radiology",
        )
        if row[ROW_ERROR]:
            return row_rejected(ref, row[ROW_ERROR])
        if views and view.upper() not in views:
            return rejected(ref, "view_excluded", f"ViewPosition {view or '(blank)'} is not in {sorted(views)}")
        report_path, zipped = reports.find(folder)  # a refused row's report is not looked for (nor unzipped)
        if zipped and zipped.reject:  # a member that is no text: the reason the decode stage gives a file's
            return rejected(ref, zipped.reject, f"{REPORTS_ZIP}: {zipped.detail}")
        if zipped:
            return replace(ref, report=zipped.text, report_truncated=zipped.truncated)
        return replace(ref, report_path=report_path)

    def table(self, root: Path) -> pl.DataFrame:
        """The image list joined to the split, sorted by dicom_id (polars: the metadata has 377k rows); ROW_ERROR
        says what is wrong with an image's row in either table."""
        index = root / self.options.index if self.options.index else first_existing(root, INDEXES)
        if index is None:
            raise SourceLayoutError(f"mimic_cxr: none of {INDEXES} under {root}")
        images = read_table(index, KEYS, row_errors=True)
        if self.options.views and "ViewPosition" not in images.columns:
            raise SourceLayoutError(
                f"mimic_cxr: views: keeps images by the index's ViewPosition, and {index.name} has no such column (the "
                "DICOM release's record list); set index: to MIMIC-CXR-JPG's mimic-cxr-2.0.0-metadata.csv.gz, which "
                "lists the same dicom_ids with their ViewPosition, or leave views: out")
        split = root / self.options.split if self.options.split else first_existing(root, SPLITS)
        if split is not None:
            splits = read_table(split, KEYS + ("split",), row_errors=True)
            images = _with_splits(images, _one_row_each(splits, split.name))
        return images.sort("dicom_id")


class Reports:
    """Where each study's report is: its text from REPORTS_ZIP in the reports folder when that holds it, else its file
    under the first of REPORT_FOLDERS that has it (looked for only when both are there), else where it belongs (the
    decode stage rejects it as missing). Each study is looked up once: its images share the answer."""

    def __init__(self, base: Path, stack: ExitStack):
        self.folders = [base / sub for sub in REPORT_FOLDERS if (base / sub / "files").is_dir()] or [base]
        archive = base / REPORTS_ZIP
        self.zip = stack.enter_context(_open_zip(archive)) if archive.is_file() else None
        self.members = _report_members(self.zip) if self.zip else {}
        self.found: dict[str, tuple[str, ReportText | None]] = {}

    def find(self, folder: str) -> tuple[str, ReportText | None]:
        """(report path, None) or ("", the zipped report's text) for the study folder `folder`
        (files/pXX/p<subject>/s<study>)."""
        if folder not in self.found:
            self.found[folder] = self._find(folder)
        return self.found[folder]

    def _find(self, folder: str) -> tuple[str, ReportText | None]:
        member = self.members.get(f"{folder}.txt")
        if member:
            return "", self._zipped(member)
        paths = [f"{base / folder}.txt" for base in self.folders]
        return next((path for path in paths if len(paths) > 1 and Path(path).is_file()), paths[0]), None

    def _zipped(self, member: str) -> ReportText:
        try:
            with self.zip.open(member) as file:  # no further than a report file is ever read (a zip bomb's member)
                return report_text(file.read(MARKUP_BYTES + 1))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise SourceLayoutError(f"mimic_cxr: {REPORTS_ZIP} is damaged at {member} ({exc})") from None


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceLayoutError(f"mimic_cxr: {path} is not a readable zip file ({exc})") from None


def _report_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """files/pXX/p<subject>/s<study>.txt -> its member name, whatever folder the zip puts `files/` in (and with
    Windows separators, as a zip made again on Windows writes them)."""
    members = {}
    for name in archive.namelist():
        match = ZIPPED_REPORT.search(name.replace("\\", "/"))
        if match:
            members[match.group(1)] = name
    return members


def _one_row_each(splits: pl.DataFrame, name: str) -> pl.DataFrame:
    """The split table with one row per dicom_id (joined as it is, a repeated one would list its image twice): a
    repeated row counts once, and an image it puts in several splits has a ROW_ERROR that names them."""
    stated = pl.col("split").filter(pl.col("split") != "").unique(maintain_order=True)
    grouped = splits.group_by("dicom_id", maintain_order=True).agg(stated, pl.col(ROW_ERROR).max())  # "" sorts first
    conflict = pl.format("{} puts {} in {}", pl.lit(name), pl.col("dicom_id"), pl.col("split").list.join(" and "))
    error = pl.when(pl.col(ROW_ERROR) != "").then(pl.col(ROW_ERROR)).when(pl.col("split").list.len() > 1).then(conflict)
    return grouped.select("dicom_id", pl.col("split").list.first(), error.otherwise(pl.lit("")).alias(ROW_ERROR))


def _with_splits(images: pl.DataFrame, splits: pl.DataFrame) -> pl.DataFrame:
    """`images` with their split ("" where the split table has none), and the ROW_ERROR of an image's split row where
    its own row has none."""
    joined = images.join(splits.select("dicom_id", "split", pl.col(ROW_ERROR).alias("split_error")), on="dicom_id",
                         how="left")
    error = pl.when(pl.col(ROW_ERROR) == "").then(pl.col("split_error")).otherwise(pl.col(ROW_ERROR))
    return joined.with_columns(pl.col("split").fill_null(""), error.fill_null("").alias(ROW_ERROR)).drop("split_error")


CONNECTOR = MimicCxr
