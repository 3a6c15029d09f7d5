"""One sample radiograph study rendered: the displayed image at its original size and its lesion boxes."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from connectors.sample.chest import draw_chest, finish, heart_half_width
from connectors.sample.lesions import Finding, paint
from connectors.sample.plan import STREAM_STUDY, StudySpec, study_rng
from connectors.sample.raster import resize_bilinear


def working_factor(width: int) -> int:
    """How much smaller the canvas is drawn than the original (it is 267-467 working pixels wide)."""
    return 2 if width < 800 else 3


def render_radiograph(spec: StudySpec, seed: int, with_lesions: bool = True) -> tuple[np.ndarray, list[Finding]]:
    """(image uint16 (height, width), 12-bit display brightness, findings with boxes in original pixels).

    Anatomy, lesions and noise draw from separate streams, so `with_lesions=False` gives the same picture
    without its lesions (the tests use it to check that each box holds what was drawn).
    """
    anatomy, lesion_rng, noise = (study_rng(seed, STREAM_STUDY, spec.index, part) for part in (1, 2, 3))
    lesions = spec.lesions if with_lesions else ()
    enlarged = any(x.label == "cardiomegaly" for x in lesions)
    heart = heart_half_width(lesion_rng, enlarged=True) if enlarged else None
    factor = working_factor(spec.width)
    chest = draw_chest(anatomy, math.ceil(spec.height / factor), math.ceil(spec.width / factor), heart)
    findings = paint(chest, lesions, lesion_rng)
    image = finish(chest, noise, spec.height, spec.width, factor)
    return image, [replace(f, box=_to_original(f.box, factor, spec.width, spec.height)) for f in findings]


def _to_original(box: tuple[int, ...], factor: int, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return x0 * factor, y0 * factor, min(width, x1 * factor), min(height, y1 * factor)


def render_duplicate(spec: StudySpec, seed: int) -> tuple[np.ndarray, list[Finding]]:
    """The image of `spec.duplicate_of`, cropped or resized as `spec` says, with its boxes moved to match."""
    image, findings = render_radiograph(spec.duplicate_of, seed)
    height, width = image.shape
    if spec.edit == "crop":
        x0, y0, x1, y1 = spec.crop
        image = image[y0:y1, x0:x1]
        boxes = [(bx0 - x0, by0 - y0, bx1 - x0, by1 - y0) for bx0, by0, bx1, by1 in (f.box for f in findings)]
    elif spec.edit == "resize":
        image = (resize_bilinear(image.astype(np.float32), spec.height, spec.width) + 0.5).astype(np.uint16)
        sx, sy = spec.width / width, spec.height / height
        boxes = [(math.floor(a * sx), math.floor(b * sy), math.ceil(c * sx), math.ceil(d * sy))
                 for a, b, c, d in (f.box for f in findings)]
    else:
        boxes = [f.box for f in findings]
    moved = []
    for finding, (a, b, c, d) in zip(findings, boxes):
        box = (max(0, a), max(0, b), min(spec.width, c), min(spec.height, d))
        if box[0] < box[2] and box[1] < box[3]:
            moved.append(replace(finding, box=box))
    return image, moved
