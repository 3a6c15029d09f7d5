"""Per-lung boxes from lung masks: the components' sides, specks ignored, and the real lungVAE masks against the
collection's COCO lung boxes where an image has both."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotators.lung_masks import lung_boxes
from annotators.regions import iou

COVID = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "covid-chestxray"


def test_the_image_left_lung_is_the_patient_right_and_specks_are_ignored():
    mask = np.zeros((100, 120), np.uint8)
    mask[10:90, 70:110] = 255  # image right: the patient's left lung
    mask[15:80, 10:50] = 255
    mask[95:97, 55:57] = 255  # a speck
    assert lung_boxes(mask) == [(10, 15, 50, 80, "right_lung"), (70, 10, 110, 90, "left_lung")]


@pytest.mark.parametrize("blobs", [1, 3])
def test_a_mask_that_is_not_two_lungs_gives_no_boxes(blobs):
    mask = np.zeros((60, 200), np.uint8)
    for index in range(blobs):
        mask[10:50, 10 + 60 * index : 50 + 60 * index] = 1
    assert lung_boxes(mask) == []
    assert lung_boxes(np.zeros((10, 10), np.uint8)) == []


def test_lungs_of_very_different_heights_give_no_boxes():
    mask = np.zeros((100, 120), np.uint8)
    mask[10:90, 70:110] = 255
    mask[10:70, 10:50] = 255  # 60 rows against 80: the segmenter lost this lung's base
    assert lung_boxes(mask) == []
    mask[70:75, 10:50] = 255  # 65 against 80: within MIN_HEIGHT_RATIO
    assert [label for *_, label in lung_boxes(mask)] == ["right_lung", "left_lung"]


# lungVAE masks that lost most of a lung's base (checked by eye against their films): no boxes from them.
SHORT_LUNG = {"16660_3_1_mask.png", "covid-19-pneumonia-40_mask.png",
              "covid-19-pneumonia-progression-and-regression-day24_mask.png",
              "covid-19-rapidly-progressive-acute-respiratory-distress-syndrome-ards-day-1_mask.png"}


@pytest.mark.skipif(not COVID.is_dir(), reason="../shared/data/real is not beside this checkout")
def test_real_masks_agree_with_the_coco_lung_boxes():
    """Each lungVAE mask is the lung mask of its own image (same size), and where the COCO file boxes the same
    image, the mask's lungs overlap the boxed ones (same side) at IoU >= 0.65, 0.85 on average."""
    coco = json.loads((COVID / "annotations" / "imageannotation_ai_lung_bounding_boxes.json").read_text())
    images = {i["id"]: i for i in coco["images"]}
    names = {1: "right_lung", 2: "left_lung"}
    boxed: dict[str, dict] = {}
    for note in coco["annotations"]:
        if note["bbox"]:
            x, y, w, h = note["bbox"]
            image = images[note["image_id"]]
            boxed.setdefault(image["file_name"], {})[names[note["category_id"]]] = (x, y, x + w, y + h, image)
    files = {p.stem: p for p in (COVID / "images").iterdir()}
    overlaps = []
    for mask_path in sorted((COVID / "annotations" / "lungVAE-masks").glob("*_mask.png")):
        image_path = files[mask_path.name.removesuffix("_mask.png")]
        mask = np.asarray(Image.open(mask_path).convert("L"))
        width, height = Image.open(image_path).size
        assert mask.shape == (height, width), mask_path.name
        lungs = lung_boxes(mask)
        expected = [] if mask_path.name in SHORT_LUNG else ["right_lung", "left_lung"]
        assert [label for *_, label in lungs] == expected, mask_path.name
        for *box, label in lungs if image_path.name in boxed else ():
            x0, y0, x1, y1, declared = boxed[image_path.name][label]
            sx, sy = width / declared["width"], height / declared["height"]
            overlaps.append(iou(tuple(box), (x0 * sx, y0 * sy, x1 * sx, y1 * sy)))
    assert len(overlaps) >= 50
    assert min(overlaps) >= 0.65 and np.mean(overlaps) >= 0.85, overlaps
