"""PNG and JPEG (and other formats PIL reads): 8 and 16 bit, grey, RGB(A), palette, CMYK, EXIF orientation.

The size is checked from the header before any pixel is decoded: above `MAX_PIXELS` the file is refused as a
decompression bomb (PIL's own, lower warning threshold is replaced by this one).
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from annotators.imaging.normalise import window_to_uint8
from annotators.imaging.types import MAX_PIXELS, DecodedImage, DecodeError

EXIF_ORIENTATION = 0x0112
MARK_LEVEL = 0.9 * 65535  # 16-bit values this bright, in an image whose other pixels stay under half of it: marks
MAX_MARK_SHARE = 0.05
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def decode_raster(data: bytes, max_side: int | None = None) -> list[DecodedImage]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise DecodeError("decompression_bomb", f"{image.width}x{image.height} pixels exceed {MAX_PIXELS}")
            orig_width, orig_height = displayed_size(image)
            if max_side and image.format == "JPEG":
                _draft(image, max_side)
            image.load()
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise DecodeError("decompression_bomb", str(exc)) from None
    except UnidentifiedImageError:  # its message names the buffer object by address
        raise DecodeError("unknown_format", "not a DICOM, NIfTI or raster image format that can be read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "truncated_image" if "truncated" in str(exc) or "broken" in str(exc) else "corrupt_image"
        raise DecodeError(reason, str(exc)) from None
    gray = _to_gray(image)
    return [DecodedImage(pixels=gray, orig_width=orig_width, orig_height=orig_height)]


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) at full resolution as displayed: EXIF orientations 5-8 swap the stored axes."""
    width, height = image.size
    return (height, width) if image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8) else (width, height)


def _draft(image: Image.Image, max_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT scaling) while the long side stays >= `max_side`, and
    decode colour straight to luminance (its Y channel)."""
    scale = min(1.0, max_side / max(image.size))
    image.draft("L" if image.mode in ("L", "RGB") else image.mode,
                (round(image.width * scale), round(image.height * scale)))


def _deep_window(values: np.ndarray, sixteen_bit: bool) -> tuple[float, float]:
    """From 0 (or the negative minimum) to the maximum of the finite values; in 16-bit images of a lower stored
    depth, marks burned in at the top of the range (labels, text: a few percent of the pixels at most) are left out
    of the maximum, so that they do not darken the image."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise DecodeError("empty_pixels", "no finite pixel values")
    low, high = min(0.0, float(finite.min())), float(finite.max())
    if sixteen_bit:
        marks = finite >= MARK_LEVEL
        rest = finite[~marks]
        if 0 < marks.mean() <= MAX_MARK_SHARE and rest.size and rest.max() < MARK_LEVEL / 2:
            high = float(rest.max())
    return low, high if high > low else low + 1.0


def _to_gray(image: Image.Image) -> np.ndarray:
    """Displayed luminance: deep grey windowed by `_deep_window` (non-finite values as its low end), transparency
    over black, colour as luminance."""
    if image.mode in HIGH_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float32)
        low, high = _deep_window(values, image.mode.startswith("I;16"))
        return window_to_uint8(values, low, high)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)
