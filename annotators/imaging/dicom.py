"""DICOM: modality LUT (rescale), VOI LUT or window, MONOCHROME1 / INVERSE inversion, palette colour, frames.

Only the selected frames are decoded (pydicom decodes one frame at a time when given an index); a JPEG-family frame
that does not end with its codestream's end marker is refused as cut short before it is decoded. Stored values sit in
the low bits however HighBit placed them. The modality and VOI transforms of 8- and 16-bit values are folded into one
8-bit look-up table over the stored values, so the pixel array is never converted to float: a linear rescale and a
LINEAR or LINEAR_EXACT window (a window that holds none of a frame's stored values, or is far wider than its values
can span, is replaced by the automatic one), Modality and VOI LUT sequences from their entries (a VOI LUT is shown
over its entries' range, which descriptors often misstate), SIGMOID windows by the standard's formula; a rescale or
window value that cannot be read is left out alone (an unreadable slope is 1, the intercept still applies).
Header attributes leave decoding by allow-list only (`ALLOWED_ATTRIBUTES`), their code strings reduced to known
code words. Sizes are checked before decoding: a frame over `MAX_PIXELS`, a projection's stack over `MAX_VOXELS`
and a deflated data set that inflates past `MAX_INFLATED_BYTES` are refused, as is an image whose header says its
pixels identify the patient (BurnedInAnnotation or RecognizableVisualFeatures YES: `identifying_pixels`).
Image Pixel attributes that old modalities leave out and anonymisers strip get the one value the standard or the
pixel data's length allows (`_complete_pixel_module`); a header that leaves them ambiguous is `corrupt_dicom`, and
pixel data that holds other frames than the header states is `corrupt_pixel_data`.
"""
from __future__ import annotations

import functools
import io
import math
import re
import struct
import warnings
import zlib
from typing import NamedTuple

import numpy as np

from annotators.dicom_codes import known_words
from annotators.imaging.normalise import LUMA, lut_to_uint8, through_table, window_to_uint8
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

# Header attributes (PS3.3 C.7.6.1.1) that, set to YES, say the pixels identify the patient.
IDENTIFYING_PIXELS = {"BurnedInAnnotation": "identifying text burned in", "RecognizableVisualFeatures": "a face or "
                      "other features that could identify the patient"}
