"""Array helpers the phantoms share: resizing, smooth random fields, blur, soft masks and boxes.

Arithmetic and square roots only (both correctly rounded, unlike exp or pow), in float32, so a render gives
the same bytes on every CPU; squares are written `x ** 2` (numpy multiplies) or `x * x`, never other powers.
"""
from __future__ import annotations

import numpy as np


def resize_bilinear(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """`a` resized to (height, width) by bilinear interpolation with pixel centres aligned."""
    lo, hi, f = _axis_weights(a.shape[1], width)  # columns first: the slow gather runs on fewer rows
    a = a[:, lo] * (1 - f) + a[:, hi] * f
    lo, hi, f = _axis_weights(a.shape[0], height)
    return a[lo] * (1 - f)[:, None] + a[hi] * f[:, None]


# Quarter weights (previous, next) of each output phase when enlarging by 2 or 3 (the rest goes to the pixel).
_PHASES = {2: ((1, 0), (0, 1)), 3: ((1, 0), (0, 0), (0, 1))}


def upsample(a: np.ndarray, factor: int) -> np.ndarray:
    """A uint16 image (values below 16384) enlarged by 2 or 3, each output pixel a quarter-weighted blend of
    its source pixel and the neighbour on its side (bilinear for 2, close to it for 3), in integers."""
    rows = _enlarge(a, np.concatenate([a[:1], a, a[-1:]]), factor, axis=0)
    return _enlarge(rows, np.concatenate([rows[:, :1], rows, rows[:, -1:]], axis=1), factor, axis=1)


def _enlarge(a: np.ndarray, padded: np.ndarray, factor: int, axis: int) -> np.ndarray:
    shape = list(a.shape)
    shape[axis] *= factor
    out = np.empty(shape, dtype=np.uint16)
    before, after = (padded[:-2], padded[2:]) if axis == 0 else (padded[:, :-2], padded[:, 2:])
    main = a * np.uint16(3) + np.uint16(2)  # 3/4 of the pixel, and 2/4 to round the quarter-sum
    for phase, (w_before, w_after) in enumerate(_PHASES[factor]):
        target = out[phase::factor] if axis == 0 else out[:, phase::factor]
        if w_before == w_after == 0:
            target[...] = a
            continue
        np.add(main, before if w_before else after, out=target)
        target >>= 2
    return out


def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.intp)
    return lo, np.minimum(lo + 1, n_in - 1), (pos - lo).astype(np.float32)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """A smooth random field (about unit variance at the coarse nodes) varying over `cell` pixels."""
    coarse = rng.standard_normal((int(height / cell) + 2, int(width / cell) + 2), dtype=np.float32)
    return resize_bilinear(coarse, height, width)


def blur121(a: np.ndarray) -> np.ndarray:
    """A mild separable [1, 2, 1] / 4 blur with edge replication."""
    p = np.pad(a, 1, mode="edge")
    a = (p[:-2] + 2 * p[1:-1] + p[2:]) * 0.25
    return (a[:, :-2] + 2 * a[:, 1:-1] + a[:, 2:]) * 0.25


def ramp(margin: np.ndarray, edge: float) -> np.ndarray:
    """A soft inside mask from a signed margin in pixels (positive inside), `edge` pixels wide."""
    mask = margin * (1 / edge) + 0.5
    return np.clip(mask, 0, 1, out=mask)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The tight (x0, y0, x1, y1) box of a boolean mask, ends exclusive; None when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def boxes_overlap(a: tuple[int, ...], b: tuple[int, ...], gap: int = 0) -> bool:
    """Whether two (x0, y0, x1, y1) boxes intersect once each is grown by `gap` pixels."""
    return a[0] - gap < b[2] and b[0] - gap < a[2] and a[1] - gap < b[3] and b[1] - gap < a[3]
