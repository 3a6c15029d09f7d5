"""Merging detector proposals into annotated regions."""
from __future__ import annotations

from annotators.regions import Region, merge_detections


def detection(x0, y0, x1, y1, label="nodule", score=0.9):
    return Region(x0, y0, x1, y1, label, origin="detector", score=score)


def test_annotations_are_kept_and_covered_detections_dropped():
    annotated = [Region(0.1, 0.1, 0.3, 0.3, "nodule")]
    detected = [
        detection(0.11, 0.1, 0.31, 0.3),  # same label over the annotation: dropped
        detection(0.11, 0.1, 0.31, 0.3, label="mass"),  # other label: added
        detection(0.6, 0.6, 0.8, 0.8),  # elsewhere: added
    ]
    merged = merge_detections(annotated, detected, iou_threshold=0.5)
    assert merged[0] == annotated[0]
    assert merged[1:] == [detected[1], detected[2]]


def test_nms_and_score_threshold_among_detections():
    weak = detection(0.5, 0.5, 0.7, 0.7, score=0.4)
    strong = detection(0.51, 0.5, 0.71, 0.7, score=0.8)
    low = detection(0.0, 0.0, 0.1, 0.1, score=0.1)
    merged = merge_detections([], [weak, low, strong], iou_threshold=0.5, min_score=0.25)
    assert merged == [strong]
    # below the IoU threshold both survive, best score first
    apart = detection(0.6, 0.6, 0.8, 0.8, score=0.5)
    assert merge_detections([], [apart, strong], iou_threshold=0.5) == [strong, apart]
