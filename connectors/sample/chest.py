"""A synthetic chest radiograph, drawn as display brightness in [0, 1] (bright = dense).

The anatomy (body, lungs, heart, spine, ribs, clavicles, lung markings) is drawn at a reduced working size;
lesions are painted into it (connectors.sample.lesions); noise is added and the result is upsampled to the
original size, which is the mild blur. Coordinates: u across the width, v down the height, both in [0, 1];
the patient's right lung is on the image's left.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from connectors.sample.raster import blur121, box_of, ramp, resize_bilinear, smooth_noise, upsample

EDGE = 2.0  # soft edge of organ outlines, working pixels
MAX_12BIT = 4095
VISIBLE = 0.25  # lesions are cut below this fraction of their full strength; their boxes hold the rest


@dataclass
class Lung:
    side: str  # the patient's side
    cols: slice  # the working-image columns of this half of the chest
    v: np.ndarray  # (h, 1) row centres in [0, 1]
    apex: float
    base: float
    t: np.ndarray  # (h, w) 0 on the medial edge, 1 on the lateral edge
    lateral_margin: np.ndarray  # (h, w) pixels inside the lateral wall
    apical_margin: np.ndarray  # (h, w) pixels below the lung's top
    mask: np.ndarray  # (h, w) soft lung field

    def row_of(self, zone_fraction: float) -> float:
        """The v of a fraction of the way from apex to base."""
        return self.apex + zone_fraction * (self.base - self.apex)


@dataclass
class Chest:
    """The working canvas: lesions edit `density` and `marking_weight`; `finish` makes the image."""

    density: np.ndarray
    markings: np.ndarray
    marking_weight: np.ndarray
    heart: np.ndarray  # soft heart mask
    lungs: dict[str, Lung]
    midline: float
    heart_half_width: float  # in widths

    @property
    def shape(self) -> tuple[int, int]:
        return self.density.shape

    @property
    def heart_box(self) -> tuple[int, int, int, int] | None:
        return box_of(self.heart > VISIBLE)


def heart_half_width(rng: np.random.Generator, enlarged: bool) -> float:
    """Half the heart's width as a fraction of the image width (cardiothoracic ratio 0.35-0.45, or > 0.55)."""
    return float(rng.uniform(0.2, 0.235) if enlarged else rng.uniform(0.12, 0.155))


