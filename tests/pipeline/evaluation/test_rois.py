"""ROI recall against true boxes."""
from __future__ import annotations

import pytest

from annotators.regions import Region
from pipeline.evaluation.rois import box_match, record_regions, roi_recall, truth_regions

TRUTH_ROWS = [
    {"source_id": "S1", "frame": -1, "annotated": False, "broken": None,
     "regions": [{"label": "nodule", "box": [0.1, 0.1, 0.2, 0.2]}, {"label": "mass", "box": [0.5, 0.5, 0.8, 0.8]}]},
    {"source_id": "S2", "frame": -1, "annotated": True, "broken": None,
     "regions": [{"label": "mass", "box": [0.5, 0.5, 0.8, 0.8]}]},
    {"source_id": "S3", "frame": -1, "annotated": False, "broken": "truncated_png", "regions": []},
    {"source_id": "S4", "frame": -1, "annotated": False, "broken": None,
     "regions": [{"label": "effusion", "box": [0.6, 0.6, 0.9, 0.9]}]},
]


def record(source_id, *regions):
    return {"source_id": source_id, "acquisition": {"frame": -1}, "regions": list(regions)}


def region(box, label="nodule", origin="detector", score=0.8):
    return {"box": box, "label": label, "origin": origin, "score": score}


def test_truth_selects_unannotated_unbroken_studies():
    assert set(truth_regions(TRUTH_ROWS)) == {("S1", -1), ("S4", -1)}
    assert set(truth_regions(TRUTH_ROWS, annotated=None)) == {("S1", -1), ("S2", -1), ("S4", -1)}


def test_recall_counts_boxes_covered_at_the_threshold():
    records = [
        record("S1", region([0.1, 0.1, 0.2, 0.2]), region([0.5, 0.5, 0.8, 0.8], origin="annotation")),
        record("S2", region([0.5, 0.5, 0.8, 0.8], label="mass")),
    ]
    truth = truth_regions(TRUTH_ROWS)
    result = roi_recall(record_regions(records), truth)
    # S1: the nodule is found; the mass is covered only by an annotation, which is not a proposal. S4: no record.
    assert (result.recalled, result.total, result.images, result.missing) == (1, 2, 1, 1)
    assert result.recall == 0.5
    assert result.by_label == {"mass": (0, 1), "nodule": (1, 1)}
    everything = roi_recall(record_regions(records, origin=None), truth)
    assert everything.recall == 1.0


@pytest.mark.parametrize("shift, hit", [(0.02, True), (0.06, False)])
def test_iou_threshold_and_label_matching(shift, hit):
    truth = {("S", -1): [Region(0.1, 0.1, 0.3, 0.3, "nodule")]}
    predicted = {("S", -1): [Region(0.1 + shift, 0.1, 0.3 + shift, 0.3, "mass", origin="detector")]}
    assert roi_recall(predicted, truth, 0.6).recalled == hit
    assert roi_recall(predicted, truth, 0.6, match_label=True).recalled == 0


def test_box_match_is_one_to_one_per_label_with_mean_iou():
    truth = {("A", -1): [Region(0.0, 0.0, 0.4, 1.0, "right_lung"), Region(0.6, 0.0, 1.0, 1.0, "left_lung")],
             ("B", -1): [Region(0.0, 0.0, 0.4, 1.0, "right_lung")]}
    predicted = {("A", -1): [Region(0.0, 0.0, 0.4, 0.8, "right_lung", score=0.9),  # IoU 0.8
                             Region(0.0, 0.0, 0.4, 1.0, "right_lung", score=0.5),  # a second box for one lung
                             Region(0.6, 0.0, 1.0, 1.0, "right_lung", score=0.7)],  # the wrong label
                 ("B", -1): []}
    loose, strict = box_match(predicted, truth, 0.5), box_match(predicted, truth, 0.85)
    assert (loose.true_boxes, loose.proposals, loose.matched) == (3, 3, 1)
    assert loose.recall == pytest.approx(1 / 3) and loose.precision == pytest.approx(1 / 3)
    assert loose.mean_iou == pytest.approx((1.0 + 0.0 + 0.0) / 3)  # best same-label IoU per true box
    assert strict.matched == 1  # the best-scored box does not overlap enough; the second one takes the lung

