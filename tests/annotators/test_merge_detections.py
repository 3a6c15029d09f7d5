"""Merging detector proposals into annotated regions."""
from __future__ import annotations

from annotators.regions import Region, frontal_lung_pair, merge_detections


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


def test_a_frontal_lung_pair_is_two_lungs_side_by_side_right_on_the_image_left():
    right, left = detection(0.1, 0.1, 0.48, 0.9, "right_lung"), detection(0.52, 0.12, 0.9, 0.88, "left_lung")
    assert frontal_lung_pair([right, left]) and frontal_lung_pair([left, right])
    assert not frontal_lung_pair([right]) and not frontal_lung_pair([])
    swapped = [detection(*left.box, "right_lung"), detection(*right.box, "left_lung")]
    assert not frontal_lung_pair(swapped)  # sides against the radiological convention
    overlapping = [right, detection(0.2, 0.1, 0.7, 0.9, "left_lung")]  # a lateral film's lungs overlap
    assert not frontal_lung_pair(overlapping)
    stacked = [detection(0.1, 0.05, 0.48, 0.4, "right_lung"), detection(0.52, 0.5, 0.9, 0.95, "left_lung")]
    assert not frontal_lung_pair(stacked)