# The only header attributes that leave decoding; everything else (names, ids, dates, institutions) is dropped.
ALLOWED_ATTRIBUTES = ("Modality", "ViewPosition", "BodyPartExamined", "PixelSpacing", "ImagerPixelSpacing")
PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")  # (7FE0,0010) in either byte order: the element was there
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
DEFLATED = b"1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian: the data set after the file meta is zlib
META_START = 132  # the 128-byte preamble and "DICM"
# JPEG, JPEG-LS and JPEG 2000 codestreams start with SOI and a marker / SOC and SIZ, and end with EOI / EOC (FFD9),
# which cannot occur inside them; a frame may be padded after it to an even length (with 00, or FF in some writers'
# files).
CODESTREAM_STARTS = (b"\xff\xd8\xff", b"\xff\x4f\xff\x51")
CODESTREAM_END = b"\xff\xd9"
CODESTREAM_PADDING = b"\x00\xff"
PALETTE_DATA = tuple(f"{colour}PaletteColorLookupTableData" for colour in ("Red", "Green", "Blue", "Alpha"))
# What a pydicom plugin says when the data is valid but beyond it (12-bit JPEG Extended in Pillow, say):
PLUGIN_DECLINES = re.compile(r"does not support|not supported|are supported", re.IGNORECASE)
# A window this many times wider than the stored bits can span leaves them under a quarter of the 256 grey levels:
# it was written for deeper pixels.
WIDE_WINDOW = 4
LONG_VRS = (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")  # 4-byte length
UNDEFINED_LENGTH = 0xFFFFFFFF
# Samples per pixel that each photometric interpretation implies (PS3.3 C.7.6.3.1.2), for a header that omits them.
SAMPLES = {"MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "YBR_FULL": 3, "YBR_FULL_422": 3,
           "YBR_PARTIAL_420": 3, "YBR_ICT": 3, "YBR_RCT": 3}
# Float pixel data is one grey sample a pixel of these bits, with no Bits Stored or Pixel Representation (PS3.3
# C.7.6.3.1.1): its attributes have one possible value each.
FLOAT_BITS = {"FloatPixelData": 32, "DoubleFloatPixelData": 64}
# A linear window 1 wide is a threshold at its centre - 0.5 (PS3.3 C.11.2.1.2.1); the formula gives it no width, so
# it is drawn as a ramp this narrow, too narrow to hold an integer value.
THRESHOLD_WIDTH = 1e-3


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
    _check_size(ds, n_frames, projection=not selected)
    _check_frames_held(ds)
    if n_frames == 1:
        return [_image(ds, _frame(ds, None), -1)]
    if not selected:
        return [_image(ds, _projection(ds), -2)]
    return [_image(ds, _frame(ds, index), index) for index in selected]


def _check_size(ds, n_frames: int, projection: bool) -> None:
    """A frame over `MAX_PIXELS`, or a projection's stack of frames over `MAX_VOXELS`, is refused before decoding."""
    plane = int(getattr(ds, "Rows", 0) or 0) * int(getattr(ds, "Columns", 0) or 0)
    if plane > MAX_PIXELS:
        raise too_large("a frame", plane, MAX_PIXELS, "pixels")
    if projection and plane * n_frames > MAX_VOXELS:  # a projection decodes every frame
        raise too_large(f"the stack of {n_frames:,} frames", plane * n_frames, MAX_VOXELS, "pixels")


def _image(ds, pixels: np.ndarray, frame: int) -> DecodedImage:
    """The displayed image of stored `pixels`: `frame` -1 for a file of one frame, -2 for a projection (both shown
    with the first frame's transforms), else the frame's index."""
    gray = _to_gray(ds, pixels, max(frame, 0))
    if _shown_inverted(ds):
        gray = 255 - gray
    return DecodedImage(
        pixels=gray,
        orig_width=int(gray.shape[1]),
        orig_height=int(gray.shape[0]),
        modality=_text(ds, "Modality"),
        view=_text(ds, "ViewPosition"),
        body_part=_text(ds, "BodyPartExamined"),
        pixel_spacing=_spacing(ds),
        frame=frame,
    )


def _refuse_identifying_pixels(ds) -> None:
    """An image whose header says its pixels identify the patient (text burned in: a name, a date of birth; or a
    face) is refused: de-identifying the header and the report would not de-identify it."""
    for keyword, what in IDENTIFYING_PIXELS.items():
        if str(getattr(ds, keyword, "") or "").strip().upper() == "YES":
            raise DecodeError("identifying_pixels", f"{keyword} is YES: the pixels show {what}")


def _frame_count(ds) -> int:
    return int(getattr(ds, "NumberOfFrames", 1) or 1)


def _check_frames_held(ds) -> None:
    """The pixel data holds the frames the header states, no fewer and no more: pydicom would decode the frames
    that are there of a file that holds fewer, and the first frames of one that holds more."""
    stated = _frame_count(ds)
    element = _pixel_element(ds)
    if element.is_undefined_length:
        held, exact = _encapsulated_frames(ds, element.value)
    else:
        held, exact = _native_frames(ds, len(element.value), stated), True
    if held < stated or (exact and held > stated):
        raise DecodeError("corrupt_pixel_data", f"the pixel data holds {'' if exact else 'at most '}{held:,} whole "
                                                f"frames of {ds.Rows}x{ds.Columns}, the header describes {stated:,}")


def _native_frames(ds, length: int, stated: int) -> int:
    """The frames that `length` bytes of native pixel data hold: the stated count while what is left over is a pad
    byte or less than a frame (trailing bytes that readers ignore), else as many whole frames as fit."""
    samples = 2 if ds.PhotometricInterpretation == "YBR_FULL_422" else int(ds.SamplesPerPixel)  # Y Y Cb Cr
    frame_bits = int(ds.Rows) * int(ds.Columns) * samples * int(ds.BitsAllocated)
    extra_bits = length * 8 - stated * frame_bits
    return stated if 0 <= extra_bits < max(frame_bits, 16) else length * 8 // frame_bits


def _encapsulated_frames(ds, data: bytes) -> tuple[int, bool]:
    """(frames, exact) that compressed pixel data holds (PS3.5 A.4): as many as its basic offset table lists; without
    one, a fragment each in RLE, a fragment that opens a codestream each in the JPEG family, else at most a fragment
    each (a frame may span several)."""
    from pydicom.encaps import parse_basic_offsets, parse_fragments
    from pydicom.uid import RLELossless

    buffer = io.BytesIO(data)
    try:
        offsets = parse_basic_offsets(buffer)
        count, starts = parse_fragments(buffer)
    except (ValueError, struct.error) as exc:
        raise DecodeError("corrupt_pixel_data", f"the compressed pixel data's items cannot be read: {exc}") from None
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if offsets or syntax == RLELossless:
        return len(offsets) or count, True
    opens_codestream = [data.startswith(CODESTREAM_STARTS, start + 8) for start in starts]  # after the item header
    if _codestream_syntax(syntax) and opens_codestream[:1] == [True]:  # not a JP2 file or the like wrapped whole
        return sum(opens_codestream), True
    return count, False


def _codestream_syntax(syntax) -> bool:
    """A JPEG, JPEG-LS or JPEG 2000 transfer syntax, whose frames are codestreams with start and end markers."""
    from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

    return syntax in JPEGTransferSyntaxes + JPEGLSTransferSyntaxes + JPEG2000TransferSyntaxes


def _shown_inverted(ds) -> bool:
    """Low values are displayed bright: MONOCHROME1, or MONOCHROME2 with a Presentation LUT Shape of INVERSE
    (PS3.3 C.11.6; MONOCHROME1 states INVERSE beside it, once, not twice)."""
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    shape = str(getattr(ds, "PresentationLUTShape", "") or "").upper()
    return photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and shape == "INVERSE")


