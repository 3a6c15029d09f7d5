"""The decoded image and the decode error that every decoder returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DecodeError(Exception):
    """An input that cannot become an image; `reason` is a short code for the rejects table."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


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
