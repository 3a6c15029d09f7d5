"""MedPix 2.0 (Siragusa et al. 2025, github CHILab1/MedPix-2.0; layout of commit d3bc431).

`Descriptions.json` has one entry per image (`image`, `U_id` case, `Type` CT/MR, `Location Category` body region,
`Description` with `Caption`, `Plane`, `Modality`); `Case_topic.json` holds each case's history, findings and
diagnosis; `splitted_dataset/uid_list.json` splits cases (train / dev / test; train_1 and train_2 are parts of train);
images are `images/<image>.png`, each with a caption strip (its id, the uploader's name, a date) burned into its
bottom edge, which the decode stage cuts off. A row's text is its own caption followed by its case's text. MedPix
2.0 ships no licence file: its rows carry a research-only licence. The patient key is the case (one patient each).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, StudyRef
from connectors.tables import MALFORMED, FolderFiles, SourceLayoutError, is_missing, read_json, rejected, require_dir

LICENCE = "research-only (MedPix 2.0, U.S. National Library of Medicine MedPix; no licence file)"
SPLITS = ("train", "dev", "test")  # uid_list.json keys that partition the cases
CASE_FIELDS = (("History", "History"), ("Findings", "Findings"), ("Case Diagnosis", "Diagnosis"))
MODALITIES = {"CT": "CT", "MR": "MR"}
PLANES = {"transverse": "axial", "nos - not specified": "", "3d reconstruction": "3d"}
BODY_PARTS = {"thorax": "CHEST", "head": "HEAD", "abdomen": "ABDOMEN", "spine and muscles": "SPINE",
              "reproductive and urinary system": "PELVIS"}  # `Location Category` -> DICOM BodyPartExamined terms


class MedPix(Connector):
    name = "medpix"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        descriptions: str = "Descriptions.json"
        cases: str = "Case_topic.json"
        splits: str = "splitted_dataset/uid_list.json"  # "" to assign splits by patient key
        images: str = "images"
        cut_caption_strip: bool = True  # cut the caption strip (uploader's name, date) off every image

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "medpix root")
        entries = read_json(root / self.options.descriptions)
        if not isinstance(entries, list):
            raise SourceLayoutError(f"{root / self.options.descriptions}: expected a list of image entries")
        cases = {case.get("U_id"): case for case in read_json(root / self.options.cases) if isinstance(case, dict)}
        split_of = self._splits(root)
        images = FolderFiles(root / self.options.images)
        for index, entry in enumerate(entries):
            yield self._ref(root, entry if isinstance(entry, dict) else {}, index, cases, split_of, images)

    def _splits(self, root: Path) -> dict[str, str]:
        if not self.options.splits:
            return {}
        lists = read_json(root / self.options.splits)
        return {uid: split for split in SPLITS for uid in lists.get(split, [])}

    def _ref(self, root: Path, entry: dict, index: int, cases: dict, split_of: dict[str, str],
             images: FolderFiles) -> StudyRef:
        uid, image = _field(entry, "U_id"), _field(entry, "image")
        path = images.path(f"{image}.png")
        ref = StudyRef(source=self.source, source_id=image or f"{uid or 'entry'}#{index}",
                       patient_key=self.patient_key(uid), license=LICENCE, image=str(path), report_style="caption",
                       caption_strip=self.options.cut_caption_strip)
        if not image or not uid:
            return rejected(ref, "incomplete_entry", f"entry {index} has no image name or case id")
        try:
            description = entry.get("Description") or {}
            ref = replace(ref, report=_text(description, cases.get(uid)), view=_plane(_field(description, "Plane")),
                          modality=MODALITIES.get(_field(entry, "Type").upper(), _field(entry, "Type")),
                          body_part=BODY_PARTS.get(_field(entry, "Location Category").lower(), ""),
                          split=split_of.get(uid, ""))
        except MALFORMED as exc:
            return rejected(ref, "bad_entry", f"{image}: description or case malformed ({type(exc).__name__})")
        ref = self.contain(ref)  # before the file is looked at
        if not ref.reject and not path.is_file():
            return rejected(ref, "missing_image", f"{path.name} is not in {self.options.images}/")
        return ref


def _plane(plane: str) -> str:
    plane = plane.strip().lower()
    return PLANES.get(plane, plane)


def _text(description: dict, case: dict | None) -> str:
    """The image's caption, then its case's history, findings and diagnosis as "Label: text" paragraphs."""
    details = (case or {}).get("Case") or {}
    parts = [_field(description, "Caption")]
    parts += [f"{label}: {text}" for key, label in CASE_FIELDS if (text := _field(details, key))]
    return "\n\n".join(part for part in parts if part)


def _field(mapping: dict, key: str) -> str:
    """A text field of an entry: "" when absent, null or a missing-value word ("None", "NA")."""
    value = mapping.get(key)
    return "" if value is None or is_missing(str(value)) else str(value).strip()


CONNECTOR = MedPix
