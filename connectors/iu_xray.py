"""Open-i Indiana University chest X-ray collection (Demner-Fushman et al. 2016; the NLM Open-i download).

`ecgen-radiology/<n>.xml`: one report each, `AbstractText` elements labelled COMPARISON, INDICATION,
FINDINGS and IMPRESSION, one `parentImage id="CXR<n>_<k>_IM-...."` per image; images are
`NLMCXR_png/<id>.png`. A report becomes one row per image it names (once, however often it names it; text
"LABEL: text" lines, style "iu_xray"); the collection names no patients, so the report (one study of one patient)
is the patient key.
Reports without images or without findings and impression are rejects.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, StudyRef
from connectors.tables import rejected, require_dir

LICENCE = "CC BY-NC-ND 4.0"
SECTIONS = ("INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")
CC_CODES = {"by": "CC BY 4.0", "bync": "CC BY-NC 4.0", "byncnd": "CC BY-NC-ND 4.0", "byncsa": "CC BY-NC-SA 4.0",
            "bynd": "CC BY-ND 4.0", "bysa": "CC BY-SA 4.0"}


class IuXray(Connector):
    name = "iu_xray"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        reports: str = "ecgen-radiology"
        images: str = "NLMCXR_png"

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "iu_xray root")
        reports = require_dir(root / self.options.reports, "iu_xray reports")
        for path in sorted(p for p in reports.iterdir() if p.suffix.lower() == ".xml" and p.is_file()):
            yield from self._report_refs(root, path)

    def _report_refs(self, root: Path, path: Path) -> Iterator[StudyRef]:
        base = StudyRef(source=self.source, source_id=f"report-{path.stem}", patient_key=self.patient_key(path.stem),
                        license=LICENCE, report_style="iu_xray")
        try:
            tree = ET.parse(path).getroot()
        except ET.ParseError as exc:
            yield rejected(base, "corrupt_report", f"{path.name}: {exc}")
            return
        sections = {s: " ".join((e.text or "").split()) for e in tree.iter("AbstractText")
                    if (s := (e.get("Label") or "").upper()) in SECTIONS}
        code = (tree.findtext(".//ccLicense") or "").strip().lower()
        base = replace(base, license=CC_CODES.get(code, LICENCE),
                       report="\n".join(f"{s}: {sections[s]}" for s in SECTIONS if sections.get(s)))
        images = list(dict.fromkeys(e.get("id") for e in tree.iter("parentImage") if e.get("id")))  # once each
        if not images:
            yield rejected(base, "no_image", f"{path.name} lists no parentImage")
            return
        has_text = bool(sections.get("FINDINGS") or sections.get("IMPRESSION"))
        for image in images:
            ref = replace(base, source_id=image, image=str(root / self.options.images / f"{image}.png"))
            yield ref if has_text else rejected(ref, "no_findings", f"{path.name} has neither FINDINGS nor IMPRESSION")


CONNECTOR = IuXray
