"""Format detection from content (extension as a fallback) and dispatch to the decoders."""
from __future__ import annotations

from annotators.imaging.dicom import decode_dicom
from annotators.imaging.nifti import decode_nifti
from annotators.imaging.raster import JPEG_MAGIC, decode_raster
from annotators.imaging.types import DecodedImage, DecodeError, FrameSelection

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NIFTI_SINGLE_FILE = ((344, b"n+1\x00"), (4, b"n+2\x00"))  # (offset, magic) of NIfTI-1 and NIfTI-2 .nii files
NIFTI_PAIR_HEADER = ((344, b"ni1\x00"), (4, b"ni2\x00"))  # the same in a .hdr whose voxels are in a .img beside it
ANALYZE_HEADER_SIZE = (b"\x5c\x01\x00\x00", b"\x00\x00\x01\x5c")  # sizeof_hdr 348, little and big endian
# How a DICOM data set without its preamble opens (tag group 0002 or 0008, little endian), as files exported with no
# suffix (IM000001) may: tried as DICOM when no raster reader knows the bytes.
BARE_DATASET_STARTS = (b"\x02\x00", b"\x08\x00")
PAIR_DETAIL = "an Analyze/NIfTI .hdr/.img pair (header and voxels in two files) is not supported; convert it to .nii"


def sniff_format(data: bytes, name: str) -> str:
    """"dicom", "nifti", "png", "jpeg", "pair" (an Analyze or NIfTI .hdr) or "raster" (another format PIL may
    read): from magic bytes first, then from the name's extension."""
    lower = name.lower()
    if data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if _has_magic(data, NIFTI_SINGLE_FILE):
        return "nifti"
    if _has_magic(data, NIFTI_PAIR_HEADER) or (data[:4] in ANALYZE_HEADER_SIZE and lower.endswith(".hdr")):
        return "pair"
    if lower.endswith((".dcm", ".dicom")):  # DICOM without the preamble
        return "dicom"
    if lower.endswith((".nii", ".nii.gz")):
        return "nifti"
    return "raster"


def _has_magic(data: bytes, magics: tuple[tuple[int, bytes], ...]) -> bool:
    return any(data[offset:offset + len(magic)] == magic for offset, magic in magics)


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
    try:
        return decode_raster(data, max_side)
    except DecodeError as exc:
        if exc.reason == "unknown_format" and name.lower().endswith(".img"):  # a pair's voxels: no header to tell
            raise DecodeError("unsupported_format", PAIR_DETAIL) from None
        if exc.reason == "unknown_format" and data[:2] in BARE_DATASET_STARTS:
            return _bare_dataset(data, frames, exc)
        raise


def _bare_dataset(data: bytes, frames: FrameSelection, unknown: DecodeError) -> list[DecodedImage]:
    """The images of bytes that open as a DICOM data set without its preamble; what fails to decode as one stays
    `unknown_format` (two bytes are no proof of DICOM)."""
    try:
        return decode_dicom(data, frames)
    except DecodeError:
        raise unknown from None
