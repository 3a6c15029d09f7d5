"""DICOM: modality LUT (rescale), VOI LUT or window, MONOCHROME1 / INVERSE inversion, palette colour, frames.

Only the selected frames are decoded (pydicom decodes one frame at a time when given an index); a JPEG-family frame
that does not end with its codestream's end marker is refused as cut short before it is decoded. Linear rescale
and a linear window are folded into one 8-bit look-up table over the stored values, so the pixel array is never
converted to float (a window that holds none of a frame's stored values, or is far wider than its stored bits span, is
replaced by the automatic one); Modality LUT sequences, VOI LUT sequences and sigmoid windows go through pydicom.
Header attributes leave decoding by allow-list only (`ALLOWED_ATTRIBUTES`), their code strings reduced to known
code words. Sizes are checked before decoding: a frame over `MAX_PIXELS`, a projection's stack over `MAX_VOXELS`
and a deflated data set that inflates past `MAX_INFLATED_BYTES` are refused, as is an image whose header says its
pixels identify the patient (BurnedInAnnotation or RecognizableVisualFeatures YES: `identifying_pixels`).
"""
from __future__ import annotations

import io
import re
import struct
import warnings
import zlib

import numpy as np

from annotators.dicom_codes import known_words
from annotators.imaging.normalise import LUMA, lut_to_uint8, window_to_uint8
from annotators.imaging.types import (
    INFLATE_CHUNK,
    MAX_INFLATED_BYTES,
    MAX_PIXELS,
    MAX_VOXELS,
    DecodedImage,
    DecodeError,
    FrameSelection,
    inflated_size,
    too_large,
)

# The only header attributes that leave decoding; everything else (names, ids, dates, institutions) is dropped.
# Header attributes (PS3.3 C.7.6.1.1) that, set to YES, say the pixels identify the patient.
IDENTIFYING_PIXELS = {"BurnedInAnnotation": "identifying text burned in", "RecognizableVisualFeatures": "a face or "
                      "other features that could identify the patient"}
ALLOWED_ATTRIBUTES = ("Modality", "ViewPosition", "BodyPartExamined", "PixelSpacing", "ImagerPixelSpacing")
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian: the pixel data element was there
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
DEFLATED = b"1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian: the data set after the file meta is zlib
META_START = 132  # the 128-byte preamble and "DICM"
# JPEG, JPEG-LS and JPEG 2000 codestreams start with SOI / SOC and end with EOI / EOC (FFD9), which cannot occur
# inside them; a frame may be padded after it to an even length (with 00, or FF in some writers' files).
CODESTREAM_STARTS = (b"\xff\xd8", b"\xff\x4f")
CODESTREAM_END = b"\xff\xd9"
CODESTREAM_PADDING = b"\x00\xff"
PALETTE_DATA = tuple(f"{colour}PaletteColorLookupTableData" for colour in ("Red", "Green", "Blue", "Alpha"))
# What a pydicom plugin says when the data is valid but beyond it (12-bit JPEG Extended in Pillow, say):
PLUGIN_DECLINES = re.compile(r"does not support|not supported|are supported", re.IGNORECASE)
# A window this many times wider than the stored bits can span leaves them under a quarter of the 256 grey levels:
# it was written for deeper pixels.
WIDE_WINDOW = 4
LONG_VRS = (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")  # 4-byte length


def decode_dicom(data: bytes, frames: FrameSelection) -> list[DecodedImage]:
    try:
        return _images(_read(data), frames)
    except DecodeError:
        raise
    except Exception as exc:  # a header value of the wrong kind or length (pydicom converts lazily, on access)
        raise DecodeError("corrupt_dicom", f"{type(exc).__name__}: {exc}") from None


def _images(ds, frames: FrameSelection) -> list[DecodedImage]:
    _refuse_identifying_pixels(ds)
    n_frames = _frame_count(ds)
    selected = frames.indices(n_frames)
    plane = int(getattr(ds, "Rows", 0) or 0) * int(getattr(ds, "Columns", 0) or 0)
    if plane > MAX_PIXELS:
        raise too_large("a frame", plane, MAX_PIXELS, "pixels")
    if not selected and plane * n_frames > MAX_VOXELS:  # a projection decodes every frame
        raise too_large(f"the stack of {n_frames:,} frames", plane * n_frames, MAX_VOXELS, "pixels")
    stack = [_frame(ds, index if n_frames > 1 else None) for index in selected] or [_projection(ds)]
    invert = _shown_inverted(ds)
    images = []
    for index, pixels in zip(selected or [-2], stack):
        gray = _to_gray(ds, pixels, index if n_frames > 1 else 0)
        if invert:
            gray = 255 - gray
        images.append(
            DecodedImage(
                pixels=gray,
                orig_width=int(gray.shape[1]),
                orig_height=int(gray.shape[0]),
                modality=_text(ds, "Modality"),
                view=_text(ds, "ViewPosition"),
                body_part=_text(ds, "BodyPartExamined"),
                pixel_spacing=_spacing(ds),
                frame=index if n_frames > 1 else -1,
            )
        )
    return images


def _refuse_identifying_pixels(ds) -> None:
    """An image whose header says its pixels identify the patient (text burned in: a name, a date of birth; or a
    face) is refused: de-identifying the header and the report would not de-identify it."""
    for keyword, what in IDENTIFYING_PIXELS.items():
        if str(getattr(ds, keyword, "") or "").strip().upper() == "YES":
            raise DecodeError("identifying_pixels", f"{keyword} is YES: the pixels show {what}")


def _frame_count(ds) -> int:
    return int(getattr(ds, "NumberOfFrames", 1) or 1)


def _shown_inverted(ds) -> bool:
    """Low values are displayed bright: MONOCHROME1, or MONOCHROME2 with a Presentation LUT Shape of INVERSE
    (PS3.3 C.11.6; MONOCHROME1 states INVERSE beside it, once, not twice)."""
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    shape = str(getattr(ds, "PresentationLUTShape", "") or "").upper()
    return photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and shape == "INVERSE")


