"""Lesions painted into a `Chest`, each returning the tight box of what it drew.

Focal lesions (nodule, mass, consolidation) are placed at random inside the asked lung zone, away from the
heart and from earlier lesions; pleural ones (effusion, pneumothorax) follow the lung outline; cardiomegaly is
the heart itself, enlarged when the chest is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connectors.sample.chest import VISIBLE, Chest, Lung
from connectors.sample.plan import LesionSpec
from connectors.sample.raster import box_of, boxes_overlap, ramp, smooth_noise

ZONE_BANDS = {"upper": (0.08, 0.3), "middle": (0.38, 0.6), "lower": (0.66, 0.84)}  # fractions apex -> base
PLACEMENT_TRIES = 30


@dataclass(frozen=True)
class Finding:
    """A rendered lesion and its tight pixel box (x0, y0, x1, y1), ends exclusive."""

    label: str
    side: str
    zone: str
    box: tuple[int, int, int, int]
    grade: str = ""  # small | moderate | mild, for pleural findings and cardiomegaly


def paint(chest: Chest, lesions: tuple[LesionSpec, ...], rng: np.random.Generator) -> list[Finding]:
    """Paint `lesions` (cardiomegaly first, then pleural, then focal); those that find no room are skipped."""
    order = {"cardiomegaly": 0, "effusion": 1, "pneumothorax": 1}
    findings: list[Finding] = []
    for lesion in sorted(lesions, key=lambda x: order.get(x.label, 2)):
        taken = [f.box for f in findings if f.label != "cardiomegaly"]
        if lesion.label == "cardiomegaly":
            finding = _cardiomegaly(chest)
        elif lesion.label == "effusion":
            finding = _effusion(chest, chest.lungs[lesion.side], rng)
        elif lesion.label == "pneumothorax":
            finding = _pneumothorax(chest, chest.lungs[lesion.side], rng)
        else:
            finding = _focal(chest, lesion, rng, taken)
        if finding is not None:
            findings.append(finding)
    return findings


def _cardiomegaly(chest: Chest) -> Finding | None:
    box = chest.heart_box
    grade = "moderate" if chest.heart_half_width > 0.215 else "mild"
    return None if box is None else Finding("cardiomegaly", "", "", box, grade)


def _effusion(chest: Chest, lung: Lung, rng: np.random.Generator) -> Finding | None:
    """Basal opacity with a meniscus rising towards the lateral wall, hiding the costophrenic angle."""
    level = rng.uniform(0.72, 0.9)
    meniscus = lung.row_of(level) - rng.uniform(0.05, 0.1) * lung.t * lung.t
    height = chest.shape[0]
    region = _visible(lung.mask * ramp((lung.v - meniscus) * height, 2.5))
    hidden = 1 - 0.85 * chest.heart[:, lung.cols]
    chest.density[:, lung.cols] += region * (0.30 * hidden + 0.03)
    chest.marking_weight[:, lung.cols] *= 1 - region
    return _finding("effusion", lung, "lower", region > 0, "small" if level > 0.8 else "moderate")


def _pneumothorax(chest: Chest, lung: Lung, rng: np.random.Generator) -> Finding | None:
    """A lucent rim without lung markings along the apex and lateral wall, bounded by a thin pleural line."""
    depth, rim = rng.uniform(0.35, 0.6), rng.uniform(0.05, 0.09) * chest.shape[1]
    reach = np.clip(1 - (lung.v - lung.apex) / (depth * (lung.base - lung.apex)), 0, 1)
    width = rim * np.sqrt(reach)
    wall = np.minimum(lung.lateral_margin, lung.apical_margin)
    region = _visible(lung.mask * ramp(width - wall, 1.5) * (width > 1))
    line = _visible(lung.mask * np.clip(1.5 - np.abs(wall - width), 0, 1) * (width > 2))
    chest.density[:, lung.cols] += 0.15 * line - 0.11 * region
    chest.marking_weight[:, lung.cols] *= 1 - region
    grade = "small" if rim < 0.07 * chest.shape[1] else "moderate"
    return _finding("pneumothorax", lung, "upper", (region > 0) | (line > 0), grade)


def _visible(layer: np.ndarray) -> np.ndarray:
    """`layer` without its faint fringe (below VISIBLE), so that its box holds everything it changes."""
    layer[layer < VISIBLE] = 0
    return layer


def _finding(label: str, lung: Lung, zone: str, mask: np.ndarray, grade: str) -> Finding | None:
    box = box_of(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return Finding(label, lung.side, zone, (x0 + lung.cols.start, y0, x1 + lung.cols.start, y1), grade)


def _focal(chest: Chest, lesion: LesionSpec, rng: np.random.Generator, taken: list) -> Finding | None:
    """A nodule, mass or consolidation in the asked zone, clear of the heart and of earlier boxes."""
    lung = chest.lungs[lesion.side]
    height, width = chest.shape
    lo, hi = ZONE_BANDS[lesion.zone]
    for _ in range(PLACEMENT_TRIES):
        row = min(height - 1, int(lung.row_of(rng.uniform(lo, hi)) * height))
        inside = np.flatnonzero(lung.mask[row] > 0.99)
        if inside.size < 8:
            continue
        col = lung.cols.start + int(inside[int(rng.uniform(0.15, 0.85) * inside.size)])
        layer, r0, c0, contrast = _DRAW[lesion.label](rng, row, col, width)
        r1, c1 = min(height, r0 + layer.shape[0]), min(width, c0 + layer.shape[1])
        layer = layer[max(0, -r0): r1 - r0, max(0, -c0): c1 - c0]
        r0, c0 = max(0, r0), max(0, c0)
        if lesion.label == "consolidation":
            layer = layer * _lung_window(chest, r0, r1, c0, c1)
        box = box_of(_visible(layer) > 0)
        if box is None:
            continue
        box = (box[0] + c0, box[1] + r0, box[2] + c0, box[3] + r0)
        behind_heart = chest.heart[box[1]:box[3], box[0]:box[2]].max() > 0.01
        if behind_heart or any(boxes_overlap(box, other, gap=3) for other in taken):
            continue
        chest.density[r0:r1, c0:c1] += contrast * layer
        return Finding(lesion.label, lesion.side, lesion.zone, box)
    return None


def _lung_window(chest: Chest, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Both lungs' masks over a window of the working image."""
    window = np.zeros((r1 - r0, c1 - c0), dtype=np.float32)
    for lung in chest.lungs.values():
        a, b = max(c0, lung.cols.start), min(c1, lung.cols.stop)
        if a < b:
            window[:, a - c0: b - c0] = lung.mask[r0:r1, a - lung.cols.start: b - lung.cols.start]
    return window


