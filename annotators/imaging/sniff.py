"""Format detection from content (extension as a fallback) and dispatch to the decoders."""
from __future__ import annotations

from annotators.imaging.dicom import decode_dicom
from annotators.imaging.nifti import decode_nifti
from annotators.imaging.raster import decode_raster
from annotators.imaging.types import DecodedImage, DecodeError, FrameSelection


def sniff_format(data: bytes, name: str) -> str:
    """"dicom", "nifti", "png", "jpeg" or "raster" (another format PIL may read)."""
    lower = name.lower()
    if data[128:132] == b"DICM" or lower.endswith((".dcm", ".dicom")):
        return "dicom"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if lower.endswith((".nii", ".nii.gz")) or data[344:348] in (b"n+1\x00", b"ni1\x00", b"n+2\x00"):
        return "nifti"
    return "raster"


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
    return decode_raster(data, max_side)