def _read(data: bytes):
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    _check_inflated_size(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError, OSError, AttributeError) as exc:
        raise DecodeError("corrupt_dicom", f"cannot parse the file: {exc}") from None
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        if PIXEL_DATA_TAG in data:
            raise DecodeError("truncated_file", "the file ends before its pixel data element is complete")
        raise DecodeError("no_pixel_data", "the DICOM file has no pixel data")
    pixel_keyword = next(k for k in PIXEL_KEYWORDS if k in ds)
    if "TransferSyntaxUID" not in ds.file_meta and not ds[pixel_keyword].is_undefined_length:
        # Native pixel data without a transfer syntax: read it the way the header was read.
        encoding = ds.original_encoding  # (implicit VR, little endian)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if encoding[0] else ExplicitVRLittleEndian
    if "PhotometricInterpretation" in ds:  # pydicom knows only the standard's spelling: "monochrome1 " is MONOCHROME1
        ds.PhotometricInterpretation = str(ds.PhotometricInterpretation).strip().upper()
    return ds


def _check_inflated_size(data: bytes) -> None:
    """A deflated data set (pydicom inflates it whole while reading) is refused when it inflates past
    `MAX_INFLATED_BYTES`; counting it keeps one chunk in memory at a time."""
    meta_end = _file_meta_end(data)
    if not meta_end or DEFLATED not in data[META_START:meta_end]:
        return
    try:
        inflated = inflated_size(data[meta_end:], -zlib.MAX_WBITS, MAX_INFLATED_BYTES, INFLATE_CHUNK)
    except zlib.error:
        return  # pydicom says what is wrong with it
    if inflated > MAX_INFLATED_BYTES:
        raise DecodeError("decompression_bomb", f"the deflated data set inflates past {MAX_INFLATED_BYTES:,} bytes")


def _file_meta_end(data: bytes) -> int:
    """Where the file meta group (0002,xxxx: explicit VR little endian, after the preamble) ends; 0 without one."""
    if data[128:132] != b"DICM":
        return 0
    offset = META_START
    while offset + 8 <= len(data) and data[offset:offset + 2] == b"\x02\x00":
        if data[offset + 4:offset + 6] in LONG_VRS:
            if offset + 12 > len(data):
                return 0
            offset += 12 + struct.unpack_from("<I", data, offset + 8)[0]
        else:
            offset += 8 + struct.unpack_from("<H", data, offset + 6)[0]
    return offset


def _decode_failure(ds, exc: Exception) -> DecodeError:
    """unsupported_compression when no installed plugin decodes the transfer syntax (or each one that does declines
    these parameters); damaged data in a syntax that a plugin decodes is corrupt_pixel_data."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    message = str(exc) or type(exc).__name__
    if "less than expected" in message or "end of the" in message.lower():
        return DecodeError("truncated_file", message)
    if not isinstance(exc, (NotImplementedError, RuntimeError)) or syntax is None or not syntax.is_compressed:
        return DecodeError("corrupt_pixel_data", f"{type(exc).__name__}: {message}")
    described = f"{syntax.name} ({syntax}), {getattr(ds, 'BitsStored', '?')}-bit: {message}"
    if isinstance(exc, NotImplementedError) or not _decoder_installed(syntax) or _every_plugin_declined(message):
        return DecodeError("unsupported_compression", described)
    return DecodeError("corrupt_pixel_data", described)


def _decoder_installed(syntax) -> bool:
    from pydicom.pixels import get_decoder

    try:
        return get_decoder(syntax).is_available
    except NotImplementedError:  # pydicom has no decoder for the syntax at all
        return False


def _every_plugin_declined(message: str) -> bool:
    """pydicom's message after every available plugin failed: one "plugin: message" line each, after the first."""
    lines = message.splitlines()[1:]
    return bool(lines) and all(PLUGIN_DECLINES.search(line) for line in lines)


