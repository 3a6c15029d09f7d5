"""Regions of interest: the typed box every annotator shares, and box geometry."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from schemas.labels import ANATOMY


@dataclass(frozen=True)
class Region:
    """A box normalised to [0, 1] as (x0, y0, x1, y1) in image coordinates (x to the right, y down)."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str
    origin: str = "annotation"  # one of schemas.record.ORIGINS: annotation | detector | derived
    score: float = 1.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def to_row(self) -> dict:
        return asdict(self)


def normalise_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> tuple[float, ...] | None:
    """Pixel box -> [0, 1] box, clipped to the image; None when nothing of it is inside or it has no area."""
    nx0, nx1 = sorted((x0 / width, x1 / width))
    ny0, ny1 = sorted((y0 / height, y1 / height))
    nx0, ny0 = max(0.0, nx0), max(0.0, ny0)
    nx1, ny1 = min(1.0, nx1), min(1.0, ny1)
    if nx1 <= nx0 or ny1 <= ny0:
        return None
    return (nx0, ny0, nx1, ny1)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def merge_detections(
    annotated: list[Region], detected: list[Region], iou_threshold: float, min_score: float = 0.0
) -> list[Region]:
    """Annotated boxes as they are, then detector boxes that survive the score threshold, per-label NMS, and
    overlap no annotated box of the same label (IoU at or above `iou_threshold` counts as overlap)."""
    kept: list[Region] = list(annotated)
    for region in sorted(detected, key=lambda r: r.score, reverse=True):
        if region.score < min_score:
            continue
        if all(other.label != region.label or iou(other.box, region.box) < iou_threshold for other in kept):
            kept.append(region)
    return kept


def best_per_label(regions: list[Region]) -> list[Region]:
    """The best-scoring region of each label, best first (for detectors of things an image has one of)."""
    best: dict[str, Region] = {}
    for region in sorted(regions, key=lambda r: r.score, reverse=True):
        best.setdefault(region.label, region)
    return list(best.values())


def frontal_lung_pair(regions: list[Region], max_overlap: float = 0.25, min_shared_height: float = 0.5) -> bool:
    """Whether `regions` hold a right and a left lung as a frontal chest image shows them: side by side (sharing
    at most `max_overlap` of the narrower one's width and at least `min_shared_height` of the shorter one's
    height), the patient's right on the image's left. A lateral film's lungs overlap: it never passes."""
    lungs = {r.label: r for r in regions}
    right, left = (lungs.get(label) for label in ANATOMY)
    if right is None or left is None or (right.x0 + right.x1) >= (left.x0 + left.x1):
        return False
    shared_width = max(0.0, min(right.x1, left.x1) - max(right.x0, left.x0))
    shared_height = max(0.0, min(right.y1, left.y1) - max(right.y0, left.y0))
    return (shared_width <= max_overlap * min(right.x1 - right.x0, left.x1 - left.x0)
            and shared_height >= min_shared_height * min(right.y1 - right.y0, left.y1 - left.y0))
