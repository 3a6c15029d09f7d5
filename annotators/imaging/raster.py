"""Raster images (PNG, JPEG, TIFF, BMP, GIF, WebP, JPEG 2000, PGM/PPM, AVIF): 8 and 16 bit, float, grey, RGB(A),
palette, CMYK/YCCK, EXIF orientation, animation frames.

JPEGs beyond Pillow (12- and 16-bit, lossless, JPEG-LS: as DICOM exports write them) are decoded by libjpeg, after
checking that the codestream ends with its end marker (libjpeg fills a codestream cut short with grey).

The size is checked from the header before any pixel is decoded: above `MAX_PIXELS` the file is refused as a
decompression bomb (PIL's own, lower warning threshold is replaced by this one). A PNG whose image data ends
before its last row (Pillow leaves the missing rows black without a word) is refused as truncated. A format Pillow
knows but that is no image source here (EPS, PSD, icons, ...) is `unsupported_format`; a file that opens as a
format read here but whose header cannot be read is truncated or corrupt, not of an unknown format.

EXIF orientation is applied, and `orig_width`/`orig_height` are the displayed size: sources' boxes are in pixels of
the image as displayed (`connectors.base.SourceBox`), as viewers and annotation tools show it. The orientation is
read from the header alone (`displayed_size`, which connectors use without decoding), so a PNG's eXIf chunk counts
only before its image data, where the PNG specification places it.

The frames of an animation (APNG, GIF, WebP, AVIF; an APNG's default image when it is not one of them left out) are
selected as a multi-frame DICOM's are; the further images of a TIFF or MPO (thumbnails, a second view) are not
frames, and their first image is decoded.
"""
from __future__ import annotations

import functools
import io
import math
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, JpegImagePlugin, TiffImagePlugin, UnidentifiedImageError

from annotators.imaging.normalise import LUMA, window_to_uint8
from annotators.imaging.types import (
    MAX_PIXELS,
    MAX_VOXELS,
    DecodedImage,
    DecodeError,
    FrameSelection,
    inflated_size,
    too_large,
)

EXIF_ORIENTATION = 0x0112
# How each EXIF orientation is turned upright (as `PIL.ImageOps.exif_transpose` does)
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}
# Pillow's formats that images are read from; its others (EPS, PSD, ICO, TGA, FITS, ...) are no image sources here
RASTER_FORMATS = frozenset({"PNG", "JPEG", "MPO", "TIFF", "BMP", "GIF", "WEBP", "JPEG2000", "PPM", "AVIF"})
ANIMATED_FORMATS = frozenset({"PNG", "GIF", "WEBP", "AVIF"})  # whose further frames are an animation's
PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # samples per pixel of each PNG colour type
# The seven passes of an interlaced PNG: (first column, first row, column step, row step)
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
MARK_LEVEL = 0.9 * 65535  # 16-bit values this bright, in an image whose other pixels stay under half of it: marks
MAX_MARK_SHARE = 0.05
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# What Pillow's plugins say of a header it cannot use, in words
PILLOW_MESSAGES = {"not identified by this driver": "it states no size (a side of 0) or no pixel mode"}
JPEG_MAGIC = b"\xff\xd8\xff"  # the start of image and the next marker's FF
JPEG_END = b"\xff\xd9"  # EOI: cannot occur inside the entropy-coded data (an FF there is followed by 00)
# Start-of-frame markers: the DCT, lossless and arithmetic-coded processes (C0-CF but C4, C8, CC) and JPEG-LS (F7)
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
PILLOW_JPEG_FRAMES = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive DCT, which Pillow decodes at 8 bits
JPEG_SOS = 0xDA
JPEG_APP1 = 0xE1
EXIF_SIGNATURE = b"Exif\0\0"  # how an APP1 segment that holds EXIF opens


def decode_raster(data: bytes, frames: FrameSelection = FrameSelection(),
                  max_side: int | None = None) -> list[DecodedImage]:
    """One image per selected frame (one for a still image); `max_side`: see `annotators.imaging.sniff.decode`."""
    frame = _jpeg_frame(data)
    if frame and (frame[0] not in PILLOW_JPEG_FRAMES or frame[1] != 8):
        return [_libjpeg_image(data, *frame)]
    with _pillow_errors(data):
        image = _open(data)
        (width, height), orientation = displayed_size(image), _orientation(image)
        if max_side and isinstance(image, JpegImagePlugin.JpegImageFile):
            _draft(image, max_side)
        image.load()
        if image.format == "PNG":
            _check_png_rows(data, image)
        planes = _planes(image, frames, orientation)
    return [DecodedImage(pixels=gray, orig_width=width, orig_height=height, frame=index) for index, gray in planes]


def _open(data: bytes) -> Image.Image:
    """The image Pillow opens, its size checked against `MAX_PIXELS`, its format against `RASTER_FORMATS`."""
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > MAX_PIXELS:
        raise _bomb(f"{image.width}x{image.height} pixels")
    if image.format not in RASTER_FORMATS:
        raise DecodeError("unsupported_format", f"{image.format} ({image.format_description}) is not an image "
                                                "format read here")
    return image