def _frame(ds, index: int | None) -> np.ndarray:
    """One frame (index None: the only one) as stored, colour converted to RGB."""
    from pydicom.pixels import pixel_array

    try:
        _check_codestreams_end(ds, index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = pixel_array(ds, index=index) if index is not None else ds.pixel_array
    except DecodeError:
        raise
    except Exception as exc:  # pydicom and its plugins raise many kinds on broken or unsupported pixel data
        raise _decode_failure(ds, exc) from None
    _check_shape(ds, pixels, frames=_frame_count(ds) if index is None else 1)
    return pixels


def _check_codestreams_end(ds, index: int | None) -> None:
    """Each JPEG, JPEG-LS or JPEG 2000 frame to be decoded (index None: all) that starts as a codestream ends as
    one: libjpeg and CharLS decode a codestream cut short without an error, filling in what is missing."""
    from pydicom.encaps import generate_frames, get_frame
    from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax not in JPEGTransferSyntaxes + JPEGLSTransferSyntaxes + JPEG2000TransferSyntaxes:
        return
    n_frames = _frame_count(ds)
    offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths) if "ExtendedOffsetTable" in ds else None
    if index is None:
        frames = enumerate(generate_frames(ds.PixelData, number_of_frames=n_frames, extended_offsets=offsets))
    else:
        frames = [(index, get_frame(ds.PixelData, index, number_of_frames=n_frames, extended_offsets=offsets))]
    for number, codestream in frames:
        if codestream.startswith(CODESTREAM_STARTS) and not codestream.rstrip(CODESTREAM_PADDING).endswith(
                CODESTREAM_END):
            raise DecodeError("truncated_file", f"frame {number}'s {syntax.name} codestream ends without its end "
                                                "marker (FFD9): the compressed frame is cut short")


def _check_shape(ds, pixels: np.ndarray, frames: int) -> None:
    """The decoded array is what the header describes: pydicom infers frames from the data's length when it
    holds more than one frame's worth, so a header that is wrong about rows, columns or frames would otherwise
    pass as a colour image or a stack."""
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    expected = (int(ds.Rows), int(ds.Columns)) + ((samples,) if samples > 1 else ())
    if frames > 1:
        expected = (frames,) + expected
    if pixels.shape != expected:
        described = "x".join(map(str, expected))
        raise DecodeError("corrupt_pixel_data", f"the pixel data decodes to {'x'.join(map(str, pixels.shape))} "
                                                f"values, the header describes {described} (frames, rows, columns, "
                                                "samples)")


def _projection(ds) -> np.ndarray:
    """The brightest value as displayed over all frames (stored values; see `_shown_inverted`)."""
    pixels = _frame(ds, None)
    if _frame_count(ds) > 1:
        pixels = pixels.min(axis=0) if _shown_inverted(ds) else pixels.max(axis=0)
    return pixels


def _to_gray(ds, pixels: np.ndarray, frame: int) -> np.ndarray:
    """Displayed 8-bit grey of one stored frame: colour to luminance, else modality LUT + VOI window."""
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    bits = int(getattr(ds, "BitsStored", 8) or 8)
    if photometric == "PALETTE COLOR":
        pixels = _palette_rgb(ds, pixels)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])  # the entries' depth, not the indices'
    if pixels.ndim == 3:  # RGB (pydicom converts YBR): luminance, as displayed
        luminance = pixels[..., :3].astype(np.float32) @ LUMA
        full_scale = float(2**bits - 1) if pixels.dtype.kind in "ui" else None
        return window_to_uint8(luminance, 0.0 if full_scale else None, full_scale)
    if pixels.dtype.kind == "f":
        return window_to_uint8(pixels)

    slope, intercept = _rescale(ds, frame)
    if "ModalityLUTSequence" in ds or "VOILUTSequence" in ds or _voi_function(ds, frame) == "SIGMOID":
        return _through_pydicom(ds, pixels)
    low, high = _stored_window(ds, frame, pixels, slope, intercept)
    return lut_to_uint8(pixels, low, high, invert=slope < 0)