def _read(data: bytes):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if data.startswith(b"DICM"):  # a writer that left out the 128-byte preamble but kept the prefix after it
        data = bytes(128) + data
    _check_inflated_size(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except zlib.error as exc:  # a deflated data set, inflated whole by pydicom
        reason = "truncated_file" if "truncated" in str(exc) else "corrupt_dicom"
        raise DecodeError(reason, f"cannot inflate the deflated data set: {exc}") from None
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError, OSError, AttributeError) as exc:
        raise DecodeError("corrupt_dicom", f"cannot parse the file: {exc}") from None
    keyword = _pixel_keyword(ds, data)
    if "TransferSyntaxUID" not in ds.file_meta and not ds[keyword].is_undefined_length:
        ds.file_meta.TransferSyntaxUID = _native_syntax(ds)
    if _stated(ds, "PhotometricInterpretation"):  # pydicom knows the standard's spelling only: "monochrome1 "
        ds.PhotometricInterpretation = str(ds.PhotometricInterpretation).strip().upper()
    _complete_pixel_module(ds, keyword)
    return ds


def _pixel_keyword(ds, data: bytes) -> str:
    """The keyword of the data set's pixel data element; no_pixel_data when it has none (a structured report, a
    presentation state) or an empty one, truncated_file when the file ends before the element does."""
    keyword = next((k for k in PIXEL_KEYWORDS if k in ds), None)
    if keyword is None:
        if any(tag in data for tag in PIXEL_DATA_TAGS):
            raise DecodeError("truncated_file", "the file ends before its pixel data element is complete")
        raise DecodeError("no_pixel_data", f"the DICOM file has no pixel data{_object_kind(ds)}")
    raw = ds.get_item(keyword)  # as read: the length its header declares, and the bytes that followed
    held = len(raw.value or b"")
    declared = getattr(raw, "length", held)  # pydicom converts an empty element while reading it: no length kept
    if declared != UNDEFINED_LENGTH and held < declared:
        raise DecodeError("truncated_file", f"the file ends {declared - held:,} bytes before its pixel data does")
    if not held:
        raise DecodeError("no_pixel_data", f"the DICOM file's pixel data element is empty{_object_kind(ds)}")
    return keyword