@contextmanager
def _pillow_errors(data: bytes):
    """Pillow's exceptions while `data` is opened and decoded, as the `DecodeError` they mean."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except Image.DecompressionBombError:  # Pillow's own check, past twice its limit, comes first: its message
        raise _bomb("the size its header states") from None  # quotes that limit, not the one applied here
    except UnidentifiedImageError:  # its message names the buffer object by address
        raise _unidentified(data) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError, struct.error) as exc:
        raise _failure(data, str(exc)) from None  # damaged data: GIF's frames raise IndexError, AVIF's RuntimeError


def _failure(data: bytes, message: str) -> DecodeError:
    """A decoder's failure `message` as a reject: truncated when the file's structure (`_cut_short`) or Pillow says
    that the data ends early, else corrupt."""
    cut, lower = _cut_short(data), message.lower()
    if cut or "truncated" in lower or "broken" in lower:
        return DecodeError("truncated_image", cut or message)
    return DecodeError("corrupt_image", message)


def _cut_short(data: bytes) -> str:
    """How the file shows that it is cut short, "" if it does not: a JPEG that ends inside its header segments or
    has no end marker after its frame header, a RIFF container (WebP's) that states more bytes than there are."""
    if data.startswith(JPEG_MAGIC) and _jpeg_cut_short(data):
        return "the JPEG ends before its end marker (FFD9): the image is cut short"
    declared = 8 + int.from_bytes(data[4:8], "little") if data.startswith(b"RIFF") else 0  # its size after 8 bytes
    return f"the file ends {declared - len(data):,} bytes before its RIFF header says" if len(data) < declared else ""


def _unidentified(data: bytes) -> DecodeError:
    """Why Pillow opened no image: the header of a format read here that is cut short or damaged (its signature is
    there), or no image format at all."""
    for name in sorted(RASTER_FORMATS & Image.OPEN.keys()):
        factory, accept = Image.OPEN[name]
        if _accepts(accept, data[:16]):
            try:
                factory(io.BytesIO(data), "")
            except Exception as exc:  # noqa: BLE001 - any plugin error says what is wrong with the header
                failure = _failure(data, PILLOW_MESSAGES.get(str(exc), f"{type(exc).__name__}: {exc}"))
                return DecodeError(failure.reason, f"the {name} header cannot be read: {failure.detail}")
    return DecodeError("unknown_format", "not a DICOM, NIfTI or raster image format that can be read")


def _accepts(accept, prefix: bytes) -> bool:
    """A Pillow plugin's signature check passes on `prefix`; one that fails on a prefix too short does not, as in
    `Image.open`."""
    try:
        return bool(accept and accept(prefix))
    except (SyntaxError, IndexError, TypeError, struct.error):
        return False


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(marker, sample precision, offset) of a JPEG's frame header (SOFn), or None: not a JPEG, or none is found
    before its scan."""
    if not data.startswith(JPEG_MAGIC):
        return None
    marker, offset = _jpeg_header_end(data)
    return (marker, data[offset + 4], offset) if marker in JPEG_FRAMES else None


def _jpeg_header_end(data: bytes) -> tuple[int | None, int]:
    """(marker, offset) where a walk over a JPEG's header segments stops: at its frame header (SOFn), at its scan
    (SOS) when no frame header comes first, or (None, offset) where the data ends or holds no further segment."""
    *_, end = _jpeg_header_segments(data)
    return end


def _jpeg_header_segments(data: bytes) -> Iterator[tuple[int | None, int]]:
    """(marker, offset) of each of a JPEG's header segments in turn, as `_jpeg_header_end` walks them."""
    offset = 2
    while offset + 9 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        yield marker, offset
        if marker in JPEG_FRAMES or marker == JPEG_SOS:
            return
        offset += 1 if marker == 0xFF else 2 + _segment_length(data, offset)  # FF: a fill byte
    yield None, offset


def _segment_length(data: bytes, offset: int) -> int:
    """The length that the JPEG segment at `offset` states (its two length bytes included)."""
    return int.from_bytes(data[offset + 2:offset + 4], "big")


def _jpeg_exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1: as stored) that a JPEG's APP1 segment before its frame header states, as Pillow's
    header reader would find it; one that cannot be read is 1."""
    for marker, offset in _jpeg_header_segments(data):
        if marker == JPEG_APP1 and data.startswith(EXIF_SIGNATURE, offset + 4):
            exif = Image.Exif()
            try:
                exif.load(data[offset + 4:offset + 2 + _segment_length(data, offset)])
                orientation = exif.get(EXIF_ORIENTATION, 1)
            except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error):
                return 1
            return orientation if orientation in UPRIGHT else 1
    return 1


def _jpeg_cut_short(data: bytes) -> bool:
    """The JPEG ends inside its header segments, or no end marker follows its frame header (an EXIF thumbnail's,
    in a segment before it, does not count)."""
    marker, offset = _jpeg_header_end(data)
    return offset + 9 > len(data) if marker is None else JPEG_END not in data[offset:]


def _libjpeg_image(data: bytes, marker: int, precision: int, offset: int) -> DecodedImage:
    """A JPEG that Pillow does not decode (SOF `marker` at `offset`, `precision` bits), decoded by libjpeg: refused
    when its header states over `MAX_PIXELS` or it lacks its end marker; deep grey windowed as `_to_gray` does, turned
    upright by its EXIF orientation."""
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
    gray = _upright(window_to_uint8(values, low, high), _jpeg_exif_orientation(data))
    return DecodedImage(pixels=gray, orig_width=int(gray.shape[1]), orig_height=int(gray.shape[0]))


def _bomb(size: str) -> DecodeError:
    """The refusal of a raster whose header states a `size` over `MAX_PIXELS`."""
    return DecodeError("decompression_bomb", f"{size} is over the limit of {MAX_PIXELS:,} pixels for one image")


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) at full resolution as displayed, from the header alone: EXIF orientations 5-8 swap the
    stored axes."""
    width, height = image.size
    return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1: as stored) that the header states. A TIFF's is 1: Pillow turns a TIFF upright as it
    loads it and reports its size as displayed already. A PNG's counts only from an eXIf chunk before the image data,
    where the PNG specification places it (Pillow would decode the whole image to look further)."""
    if isinstance(image, TiffImagePlugin.TiffImageFile) or (image.format == "PNG" and "exif" not in image.info):
        return 1
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    return orientation if orientation in UPRIGHT else 1


def _planes(image: Image.Image, frames: FrameSelection, orientation: int) -> list[tuple[int, np.ndarray]]:
    """(frame, displayed grey) of each selected frame of an animation, or of a still image (frame -1); a projection
    (frame -2) is the brightest grey over every frame. Pillow decodes an animation's frames in order, so the frames
    up to the last one needed are checked against `MAX_VOXELS` first."""
    animation = _animation(image)
    if len(animation) == 1:
        return [(-1, _frame_gray(image, animation[0], orientation))]
    selected = frames.indices(len(animation))
    last = max(selected, default=len(animation) - 1)  # a projection decodes every frame
    decoded = (animation[last] + 1) * image.width * image.height  # and each before it, a poster too
    if decoded > MAX_VOXELS:
        raise too_large(f"the animation up to frame {last:,} (of {len(animation):,})", decoded, MAX_VOXELS, "pixels")
    if not selected:
        return [(-2, functools.reduce(np.maximum, (_frame_gray(image, n, orientation) for n in animation)))]
    return [(index, _frame_gray(image, animation[index], orientation)) for index in selected]


def _animation(image: Image.Image) -> range:
    """Pillow's numbers of the frames that make the image: an animation's, less an APNG's default image when that
    is no part of the animation (a poster); frame 0 alone for a still image, and for a TIFF or MPO, whose further
    images are thumbnails or other views, not frames."""
    if image.format not in ANIMATED_FORMATS or not getattr(image, "is_animated", False):
        return range(1)
    return range(1 if image.info.get("default_image") else 0, image.n_frames)


def _frame_gray(image: Image.Image, number: int, orientation: int) -> np.ndarray:
    """The displayed grey of Pillow's frame `number`, turned upright by its EXIF `orientation`."""
    if number != image.tell():
        image.seek(number)
    image.load()
    return _upright(_to_gray(image), orientation)


