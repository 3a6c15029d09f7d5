"""The decoded image and the decode error that every decoder returns."""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import numpy as np

MAX_DETAIL = 300  # characters of a reject detail
# What a decoder will allocate, checked against the header before anything is decoded or inflated, so that a small
# file cannot take a worker's memory:
MAX_PIXELS = 100_000_000  # one image plane (a raster, a DICOM frame)
MAX_VOXELS = 500_000_000  # a stack read whole: a projection over a volume's slices or a DICOM's frames
MAX_INFLATED_BYTES = 2 << 30  # a gzipped NIfTI's header and first volume, a deflated DICOM data set
INFLATE_CHUNK = 64 << 20  # bytes inflated at a time when only the inflated size is wanted
_OBJECT_REPR = re.compile(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>")  # "<_io.BytesIO object at 0x7f..>"
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{9,}\b")  # a memory address (DICOM tags and header codes are shorter)


def stable_detail(text: str) -> str:
    """`text` (often a library's exception message) as a reject detail that depends on the input alone: object
    reprs and memory addresses removed, whitespace folded to single spaces, at most `MAX_DETAIL` characters."""
    text = _ADDRESS.sub("an address", _OBJECT_REPR.sub(r"the \1 data", text))
    return " ".join(text.split())[:MAX_DETAIL]


class DecodeError(Exception):
    """An input that cannot become an image; `reason` is a short code for the rejects table, `detail` a message
    that depends on the input alone (see `stable_detail`), so rebuilds write the same rejects."""

    def __init__(self, reason: str, detail: str = ""):
        detail = stable_detail(detail)
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def inflated_size(data: bytes, wbits: int, limit: int, chunk: int = INFLATE_CHUNK) -> int:
    """How many bytes the zlib stream `data` (`wbits` as for `zlib.decompressobj`) inflates to, counted `chunk`
    bytes at a time and no further than past `limit`; `zlib.error` when the stream is damaged."""
    inflater, pending, inflated = zlib.decompressobj(wbits), data, 0
    while not inflater.eof and inflated <= limit:
        out = inflater.decompress(pending, chunk)
        if not out and not pending:  # the data ends before the stream does
            break
        inflated, pending = inflated + len(out), inflater.unconsumed_tail
    return inflated


def too_large(what: str, size: int, limit: int, unit: str) -> DecodeError:
    """The refusal of an input whose header asks for more than a decoder will allocate."""
    return DecodeError("image_too_large", f"{what} holds {size:,} {unit}, over the limit of {limit:,}")


@dataclass(frozen=True)
class FrameSelection:
    """Which frames of a multi-frame file or slices of a volume become images.

    mode: "middle" (one, the middle), "even" (`count` evenly spaced), "mip" (one maximum-intensity projection).
    """

    mode: str = "middle"
    count: int = 1

    def __post_init__(self):
        if self.mode not in ("middle", "even", "mip"):
            raise ValueError(f"frame selection mode {self.mode!r} is not middle, even or mip")
        if self.count < 1:
            raise ValueError("frame selection count must be at least 1")

    def indices(self, n: int) -> list[int]:
        """The selected indices among n frames (for "mip", the empty list: project them all)."""
        if self.mode == "mip":
            return []
        if self.mode == "middle" or n == 1:
            return [n // 2]
        count = min(self.count, n)
        return sorted({int((i + 0.5) * n / count) for i in range(count)})  # the middle of each of `count` equal runs


@dataclass(frozen=True)
class DecodedImage:
    """Displayed greyscale pixels (uint8, H x W) and an allow-list of acquisition attributes."""

    pixels: np.ndarray
    orig_width: int
    orig_height: int
    modality: str = ""
    view: str = ""
    body_part: str = ""
    pixel_spacing: tuple[float, ...] = field(default=())  # mm per pixel (row, col) of `pixels`
    frame: int = -1  # frame / slice index; -1 for a 2-D image, -2 for a projection

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])
