"""Open-i Indiana University chest X-ray collection (Demner-Fushman et al. 2016; the NLM Open-i download), or its
Kaggle re-packaging (raddar/chest-xrays-indiana-university).

Open-i: `ecgen-radiology/<n>.xml` (NLMCXR_reports.tgz): one report each, `AbstractText` elements labelled
COMPARISON, INDICATION, FINDINGS and IMPRESSION, one `parentImage id="CXR<n>_<k>_IM-...."` per image; images are
`<id>.png` from NLMCXR_png.tgz, in `NLMCXR_png/` or, as the archive unpacks in place, beside `ecgen-radiology/`.
Kaggle: `indiana_reports.csv` (uid, MeSH, Problems, image, indication, comparison, findings, impression) and
`indiana_projections.csv` (uid, filename, projection), images `images/images_normalized/<filename>` (named
`<uid>_IM-....dcm.png`: their id is the name less `.dcm.png`, as Open-i's `CXR<n>_<k>_` prefix cannot be
recovered from it). Used when there is no `ecgen-radiology/` and `indiana_reports.csv` is there.
A report becomes one row per image it names (once, however often it names it; text "LABEL: text" lines, style
"iu_xray"); the collection names no patients, so the report (one study of one patient; its number is the Kaggle
uid) is the patient key. Reports without images or without findings and impression are rejects, and so are
Kaggle images whose uid has no report. Images are found by name whatever the case of their suffix (`.PNG`). An
image folder without a single PNG is a layout error; a missing image among others is rejected when decoded, so a
partial download builds what it holds.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

from connectors.base import Connector, StudyRef
from connectors.tables import FolderFiles, SourceLayoutError, read_table, rejected, require_dir

LICENCE = "CC BY-NC-ND 4.0"
SECTIONS = ("INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")
CC_CODES = {"by": "CC BY 4.0", "bync": "CC BY-NC 4.0", "byncnd": "CC BY-NC-ND 4.0", "byncsa": "CC BY-NC-SA 4.0",
            "bynd": "CC BY-ND 4.0", "bysa": "CC BY-SA 4.0"}
OPENI_IMAGES = ("NLMCXR_png", "")  # NLMCXR_png.tgz unpacked into a folder of its name, or in place
KAGGLE_REPORTS, KAGGLE_PROJECTIONS = "indiana_reports.csv", "indiana_projections.csv"
KAGGLE_IMAGES = ("images/images_normalized", "images")
KAGGLE_SUFFIX = ".dcm.png"  # the Kaggle images' names: the Open-i DICOM's name, then .png


class IuXray(Connector):
    name = "iu_xray"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        reports: str = "ecgen-radiology"
        images: str = ""  # the image folder under root; "" = the first of the layout's usual folders with PNGs

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "iu_xray root")
        if not (root / self.options.reports).is_dir() and (root / KAGGLE_REPORTS).is_file():
            yield from self._kaggle_refs(root, self._images(root, KAGGLE_IMAGES))
            return
        reports = require_dir(root / self.options.reports, f"iu_xray reports (or Kaggle's {KAGGLE_REPORTS})")
        images = self._images(root, OPENI_IMAGES)
        for path in sorted(p for p in reports.iterdir() if p.suffix.lower() == ".xml" and p.is_file()):
            yield from self._report_refs(images, path)

    def _images(self, root: Path, folders: tuple[str, ...]) -> FolderFiles:
        """The PNGs of the `images` folder, or of the first of `folders` that holds any; a layout error when none
        does."""
        if self.options.images:
            return FolderFiles(require_dir(root / self.options.images, "iu_xray images"), (".png",))
        found = next((images for folder in folders if (images := FolderFiles(root / folder, (".png",)))), None)
        if found is None:
            names = " or ".join(f"{root / folder}" for folder in folders)
            raise SourceLayoutError(f"iu_xray: no PNG image in {names}; set images: to the folder that holds them")
        return found

    def _report_refs(self, images: FolderFiles, path: Path) -> Iterator[StudyRef]:
        base = self._base(path.stem)
        try:
            tree = ET.parse(path).getroot()
        except ET.ParseError as exc:
            yield rejected(base, "corrupt_report", f"{path.name}: {exc}")
            return
        sections = {s: e.text or "" for e in tree.iter("AbstractText") if (s := (e.get("Label") or "").upper())}
        code = (tree.findtext(".//ccLicense") or "").strip().lower()
        base = replace(base, license=CC_CODES.get(code, LICENCE))
        named = (e.get("id") for e in tree.iter("parentImage") if e.get("id"))
        yield from _study_refs(base, sections, [(i, images.path(f"{i}.png")) for i in named], path.name)

    def _kaggle_refs(self, root: Path, images: FolderFiles) -> Iterator[StudyRef]:
        """Kaggle's re-packaging: a report row per study, its images from the projections table."""
        reports = read_table(root / KAGGLE_REPORTS, ("uid", "findings", "impression"),
                             report_columns=[s.lower() for s in SECTIONS])
        projections = read_table(root / KAGGLE_PROJECTIONS, ("uid", "filename"))
        files: dict[str, list[str]] = {}
        for uid, name in zip(projections["uid"], projections["filename"]):
            files.setdefault(uid, []).append(name)
        for row in reports.iter_rows(named=True):
            named = [(_kaggle_id(name), images.path(name)) for name in files.pop(row["uid"], [])]
            sections = {s: row.get(s.lower(), "") for s in SECTIONS}
            yield from _study_refs(self._base(row["uid"]), sections, named, f"{KAGGLE_REPORTS} uid {row['uid']}")
        for uid, names in files.items():  # images of a study the reports table does not have
            for name in names:
                ref = replace(self._base(uid), source_id=_kaggle_id(name), image=str(images.path(name)))
                yield rejected(ref, "no_report", f"{KAGGLE_PROJECTIONS} names uid {uid}, which {KAGGLE_REPORTS} lacks")

    def _base(self, study: str) -> StudyRef:
        """A row of the study `study` (an XML report's number, or the Kaggle uid) before its text and image."""
        return StudyRef(source=self.source, source_id=f"report-{study}", patient_key=self.patient_key(study),
                        license=LICENCE, report_style="iu_xray")


def _study_refs(base: StudyRef, sections: dict[str, str], images: Iterable[tuple[str, Path]],
                where: str) -> Iterator[StudyRef]:
    """One row per image (id, path) of a study, each once, with the study's report; a reject for a study without
    images, and rows refused for one without findings and impression."""
    sections = {s: " ".join(sections.get(s, "").split()) for s in SECTIONS}
    base = replace(base, report="\n".join(f"{s}: {sections[s]}" for s in SECTIONS if sections[s]))
    images = dict(images)  # once each, in order
    if not images:
        yield rejected(base, "no_image", f"{where} lists no image")
        return
    has_text = bool(sections["FINDINGS"] or sections["IMPRESSION"])
    for image, path in images.items():
        ref = replace(base, source_id=image, image=str(path))
        yield ref if has_text else rejected(ref, "no_findings", f"{where} has neither FINDINGS nor IMPRESSION")


def _kaggle_id(name: str) -> str:
    """A Kaggle image's id: its file name less `.dcm.png` (or its suffix)."""
    return name[: -len(KAGGLE_SUFFIX)] if name.lower().endswith(KAGGLE_SUFFIX) else os.path.splitext(name)[0]


CONNECTOR = IuXray
