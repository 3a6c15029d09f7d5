"""Intensity windowing to 8 bits, resizing, and deterministic PNG encoding."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cv2
import numpy as np

from annotators.imaging.types import DecodedImage, DecodeError

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # R, G, B weights of the displayed luminance (BT.601)
PERCENTILES = (0.5, 99.5)  # the automatic window when an image states none
PERCENTILE_SAMPLES = 1 << 18  # the automatic window is estimated on a regular grid of about this many pixels


def auto_window(values: np.ndarray) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles of the finite values (min and max when those coincide)."""
    step = max(1, int(np.sqrt(values.size / PERCENTILE_SAMPLES)))
    grid = values[::step, ::step] if values.ndim == 2 else values.reshape(-1)[:: step * step]
    finite = grid[np.isfinite(grid)] if grid.dtype.kind == "f" else grid.reshape(-1)
    if finite.size == 0:
        raise DecodeError("empty_pixels", "no finite pixel values")
    low, high = (float(v) for v in np.percentile(finite, PERCENTILES))
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    return low, high


def window_to_uint8(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Map [low, high] linearly to [0, 255]; without bounds, the 0.5th and 99.5th percentiles are used."""
    values = np.asarray(values, dtype=np.float32)
    if low is None or high is None:
        low, high = auto_window(values)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(values, nan=low) - low) * np.float32(255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def lut_to_uint8(values: np.ndarray, low: float | None, high: float | None, invert: bool = False) -> np.ndarray:
    """`window_to_uint8` (inverted if asked) through `through_table`."""
    if low is None or high is None:
        low, high = auto_window(values)
    return through_table(values, lambda v: _inverted(window_to_uint8(v, low, high), invert))


def _inverted(grey: np.ndarray, invert: bool) -> np.ndarray:
    return 255 - grey if invert else grey


def through_table(values: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`transform` (element by element) of `values`: of 8- and 16-bit integers through a table of it over every value
    their type holds, so that a large image costs one look-up; of other values directly."""
    if values.dtype.kind not in "ui" or values.dtype.itemsize > 2:
        return transform(values)
    info = np.iinfo(values.dtype)
    table = transform(np.arange(info.min, info.max + 1, dtype=values.dtype.newbyteorder("=")))
    if info.min < 0:  # signed: indexed by the unsigned view (same byte order), the table rolled to its bit patterns
        return np.roll(table, info.min)[values.view(values.dtype.str.replace("i", "u"))]
    return table[values]


def resize_long_side(image: DecodedImage, max_side: int) -> DecodedImage:
    """Downscale so the long side is at most `max_side` (never upscale); pixel spacing follows the scale."""
    h, w = image.pixels.shape
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Area averaging: each stored pixel is the mean of the source pixels it covers (no aliasing, no ringing); on
    # 512-px targets it took half the time of Pillow's box-then-Lanczos resize (benchmarks/decode.py, docs/scale.md).
    resized = cv2.resize(image.pixels, size, interpolation=cv2.INTER_AREA)
    spacing = tuple(s * (h / size[1] if i == 0 else w / size[0]) for i, s in enumerate(image.pixel_spacing))
    return dataclasses.replace(image, pixels=resized, pixel_spacing=spacing)


# zlib settings of the stored PNGs (benchmarks/png.py, docs/scale.md): OpenCV's encoder (libpng) at level 1 with
# zlib's run-length strategy. PNG's row filters leave radiographs' noise as small residuals that LZ77 rarely
# matches, so run-length matching alone costs less time and gives smaller files than the default strategy.
# The bytes follow from the pixels and these settings alone, so builds stay byte-identical.
PNG_COMPRESS_LEVEL = 1
PNG_STRATEGY = cv2.IMWRITE_PNG_STRATEGY_RLE
_PNG_FLAGS = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESS_LEVEL, cv2.IMWRITE_PNG_STRATEGY, PNG_STRATEGY]


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless, deterministic PNG bytes of a uint8 greyscale array."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(pixels), _PNG_FLAGS)
    if not ok:
        raise ValueError(f"PNG encoding failed for a {pixels.dtype} {pixels.shape} array")
    return data.tobytes()
