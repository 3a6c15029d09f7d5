"""Per-lung boxes from a lung segmentation mask (e.g. covid-chestxray's lungVAE masks).

A mask of a frontal film holds the two lungs as its two large connected components; the one on the image's left
is the patient's right lung (PA/AP films, and axial/coronal slices in radiological convention). Specks below
MIN_COMPONENT_SHARE of the mask are ignored; a mask that does not show exactly two lungs side by side gives no
boxes, nor does one whose lungs differ in height by more than MIN_HEIGHT_RATIO allows: a segmenter that lost one
lung's base in an opaque film (4 of covid-chestxray's 67 lungVAE masks, checked by eye) would box its upper part
as the whole lung.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from annotators.regions import Region, frontal_lung_pair

MIN_COMPONENT_SHARE = 0.1  # a lung holds at least this share of the mask's pixels (specks are far below)
MIN_HEIGHT_RATIO = 0.8  # the shorter lung's height over the taller's, at least


def lung_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int, str]]:
    """[(x0, y0, x1, y1, label)] in mask pixels (x1, y1 exclusive), right lung first; [] when not two lungs."""
    inside = np.asarray(mask) > (np.max(mask) / 2 if np.max(mask) > 0 else 0)
    labelled, count = ndimage.label(inside)
    if count < 2:
        return []
    sizes = ndimage.sum(inside, labelled, range(1, count + 1))
    lungs = [s for s, size in zip(ndimage.find_objects(labelled), sizes) if size >= MIN_COMPONENT_SHARE * inside.sum()]
    if len(lungs) != 2:
        return []
    (right, left) = sorted(lungs, key=lambda s: s[1].start + s[1].stop)  # image left = patient right
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop, label) for s, label in ((right, "right_lung"),
                                                                                   (left, "left_lung"))]
    height, width = inside.shape
    if not frontal_lung_pair([Region(x0 / width, y0 / height, x1 / width, y1 / height, label)
                              for x0, y0, x1, y1, label in boxes]):
        return []
    heights = sorted(box[3] - box[1] for box in boxes)
    return boxes if heights[0] >= MIN_HEIGHT_RATIO * heights[1] else []
