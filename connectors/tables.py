"""Parsing helpers shared by the connectors: tables (polars), paths, cheap image headers, box scaling, labels.

Connectors read local folders (the layouts the sources ship); image paths may be any path the decode stage
can open. Nothing here decodes pixels: `image_size` reads an image header only.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import polars as pl

from annotators.imaging.raster import displayed_size
from connectors.base import SourceBox, StudyRef

NO_FINDING = "no finding"
NO_FINDING_TEXT = "No finding annotated on the image."  # what labels_text says of an image without labels


class SourceLayoutError(ValueError):
    """The folder does not hold the layout the connector reads (a missing file or column)."""


# What reading one malformed entry of a source's JSON as its layout states raises (a list where an object should
# be, a missing key, a number too large for an int): the entry becomes a reject, or is skipped, never a crash.
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


def rejected(ref: StudyRef, reason: str, detail: str) -> StudyRef:
    """`ref` marked as a row the connector cannot use: `reason` is a short code, `detail` says why for a human."""
    return replace(ref, reject=reason, detail=detail)


def resolve(root: str | Path, path: str) -> str:
    """`path` under `root` unless it is absolute (or a URL)."""
    return path if not path or "://" in path or os.path.isabs(path) else os.path.join(str(root), path)


def require_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise SourceLayoutError(f"{what}: folder {path} does not exist")
    return path


def require_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SourceLayoutError(f"{what}: file {path} does not exist")
    return path


def first_existing(folder: Path, names: Iterable[str]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def read_table(path: str | Path, required: Sequence[str] = (), separator: str = ",",
               comment_prefix: str | None = None) -> pl.DataFrame:
    """A CSV (plain or .gz) with every column as text, missing cells as "", and `required` columns checked."""
    path = require_file(path, "table")
    try:
        frame = pl.read_csv(path, infer_schema=False, separator=separator, comment_prefix=comment_prefix,
                            encoding="utf8-lossy", truncate_ragged_lines=True)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise SourceLayoutError(f"{path}: not a readable CSV ({exc})") from None
    frame = frame.select([c for c in frame.columns if c.strip()])  # a trailing comma makes an unnamed column
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SourceLayoutError(f"{path}: missing column(s) {missing}; it has {frame.columns}")
    return frame.with_columns(pl.all().fill_null("").str.strip_chars())


def text_lines(path: str | Path, what: str) -> list[str]:
    """The file's lines split at "\\n" alone (a trailing "\\r" dropped), undecodable bytes replaced, a byte-order
    mark at the start dropped: neither a lone "\\r" nor a character that `str.splitlines` breaks at (U+2028, form
    feed, ...) inside a text ends a line."""
    data = require_file(path, what).read_bytes().decode("utf-8-sig", "replace")
    return [line.removesuffix("\r") for line in data.split("\n")]


def read_json(path: str | Path):
    path = require_file(path, "json")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark, as editors on Windows write
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise SourceLayoutError(f"{path}: not valid JSON ({exc})") from None


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) as decoded and displayed (EXIF orientation applied) from the header only; None if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return displayed_size(image)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def scaled_box(x0: float, y0: float, x1: float, y1: float, label: str, declared: tuple[float, float],
               actual: tuple[int, int] | None, frame: int = -1) -> SourceBox | None:
    """A box drawn on an image of size `declared`, moved to the `actual` size; None for an empty box."""
    sx = actual[0] / declared[0] if actual and declared[0] > 0 else 1.0
    sy = actual[1] / declared[1] if actual and declared[1] > 0 else 1.0
    box = SourceBox(min(x0, x1) * sx, min(y0, y1) * sy, max(x0, x1) * sx, max(y0, y1) * sy, label, frame)
    return box if box.x1 > box.x0 and box.y1 > box.y0 else None


def number(value) -> float | None:
    """A finite float from a cell, or None for blanks and junk."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and abs(out) != float("inf") else None


def labels_text(names: Iterable[str]) -> str:
    """The text of an image that a source describes by labels only: "Annotated findings: a, b." or "No finding
    annotated on the image." (a sentence of at least three words, as report filters expect, that says it is about
    the image, so a normal image's global text is that sentence and not empty)."""
    seen: list[str] = []
    for name in names:
        name = " ".join(name.split())
        if name and name.lower() != NO_FINDING and name.lower() not in (s.lower() for s in seen):
            seen.append(name)
    return f"Annotated findings: {', '.join(seen)}." if seen else NO_FINDING_TEXT
