"""ROI recall: the share of true boxes that some proposed region covers at an IoU threshold.

Images are keyed by (source_id, frame). True boxes come from the sample's `truth.jsonl` rows (or any rows of
that shape); proposals from shard records or straight from a detector.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from annotators.regions import Region, iou

ImageKey = tuple[str, int]  # (source_id, frame)


@dataclass(frozen=True)
class RoiRecall:
    recalled: int
    total: int  # true boxes on the images that were evaluated
    images: int  # images evaluated
    missing: int  # images with true boxes but no proposals entry (no record): not evaluated
    by_label: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (recalled, total)

    @property
    def recall(self) -> float:
        return self.recalled / self.total if self.total else 0.0


def truth_regions(rows: Iterable[dict], annotated: bool | None = False) -> dict[ImageKey, list[Region]]:
    """True boxes per image from truth.jsonl rows (broken inputs left out); by default only the studies
    that the source does not annotate, the ones the detector has to find boxes on."""
    return {
        (row["source_id"], row["frame"]): [Region(*r["box"], label=r["label"]) for r in row["regions"]]
        for row in rows
        if not row.get("broken") and (annotated is None or row["annotated"] == annotated)
    }


def record_regions(records: Iterable[dict], origin: str | None = "detector") -> dict[ImageKey, list[Region]]:
    """Regions per image from shard records (`box` lists), only those of `origin` unless it is None."""
    return {
        (record["source_id"], record["acquisition"]["frame"]): [
            Region(*r["box"], label=r["label"], origin=r["origin"], score=r["score"])
            for r in record["regions"]
            if origin is None or r["origin"] == origin
        ]
        for record in records
    }


def roi_recall(
    predicted: Mapping[ImageKey, list[Region]],
    truth: Mapping[ImageKey, list[Region]],
    iou_threshold: float = 0.5,
    match_label: bool = False,
) -> RoiRecall:
    """How many true boxes have a proposal at IoU >= `iou_threshold` (of the same label if `match_label`)."""
    counts: dict[str, list[int]] = {}
    images = missing = 0
    for key, boxes in truth.items():
        if key not in predicted:
            missing += bool(boxes)
            continue
        images += 1
        for box in boxes:
            hit = any(
                iou(box.box, p.box) >= iou_threshold and (not match_label or p.label == box.label)
                for p in predicted[key]
            )
            tally = counts.setdefault(box.label, [0, 0])
            tally[0] += hit
            tally[1] += 1
    by_label = {label: (hits, total) for label, (hits, total) in sorted(counts.items())}
    recalled = sum(hits for hits, _ in by_label.values())
    total = sum(total for _, total in by_label.values())
    return RoiRecall(recalled, total, images, missing, by_label)