def _object_kind(ds) -> str:
    """": its SOP class is <name>" when the data set names a SOP class the standard defines, else ""."""
    from pydicom.uid import UID

    uid = UID(str(ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID") or ""))
    return f": its SOP class is {uid.name}" if uid.is_valid and uid.name != uid else ""


def _native_syntax(ds):
    """The native transfer syntax of a data set read without file meta: the VR and byte order that pydicom found
    its elements in (implicit VR is little endian only)."""
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little_endian = ds.original_encoding
    if not little_endian:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def _complete_pixel_module(ds, keyword: str) -> None:
    """Image Pixel attributes (PS3.3 C.7.6.3) that old modalities leave out and anonymisers strip or empty, given the
    one value that the standard or the pixel data's length allows; corrupt_dicom where none can be told."""
    for size in ("Rows", "Columns"):
        if not _count(ds, size):
            raise DecodeError("corrupt_dicom", f"the header states no {size}: the image's size is unknown")
    if not _count(ds, "BitsAllocated"):
        if keyword not in FLOAT_BITS:
            raise DecodeError("corrupt_dicom", "the header states no BitsAllocated: the pixels' size is unknown")
        ds.BitsAllocated = FLOAT_BITS[keyword]
    if not _count(ds, "SamplesPerPixel"):
        ds.SamplesPerPixel = SAMPLES.get(str(ds.get("PhotometricInterpretation") or "")) or _samples_in_data(ds)
    if not _stated(ds, "PhotometricInterpretation"):
        ds.PhotometricInterpretation = _default_photometric(ds)
    if keyword == "PixelData":  # float pixel data has neither
        if not _count(ds, "BitsStored"):
            ds.BitsStored = ds.BitsAllocated
        if not _stated(ds, "PixelRepresentation"):
            ds.PixelRepresentation = 0  # unsigned
    if ds.SamplesPerPixel > 1 and not _stated(ds, "PlanarConfiguration"):
        ds.PlanarConfiguration = _default_planar_configuration(ds)


def _stated(ds, keyword: str) -> bool:
    return ds.get(keyword) not in (None, "")


def _count(ds, keyword: str) -> int:
    """A count the header states, 0 when it states none (absent or emptied): no image has 0 of any."""
    return int(ds.get(keyword) or 0)


def _samples_in_data(ds) -> int:
    """Samples per pixel of native pixel data whose length holds 1 or 3 a pixel (a pad byte after it allowed)."""
    element = _pixel_element(ds)
    if not element.is_undefined_length:
        pixels_bits = int(ds.Rows) * int(ds.Columns) * _frame_count(ds) * int(ds.BitsAllocated)
        for samples in (1, 3):
            if len(element.value) - math.ceil(samples * pixels_bits / 8) in (0, 1):
                return samples
    raise DecodeError("corrupt_dicom", "the header states neither SamplesPerPixel nor PhotometricInterpretation, "
                                       "and the pixel data's length does not tell the samples per pixel")


def _pixel_element(ds):
    return next(ds[keyword] for keyword in PIXEL_KEYWORDS if keyword in ds)


def _default_photometric(ds) -> str:
    """MONOCHROME2 for one sample a pixel (PS3.3 C.7.6.3.1.2); three can be RGB or YBR, which differ in every
    value."""
    if int(ds.SamplesPerPixel) == 1:
        return "MONOCHROME2"
    raise DecodeError("corrupt_dicom", f"the header states no PhotometricInterpretation for {ds.SamplesPerPixel} "
                                       "samples per pixel: RGB and YBR cannot be told apart")


def _default_planar_configuration(ds) -> int:
    """0 for compressed colour, whose codestream orders its own samples; native colour pixels can be stored
    pixel by pixel or plane by plane, which the header alone tells."""
    if _pixel_element(ds).is_undefined_length:
        return 0
    raise DecodeError("corrupt_dicom", "the header states no PlanarConfiguration for native colour pixels: "
                                       "interleaved and planar samples cannot be told apart")


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
    """One frame (index None: every frame) as stored, colour converted to RGB, its values in the low bits."""
    from pydicom.pixels import pixel_array

    shift = _high_bit_shift(ds)
    # pydicom clears the bits above BitsStored (signed: extends its top bit) as if HighBit were BitsStored - 1
    options = {"bits_stored": int(ds.BitsStored) + shift} if shift else {}
    try:
        _check_codestreams_end(ds, index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = pixel_array(ds, index=index, **options)
    except DecodeError:
        raise
    except Exception as exc:  # pydicom and its plugins raise many kinds on broken or unsupported pixel data
        raise _decode_failure(ds, exc) from None
    _check_shape(ds, pixels, frames=_frame_count(ds) if index is None else 1)
    return np.right_shift(pixels, shift, out=pixels) if shift else pixels


def _high_bit_shift(ds) -> int:
    """How many bits below the stored values lie (PS3.5 8.1.1): HighBit + 1 - BitsStored, as old ACR-NEMA files keep
    12 bits in bits 4 to 15; 0 where HighBit is absent or impossible, and for float data and codestreams, whose
    values are their own whatever the header says."""
    if "PixelData" not in ds or not _stated(ds, "HighBit") or _codestream_syntax(
            ds.file_meta.get("TransferSyntaxUID")):
        return 0
    high_bit = int(ds.HighBit)
    shift = high_bit + 1 - int(ds.BitsStored)
    return shift if 0 < shift and high_bit < int(ds.BitsAllocated) else 0


def _check_codestreams_end(ds, index: int | None) -> None:
    """Each JPEG, JPEG-LS or JPEG 2000 frame to be decoded (index None: all) that starts as a codestream ends as
    one: libjpeg and CharLS decode a codestream cut short without an error, filling in what is missing."""
    from pydicom.encaps import generate_frames, get_frame

    syntax = ds.file_meta.get("TransferSyntaxUID")
    if not _codestream_syntax(syntax):
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
    """The brightest value as displayed over all frames: the lowest stored value where low values are shown bright."""
    pixels = _frame(ds, None)
    if _frame_count(ds) > 1:
        pixels = pixels.min(axis=0) if _low_values_shown_bright(ds) else pixels.max(axis=0)
    return pixels


def _low_values_shown_bright(ds) -> bool:
    """`_shown_inverted`, or else a negative rescale slope (the first frame's), which inverts the values once more."""
    negative_slope = "ModalityLUTSequence" not in ds and _rescale(ds, 0)[0] < 0
    return _shown_inverted(ds) != negative_slope


def _to_gray(ds, pixels: np.ndarray, frame: int) -> np.ndarray:
    """Displayed 8-bit grey of one stored frame: colour as its luminance, grey through `_grey_to_uint8`."""
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "PALETTE COLOR":
        return _luminance(*_palette_rgb(ds, pixels))
    if pixels.ndim == 3:  # RGB (pydicom converts YBR)
        return _luminance(pixels, float(2 ** int(ds.BitsStored) - 1))
    return _grey_to_uint8(ds, pixels, frame)


def _grey_to_uint8(ds, pixels: np.ndarray, frame: int) -> np.ndarray:
    """Grey stored values through the modality LUT or rescale (PS3.3 C.11.1), then `_voi_to_uint8`."""
    modality_lut = _lut(ds, "ModalityLUTSequence")
    if modality_lut is None:
        return _voi_to_uint8(ds, frame, pixels, *_rescale(ds, frame), span=_stored_span(ds, pixels))
    values = through_table(pixels, functools.partial(_apply_lut, modality_lut))
    return _voi_to_uint8(ds, frame, values, 1.0, 0.0, span=modality_lut.span)  # modality values: no rescale after it


def _voi_to_uint8(ds, frame: int, values: np.ndarray, slope: float, intercept: float, span: int) -> np.ndarray:
    """Stored `values` (modality values after `slope` and `intercept`, of `span` possible ones) through the VOI LUT or
    window (PS3.3 C.11.2), all in one table over the stored values (`through_table`)."""
    voi_lut = _lut(ds, "VOILUTSequence")
    if voi_lut is not None:  # displayed over its entries' range, which its descriptor's depth often overstates
        return through_table(values, lambda v: window_to_uint8(_apply_lut(voi_lut, _modality(v, slope, intercept)),
                                                                *voi_lut.output_range))
    window = _window(ds, frame)
    if window is not None and window.function == "SIGMOID":
        return through_table(values, lambda v: _sigmoid(_modality(v, slope, intercept), window))
    low, high = _stored_window(window, values, slope, intercept, span)
    return lut_to_uint8(values, low, high, invert=slope < 0)


def _luminance(rgb: np.ndarray, full_scale: float) -> np.ndarray:
    """The displayed luminance of colour values on 0 to `full_scale` (integers), or on their own range (floats)."""
    luminance = rgb[..., :3].astype(np.float32) @ LUMA
    return window_to_uint8(luminance, *((0.0, full_scale) if rgb.dtype.kind in "ui" else (None, None)))


def _modality(pixels: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Stored values in modality units; integers stay integers when the rescale is the identity."""
    if (slope, intercept) == (1.0, 0.0):
        return pixels
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _stored_window(window: Window | None, values: np.ndarray, slope: float, intercept: float, span: int
                   ) -> tuple[float | None, float | None]:
    """The header's linear window in stored values (what the reading station showed), or (None, None) for the
    automatic one: when the header states none, or one written for other pixels: it holds no stored value of the
    frame (a header copied from another image would show it all black or white), or it is over `WIDE_WINDOW` times
    wider than the `span` of values the stored bits can hold (a 12-bit window kept on pixels cut to 8 bits shows them
    dark and flat)."""
    if window is None:
        return None, None
    low, high = sorted((w - intercept) / slope for w in window.bounds)
    smallest, largest = _value_range(values)
    fits = low <= largest and high >= smallest and high - low <= WIDE_WINDOW * span
    return (low, high) if fits else (None, None)


def _value_range(values: np.ndarray) -> tuple[float, float]:
    """The smallest and the largest value, NaN left out (integers hold none: their min and max are faster)."""
    if values.dtype.kind == "f":
        return float(np.nanmin(values)), float(np.nanmax(values))
    return float(values.min()), float(values.max())


def _stored_span(ds, pixels: np.ndarray) -> int:
    """How many stored values the pixels' bits can hold: 2 ** BitsStored (at most the array type's bits)."""
    bits = pixels.dtype.itemsize * 8
    return 2 ** min(int(getattr(ds, "BitsStored", bits) or bits), bits)


def _palette_rgb(ds, pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """pydicom's `apply_color_lut`, which reads a palette's OW words in little-endian order: a big-endian file's
    palette goes to it with its words swapped; and the entries' full scale, from the descriptor's depth unless the
    entries exceed it (a descriptor of 8 bits beside 16-bit entries)."""
    from pydicom import Dataset
    from pydicom.pixels import apply_color_lut

    if ds.original_encoding[1] is not False or PALETTE_DATA[0] not in ds:
        rgb = apply_color_lut(pixels, ds)
    else:
        palette = Dataset()
        palette.RedPaletteColorLookupTableDescriptor = ds.RedPaletteColorLookupTableDescriptor
        for keyword in PALETTE_DATA:
            if keyword in ds:
                setattr(palette, keyword, np.frombuffer(ds[keyword].value, ">u2").astype("<u2").tobytes())
        rgb = apply_color_lut(pixels, palette)
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    return rgb, float(2 ** (bits if rgb.max() < 2**bits else 16) - 1)


class Lut(NamedTuple):
    """A Modality or VOI LUT (PS3.3 C.11.1.1.1): the first value it maps, its entries and their depth as stated."""

    first: int
    entries: np.ndarray
    bits: int

    @property
    def output_range(self) -> tuple[float, float]:
        return float(self.entries.min()), float(self.entries.max())

    @property
    def span(self) -> int:
        """How many values its entries can take: 2 ** bits, or more where they exceed the depth stated."""
        return max(1 << self.bits, int(self.entries.max()) + 1)


def _lut(ds, sequence: str) -> Lut | None:
    """The first LUT in a Modality or VOI LUT Sequence, or None when it has none that can be read (the rescale or
    window then applies, as when it is absent). The entries are as many as the data holds, whatever the descriptor
    counts; the first value mapped is signed for signed pixels (its VR, US or SS, follows them, and readers often
    take it as US)."""
    item = next(iter(ds.get(sequence) or []), None)
    descriptor, data = (item.get("LUTDescriptor"), item.get("LUTData")) if item is not None else (None, None)
    if descriptor is None or len(descriptor) != 3 or data is None:
        return None
    bits = min(max(int(descriptor[2]), 1), 16)  # the standard allows 8 to 16
    entries = _lut_entries(ds, data, bits, int(descriptor[0]) or 1 << 16)
    first = int(descriptor[1])
    if first >= 1 << 15 and int(ds.get("PixelRepresentation") or 0):
        first -= 1 << 16
    return Lut(first, entries, bits) if entries.size else None


def _lut_entries(ds, data, bits: int, count: int) -> np.ndarray:
    """LUT Data as integers: a US list as read, or OW bytes in the data set's byte order, one word an entry, or one
    byte when 8-bit entries are packed (then the bytes are about as many as the descriptor counts)."""
    if not isinstance(data, bytes):
        entries = np.atleast_1d(np.asarray(data, dtype=np.int64))
        sixteen_bits = entries.size and 0 <= entries.min() and entries.max() < 1 << 16
        return entries.astype(np.uint16) if sixteen_bits else entries  # which `through_table` can index again
    if bits <= 8 and len(data) < 2 * count:
        return np.frombuffer(data, np.uint8)
    return np.frombuffer(data[: len(data) // 2 * 2], "<u2" if ds.original_encoding[1] is not False else ">u2")


def _apply_lut(lut: Lut, values: np.ndarray) -> np.ndarray:
    """LUT entries of `values`: values below the first mapped take the first entry, above the last the last."""
    if values.dtype.kind == "f":
        index = np.rint(values)
    else:  # wide enough to subtract `first` from any stored value
        index = values.astype(np.int64 if values.itemsize > 2 else np.int32)
    return lut.entries[np.clip(index - lut.first, 0, lut.entries.size - 1).astype(np.intp)]


class Window(NamedTuple):
    """A VOI window (PS3.3 C.11.2.1.2, C.11.2.1.3): its function (LINEAR, LINEAR_EXACT or SIGMOID), centre and width,
    in modality units."""

    function: str
    centre: float
    width: float

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of a linear function: below low is black, above high white. LINEAR runs from centre - 0.5 -
        (width - 1) / 2 to centre - 0.5 + (width - 1) / 2 (width 1: a threshold at centre - 0.5, drawn as a ramp
        `THRESHOLD_WIDTH` wide), LINEAR_EXACT from centre - width / 2 to centre + width / 2."""
        if self.function == "LINEAR_EXACT":
            return self.centre - self.width / 2, self.centre + self.width / 2
        half = max(self.width - 1, THRESHOLD_WIDTH) / 2
        return self.centre - 0.5 - half, self.centre - 0.5 + half


def _sigmoid(values: np.ndarray, window: Window) -> np.ndarray:
    """The SIGMOID VOI function (PS3.3 C.11.2.1.3.1) of modality values, on 0 to 255."""
    centre, width = np.float32(window.centre), np.float32(window.width)
    exponent = np.clip(-4.0 * (values.astype(np.float32) - centre) / width, -80.0, 80.0)
    return window_to_uint8(1.0 / (1.0 + np.exp(exponent)), 0.0, 1.0)


def _functional(ds, frame: int, sequence: str):
    """The first item of `sequence` for this frame: per-frame group, else shared group, else None."""
    for groups, item in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        if groups in ds and len(ds[groups].value) > item and sequence in ds[groups][item]:
            return ds[groups][item][sequence][0]
    return None


def _number(source, keyword: str) -> float | None:
    """The first value of a numeric attribute (DICOM allows several windows), or None when it is absent, empty or no
    finite number."""
    try:
        value = source.get(keyword)
        number = float(value if isinstance(value, (str, bytes, int, float)) else value[0])
    except (TypeError, ValueError, IndexError):
        return None
    return number if math.isfinite(number) else None


def _rescale(ds, frame: int) -> tuple[float, float]:
    """Rescale slope and intercept (PS3.3 C.11.1.1.2; per frame in enhanced files), each the identity's when it
    cannot be read; a slope of 0, which would make every pixel one value, is taken as 1."""
    source = _functional(ds, frame, "PixelValueTransformationSequence") or ds
    return _number(source, "RescaleSlope") or 1.0, _number(source, "RescaleIntercept") or 0.0


def _window(ds, frame: int) -> Window | None:
    """The first window (per frame in enhanced files), or None: absent, unreadable, or narrower than its function
    allows (LINEAR at least 1 wide, LINEAR_EXACT and SIGMOID over 0; another function's name is read as LINEAR)."""
    source = _functional(ds, frame, "FrameVOILUTSequence") or ds
    centre, width = _number(source, "WindowCenter"), _number(source, "WindowWidth")
    function = str(source.get("VOILUTFunction") or "").strip().upper()
    function = function if function in ("LINEAR_EXACT", "SIGMOID") else "LINEAR"
    if centre is None or width is None or (width < 1 if function == "LINEAR" else width <= 0):
        return None
    return Window(function, centre, width)


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
