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
from annotators.imaging.types import DecodedImage, DecodeError

MAX_PIXELS = 100_000_000  # above this, an image is refused as a decompression bomb
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def decode_raster(data: bytes) -> list[DecodedImage]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise DecodeError("decompression_bomb", f"{image.width}x{image.height} pixels exceed {MAX_PIXELS}")
            image.load()
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise DecodeError("decompression_bomb", str(exc)) from None
    except UnidentifiedImageError as exc:
        raise DecodeError("unknown_format", str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "truncated_image" if "truncated" in str(exc) or "broken" in str(exc) else "corrupt_image"
        raise DecodeError(reason, str(exc)) from None
    gray = _to_gray(image)
    return [DecodedImage(pixels=gray, orig_width=gray.shape[1], orig_height=gray.shape[0])]


def _to_gray(image: Image.Image) -> np.ndarray:
    """Displayed luminance: deep grey scaled from 0 to its maximum, transparency over black, colour as luminance."""
    if image.mode in HIGH_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float32)
        return window_to_uint8(values, 0.0, float(values.max()) or 1.0)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)
