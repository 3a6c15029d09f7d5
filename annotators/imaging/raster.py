"""PNG and JPEG (and other formats PIL reads): 8 and 16 bit, grey, RGB(A), palette, CMYK, EXIF orientation.

JPEGs beyond Pillow (12- and 16-bit, lossless, JPEG-LS: as DICOM exports write them) are decoded by libjpeg, after
checking that the codestream ends with its end marker (libjpeg fills a codestream cut short with grey).

The size is checked from the header before any pixel is decoded: above `MAX_PIXELS` the file is refused as a
decompression bomb (PIL's own, lower warning threshold is replaced by this one). A PNG whose image data ends
before its last row (Pillow leaves the missing rows black without a word) is refused as truncated.
"""
from __future__ import annotations

import io
import math
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

from annotators.imaging.normalise import LUMA, window_to_uint8
from annotators.imaging.types import MAX_PIXELS, DecodedImage, DecodeError, inflated_size

EXIF_ORIENTATION = 0x0112
PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # samples per pixel of each PNG colour type
# The seven passes of an interlaced PNG: (first column, first row, column step, row step)
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
MARK_LEVEL = 0.9 * 65535  # 16-bit values this bright, in an image whose other pixels stay under half of it: marks
MAX_MARK_SHARE = 0.05
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
JPEG_MAGIC = b"\xff\xd8\xff"  # the start of image and the next marker's FF
JPEG_END = b"\xff\xd9"  # EOI: cannot occur inside the entropy-coded data (an FF there is followed by 00)
# Start-of-frame markers: the DCT, lossless and arithmetic-coded processes (C0-CF but C4, C8, CC) and JPEG-LS (F7)
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
PILLOW_JPEG_FRAMES = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive DCT, which Pillow decodes at 8 bits
JPEG_SOS = 0xDA


def decode_raster(data: bytes, max_side: int | None = None) -> list[DecodedImage]:
    frame = _jpeg_frame(data)
    if frame and (frame[0] not in PILLOW_JPEG_FRAMES or frame[1] != 8):
        return [_libjpeg_image(data, *frame)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise _bomb(f"{image.width}x{image.height} pixels")
            orig_width, orig_height = displayed_size(image)
            if max_side and image.format == "JPEG":
                _draft(image, max_side)
            image.load()
            if image.format == "PNG":
                _check_png_rows(data, image)
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:  # Pillow's own check, past twice its limit, comes first: its message
        raise _bomb("the size its header states") from None  # quotes that limit, not the one applied here
    except UnidentifiedImageError:  # its message names the buffer object by address
        raise DecodeError("unknown_format", "not a DICOM, NIfTI or raster image format that can be read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "truncated_image" if "truncated" in str(exc) or "broken" in str(exc) else "corrupt_image"
        raise DecodeError(reason, str(exc)) from None
    gray = _to_gray(image)
    return [DecodedImage(pixels=gray, orig_width=orig_width, orig_height=orig_height)]


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(marker, sample precision, offset) of a JPEG's frame header (SOFn), or None: not a JPEG, or none is found
    before its scan."""
    if not data.startswith(JPEG_MAGIC):
        return None
    offset = 2
    while offset + 9 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker in JPEG_FRAMES:
            return marker, data[offset + 4], offset
        if marker == JPEG_SOS:
            return None
        offset += 1 if marker == 0xFF else 2 + int.from_bytes(data[offset + 2:offset + 4], "big")  # FF: a fill byte
    return None


def _libjpeg_image(data: bytes, marker: int, precision: int, offset: int) -> DecodedImage:
    """A JPEG that Pillow does not decode (SOF `marker` at `offset`, `precision` bits), decoded by libjpeg: refused
    when its header states over `MAX_PIXELS` or it lacks its end marker; deep grey windowed as `_to_gray` does."""
    from libjpeg import decode as libjpeg_decode

    height, width = struct.unpack_from(">HH", data, offset + 5)
    if width * height > MAX_PIXELS:
        raise _bomb(f"{width}x{height} pixels")
    if JPEG_END not in data[offset:]:
        raise DecodeError("truncated_image", f"the JPEG (frame type {marker:02X}, {precision}-bit) ends without its "
                                             "end marker (FFD9): the image is cut short")
    try:
        pixels = libjpeg_decode(data)
    except (RuntimeError, ValueError) as exc:
        raise DecodeError("corrupt_image", f"libjpeg: {exc}") from None
    values = pixels[..., :3].astype(np.float32) @ LUMA if pixels.ndim == 3 else pixels.astype(np.float32)
    low, high = (0.0, 255.0) if precision <= 8 else _deep_window(values, sixteen_bit=False)
    gray = window_to_uint8(values, low, high)
    return DecodedImage(pixels=gray, orig_width=int(gray.shape[1]), orig_height=int(gray.shape[0]))


def _bomb(size: str) -> DecodeError:
    """The refusal of a raster whose header states a `size` over `MAX_PIXELS`."""
    return DecodeError("decompression_bomb", f"{size} is over the limit of {MAX_PIXELS:,} pixels for one image")


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) at full resolution as displayed, from the header: EXIF orientations 5-8 swap the stored
    axes (a TIFF's size, which Pillow reports as displayed already, is kept)."""
    width, height = image.size
    if isinstance(image, TiffImagePlugin.TiffImageFile) or image.getexif().get(EXIF_ORIENTATION, 1) not in (5, 6, 7, 8):
        return width, height
    return height, width


def _check_png_rows(data: bytes, image: Image.Image) -> None:
    """A PNG's image data holds every row its header states. Pillow stops without an error where a complete zlib
    stream ends and leaves the rows after it zero, so a loaded image whose last row is not all zero has them all
    (rows are decoded in order); otherwise, and for interlaced files, the stream is inflated to count its bytes."""
    width, height = image.size
    if not image.info.get("interlace") and image.crop((0, height - 1, width, height)).tobytes().strip(b"\0"):
        return
    width, height, depth, colour, interlace = struct.unpack_from(">IIBBxxB", data, 16)
    bits = depth * PNG_SAMPLES[colour]
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    needed = 0
    for x0, y0, dx, dy in passes:
        columns, rows = max(0, math.ceil((width - x0) / dx)), max(0, math.ceil((height - y0) / dy))
        needed += rows * (1 + math.ceil(columns * bits / 8)) if columns else 0  # a filter byte starts each row
    try:
        found = inflated_size(_png_image_data(data), zlib.MAX_WBITS, needed)
    except zlib.error as exc:
        raise DecodeError("corrupt_image", f"the PNG image data does not inflate: {exc}") from None
    if found < needed:
        raise DecodeError("truncated_image", f"the PNG image data ends after {found:,} of the {needed:,} bytes its "
                                             f"{width}x{height} header states: rows are missing")


def _png_image_data(data: bytes) -> bytes:
    """The PNG's IDAT chunks' data, joined (one zlib stream)."""
    parts, offset = [], 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        if kind == b"IDAT":
            parts.append(data[offset + 8:offset + 8 + length])
        elif kind == b"IEND":
            break
        offset += 12 + length  # length, type, data, CRC
    return b"".join(parts)


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
