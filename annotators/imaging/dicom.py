"""DICOM: modality LUT (rescale), VOI LUT or window, MONOCHROME1 inversion, palette colour, frames.

Only the selected frames are decoded (pydicom decodes one frame at a time when given an index). Linear rescale
and a linear window are folded into one 8-bit look-up table over the stored values, so the pixel array is never
converted to float; Modality LUT sequences, VOI LUT sequences and sigmoid windows go through pydicom.
Header attributes leave decoding by allow-list only (`ALLOWED_ATTRIBUTES`), their code strings reduced to known
code words. Sizes are checked before decoding: a frame over `MAX_PIXELS`, a projection's stack over `MAX_VOXELS`
and a deflated data set that inflates past `MAX_INFLATED_BYTES` are refused.
"""
from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np

from annotators.dicom_codes import known_words
from annotators.imaging.normalise import lut_to_uint8, window_to_uint8
from annotators.imaging.types import (
    MAX_INFLATED_BYTES,
    MAX_PIXELS,
    MAX_VOXELS,
    DecodedImage,
    DecodeError,
    FrameSelection,
    too_large,
)

# The only header attributes that leave decoding; everything else (names, ids, dates, institutions) is dropped.
ALLOWED_ATTRIBUTES = ("Modality", "ViewPosition", "BodyPartExamined", "PixelSpacing", "ImagerPixelSpacing")
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian: the pixel data element was there
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
DEFLATED = b"1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian: the data set after the file meta is zlib
META_START = 132  # the 128-byte preamble and "DICM"
LONG_VRS = (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")  # 4-byte length
INFLATE_CHUNK = 64 << 20


def decode_dicom(data: bytes, frames: FrameSelection) -> list[DecodedImage]:
    try:
        return _images(_read(data), frames)
    except DecodeError:
        raise
    except Exception as exc:  # a header value of the wrong kind or length (pydicom converts lazily, on access)
        raise DecodeError("corrupt_dicom", f"{type(exc).__name__}: {exc}") from None


def _images(ds, frames: FrameSelection) -> list[DecodedImage]:
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    selected = frames.indices(n_frames)
    plane = int(getattr(ds, "Rows", 0) or 0) * int(getattr(ds, "Columns", 0) or 0)
    if plane > MAX_PIXELS:
        raise too_large("a frame", plane, MAX_PIXELS, "pixels")
    if not selected and plane * n_frames > MAX_VOXELS:  # a projection decodes every frame
        raise too_large(f"the stack of {n_frames:,} frames", plane * n_frames, MAX_VOXELS, "pixels")
    stack = [_frame(ds, index if n_frames > 1 else None) for index in selected] or [_projection(ds)]
    invert = str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1"
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
    return ds


def _check_inflated_size(data: bytes) -> None:
    """A deflated data set (pydicom inflates it whole while reading) is refused when it inflates past
    `MAX_INFLATED_BYTES`; counting it keeps one chunk in memory at a time."""
    meta_end = _file_meta_end(data)
    if not meta_end or DEFLATED not in data[META_START:meta_end]:
        return
    inflater, pending, inflated = zlib.decompressobj(-zlib.MAX_WBITS), data[meta_end:], 0
    try:
        while pending and inflated <= MAX_INFLATED_BYTES:
            inflated += len(inflater.decompress(pending, INFLATE_CHUNK))
            pending = inflater.unconsumed_tail
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
    syntax = ds.file_meta.get("TransferSyntaxUID")
    message = str(exc) or type(exc).__name__
    if "less than expected" in message or "end of the" in message.lower():
        return DecodeError("truncated_file", message)
    if isinstance(exc, (NotImplementedError, RuntimeError)) and syntax is not None and syntax.is_compressed:
        bits = getattr(ds, "BitsStored", "?")
        return DecodeError("unsupported_compression", f"{syntax.name} ({syntax}), {bits}-bit: {message}")
    return DecodeError("corrupt_pixel_data", f"{type(exc).__name__}: {message}")


def _frame(ds, index: int | None) -> np.ndarray:
    """One frame (index None: the only one) as stored, colour converted to RGB."""
    from pydicom.pixels import pixel_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = pixel_array(ds, index=index) if index is not None else ds.pixel_array
    except Exception as exc:  # pydicom and its plugins raise many kinds on broken or unsupported pixel data
        raise _decode_failure(ds, exc) from None
    _check_shape(ds, pixels, frames=int(getattr(ds, "NumberOfFrames", 1) or 1) if index is None else 1)
    return pixels


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
    """The brightest value as displayed over all frames (stored values; MONOCHROME1 shows low values bright)."""
    pixels = _frame(ds, None)
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        monochrome1 = str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1"
        pixels = pixels.min(axis=0) if monochrome1 else pixels.max(axis=0)
    return pixels


def _to_gray(ds, pixels: np.ndarray, frame: int) -> np.ndarray:
    """Displayed 8-bit grey of one stored frame: colour to luminance, else modality LUT + VOI window."""
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, ds)
    if pixels.ndim == 3:  # RGB (pydicom converts YBR): luminance, as displayed
        luminance = pixels[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        full_scale = float(2 ** int(getattr(ds, "BitsStored", 8) or 8) - 1) if pixels.dtype.kind in "ui" else None
        return window_to_uint8(luminance, 0.0 if full_scale else None, full_scale)
    if pixels.dtype.kind == "f":
        return window_to_uint8(pixels)

    slope, intercept = _rescale(ds, frame)
    if "ModalityLUTSequence" in ds or "VOILUTSequence" in ds or _voi_function(ds, frame) == "SIGMOID":
        return _through_pydicom(ds, pixels)
    window = _window(ds, frame)
    if window is None:
        return lut_to_uint8(pixels, None, None, invert=slope < 0)
    low, high = ((w - intercept) / slope for w in window)
    return lut_to_uint8(pixels, min(low, high), max(low, high), invert=slope < 0)


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