def _stored_window(ds, frame: int, pixels: np.ndarray, slope: float, intercept: float
                   ) -> tuple[float | None, float | None]:
    """The header's linear window in stored values (what the reading station showed), or (None, None) for the
    automatic one: when the header states none, or one written for other pixels: it holds no stored value of the
    frame (a header copied from another image would show it all black or white), or it is over `WIDE_WINDOW` times
    wider than the stored bits can span (a 12-bit window kept on pixels cut to 8 bits shows them dark and flat)."""
    window = _window(ds, frame)
    if window is None:
        return None, None
    low, high = sorted((w - intercept) / slope for w in window)
    fits = low <= pixels.max() and high >= pixels.min() and high - low <= WIDE_WINDOW * _stored_span(ds, pixels)
    return (low, high) if fits else (None, None)


def _stored_span(ds, pixels: np.ndarray) -> int:
    """How many stored values the pixels' bits can hold: 2 ** BitsStored (at most the array type's bits)."""
    bits = pixels.dtype.itemsize * 8
    return 2 ** min(int(getattr(ds, "BitsStored", bits) or bits), bits)


def _palette_rgb(ds, pixels: np.ndarray) -> np.ndarray:
    """pydicom's `apply_color_lut`, which reads a palette's OW words in little-endian order: a big-endian file's
    palette goes to it with its words swapped."""
    from pydicom import Dataset
    from pydicom.pixels import apply_color_lut

    if ds.original_encoding[1] is not False or PALETTE_DATA[0] not in ds:
        return apply_color_lut(pixels, ds)
    palette = Dataset()
    palette.RedPaletteColorLookupTableDescriptor = ds.RedPaletteColorLookupTableDescriptor
    for keyword in PALETTE_DATA:
        if keyword in ds:
            setattr(palette, keyword, np.frombuffer(ds[keyword].value, ">u2").astype("<u2").tobytes())
    return apply_color_lut(pixels, palette)


def _through_pydicom(ds, pixels: np.ndarray) -> np.ndarray:
    """The general (non-linear) case: pydicom's modality and VOI LUTs, then the LUT's own output range."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(pixels, ds)
    if "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return window_to_uint8(apply_voi_lut(values, ds, index=0, prefer_lut=True), 0.0, float(2**bits - 1))
    if "WindowCenter" in ds:
        out = apply_voi_lut(values, ds, index=0, prefer_lut=False)
        return window_to_uint8(out, float(out.min()), float(out.max()))
    return window_to_uint8(values)


def _functional(ds, frame: int, sequence: str):
    """The first item of `sequence` for this frame: per-frame group, else shared group, else None."""
    for groups, item in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        if groups in ds and len(ds[groups].value) > item and sequence in ds[groups][item]:
            return ds[groups][item][sequence][0]
    return None


def _first(value) -> float:
    """The first of a multi-valued number (DICOM allows several windows), or the number."""
    return float(value if isinstance(value, (str, bytes, int, float)) else value[0])


def _rescale(ds, frame: int) -> tuple[float, float]:
    source = _functional(ds, frame, "PixelValueTransformationSequence") or ds
    try:
        slope = float(getattr(source, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(source, "RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        return 1.0, 0.0
    return (slope or 1.0), intercept


def _window(ds, frame: int) -> tuple[float, float] | None:
    """(low, high) of the first linear window in modality units (DICOM PS3.3 C.11.2.1.2), or None."""
    source = _functional(ds, frame, "FrameVOILUTSequence") or ds
    try:
        centre, width = _first(source.WindowCenter), _first(source.WindowWidth)
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    if width < 1:
        return None
    return centre - 0.5 - (width - 1) / 2, centre - 0.5 + (width - 1) / 2


def _voi_function(ds, frame: int) -> str:
    source = _functional(ds, frame, "FrameVOILUTSequence") or ds
    return str(getattr(source, "VOILUTFunction", "LINEAR") or "LINEAR").upper()


def _text(ds, keyword: str) -> str:
    """An allow-listed code string, reduced to the code words it may carry (annotators.dicom_codes)."""
    assert keyword in ALLOWED_ATTRIBUTES
    return known_words(str(getattr(ds, keyword, "") or ""))


def _spacing(ds) -> tuple[float, ...]:
    measures = _functional(ds, 0, "PixelMeasuresSequence")
    for source in (ds, measures):
        for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
            value = getattr(source, keyword, None) if source is not None else None
            if value is not None:
                try:
                    return tuple(float(v) for v in value)[:2]
                except (TypeError, ValueError):
                    return ()
    return ()