def _upright(gray: np.ndarray, orientation: int) -> np.ndarray:
    """Grey pixels as stored, turned upright by an EXIF `orientation`."""
    if orientation not in UPRIGHT:
        return gray
    return np.asarray(Image.fromarray(gray).transpose(UPRIGHT[orientation]))


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
    over black (`_opaque`), colour as luminance, CIELab as its lightness. A grey or RGB colour key (tRNS) is not
    taken as transparency: the key is a grey level that can occur inside the image."""
    if image.mode in HIGH_DEPTH_MODES:
        values = np.asarray(image, dtype=np.float32)
        low, high = _deep_window(values, image.mode.startswith("I;16"))
        return window_to_uint8(values, low, high)
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = _opaque(image.convert("RGBA"))
    elif image.mode == "LAB":
        image = image.getchannel("L")
    elif image.mode in ("CMYK", "HSV"):  # which Pillow converts to grey through RGB only
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _opaque(rgba: Image.Image) -> Image.Image:
    """An RGBA image over black, as a radiograph's transparent padding shows. An alpha channel that is zero
    everywhere is ignored: it is not transparency but a channel its writer left unset (32-bit BMPs, arrays saved
    with a zero fourth channel), and the picture is in the colour channels."""
    if rgba.getchannel("A").getextrema()[1] == 0:
        return rgba.convert("RGB")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
