"""Image augmentations that move the boxes with the pixels.

Boxes are (x0, y0, x1, y1) normalised to [0, 1] of the image they belong to. A random crop maps them into
the crop's frame and drops those left mostly outside; a horizontal flip mirrors them and, since the image
then shows the patient's right on the other side, swaps "left" and "right" in the texts that go with it.
Every random choice comes from the `numpy.random.Generator` passed in, so a sample's augmentation is a
function of (seed, epoch, sample) alone: the same on resume, whatever the number of loader workers.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from training.config import AugmentConfig

_SIDE = re.compile(r"(?<![a-z])(left|right)(?![a-z])", re.IGNORECASE)  # also inside labels like right_lung
_OTHER_SIDE = {"left": "right", "right": "left"}


@dataclass
class Augmented:
    pixels: np.ndarray  # uint8 (size, size), greyscale
    boxes: np.ndarray  # float32 (k, 4), the kept boxes in the output frame
    kept: np.ndarray  # bool (n,), which input boxes survived
    flipped: bool


def swap_sides(text: str) -> str:
    """"left" <-> "right" (also in labels such as right_lung), keeping the case of the first letter."""

    def repl(match: re.Match) -> str:
        word = match.group(0)
        other = _OTHER_SIDE[word.lower()]
        return other.capitalize() if word[0].isupper() else other

    return _SIDE.sub(repl, text)


def random_crop(rng: np.random.Generator, width: int, height: int, cfg: AugmentConfig) -> np.ndarray:
    """A crop (x0, y0, x1, y1), normalised, covering `crop_scale` of the area at an aspect in `crop_ratio`."""
    area = rng.uniform(*cfg.crop_scale) * width * height
    ratio = math.exp(rng.uniform(math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
    cw = min(1.0, math.sqrt(area * ratio) / width)
    ch = min(1.0, math.sqrt(area / ratio) / height)
    x0, y0 = rng.uniform(0.0, 1.0 - cw), rng.uniform(0.0, 1.0 - ch)
    return np.array([x0, y0, x0 + cw, y0 + ch], dtype=np.float32)


def crop_boxes(boxes: np.ndarray, crop: np.ndarray, min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in the crop's frame, and which of them keep at least `min_visible` of their area inside it."""
    clipped = np.concatenate([np.maximum(boxes[:, :2], crop[:2]), np.minimum(boxes[:, 2:], crop[2:])], axis=1)
    inside = np.clip(clipped[:, 2:] - clipped[:, :2], 0.0, None).prod(axis=1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    kept = inside >= min_visible * np.maximum(area, 1e-12)
    size = crop[2:] - crop[:2]
    moved = (clipped[kept] - np.tile(crop[:2], 2)) / np.tile(size, 2)
    return np.clip(moved, 0.0, 1.0).astype(np.float32), kept


def flip_boxes(boxes: np.ndarray) -> np.ndarray:
    """Mirror boxes left-right."""
    return np.stack([1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]], axis=1).astype(np.float32)


def resize(image: Image.Image, size: int) -> np.ndarray:
    """The whole image as a (size, size) uint8 array; normalised boxes need no change."""
    return np.asarray(image.convert("L").resize((size, size), Image.BILINEAR))


def augment(
    image: Image.Image, boxes: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, size: int
) -> Augmented:
    """Random crop, optional flip and brightness/contrast jitter of `image` with its `boxes` (n, 4)."""
    grey = image.convert("L")
    crop = random_crop(rng, grey.width, grey.height, cfg)
    pixel_box = tuple(float(v) for v in crop * np.array([grey.width, grey.height] * 2))
    pixels = np.asarray(grey.resize((size, size), Image.BILINEAR, box=pixel_box), dtype=np.float32)
    moved, kept = crop_boxes(boxes.reshape(-1, 4).astype(np.float32), crop, cfg.min_visible)
    flipped = bool(rng.random() < cfg.hflip)
    if flipped:
        pixels, moved = pixels[:, ::-1], flip_boxes(moved)
    contrast, brightness = 1.0 + rng.uniform(-cfg.jitter, cfg.jitter), rng.uniform(-cfg.jitter, cfg.jitter) * 255
    pixels = np.clip((pixels - 128.0) * contrast + 128.0 + brightness, 0, 255).astype(np.uint8)
    return Augmented(np.ascontiguousarray(pixels), moved, kept, flipped)
