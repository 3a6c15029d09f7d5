"""Assembling a shard row from a decoded row, its parsed report and its alignment links."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Sequence

from annotators.align import Link
from annotators.regions import Region
from annotators.reports import ParsedReport
from connectors.base import StudyRef
from schemas.record import SPLITS

_SPLIT_NAMES = {"train": "train", "training": "train", "validate": "validation", "validation": "validation",
                "val": "validation", "valid": "validation", "dev": "validation", "test": "test", "testing": "test"}


@dataclass(frozen=True)
class Provenance:
    pipeline_version: str
    config_sha256: str


HELD_OUT_FIRST = ("test", "validation", "train")


def one_split_per_patient(refs: Sequence[StudyRef]) -> list[StudyRef]:
    """`refs` (of one source) with one split per patient, as the source states it: a row without a split of its own
    takes the split the patient's other rows state (the most held-out one, where they state several), and a row
    whose stated split differs from that is a reject `split_conflict` (a patient on both sides of a split leaks
    between them)."""
    stated: dict[str, set[str]] = defaultdict(set)
    for ref in refs:
        if not ref.reject and (named := _SPLIT_NAMES.get(ref.split.strip().lower())):
            stated[ref.patient_key].add(named)
    out = []
    for ref in refs:
        splits = stated.get(ref.patient_key)
        if ref.reject or not splits:
            out.append(ref)
            continue
        chosen = next(split for split in HELD_OUT_FIRST if split in splits)
        own = _SPLIT_NAMES.get(ref.split.strip().lower())
        if own and own != chosen:
            ref = replace(ref, reject="split_conflict", detail=f"the source puts this patient's images in "
                          f"{', '.join(sorted(splits))}: a patient belongs in one split (kept: {chosen})")
        out.append(ref if own else replace(ref, split=chosen))
    return out


def assign_split(patient_key: str, source_split: str, validation: float, test: float) -> str:
    """The source's own split when it gives one, else a fixed draw from the patient key (same patient, same split)."""
    named = _SPLIT_NAMES.get(source_split.strip().lower())
    if named:
        return named
    draw = int(hashlib.sha256(patient_key.encode()).hexdigest()[:12], 16) / 16**12
    return "test" if draw < test else "validation" if draw < test + validation else "train"


def region_rows(regions: Sequence[Region], parsed: ParsedReport, links: Sequence[Link]) -> list[dict]:
    """Regions with the texts of the descriptions aligned to them (joined) and their best score."""
    rows = []
    for index, region in enumerate(regions):
        linked = [(parsed.descriptions[l.description].text, l.score) for l in links if l.region == index]
        rows.append(
            {
                "box": list(region.box),
                "label": region.label,
                "origin": region.origin,
                "score": region.score,
                "text": " ".join(dict.fromkeys(text for text, _ in linked)),
                "align_score": max((score for _, score in linked), default=0.0),
            }
        )
    return rows


def description_rows(parsed: ParsedReport, links: Sequence[Link]) -> list[dict]:
    by_description = {l.description: l for l in links}
    rows = []
    for index, desc in enumerate(parsed.descriptions):
        link = by_description.get(index)
        rows.append(
            {
                "text": desc.text,
                "label": desc.label,
                "laterality": desc.laterality,
                "zone": desc.zone,
                "region": link.region if link else -1,
                "align_score": link.score if link and link.region >= 0 else 0.0,
            }
        )
    return rows


def assemble(decoded: dict, image_png: bytes, phash: str, regions: Sequence[Region], parsed: ParsedReport,
             links: Sequence[Link], split: str, provenance: Provenance) -> dict:
    """The shard row (schemas.record.features() columns) of one decoded image."""
    assert split in SPLITS, split
    return {
        "id": decoded["id"],
        "source": decoded["source"],
        "source_id": decoded["source_id"],
        "patient_key": decoded["patient_key"],
        "split": split,
        "modality": decoded["modality"],
        "view": decoded["view"],
        "image": {"bytes": image_png, "path": f"{decoded['id']}.png"},
        "width": decoded["width"],
        "height": decoded["height"],
        "orig_width": decoded["orig_width"],
        "orig_height": decoded["orig_height"],
        "acquisition": {
            "body_part": decoded["body_part"],
            "pixel_spacing": decoded["pixel_spacing"] or [],
            "frame": decoded["frame"],
        },
        "report": {"findings": parsed.findings, "impression": parsed.impression, "other": parsed.other,
                   "truncated": parsed.truncated},
        "global_text": parsed.global_text,
        "regions": region_rows(regions, parsed, links),
        "descriptions": description_rows(parsed, links),
        "negatives": list(parsed.negatives),
        "license": decoded["license"],
        "phash": phash,
        "provenance": {
            "input_sha256": decoded["input_sha256"],
            "pipeline_version": provenance.pipeline_version,
            "config_sha256": provenance.config_sha256,
        },
    }
