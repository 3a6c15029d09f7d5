"""Right and left lung boxes on chest CT slices (axial or coronal), from the image alone, without a model.

On a CT slice shown in a lung or a soft-tissue window the aerated lungs are the two large dark areas inside the
bright body; the air outside the body is dark too but touches the image border. So: smooth, threshold at
Otsu's level, drop dark areas that touch the border, and keep the two largest of the rest when they look like a
pair of lungs: each a plausible share of the image, side by side, at about the same height, much darker than
the tissue around them. Anything else (one merged area, a head or an abdomen slice, a figure panel without a
body outline) gives no box: a missing lung box costs a link, a wrong one misleads the model.

In axial and coronal slices as radiology shows them, the patient's right is on the image's left: the left one
of the pair is `right_lung`. The score is 1: the boxes are exact for the mask, and a pair that fails a check is
not proposed at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from annotators.regions import Region, frontal_lung_pair
from schemas.labels import ANATOMY


@dataclass(frozen=True)
class PairChecks:
    """What two dark areas must satisfy to be taken as the lungs (areas as shares of the image)."""

    min_area: float = 0.03  # each lung
    max_area: float = 0.40
    max_ratio: float = 4.0  # the larger lung's area over the smaller's
    min_span: float = 0.35  # the pair's width over the image's
    min_vertical_overlap: float = 0.5  # shared height over the shorter lung's height
    max_horizontal_overlap: float = 0.15  # shared width over the narrower lung's width
    max_darkness: float = 0.6  # the lungs' mean grey over the mean grey of the body around them


class LungFields:
    """The `Detector` interface (`labels`, `predict`) for CT lung fields: a list of greyscale images in, a list
    of `Region`s per image out (two, or none)."""

    labels = ANATOMY  # (right_lung, left_lung)

    def __init__(self, checks: PairChecks = PairChecks(), work_side: int = 256):
        self.checks = checks
        self.work_side = work_side

    def predict(self, images: Sequence[np.ndarray]) -> list[list[Region]]:
        return [lung_boxes(image, self.checks, self.work_side) for image in images]


def lung_boxes(image: np.ndarray, checks: PairChecks = PairChecks(), work_side: int = 256) -> list[Region]:
    """[right_lung, left_lung] boxes of one greyscale slice (normalised), or [] when no lung pair is found."""
    if image.ndim != 2 or min(image.shape) < 16:
        return []
    height, width = image.shape
    scale = work_side / max(height, width)
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else image
    small = cv2.GaussianBlur(small, (5, 5), 0)
    body = ~_outside(_dark(small, np.ones(small.shape, bool)))
    if not body.any():
        return []
    dark = _dark(small, body) & body  # the threshold again within the body: a black frame or inset skews the first
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=4)
    h, w = dark.shape
    inner = [k for k in range(1, count) if _inside(stats[k], w, h)]
    inner.sort(key=lambda k: -stats[k, cv2.CC_STAT_AREA])
    if len(inner) < 2:
        return []
    first, second = sorted(inner[:2], key=lambda k: stats[k, cv2.CC_STAT_LEFT])
    pair = [_region(stats[k], w, h, label) for k, label in zip((first, second), ANATOMY)]
    if not (frontal_lung_pair(pair, checks.max_horizontal_overlap, checks.min_vertical_overlap)
            and _is_pair(small, labels, stats, first, second, checks)):
        return []
    return pair


def _dark(image: np.ndarray, within: np.ndarray) -> np.ndarray:
    """Pixels below Otsu's level of the pixels `within`, opened by a 3x3 square (thin dark lines dropped)."""
    level, _ = cv2.threshold(image[within].reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = (image <= level).astype(np.uint8)
    return cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)


def _outside(dark: np.ndarray) -> np.ndarray:
    """The dark areas that touch the image border: the air around the body."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=4)
    h, w = dark.shape
    touching = [k for k in range(1, count) if not _inside(stats[k], w, h)]
    return np.isin(labels, touching)


def _inside(stat: np.ndarray, width: int, height: int) -> bool:
    x, y, w, h = (int(stat[i]) for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    return x > 0 and y > 0 and x + w < width and y + h < height


def _is_pair(image: np.ndarray, labels: np.ndarray, stats: np.ndarray, a: int, b: int, checks: PairChecks) -> bool:
    """The checks of size, span and darkness (side by side at one height is `frontal_lung_pair`'s)."""
    h, w = labels.shape
    areas = [stats[k, cv2.CC_STAT_AREA] / (w * h) for k in (a, b)]
    if not all(checks.min_area <= area <= checks.max_area for area in areas):
        return False
    if max(areas) / min(areas) > checks.max_ratio:
        return False
    ax0, ay0, ax1, ay1 = _corners(stats[a])
    bx0, by0, bx1, by1 = _corners(stats[b])
    if (max(ax1, bx1) - min(ax0, bx0)) / w < checks.min_span:
        return False
    lungs = np.isin(labels, (a, b))
    x0, y0, x1, y1 = min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)
    around = ~lungs[y0:y1, x0:x1] & (labels[y0:y1, x0:x1] == 0)  # the bright tissue within the pair's box
    if not around.any():
        return False
    tissue = float(image[y0:y1, x0:x1][around].mean())
    return tissue > 0 and float(image[lungs].mean()) / tissue <= checks.max_darkness


def _corners(stat: np.ndarray) -> tuple[int, int, int, int]:
    x, y = int(stat[cv2.CC_STAT_LEFT]), int(stat[cv2.CC_STAT_TOP])
    return x, y, x + int(stat[cv2.CC_STAT_WIDTH]), y + int(stat[cv2.CC_STAT_HEIGHT])


def _region(stat: np.ndarray, width: int, height: int, label: str) -> Region:
    x0, y0, x1, y1 = _corners(stat)
    return Region(x0 / width, y0 / height, x1 / width, y1 / height, label, origin="detector", score=1.0)