# A lesion drawer: (rng, row, col, image width) -> (layer in [0, 1] over a window, window top, window left,
# contrast to add at full strength).


def _grid(radius_y: float, radius_x: float, row: int, col: int):
    """Offsets (dy, dx) of a window around (row, col) and the window's top-left corner."""
    ry, rx = int(radius_y) + 3, int(radius_x) + 3
    dy = np.arange(-ry, ry + 1, dtype=np.float32)[:, None]
    dx = np.arange(-rx, rx + 1, dtype=np.float32)[None, :]
    return dy, dx, row - ry, col - rx


def _nodule(rng, row, col, width):
    """A small round opacity, 1.5-3% of the width across, denser in its middle."""
    radius = rng.uniform(0.0075, 0.015) * width
    dy, dx, r0, c0 = _grid(radius, radius, row, col)
    d = np.sqrt(dx * dx + dy * dy)
    shade = np.sqrt(np.clip(1 - (d / radius) ** 2, 0, 1))
    return np.clip(radius - d + 0.5, 0, 1) * (0.6 + 0.4 * shade), r0, c0, rng.uniform(0.2, 0.28)


def _mass(rng, row, col, width):
    """A lobulated round mass: the radius varies with the angle through cos/sin of 2 and 3 times it."""
    radius = rng.uniform(0.035, 0.06) * width
    lobes = rng.uniform(0.06, 0.12), rng.uniform(0.05, 0.1)
    p2, p3 = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 2)
    dy, dx, r0, c0 = _grid(radius * 1.25, radius * 1.25, row, col)
    d = np.sqrt(dx * dx + dy * dy)
    c, s = dx / np.maximum(d, 1e-3), dy / np.maximum(d, 1e-3)
    wave2 = p2[0] * (c * c - s * s) + p2[1] * 2 * c * s
    wave3 = p3[0] * c * (4 * c * c - 3) + p3[1] * s * (3 - 4 * s * s)
    edge = radius * (1 + lobes[0] * wave2 + lobes[1] * wave3)
    shade = np.sqrt(np.clip(1 - (d / edge) ** 2, 0, 1))
    return np.clip((edge - d) / 1.5 + 0.5, 0, 1) * (0.8 + 0.2 * shade), r0, c0, rng.uniform(0.25, 0.32)


def _consolidation(rng, row, col, width):
    """Patchy airspace opacity: an ellipse broken up by a smooth random field."""
    rx = rng.uniform(0.06, 0.1) * width
    ry = rx * rng.uniform(0.7, 1.2)
    dy, dx, r0, c0 = _grid(ry, rx, row, col)
    inside = 1 - (dx / rx) ** 2 - (dy / ry) ** 2
    patches = smooth_noise(rng, dy.shape[0], dx.shape[1], max(3.0, rx / 3))
    return np.clip((1.4 * inside + 0.5 * patches - 0.25) * 2.5, 0, 1) * (inside > 0), r0, c0, rng.uniform(0.18, 0.24)


_DRAW = {"nodule": _nodule, "mass": _mass, "consolidation": _consolidation}
