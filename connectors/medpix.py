"""MedPix 2.0 (Siragusa et al. 2025, github CHILab1/MedPix-2.0; layout of commit d3bc431).

`Descriptions.json` has one entry per image (`image`, `U_id` case, `Type` CT/MR, `Description` with `Caption`,
`Plane`, `Modality`); `Case_topic.json` holds each case's history, findings and diagnosis;
`splitted_dataset/uid_list.json` splits cases (train / dev / test; train_1 and train_2 are parts of train);
images are `images/<image>.png`. A row's text is its own caption followed by its case's text. MedPix 2.0
ships no licence file: its rows carry a research-only licence. The patient key is the case (one patient each).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, StudyRef
from connectors.tables import SourceLayoutError, read_json, rejected, require_dir

LICENCE = "research-only (MedPix 2.0, U.S. National Library of Medicine MedPix; no licence file)"
SPLITS = ("train", "dev", "test")  # uid_list.json keys that partition the cases
CASE_FIELDS = (("History", "History"), ("Findings", "Findings"), ("Case Diagnosis", "Diagnosis"))
MODALITIES = {"CT": "CT", "MR": "MR"}
PLANES = {"transverse": "axial", "nos - not specified": "", "3d reconstruction": "3d"}


class MedPix(Connector):
    name = "medpix"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        descriptions: str = "Descriptions.json"
        cases: str = "Case_topic.json"
        splits: str = "splitted_dataset/uid_list.json"  # "" to assign splits by patient key
        images: str = "images"

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "medpix root")
        entries = read_json(root / self.options.descriptions)
        if not isinstance(entries, list):
            raise SourceLayoutError(f"{root / self.options.descriptions}: expected a list of image entries")
        cases = {case.get("U_id"): case for case in read_json(root / self.options.cases)}
        split_of = self._splits(root)
        for entry in entries:
            yield self._ref(root, entry, cases.get(entry.get("U_id")), split_of)

    def _splits(self, root: Path) -> dict[str, str]:
        if not self.options.splits:
            return {}
        lists = read_json(root / self.options.splits)
        return {uid: split for split in SPLITS for uid in lists.get(split, [])}

    def _ref(self, root: Path, entry: dict, case: dict | None, split_of: dict[str, str]) -> StudyRef:
        description = entry.get("Description") or {}
        uid, image = str(entry.get("U_id") or ""), str(entry.get("image") or "")
        path = root / self.options.images / f"{image}.png"
        ref = StudyRef(
            source=self.source,
            source_id=image or f"{uid}#unnamed",
            patient_key=self.patient_key(uid),
            license=LICENCE,
            image=str(path),
            report=_text(description, case),
            view=_plane(str(description.get("Plane") or "")),
            modality=MODALITIES.get(str(entry.get("Type") or "").upper(), str(entry.get("Type") or "")),
            split=split_of.get(uid, ""),
            report_style="caption",
        )
        if not image or not uid:
            return rejected(ref, "incomplete_entry", "the description has no image name or case id")
        ref = self.contain(ref)  # before the file is looked at
        if not ref.reject and not path.is_file():
            return rejected(ref, "missing_image", f"{path.name} is not in {self.options.images}/")
        return ref


def _plane(plane: str) -> str:
    plane = plane.strip().lower()
    return PLANES.get(plane, plane)


def _text(description: dict, case: dict | None) -> str:
    """The image's caption, then its case's history, findings and diagnosis as "Label: text" paragraphs."""
    parts = [str(description.get("Caption") or "").strip()]
    details = (case or {}).get("Case") or {}
    parts += [f"{label}: {str(details.get(key) or '').strip()}" for key, label in CASE_FIELDS if details.get(key)]
    return "\n\n".join(part for part in parts if part)


CONNECTOR = MedPix
