"""The caption strip finder: text lines along the bottom edge are cut off, an image's own rows are not."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from annotators.imaging import DecodedImage
from annotators.imaging.caption_strip import caption_strip_top, cut_caption_strip

MEDPIX = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "medpix-2.0" / "MedPix-2-0" / "images"
STRIP = "3b09cc70-d567-40a6-bb32,Uploader : Leslie R Bryant,Source : Leslie R Bryant,12-04-2004"


def scan(height: int = 400, width: int = 512, seed: int = 0) -> np.ndarray:
    """A CT-like picture: a bright body on black, textured inside."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width), np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, 150, -1)
    return np.where(image > 0, np.clip(image + rng.normal(0, 12, image.shape), 0, 255), 0).astype(np.uint8)


def with_strip(image: np.ndarray, lines: list[str], scale: float = 0.4, gap: int = 2) -> tuple[np.ndarray, int]:
    """`image` with a caption strip of `lines` appended below it, and the strip's first row."""
    height = int(26 * scale / 0.4)
    band = np.zeros((gap + height * len(lines), image.shape[1]), np.uint8)
    for k, line in enumerate(lines):
        cv2.putText(band, line, (4, gap + height * (k + 1) - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, 200, 1, cv2.LINE_AA)
    return np.vstack([image, band]), image.shape[0]


@pytest.mark.parametrize("lines,scale", [([STRIP], 0.4), ([STRIP[:40], STRIP[40:]], 0.5), (["Source : Jane Roe"], 0.9)])
def test_a_strip_below_the_image_is_cut_at_its_top(lines, scale):
    image, start = with_strip(scan(), lines, scale)
    top = caption_strip_top(image)
    assert start <= top < image.shape[0]  # no row of the picture goes
    assert image[start:top].max(initial=0) <= 40  # no trace of a letter stays: at most blank rows above the first line


@pytest.mark.parametrize("picture", [
    scan(),
    np.random.default_rng(1).integers(0, 256, (300, 300), dtype=np.uint8),  # texture to the bottom edge
    np.zeros((64, 64), np.uint8),
])
def test_an_image_without_a_strip_is_left_whole(picture):
    assert caption_strip_top(picture) == picture.shape[0]


def test_text_inside_the_picture_is_left_alone():
    image = scan()
    cv2.putText(image, "W 1302 : L 304", (10, 200), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
    assert caption_strip_top(image) == image.shape[0]


def test_cutting_keeps_the_original_scale():
    pixels, start = with_strip(scan(), [STRIP])
    image = DecodedImage(pixels=pixels, orig_width=1024, orig_height=2 * pixels.shape[0])
    cut = cut_caption_strip(image)
    assert cut.height == caption_strip_top(pixels) and cut.orig_height == 2 * cut.height and cut.width == 512
    plain = DecodedImage(pixels=scan(), orig_width=512, orig_height=400)
    assert cut_caption_strip(plain) is plain


# Real MedPix 2.0 images (../shared/data/real), checked by eye: where the strip starts, or that there is none.
REAL = {
    "MPX1014_synpic41745": (390, 393),  # two lines under a gap of two blank rows
    "MPX1024_synpic40277": (622, 625),  # under the picture's own black bottom
    "MPX1325_synpic22299": (418, 421),  # one small line touching the picture
    "MPX1458_synpic13273": (503, 506),  # one line over the picture's dark bottom
    "MPX1519_synpic31550": (315, 318),  # bold letters
    "MPX1193_synpic51666": (499, 502),  # textured picture right above the strip: not cut into
    "MPX1164_synpic33081": (323, 323),  # no strip
    "MPX1169_synpic20076": (435, 435),  # no strip, a table line near the bottom
}


@pytest.mark.skipif(not MEDPIX.is_dir(), reason="../shared/data/real is not beside this checkout")
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_medpix_strips(name):
    grey = np.asarray(Image.open(MEDPIX / f"{name}.png").convert("L"))
    low, high = REAL[name]
    assert low <= caption_strip_top(grey) <= high
