"""Image, text and box quality filters; the perceptual hash; fingerprints of templated reports.

Every filter returns a `QualityIssue` (a reason code and a detail for a human) or None; the pipeline turns
an issue into a reject row of stage "quality". Thresholds live in `QualityConfig` (the `quality:` section of a
build config). Near-duplicate images are found by annotators.duplicates.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

import imagehash
import numpy as np
from PIL import Image

# Phrases that carry no finding: placeholders for a report kept elsewhere, workflow notes, de-id markers.
BOILERPLATE = (
    r"\bsee (?:the )?(?:attached|final|separate|original|scanned) report\b",
    r"\breport (?:is )?(?:not available|to follow|pending|unavailable)\b",
    r"\bno report(?: available)?\b",
    r"\b(?:dictated|transcribed|electronically signed|signed|verified) by\b.*",
    r"\b(?:preliminary|wet) read\b",
    r"\bimages? (?:were |was )?(?:reviewed|obtained|submitted)\b",
    r"\bfor comparison only\b",
    r"\[(?:date|time|phone|id|email|name)\]",
    r"_{2,}|\bx{2,}\b",
)


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality filters; a `min_*` of 0 or a `max_*` of 1 switches that filter off."""

    min_side: int = 64  # shorter side of the original image, pixels
    min_pixel_std: float = 2.0  # stored greyscale pixels' standard deviation (0-255) under which an image is flat
    min_report_words: int = 3  # words a report must keep once boilerplate phrases are removed
    boilerplate: tuple[str, ...] = BOILERPLATE  # regular expressions (case-insensitive) of phrases that say nothing
    min_box_side: float = 2.0  # a source box thinner than this many original pixels is degenerate
    max_box_outside: float = 0.25  # share of a source box's area that may lie outside the image
    max_box_area: float = 0.95  # share of the image one source box may cover

    def __post_init__(self):
        """Thresholds out of range would switch a filter off, or reject every input, without a word."""
        at_least_zero = {k: getattr(self, k) for k in ("min_side", "min_pixel_std", "min_report_words", "min_box_side")}
        shares = {k: getattr(self, k) for k in ("max_box_outside", "max_box_area")}
        wrong = [f"{k}: {v!r} is under 0" for k, v in at_least_zero.items() if v < 0]
        wrong += [f"{k}: {v!r} is not a share between 0 and 1" for k, v in shares.items() if not 0 <= v <= 1]
        if self.min_pixel_std > 255:
            wrong.append(f"min_pixel_std: {self.min_pixel_std!r} is over 255, the widest spread of grey levels")
        for pattern in self.boilerplate:
            try:
                re.compile(pattern)
            except re.error as exc:
                wrong.append(f"boilerplate: {pattern!r} is not a regular expression ({exc})")
        if wrong:
            raise ValueError("; ".join(wrong))


@dataclass(frozen=True)
class QualityIssue:
    reason: str  # a short code, e.g. "blank_image"
    detail: str  # what was measured against which threshold


def perceptual_hash(pixels: np.ndarray) -> str:
    """The 64-bit DCT perceptual hash of a greyscale image, as 16 hex digits."""
    return str(imagehash.phash(Image.fromarray(pixels)))


def check_image(pixels: np.ndarray, orig_width: int, orig_height: int, cfg: QualityConfig) -> QualityIssue | None:
    """Too small (original size), blank (one value) or near-constant (low spread) images."""
    if min(orig_width, orig_height) < cfg.min_side:
        return QualityIssue("image_too_small", f"{orig_width}x{orig_height} px, shorter side under {cfg.min_side}")
    if cfg.min_pixel_std <= 0:
        return None
    if pixels.size == 0 or int(pixels.max()) == int(pixels.min()):
        return QualityIssue("blank_image", f"every pixel is {int(pixels.max()) if pixels.size else 'absent'}")
    spread = float(pixels.std())
    if spread < cfg.min_pixel_std:
        return QualityIssue("near_constant_image", f"pixel std {spread:.2f} under {cfg.min_pixel_std}")
    return None


def informative_words(text: str, cfg: QualityConfig) -> list[str]:
    """The words of `text` once every boilerplate phrase is removed."""
    for pattern in cfg.boilerplate:
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return re.findall(r"[A-Za-z]{2,}", text)


MIN_OTHER_LETTERS = 6  # a short report in another script is named as such, not as too short


def check_report(text: str, cfg: QualityConfig) -> QualityIssue | None:
    """Reports too short to describe anything, or saying nothing but boilerplate."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    if len(words) < cfg.min_report_words:
        latin = len(re.findall(r"[A-Za-z]", text))
        other = len(re.findall(r"[^\W\d_]", text)) - latin  # letters beyond ASCII: Cyrillic, CJK, Arabic, ...
        if other > max(latin, MIN_OTHER_LETTERS):
            return QualityIssue("unsupported_script", f"{other} letters the English report parser does not read, "
                                                      f"{latin} Latin ones")
        return QualityIssue("report_too_short", f"{len(words)} words, under {cfg.min_report_words}")
    kept = informative_words(text, cfg)
    if len(kept) < cfg.min_report_words:
        return QualityIssue("boilerplate_report", f"{len(kept)} of {len(words)} words left once boilerplate is removed")
    return None


def check_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int,
              cfg: QualityConfig) -> QualityIssue | None:
    """A source box (pixels of the original image) that is degenerate, outside the image or covers nearly all of it."""
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    where = f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] on a {width}x{height} image"
    if x1 - x0 < max(cfg.min_box_side, 1e-9) or y1 - y0 < max(cfg.min_box_side, 1e-9):
        return QualityIssue("box_degenerate", f"{where}: a side under {cfg.min_box_side} px")
    inside = max(0.0, min(x1, width) - max(x0, 0)) * max(0.0, min(y1, height) - max(y0, 0))
    outside = 1.0 - inside / ((x1 - x0) * (y1 - y0))
    if outside > cfg.max_box_outside:
        return QualityIssue("box_outside_image", f"{where}: {outside:.0%} outside, over {cfg.max_box_outside:.0%}")
    covered = inside / (width * height)
    if covered > cfg.max_box_area:
        return QualityIssue("box_covers_image", f"{where}: covers {covered:.0%}, over {cfg.max_box_area:.0%}")
    return None


def report_fingerprint(text: str) -> str:
    """A hash of a report's words (case, spacing and punctuation ignored): equal for templated reports."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()[:16]


def shared_fingerprints(fingerprints: Sequence[tuple[str, tuple[str, str]]]) -> dict[str, int]:
    """Fingerprint -> number of distinct inputs that share it, for fingerprints shared by two or more."""
    inputs: dict[str, set] = {}
    for fingerprint, key in fingerprints:
        inputs.setdefault(fingerprint, set()).add(key)
    return {f: len(keys) for f, keys in inputs.items() if len(keys) > 1}
