"""Region-level descriptions <-> regions, each link with a score in [0, 1].

A description and a finding box match by label (same finding, or a related one for less), by side (the box's
patient side from the view: on PA/AP films and axial/coronal slices the patient's right is on the image's left;
a lateral or sagittal view tells no side) and by zone (the box centre's height inside the lung field: the union
of the anatomy boxes when the source has them, else a typical frontal lung field; an axial slice's height runs
front to back, so there a zone is not scored). Finding boxes are assigned one
description each, maximising the total score: they keep priority.

A description left without a finding box is grounded in the lung boxes (the source's, or the anatomy detector's),
in the spirit of Chest ImaGenome: its side picks that lung, "bilateral" (or a zone without a side) both lungs, and
so does a lung finding stated without a side as diffuse or many ("multiple nodules", "scattered consolidation") or
diffuse by nature (interstitial lung disease); a stated zone ("right lower zone", "left apex", "bases") picks the
matching third of that box's height (upper, middle, lower), except on an axial slice, where the zone is the
slice's level and the whole lung is taken. A lung part other than a whole lung is a new region of origin "derived"
(label from `schemas.labels.lung_part_label`, score the lungs' lowest), added once per image and shared by the
descriptions that name it. A description about a place outside the lung fields is not grounded. Below MIN_SCORE a
description stays unaligned (region -1): kept and flagged, never forced.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from annotators.lexicon import ZONES, load_lexicon
from annotators.regions import Region
from annotators.reports import Description
from schemas.labels import ANATOMY, BOTH_LUNGS, lung_part_label

MIN_SCORE = 0.5
ANATOMY_LINK_SCORE = 0.6  # a lung box is coarse: a sided description fits it, but less than a finding box
UNCERTAIN_FACTOR = 0.9
RELATED_LABEL_SCORE = 0.6
GENERIC_LABEL_SCORE = 0.5  # "lesion" / "other" against any focal finding
RELATED_LABELS = (
    frozenset({"opacity", "consolidation", "infiltration", "edema", "atelectasis"}),
    frozenset({"nodule", "mass", "lesion", "calcification"}),
    frozenset({"effusion", "pleural_thickening"}),
    frozenset({"ild", "fibrosis", "infiltration"}),
    frozenset({"cardiomegaly", "aortic_enlargement"}),
)
GENERIC_LABELS = frozenset({"lesion", "other"})
FOCAL_LABELS = frozenset({"nodule", "mass", "lesion", "consolidation", "opacity", "calcification", "other"})
# Side scores: same side, description without a side, bilateral description, box without a side (central or
# unknown view) against a sided description; opposite sides score 0.
SIDE_UNSTATED, SIDE_BILATERAL, SIDE_UNKNOWN = 0.85, 0.8, 0.6
ZONE_UNSTATED, ZONE_FLOOR, ZONE_SLOPE = 0.9, 0.1, 2.5
# A frontal chest film's lung field when no anatomy box gives it (x0, y0, x1, y1), from the covid_chestxray lung
# boxes (median top 0.08, bottom 0.90) and the sample radiographs (apex 0.08-0.13, bases 0.72-0.80).
DEFAULT_LUNG_FIELD = (0.05, 0.08, 0.95, 0.85)
# A lung finding without a side lies in both lungs when it is one of these, or said to be diffuse or many.
PARENCHYMAL_LABELS = frozenset({"nodule", "mass", "lesion", "consolidation", "opacity", "infiltration", "edema",
                                "atelectasis", "fibrosis", "emphysema", "calcification", "ild"})
DIFFUSE_LABELS = frozenset({"ild"})
DIFFUSE_WORDS = frozenset({"diffuse", "diffusely", "diffused", "multifocal", "multiple", "numerous", "scattered",
                           "widespread", "innumerable", "disseminated"})
NO_SIDE_VIEWS = ("L", "LL", "RL", "LAT", "LATERAL", "SAGITTAL", "XTABLE LATERAL")
AXIAL_VIEWS = ("AXIAL", "AX", "TRANSVERSE", "TRANSAXIAL")  # by first word
CENTRAL_MARGIN = 0.1  # a box reaching this far (fraction of the field width) past the midline on both sides


@dataclass(frozen=True)
class Link:
    description: int
    region: int  # index into the regions; -1 when unaligned
    score: float


@dataclass(frozen=True)
class Alignment:
    regions: tuple[Region, ...]  # the regions given, then the lung parts derived for the links
    links: list[Link]  # one per description, in order


@dataclass(frozen=True)
class _Field:
    box: tuple[float, float, float, float]
    midline: float
    sides_known: bool
    heights_are_zones: bool  # the image's vertical runs head to foot (not on an axial slice)


def side_known(view: str) -> bool:
    """Whether a box's horizontal position tells the patient's side in this view."""
    view = view.strip().upper()
    return not (view in NO_SIDE_VIEWS or "LAT" in view or "SAG" in view)


def _field(regions: Sequence[Region], view: str) -> _Field:
    lungs = {r.label: r for r in regions if r.label in ANATOMY}
    vertical = (view.strip().upper().split() or [""])[0] not in AXIAL_VIEWS
    if not lungs:
        box = DEFAULT_LUNG_FIELD
        return _Field(box, (box[0] + box[2]) / 2, side_known(view), vertical)
    box = (min(r.x0 for r in lungs.values()), min(r.y0 for r in lungs.values()),
           max(r.x1 for r in lungs.values()), max(r.y1 for r in lungs.values()))
    edges = sorted(x for r in lungs.values() for x in (r.x0, r.x1))
    midline = (edges[1] + edges[2]) / 2 if len(lungs) == 2 else (box[0] + box[2]) / 2  # between the two lungs
    return _Field(box, midline, side_known(view), vertical)


def box_side(region: Region, regions: Sequence[Region], view: str) -> str:
    """The patient side `region` lies on in an image with `regions` seen in `view` ("" when none is told)."""
    return region_side(region, _field(regions, view))


def region_side(region: Region, field: _Field) -> str:
    """The patient side a box lies on ("" when the view tells none or the box straddles the midline)."""
    if not field.sides_known:
        return ""
    margin = CENTRAL_MARGIN * (field.box[2] - field.box[0])
    if region.x0 < field.midline - margin and region.x1 > field.midline + margin:
        return ""
    return "right" if (region.x0 + region.x1) / 2 < field.midline else "left"


def _zone_score(zone: str, region: Region, field: _Field) -> float:
    """1 when the box centre is in a stated zone, falling off with the distance to the nearest stated zone."""
    if not zone or not field.heights_are_zones:
        return ZONE_UNSTATED
    top, bottom = field.box[1], field.box[3]
    p = ((region.y0 + region.y1) / 2 - top) / max(bottom - top, 1e-6)
    centres = [(ZONES.index(z) + 0.5) / len(ZONES) for z in zone.split(",") if z in ZONES]
    if not centres:
        return ZONE_UNSTATED
    distance = min(abs(p - c) for c in centres)
    return float(np.clip(1 - max(0.0, distance - 0.5 / len(ZONES)) * ZONE_SLOPE, ZONE_FLOOR, 1.0))


def _label_score(described: str, boxed: str) -> float:
    if described == boxed:
        return 1.0
    if any(described in family and boxed in family for family in RELATED_LABELS):
        return RELATED_LABEL_SCORE
    if {described, boxed} & GENERIC_LABELS and {described, boxed} <= FOCAL_LABELS:
        return GENERIC_LABEL_SCORE
    return 0.0


def _side_score(described: str, boxed: str) -> float:
    if not described:
        return SIDE_UNSTATED
    if described == "bilateral":
        return SIDE_BILATERAL
    if not boxed:
        return SIDE_UNKNOWN
    return 1.0 if described == boxed else 0.0


def match_score(description: Description, region: Region, field: _Field) -> float:
    """How well a description fits a finding box, in [0, 1]."""
    score = _label_score(description.label, region.label)
    if score:
        score *= _side_score(description.laterality, region_side(region, field))
        score *= _zone_score(description.zone, region, field)
    return score * (UNCERTAIN_FACTOR if description.uncertain else 1.0)


def _diffuse(description: Description) -> bool:
    """Whether a lung finding is diffuse by nature or said to be diffuse or many ("multiple nodules")."""
    words = set(re.findall(r"[a-z]+", description.text.lower()))
    label = description.label
    return label in PARENCHYMAL_LABELS and (label in DIFFUSE_LABELS or bool(words & DIFFUSE_WORDS))


def _lung_part(description: Description, lungs: dict[str, Region], field: _Field) -> Region | None:
    """The lung box, or the part of one (or of both), that a description without a finding box names."""
    elsewhere = description.anatomy and description.anatomy not in load_lexicon().lung_field_anatomy
    zones = [ZONES.index(z) for z in description.zone.split(",") if z in ZONES]
    if zones and not field.heights_are_zones:
        zones = list(range(len(ZONES)))  # stated, but not a height on this slice: the whole lung
    side = description.laterality or ("bilateral" if _diffuse(description) else "")
    if elsewhere or not (side or zones):
        return None
    names = [f"{side}_lung"] if side in ("left", "right") else list(ANATOMY)
    if not all(name in lungs for name in names):
        return None
    parts = [lungs[name] for name in names]
    first, last = (min(zones), max(zones)) if zones else (0, len(ZONES) - 1)
    span = ZONES[first : last + 1] if (first, last) != (0, len(ZONES) - 1) else ()
    if len(parts) == 1 and not span:
        return parts[0]
    x0, y0 = min(p.x0 for p in parts), min(p.y0 for p in parts)
    x1, y1 = max(p.x1 for p in parts), max(p.y1 for p in parts)
    third = (y1 - y0) / len(ZONES)
    label = lung_part_label(names[0] if len(parts) == 1 else BOTH_LUNGS, span)
    return Region(x0, y0 + first * third, x1, y0 + (last + 1) * third, label, origin="derived",
                  score=min(p.score for p in parts))


def align(descriptions: Sequence[Description], regions: Sequence[Region], view: str) -> Alignment:
    """One link per description, in order (region -1 where nothing fits well enough), and the regions they
    index: `regions`, then the lung parts derived for them."""
    field = _field(regions, view)
    findings = [i for i, r in enumerate(regions) if r.label not in ANATOMY]
    chosen: dict[int, tuple[int, float]] = {}
    if descriptions and findings:
        scores = np.array([[match_score(d, regions[j], field) for j in findings] for d in descriptions])
        scores[scores < MIN_SCORE] = 0.0  # a weak pair must not win the assignment over a good one
        for di, fi in zip(*linear_sum_assignment(scores, maximize=True)):
            if scores[di, fi] >= MIN_SCORE:
                chosen[int(di)] = (findings[fi], float(scores[di, fi]))
    out = list(regions)
    lungs: dict[str, Region] = {}
    for region in regions:
        if region.label in ANATOMY:
            lungs.setdefault(region.label, region)
    links = []
    for di, description in enumerate(descriptions):
        if di in chosen:
            region, score = chosen[di]
        else:
            region, score = _ground(description, lungs, field, out)
        links.append(Link(di, region, round(score, 4)) if score >= MIN_SCORE else Link(di, -1, 0.0))
    return Alignment(tuple(out), links)


def _ground(description: Description, lungs: dict[str, Region], field: _Field,
            regions: list[Region]) -> tuple[int, float]:
    """The index of the lung part `description` names (appended to `regions` when new) and the link's score."""
    part = _lung_part(description, lungs, field)
    if part is None:
        return -1, 0.0
    if part not in regions:
        regions.append(part)
    return regions.index(part), ANATOMY_LINK_SCORE * (UNCERTAIN_FACTOR if description.uncertain else 1.0)
