"""A small synthetic chest CT volume in Hounsfield units, with one lung lesion centred on its middle slice.

The volume is built in display order (rows anterior -> posterior, columns patient right -> left, slices
inferior -> superior), so the lesion's box is read straight off the middle slice; `to_ras` turns it into
the RAS+ voxel order that a NIfTI file stores (see the image convention in .helpers/COMMON.md).
"""
from __future__ import annotations

import numpy as np

from connectors.sample.lesions import Finding
from connectors.sample.plan import STREAM_STUDY, StudySpec, study_rng
from connectors.sample.raster import box_of

ROWS, COLS, SLICES = 96, 96, 24
SPACING_MM = (3.6, 3.6, 8.0)  # columns, rows, slices
MIDDLE = SLICES // 2


def render_ct(spec: StudySpec, seed: int) -> tuple[np.ndarray, list[Finding]]:
    """(int16 volume (rows, columns, slices) in display order, the lesion's box on slice MIDDLE)."""
    rng = study_rng(seed, STREAM_STUDY, spec.index, 1)
    r = np.arange(ROWS, dtype=np.float32)[:, None, None] + 0.5
    c = np.arange(COLS, dtype=np.float32)[None, :, None] + 0.5
    z = (np.arange(SLICES, dtype=np.float32)[None, None, :] + 0.5 - SLICES / 2) / (SLICES / 2)
    scale = 1 - 0.1 * z * z
    hu = np.full((ROWS, COLS, SLICES), -1000.0, dtype=np.float32)
    body = _ellipse(r, c, 50, 48, 32 * scale, 44 * scale)
    hu[body > 0] = -100.0
    hu[body > 0.08] = 40.0
    lung_scale = np.sqrt(np.clip(1 - (0.9 * z) ** 2, 0, 1))
    lungs = {side: _ellipse(r, c, 46, 48 + dx, 24 * lung_scale, 15 * lung_scale) for side, dx in
             (("right", -20), ("left", 20))}
    for lung in lungs.values():
        inside = lung > 0
        hu[inside] = -850.0 + 25.0 * rng.standard_normal(int(inside.sum()), dtype=np.float32)
    heart_scale = np.sqrt(np.clip(1 - ((z + 0.4) / 0.8) ** 2, 0, 1))
    hu[_ellipse(r, c, 36, 56, 15 * heart_scale, 17 * heart_scale) > 0] = 40.0
    hu[_ellipse(r, c, 60, 57, 5.0, 5.0) > 0] = 45.0  # descending aorta
    spine = _ellipse(r, c, 70, 48, 7.0, 7.0)
    hu[spine > 0] = 450.0
    hu[spine > 0.6] = 250.0  # marrow inside the cortex

    findings = [f for f in (_lesion(hu, lungs, lesion, rng) for lesion in spec.lesions) if f is not None]
    hu += 12.0 * rng.standard_normal(hu.shape, dtype=np.float32)
    return np.round(hu).astype(np.int16), findings


def to_ras(volume: np.ndarray) -> np.ndarray:
    """Display order -> RAS+ voxel order: display slice k == ras[::-1, ::-1, k].T."""
    return np.ascontiguousarray(volume[::-1, ::-1, :].transpose(1, 0, 2))


def _ellipse(r, c, cr, cc, rr, rc) -> np.ndarray:
    """1 - normalised radius of an axial ellipse per voxel (positive inside); radii may vary by slice."""
    rr, rc = np.maximum(rr, 1e-3), np.maximum(rc, 1e-3)
    return np.broadcast_to(1 - np.sqrt(((r - cr) / rr) ** 2 + ((c - cc) / rc) ** 2), (ROWS, COLS, SLICES))


def _lesion(hu, lungs, lesion, rng) -> Finding | None:
    """A soft-edged sphere (in mm) inside the lesion's lung, centred on the middle slice."""
    radius = rng.uniform(2.2, 3.5) if lesion.label == "nodule" else rng.uniform(5.0, 7.0)
    candidates = np.argwhere(lungs[lesion.side][:, :, MIDDLE] > 0.45)
    if candidates.size == 0:
        return None
    row, col = candidates[int(rng.integers(0, len(candidates)))] + 0.5
    r = np.arange(ROWS, dtype=np.float32)[:, None, None] + 0.5 - row
    c = np.arange(COLS, dtype=np.float32)[None, :, None] + 0.5 - col
    k = (np.arange(SLICES, dtype=np.float32)[None, None, :] - MIDDLE) * (SPACING_MM[2] / SPACING_MM[0])
    inside = np.clip(radius - np.sqrt(r * r + c * c + k * k) + 0.5, 0, 1)
    hu += inside * (rng.uniform(20.0, 45.0) - hu)
    box = box_of(inside[:, :, MIDDLE] > 0.5)
    return None if box is None else Finding(lesion.label, lesion.side, "", box)
