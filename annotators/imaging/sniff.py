"""Format detection from content (extension as a fallback) and dispatch to the decoders."""
from __future__ import annotations

import zlib

from annotators.imaging.dicom import decode_dicom
from annotators.imaging.nifti import (
    GZIP_MAGIC,
    NIFTI_PAIR_HEADER,
    NIFTI_SINGLE_FILE,
    decode_nifti,
    gzip_head,
    has_magic,
)
from annotators.imaging.raster import JPEG_MAGIC, decode_raster
from annotators.imaging.types import DecodedImage, DecodeError, FrameSelection

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ANALYZE_HEADER_SIZE = (b"\x5c\x01\x00\x00", b"\x00\x00\x01\x5c")  # sizeof_hdr 348, little and big endian
# How a DICOM data set without its preamble opens (tag group 0002 or 0008, little or big endian; or the "DICM" of
# a file whose preamble was cut off), as files exported with no suffix (IM000001) may: tried as DICOM when no
# raster reader knows the bytes.
BARE_DATASET_STARTS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08", b"DICM")
PAIR_DETAIL = "an Analyze/NIfTI .hdr/.img pair (header and voxels in two files) is not supported; convert it to .nii"
GZIP_DETAIL = "a gzip file that holds no NIfTI volume: decompress it first"


def sniff_format(data: bytes, name: str) -> str:
    """"dicom", "nifti", "png", "jpeg", "pair" (an Analyze or NIfTI .hdr), "gzip" (other gzipped data) or "raster"
    (another format PIL may read): from magic bytes first (of what a gzip file inflates to), then from the name's
    extension."""
    lower = name.lower()
    if data.startswith(GZIP_MAGIC):
        return _gzip_format(data, lower)
    if data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if has_magic(data, NIFTI_SINGLE_FILE):
        return "nifti"
    if _pair_header(data, lower):
        return "pair"
    if lower.endswith((".dcm", ".dicom")):  # DICOM without the preamble
        return "dicom"
    if lower.endswith((".nii", ".nii.gz")):
        return "nifti"
    return "raster"


def _pair_header(data: bytes, lower: str) -> bool:
    """The header of an Analyze or NIfTI pair: by its NIfTI magic, or as an Analyze header named .hdr."""
    return has_magic(data, NIFTI_PAIR_HEADER) or (data[:4] in ANALYZE_HEADER_SIZE and lower.endswith(".hdr"))


def _gzip_format(data: bytes, lower: str) -> str:
    """A gzip file's format (`sniff_format`) by the magic of what it inflates to, then by its name: a NIfTI
    (.nii.gz), a pair's header or voxels (.hdr.gz, .img.gz, as nibabel writes them) or other gzipped data."""
    try:
        head = gzip_head(data)
    except zlib.error:  # damaged: the name decides, and the decoder says what is wrong
        head = b""
    if has_magic(head, NIFTI_SINGLE_FILE):
        return "nifti"
    if _pair_header(head, lower.removesuffix(".gz")) or lower.endswith(".img.gz"):
        return "pair"
    return "nifti" if lower.endswith(".nii.gz") else "gzip"


def decode(data: bytes, name: str, frames: FrameSelection = FrameSelection(),
           rescale: tuple[float, float] | None = None, max_side: int | None = None) -> list[DecodedImage]:
    """Decode one input file's bytes into one image per selected frame/slice; `DecodeError` when it cannot.

    `rescale`: (slope, intercept) that a source states for a volume's raw values when its header does not
    (CT-RATE's metadata); None keeps the file's own scaling. `max_side`: the caller keeps images no longer
    than this, so a JPEG may be decoded at a reduced scale (its pixels then stay at least that long, and
    `orig_width`/`orig_height` are still the file's own size).
    """
    if not data:
        raise DecodeError("empty_file", "the file is empty")
    kind = sniff_format(data, name)
    if kind == "dicom":
        return decode_dicom(data, frames)
    if kind == "nifti":
        return decode_nifti(data, frames, rescale)
    if kind == "pair":
        raise DecodeError("unsupported_format", PAIR_DETAIL)
    if kind == "gzip":
        raise DecodeError("unsupported_format", GZIP_DETAIL)
    try:
        return decode_raster(data, frames, max_side)
    except DecodeError as exc:
        if exc.reason == "unknown_format" and name.lower().endswith(".img"):  # a pair's voxels: no header to tell
            raise DecodeError("unsupported_format", PAIR_DETAIL) from None
        if exc.reason == "unknown_format" and data.startswith(BARE_DATASET_STARTS):
            return _bare_dataset(data, frames, exc)
        raise


def _bare_dataset(data: bytes, frames: FrameSelection, unknown: DecodeError) -> list[DecodedImage]:
    """The images of bytes that open as a DICOM data set without its preamble; what fails to decode as one stays
    `unknown_format` (two bytes are no proof of DICOM)."""
    try:
        return decode_dicom(data, frames)
    except DecodeError:
        raise unknown from None
