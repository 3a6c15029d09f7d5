"""A caption strip burned into the bottom edge of an image, found and cut off.

MedPix writes one or two lines of text under every picture: the image's id, the uploader's name and a date. Such
a line is a run of rows dense in glyph edges (strong steps between neighbouring pixels: 20 to 170 in a row of 512
pixels) on a dark ground, where the image's own bottom rows have a few or are lighter; the strip is the block of
such rows that starts within a few rows of the bottom edge. A taller block of them is texture, not a strip, and is
left alone.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from annotators.imaging.types import DecodedImage

EDGE_STEP = 40  # grey levels between neighbouring pixels that make a glyph edge
DARK = 40  # grey levels of the strip's ground, at most
# A row of text: at least MIN_EDGES glyph edges with MIN_DARK of the row dark ground (textured image rows: 5 to 25
# edges on 25% to 64% dark), or at least DENSE_EDGES edges (bold letters) with MIN_DARK_DENSE dark.
MIN_EDGES, MIN_DARK = 16, 0.65
DENSE_EDGES, MIN_DARK_DENSE = 48, 0.5
MAX_GAP = 6  # rows that are neither text nor blank (the picture, a letter's faint edge) between lines, at most
MAX_SHARE = 0.2  # of the image's height a strip takes at most
MIN_ROWS = 32  # ... but a strip of this many rows is allowed on any image
PAD = 2  # rows cut above the strip's first text row where the picture touches it (its letters' faint tops)


def caption_strip_top(grey: np.ndarray) -> int:
    """The first row of the caption strip along the bottom of `grey` (H x W), or H when there is none."""
    height = grey.shape[0]
    edges = np.count_nonzero(np.abs(np.diff(grey.astype(np.int16), axis=1)) >= EDGE_STEP, axis=1)
    dark = np.count_nonzero(grey <= DARK, axis=1) / grey.shape[1]
    text = ((edges >= MIN_EDGES) & (dark >= MIN_DARK)) | ((edges >= DENSE_EDGES) & (dark >= MIN_DARK_DENSE))
    blank = dark == 1.0
    top, gap, row = height, 0, height - 1
    for row in range(height - 1, max(-1, height - 1 - max(MIN_ROWS, int(MAX_SHARE * height))), -1):
        if text[row]:
            top, gap = row, 0
        elif not blank[row] and (gap := gap + 1) > MAX_GAP:
            break  # the picture
    if top == height or top == row:
        return height  # no text, or text all the way up the height a strip may take: texture, not a strip
    faint = top  # the faint tops of the first line's letters, up to a blank row
    while faint > 0 and top - faint < MAX_GAP and not blank[faint - 1]:
        faint -= 1
    return faint if faint == 0 or blank[faint - 1] else max(0, top - PAD)


def cut_caption_strip(image: DecodedImage) -> DecodedImage:
    """`image` without the caption strip along its bottom edge (as it was when it has none)."""
    top = caption_strip_top(image.pixels)
    if top == image.height:
        return image
    orig_height = max(1, round(top * image.orig_height / image.height))
    return dataclasses.replace(image, pixels=image.pixels[:top], orig_height=orig_height)