def draw_chest(rng: np.random.Generator, height: int, width: int, heart_half: float | None) -> Chest:
    """The anatomy at working size (height, width); `heart_half` replaces the drawn heart size when given."""
    mid = 0.5 + rng.uniform(-0.015, 0.015)
    body_half, apex, base = rng.uniform(0.44, 0.49), rng.uniform(0.08, 0.13), rng.uniform(0.72, 0.80)
    lateral, dome = rng.uniform(0.33, 0.39), rng.uniform(0.035, 0.06)
    medial = {"right": rng.uniform(0.05, 0.07), "left": rng.uniform(0.04, 0.06)}
    rib_spacing, rib_phase = rng.uniform(0.06, 0.075), rng.uniform(0, 1)
    marking_amp = rng.uniform(0.04, 0.06)
    drawn_heart = heart_half_width(rng, enlarged=False)
    heart_half = drawn_heart if heart_half is None else heart_half

    v = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    u = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    from_mid = np.abs(u - mid)
    body = ramp((body_half * (0.78 + 0.22 * np.clip(v / 0.18, 0, 1)) - from_mid) * width, 3.0)
    density = body * (0.48 + 0.04 * np.clip((v - base + 0.05) / 0.08, 0, 1))
    density += 0.04
    spine = slice(max(0, int((mid - 0.04) * width)), int((mid + 0.04) * width) + 1)
    density[:, spine] += 0.06 * body[:, spine] * ramp((0.03 - from_mid[:, spine]) * width, 3.0)
    heart, window = _heart(height, width, mid, heart_half, base + 0.015)
    density[window] += 0.05 * heart[window]

    split = int(mid * width)
    lungs = {
        "right": _lung("right", slice(0, split), mid - u[:, :split], v, medial["right"], lateral, apex, base, dome,
                       height, width),
        "left": _lung("left", slice(split, width), u[:, split:] - mid, v, medial["left"], lateral, apex,
                      base + 0.015, dome, height, width),
    }
    fine = rng.standard_normal((height // 5 + 2, width // 5 + 2), dtype=np.float32)
    coarse = smooth_noise(rng, *fine.shape, cell=fine.shape[0] / 12)
    markings = resize_bilinear(marking_amp * (0.6 * coarse + 0.5 * fine), height, width)
    marking_weight = np.zeros_like(density)
    thorax = slice(max(0, int((apex - 0.04) * height)), int(base * height) + 1)
    clavicles = slice(max(0, int((apex - 0.07) * height)), int((apex + 0.07) * height))
    for lung in lungs.values():
        ul = from_mid[:, lung.cols]
        density[:, lung.cols] -= 0.30 * lung.mask
        density[thorax, lung.cols] += 0.045 * _ribs(ul, v[thorax], lateral, apex, base, rib_spacing, rib_phase, width)
        density[clavicles, lung.cols] += 0.08 * _clavicle(ul, v[clavicles], apex, height, width)
        hilum = np.sqrt(((ul - 0.1) * width) ** 2 + ((v - lung.row_of(0.45)) * height) ** 2)
        markings[:, lung.cols] *= np.clip(1.15 - hilum / (0.35 * width), 0.35, 1)
        marking_weight[:, lung.cols] = lung.mask
    lung_field = 0.30 * marking_weight[window]
    density[window] += 0.85 * lung_field * heart[window]  # the heart hides the lungs behind it
    marking_weight[window] *= 1 - heart[window]
    return Chest(density, markings, marking_weight, heart, lungs, mid, heart_half)


def finish(chest: Chest, rng: np.random.Generator, height: int, width: int, factor: int) -> np.ndarray:
    """Noise, blur, 12-bit quantisation, enlarging by `factor` and cropping to (height, width): uint16."""
    image = chest.density + chest.markings * chest.marking_weight
    image += 0.06 * (rng.random(chest.shape, dtype=np.float32) - 0.5)
    image = blur121(image)
    np.clip(image, 0, 1, out=image)
    image *= MAX_12BIT
    image += 0.5
    return upsample(image.astype(np.uint16), factor)[:height, :width]


def _lung(side, cols, ul, v, medial, lateral, apex, base, dome, height, width) -> Lung:
    s = (v - apex) / (base - apex)
    lateral_edge = lateral - 0.12 * np.clip(1 - s / 0.35, 0, 1) ** 2
    t = (ul - medial) / (lateral_edge - medial)
    top = apex + 0.09 * ((t - 0.4) / 0.6) ** 2
    bottom = base - 0.05 * (1 - t) - dome * 4 * t * (1 - t)
    lateral_margin = (lateral_edge - ul) * width
    apical_margin = (v - top) * height
    inside = np.minimum(np.minimum(lateral_margin, apical_margin), (ul - medial) * width)
    inside = np.minimum(inside, (bottom - v) * height)
    return Lung(side, cols, v, apex, base, t, lateral_margin, apical_margin, ramp(inside, EDGE))


def _heart(height, width, mid, half_width, base) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The cardiac silhouette, an ellipse left of the midline (image right) sitting on the diaphragm, and the
    window of the image it lies in."""
    a, b = half_width * width, 0.85 * half_width * width
    cut = (base - 0.045) * height
    cx, cy = (mid + 0.3 * half_width) * width, cut - 0.6 * b
    heart = np.zeros((height, width), dtype=np.float32)
    r0, r1 = max(0, int(cy - b) - 2), min(height, int(cut) + 3)
    c0, c1 = max(0, int(cx - a) - 2), min(width, int(cx + a) + 3)
    y = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5
    x = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5
    radius = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
    heart[r0:r1, c0:c1] = ramp((1 - radius) * b, EDGE) * ramp(cut - y, EDGE)
    return heart, (slice(r0, r1), slice(c0, c1))


def _ribs(ul, v, lateral, apex, base, spacing, phase, width) -> np.ndarray:
    """Posterior ribs: curved bands, rising then falling from the spine to the lateral wall."""
    p = (v - (1.6 * ul * ul - 0.25 * ul)) / spacing + phase
    tri = np.abs(p - np.floor(p) - 0.5)
    ribs = np.clip((tri - 0.33) / 0.05 + 0.5, 0, 1)
    across = ramp((lateral + 0.03 - ul) * width, 4.0) * ramp((ul - 0.05) * width, 6.0)
    down = np.clip((v - apex + 0.04) / 0.03, 0, 1) * np.clip((base - v) / 0.04, 0, 1)
    ribs *= across
    ribs *= down
    return ribs


def _clavicle(ul, v, apex, height, width) -> np.ndarray:
    """A bright band from the sternal notch rising laterally over the apex."""
    x0, y0 = 0.02 * width, (apex + 0.03) * height
    dx, dy = 0.28 * width, -0.065 * height
    length = math.sqrt(dx * dx + dy * dy)
    x, y = ul * width - x0, v * height - y0
    along = (x * dx + y * dy) / length
    across = np.abs(x * dy - y * dx) / length
    return ramp(0.011 * width - across, EDGE) * ramp(np.minimum(along, length - along), 4.0)
