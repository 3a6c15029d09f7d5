"""CT-RATE (Hamamci et al. 2024, huggingface ibrahimhamamci/CT-RATE; layout of its dataset repository).

Volumes: `dataset/<train|valid>/<prefix>_<pid>/<prefix>_<pid>_<scan>/<prefix>_<pid>_<scan>_<recon>.nii.gz`, or
under `dataset/<train|valid>_fixed/` in the re-release whose headers were corrected (used when that folder exists;
the volume names are the same); the root may be the repository or its `dataset/` folder. A split whose volume
folder is in neither place is a layout error (set `splits:` to those downloaded); a volume missing from a folder is
rejected when decoded, so a partial download (the repository is terabytes) builds what it holds;
reports: `radiology_text_reports/{train,validation}_reports.csv` (VolumeName, ClinicalInformation_EN,
Technique_EN, Findings_EN, Impressions_EN); `metadata/{train,validation}_metadata.csv` (VolumeName,
RescaleSlope, RescaleIntercept, XYSpacing, ZSpacing, ...). The tables are read beside `dataset/` or, as the Hugging
Face repository keeps them, inside it (`dataset/radiology_text_reports/...`); the first release's reports came as
`.xlsx` sheets, which are not read (a layout error says so). A metadata table that is not there is
an error (`metadata: ""` keeps the volumes' own scaling instead), and a volume it gives no slope and intercept for
is a `no_metadata` reject. The first release's volumes store raw values: the
metadata's slope and intercept make them Hounsfield units (passed to the decoder as `rescale`, which a volume whose
header states its own scaling ignores). The re-release (`*_fixed`, "CT-RATE v2") holds Hounsfield units already,
whatever its headers say, so the metadata's scaling is not applied to it again (CT-CLIP issue #50: doing so shifts
every value by the intercept once more). The first release's headers lacked the spacing too, so the metadata's
XYSpacing (`[x, y]` in mm) goes with each volume as its slices' `pixel_spacing` (row, col). One row per volume
(reconstructions of one scan are separate rows); the patient key is `<prefix>_<pid>`. Report cells that say only NA,
NaN, None or null are empty; a row of either table with more fields than its header, or too few to hold a
required cell, is a `bad_index_row` reject.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, StudyRef
from connectors.tables import (
    ROW_ERROR,
    SourceLayoutError,
    number,
    read_table,
    rejected,
    require_dir,
    require_file,
    row_rejected,
)

LICENCE = "CC BY-NC-SA 4.0"
VOLUME = re.compile(r"^(?P<prefix>train|valid)_(?P<pid>\d+)_(?P<scan>[a-z]+)_(?P<recon>\d+)\.nii(?:\.gz)?$")
SECTIONS = (("ClinicalInformation_EN", "CLINICAL INFORMATION"), ("Technique_EN", "TECHNIQUE"),
            ("Findings_EN", "FINDINGS"), ("Impressions_EN", "IMPRESSION"))


ORIGINAL = "dataset/{prefix}"  # the first release's volume folder
FOLDERS = ("dataset/{prefix}_fixed", ORIGINAL, "{prefix}_fixed", "{prefix}")  # where a split's volumes lie: the
# re-release's first, under the repository or under its dataset/ folder given as the root
PREFIXES = {"train": "train", "validation": "valid"}  # a split's volume name prefix
TABLE_FOLDERS = ("", "dataset")  # where the reports and metadata tables lie under the root: beside or in dataset/
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")  # in XYSpacing's "[0.75, 0.75]"


@dataclass(frozen=True)
class VolumeMetadata:
    """What the metadata table states of one volume."""

    rescale: tuple[float, ...] = ()  # (slope, intercept) of the stored values; () when it states none
    pixel_spacing: tuple[float, ...] = ()  # (row, col) mm of a slice, from XYSpacing; () when it states none
    error: str = ""  # the volume's metadata row is malformed (ROW_ERROR)
    missing: str = ""  # why the table gives no scaling for the volume (a `no_metadata` reject); "" when it does


def volume_path(name: str, folder: str = ORIGINAL) -> str | None:
    """The volume's path under the root, from its VolumeName, in `folder` (a FOLDERS template); None when the name
    is not in CT-RATE's form."""
    match = VOLUME.match(name)
    if not match:
        return None
    patient = f"{match['prefix']}_{match['pid']}"
    return f"{folder.format(prefix=match['prefix'])}/{patient}/{patient}_{match['scan']}/{name}"


class CtRate(Connector):
    name = "ct_rate"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        splits: tuple[str, ...] = ("train", "validation")
        reports: str = "radiology_text_reports/{split}_reports.csv"
        metadata: str = "metadata/{split}_metadata.csv"  # "" to keep the volumes' own scaling

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "ct_rate root")
        requested = {PREFIXES.get(split, split) for split in self.options.splits}
        folders = {prefix: _folder(root, prefix, prefix in requested) for prefix in {*PREFIXES.values(), *requested}}
        for split in self.options.splits:
            reports = read_table(_table(root, self.options.reports.format(split=split)), ("VolumeName", "Findings_EN"),
                                 report_columns=[column for column, _ in SECTIONS], row_errors=True)
            metadata = self._metadata(root, split)
            for row in reports.sort("VolumeName").iter_rows(named=True):
                yield self._ref(root, split, row, _lookup(metadata, row["VolumeName"]), folders)

    def _ref(self, root: Path, split: str, row: dict, metadata: VolumeMetadata, folders: dict[str, str]
             ) -> StudyRef:
        name = row["VolumeName"]
        match = VOLUME.match(name)
        relative = volume_path(name, folders[match["prefix"]]) if match else None
        ref = StudyRef(
            source=self.source,
            source_id=name,
            patient_key=self.patient_key(f"{match['prefix']}_{match['pid']}" if match else name),
            license=LICENCE,
            image=str(root / relative) if relative else "",
            report="\n".join(f"{title}: {row[column]}" for column, title in SECTIONS if row.get(column)),
            modality="CT",
            view="axial",
            split=split,
            report_style="radiology",
        )
        if row[ROW_ERROR] or metadata.error:
            return row_rejected(ref, row[ROW_ERROR] or metadata.error)
        if relative is None:
            return rejected(ref, "bad_volume_name", f"{name!r} is not <train|valid>_<pid>_<scan>_<recon>.nii.gz")
        if not (row.get("Findings_EN") or row.get("Impressions_EN")):
            return rejected(ref, "empty_report", f"{name} has neither findings nor impressions")
        if folders[match["prefix"]].endswith("_fixed"):  # the re-release, in Hounsfield units already
            return replace(ref, pixel_spacing=metadata.pixel_spacing)
        if metadata.missing:
            return rejected(ref, "no_metadata", metadata.missing)
        return replace(ref, rescale=metadata.rescale, pixel_spacing=metadata.pixel_spacing)

    def _metadata(self, root: Path, split: str) -> dict[str, VolumeMetadata] | None:
        """VolumeName -> its scaling and spacing from the metadata table; None when the `metadata` option is "". A
        table that is missing is an error: without it the first release's raw values are no HU and miss the lung
        window."""
        if not self.options.metadata:
            return None
        path = require_file(_table(root, self.options.metadata.format(split=split)),
                            'ct_rate metadata (metadata: "" to keep the volumes\' own scaling)')
        table = read_table(path, ("VolumeName", "RescaleSlope", "RescaleIntercept"), row_errors=True)
        return {row["VolumeName"]: _volume_metadata(row) for row in table.iter_rows(named=True)}


def _volume_metadata(row: dict) -> VolumeMetadata:
    """One metadata row's scaling (both numbers, or none) and in-plane spacing (XYSpacing `[x, y]`, or none)."""
    slope, intercept = number(row["RescaleSlope"]), number(row["RescaleIntercept"])
    xy = [number(v) for v in NUMBER.findall(row.get("XYSpacing", ""))]
    scaled = slope is not None and intercept is not None
    return VolumeMetadata(
        rescale=(slope, intercept) if scaled else (),
        pixel_spacing=(xy[1], xy[0]) if len(xy) == 2 and None not in xy and min(xy) > 0 else (),
        error=row[ROW_ERROR],
        missing="" if scaled else f"{row['VolumeName']}: RescaleSlope or RescaleIntercept is no number",
    )


def _lookup(table: dict[str, VolumeMetadata] | None, name: str) -> VolumeMetadata:
    """The volume's metadata from `table` (None: none is read, the volumes' own scaling is kept)."""
    if table is None:
        return VolumeMetadata()
    return table.get(name) or VolumeMetadata(missing=f"{name} has no row in the metadata table")


def _table(root: Path, name: str) -> Path:
    """The table `name` (a path under the root) in the first of TABLE_FOLDERS that has it, else where it belongs; a
    layout error when only the first release's `.xlsx` sheet of that name is there."""
    found = next((root / f / name for f in TABLE_FOLDERS if (root / f / name).is_file()), None)
    sheet = next((path for f in TABLE_FOLDERS if (path := (root / f / name).with_suffix(".xlsx")).is_file()), None)
    if found is None and sheet is not None:
        raise SourceLayoutError(f"ct_rate: {sheet} is the first release's sheet, which is not read: download the "
                                f"current release's {Path(name).name} (or save the sheet as that CSV)")
    return found or root / name


def _folder(root: Path, prefix: str, required: bool) -> str:
    """The FOLDERS template that holds this root's `prefix` volumes (the first that exists); when none does, a layout
    error for a `required` split's, else ORIGINAL (a volume of another split that a table names is then rejected as
    missing when decoded)."""
    found = next((f for f in FOLDERS if (root / f.format(prefix=prefix)).is_dir()), None if required else ORIGINAL)
    if found is None:
        tried = ", ".join(f.format(prefix=prefix) for f in FOLDERS)
        raise SourceLayoutError(f"ct_rate: no {prefix} volumes under {root} (none of {tried}); set splits: to those "
                                "downloaded")
    return found


CONNECTOR = CtRate
