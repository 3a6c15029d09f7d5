"""Parsing helpers shared by the connectors: tables (polars), paths, cheap image headers, box scaling, labels.

Connectors read local folders (the layouts the sources ship); image paths may be any path the decode stage
can open. Nothing here decodes pixels: `image_size` reads an image header only.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import polars as pl

from annotators.imaging.raster import displayed_size
from annotators.report_text import INVISIBLE
from annotators.text_encoding import ENCODINGS_READ, binary_format, decoded
from connectors.base import SourceBox, StudyRef

NO_FINDING = "no finding"
NO_FINDING_TEXT = "No finding annotated on the image."  # what labels_text says of an image without labels
ROW_ERROR = "_row_error"  # read_table(row_errors=True): why a row is not what its header says; "" when it is
BAD_ROW = "bad_index_row"  # the reject reason of such a row


class SourceLayoutError(ValueError):
    """The folder does not hold the layout the connector reads (a missing file or column)."""


# What reading one malformed entry of a source's JSON as its layout states raises (a list where an object should
# be, a missing key, a number too large for an int): the entry becomes a reject, or is skipped, never a crash.
MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


SEPARATORS = (",", ";", "\t", "|")  # the CSV separators read_table tells apart by the header line
HEADER_CHARS = 1 << 16  # how much of a table the header line is looked for in
LINE_BREAK = re.compile(r"\r\n?|\n")  # what ends a line of a text file (Windows, classic Mac OS, Unix)
NEWLINE = re.compile(r"\r?\n")  # what ends one in a file that has any "\n": a lone "\r" there is inside a text

MISSING_WORDS = frozenset({"", "na", "n/a", "nan", "none", "null"})  # what tables write for a cell without a value


def is_missing(value: str) -> bool:
    """Whether a text cell holds no value: blank, or a missing-value word ("NA", "nan", "None", ...)."""
    return value.strip().lower() in MISSING_WORDS


def rejected(ref: StudyRef, reason: str, detail: str) -> StudyRef:
    """`ref` marked as a row the connector cannot use: `reason` is a short code, `detail` says why for a human."""
    return replace(ref, reject=reason, detail=detail)


def row_rejected(ref: StudyRef, error: str) -> StudyRef:
    """`ref` refused (BAD_ROW) for a table row that is not what its header says (`error`, its ROW_ERROR): its cells
    past a stray separator are shifted, so its paths are not kept."""
    return rejected(replace(ref, image="", report_path=""), BAD_ROW, error)


def row_error(rows: pl.DataFrame) -> str:
    """The first ROW_ERROR among `rows` (a group of a table read with `row_errors`), "" when every row is sound."""
    return next((error for error in rows[ROW_ERROR] if error), "")


def resolve(root: str | Path, path: str) -> str:
    """`path` under `root` unless it is absolute (or a URL); Windows separators ("images\\a.png", as an index written
    on Windows holds them) read as "/" where no file has the name as written."""
    if not path or "://" in path or os.path.isabs(path):
        return path
    joined = os.path.join(str(root), path)
    if "\\" in path and not os.path.lexists(joined):
        return os.path.join(str(root), path.replace("\\", "/"))
    return joined


def require_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        why = "is a file, not a folder" if path.exists() else "does not exist"
        raise SourceLayoutError(f"{what}: folder {path} {why}")
    return path


def require_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SourceLayoutError(f"{what}: file {path} does not exist")
    return path


def first_existing(folder: Path, names: Iterable[str], exists: Callable[[Path], bool] = Path.is_file) -> Path | None:
    """The first of `names` under `folder` that `exists` (a file, or what `exists` tells), None when none does."""
    return next((folder / name for name in names if exists(folder / name)), None)


class FolderFiles:
    """A folder's entries, listed once, found by name whatever its case ("x.PNG" is the "x.png" an index names): those
    whose names end in one of `suffixes` (in any case), or all; of two names equal but for case, the first in sorted
    order. No entry when `folder` is no folder."""

    def __init__(self, folder: Path, suffixes: tuple[str, ...] = ()):
        self.folder = folder
        names = []
        if folder.is_dir():
            with os.scandir(folder) as entries:
                names = sorted(e.name for e in entries if not suffixes or e.name.lower().endswith(suffixes))
        self.names = {name.lower(): name for name in reversed(names)}  # lower case -> the name as it is

    def __bool__(self) -> bool:
        return bool(self.names)

    def name(self, name: str) -> str | None:
        """The entry's name as the folder spells it, None when there is none of that name in any case."""
        return self.names.get(name.lower())

    def path(self, name: str) -> Path:
        """The entry `name` names, in its case; where it belongs when the folder has none."""
        return self.folder / (self.name(name) or name)


def read_table(path: str | Path, required: Sequence[str] = (), separator: str | None = None,
               report_columns: Sequence[str] = (), row_errors: bool = False, optional: Sequence[str] = ()
               ) -> pl.DataFrame:
    """A CSV (plain or gzipped) with every column as text, missing cells as "", and `required` columns checked.

    The file is decoded as `_table_text` tells; `separator` None is the one of SEPARATORS its header line holds
    most of ("," on ties: spreadsheets write ";" where "," is the decimal mark, and tabs as "Unicode text").
    Header names are stripped of spaces and invisible characters; a name of `required`, `optional` or
    `report_columns` also matches one that differs in case only ("Image" for "image"), and the column gets that name.
    A row with more fields than the header (an unquoted separator in a cell shifts the cells after it) is a
    SourceLayoutError naming its line; with `row_errors` it is kept, cut to the header's width, and its ROW_ERROR
    says so ("" on sound rows), for the connector to make it a reject. A row with fewer fields is padded with "":
    spreadsheets drop a row's trailing empty cells on export, so a row that lacks only cells of columns not
    `required` is sound; one that lacks the cell of a `required` column (a line cut short) is, like a row too wide,
    a SourceLayoutError, or with `row_errors` a row whose ROW_ERROR names those columns. Cells of `report_columns`
    that hold only a missing-value word (`is_missing`: NA, NaN, None, ...) are empty. Blank lines are no rows; a
    column without a name (a trailing comma) is dropped."""
    path = require_file(path, "table")
    header, rows, errors = _records(path, separator, (*required, *optional, *report_columns), required, row_errors)
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise SourceLayoutError(f"{path}: column(s) {repeated} appear more than once in the header")
    names = [name or f"_unnamed_{index}" for index, name in enumerate(header)]
    frame = pl.DataFrame(rows, schema={name: pl.String for name in names}, orient="row")
    frame = frame.select([name for name in header if name])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SourceLayoutError(f"{path}: missing column(s) {missing}; it has {frame.columns}")
    frame = frame.with_columns(pl.all().str.strip_chars())
    frame = frame.with_columns(_missing_as_empty(c) for c in report_columns if c in frame.columns)
    return frame.with_columns(pl.Series(ROW_ERROR, errors, pl.String)) if row_errors else frame


def _header_names(path: Path, header: list[str], wanted: Sequence[str]) -> list[str]:
    """`header` stripped of spaces and invisible characters (a byte-order mark, a no-break space), with each name
    that matches one of `wanted` but in case spelt as `wanted` spells it; two such names for one is an error."""
    names = [INVISIBLE.sub("", name).strip() for name in header]
    for want in dict.fromkeys(wanted):
        spellings = [name for name in names if name.casefold() == want.casefold()]
        if len(spellings) > 1 and want not in spellings:
            raise SourceLayoutError(f"{path}: columns {spellings} both read as {want!r}")
        if len(spellings) == 1:
            names = [want if name == spellings[0] else name for name in names]
    return names


def _missing_as_empty(column: str) -> pl.Expr:
    """The (stripped) `column` with its cells that hold only a missing-value word (`is_missing`) empty."""
    cell = pl.col(column)
    return pl.when(cell.str.to_lowercase().is_in(list(MISSING_WORDS))).then(pl.lit("")).otherwise(cell).alias(column)


def _records(path: Path, separator: str | None, wanted: Sequence[str], required: Sequence[str], row_errors: bool
             ) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, its names as `_header_names` reads them after `wanted`; rows cut or padded to its width; each row's
    error or ""): a row too wide or without a cell of a `required` column, which raises unless `row_errors`."""
    text = _table_text(path)
    separator = separator or _sniffed_separator(text)
    # A cell may hold a whole report (longer than csv's default limit of 131,072 characters): the file is in memory
    # already, so no cell can be longer than it.
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows: list[list[str]] = []
    errors: list[str] = []
    try:
        header = next((record for record in reader if record), None)
        if header is None:
            raise SourceLayoutError(f"{path}: not a readable CSV (no header line)")
        header = _header_names(path, header, wanted)
        width, end, last = len(header), reader.line_num, header
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record:
                continue
            error = _width_error(record, header, required)
            if error and not row_errors:
                hint = f" (an unquoted {separator!r} inside a cell?)" if len(record) > width else " (cut short?)"
                raise SourceLayoutError(f"{path}: line {start}: {error}{hint}")
            rows.append(record[:width] + [""] * (width - len(record)))
            errors.append(f"{path.name} line {start}: {error}" if error else "")
            last = record
    except csv.Error as exc:
        raise SourceLayoutError(f"{path}: not a readable CSV near line {reader.line_num} ({exc})") from None
    if rows and _quote_left_open(text, separator, last):
        raise SourceLayoutError(f"{path}: the quoted cell opened on line {start} is never closed: the lines after it "
                                "would be read into that cell and their rows lost")
    return header, rows, errors


def _width_error(record: list[str], header: list[str], required: Sequence[str]) -> str:
    """Why `record` does not fit `header`: more fields than it names, or too few to hold a cell of each of
    `required`; "" when it fits."""
    if len(record) > len(header):
        return f"{len(record)} fields where the header has {len(header)}"
    lacking = [name for name in header[len(record):] if name in required]
    return f"{len(record)} of the header's {len(header)} fields, none for {', '.join(lacking)}" if lacking else ""


def _sniffed_separator(text: str) -> str:
    """The one of SEPARATORS that the header line (the first that is not blank) of a CSV `text` holds most of
    outside quoted names; "," on ties."""
    head = text[:HEADER_CHARS]
    line = next((line for line in LINE_BREAK.split(head) if line.strip()), "")
    line = re.sub(r'"[^"]*"', "", line)
    return max(SEPARATORS, key=line.count)


def _quote_left_open(text: str, separator: str, last: list[str]) -> bool:
    """Whether the CSV `text` ends inside a quoted cell (the reader, not strict, reads every line after the opening
    quote into it); read again strictly only when a cell of its `last` record spans lines, as such a cell does."""
    if not any("\n" in cell or "\r" in cell for cell in last):
        return False
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _table_text(path: Path) -> str:
    """The text of a table file, gunzipped when gzipped, decoded as report files are
    (annotators.text_encoding.decoded: by a byte-order mark, else UTF-8, else the encoding its bytes read as text in:
    Windows-1252, as spreadsheets on Windows save CSV, Shift-JIS, GB18030, ...). A workbook or other binary file,
    or bytes that no encoding read there makes into text, is a SourceLayoutError."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceLayoutError(f"{path}: not a readable gzip file ({exc})") from None
    return _decoded_text(path, data, "a text table: export it as CSV (UTF-8)")


def _decoded_text(path: Path, data: bytes, expected: str) -> str:
    """`data`, the bytes of the file `path`, as text (annotators.text_encoding.decoded). A binary file is a
    SourceLayoutError saying what it is, not `expected`; so are bytes that no encoding read there makes into text."""
    kind = binary_format(data)
    if kind:
        raise SourceLayoutError(f"{path}: {kind}, not {expected}")
    read = decoded(data)
    if not read.codec:
        raise SourceLayoutError(f"{path}: not text in any encoding read here ({ENCODINGS_READ}): save it as UTF-8")
    return read.text


def text_lines(path: str | Path, what: str) -> list[str]:
    """The lines of the text file `path` (the `what` of a source), decoded and refused as `_table_text` decodes and
    refuses a table (not gunzipped): a line ends at "\\n" or "\\r\\n", and at a lone "\\r" only in a file without
    "\\n" (classic Mac OS; elsewhere a stray "\\r" is inside a caption copied from a Windows tool), never at another
    character that `str.splitlines` breaks at (U+2028, form feed, ...), which PubMed Central captions hold."""
    path = require_file(path, what)
    text = _decoded_text(path, path.read_bytes(), f"a text file ({what})")
    return (NEWLINE if "\n" in text else LINE_BREAK).split(text)


def read_json(path: str | Path):
    """The value of a JSON file, or the list of a JSON Lines file's values; decoded as tables are (`_table_text`: a
    byte-order mark, UTF-16, Windows-1252, gzip). NaN and Infinity, which are not JSON but Python writes them, are
    None, as a missing value."""
    path = require_file(path, "json")
    text = _table_text(path)
    try:
        return json.loads(text, parse_constant=_not_a_number)
    except (json.JSONDecodeError, RecursionError) as exc:
        if getattr(exc, "msg", "") == "Extra data":  # a second value after the first: JSON Lines
            return _json_lines(path, text)
        raise SourceLayoutError(f"{path}: not valid JSON ({exc})") from None


def _json_lines(path: Path, text: str) -> list:
    """The values of the lines of a JSON Lines `text` that are not blank; a line that is no JSON value is an error
    naming it."""
    values = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line, parse_constant=_not_a_number))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise SourceLayoutError(f"{path}: neither JSON nor JSON Lines (line {number}: {exc})") from None
    return values


def _not_a_number(name: str) -> None:
    """What NaN, Infinity and -Infinity in a JSON file read as: a missing value."""
    return None


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) as decoded and displayed (EXIF orientation applied) from the header only; None if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return displayed_size(image)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def ordered_box(x0: float, y0: float, x1: float, y1: float, label: str, frame: int = -1) -> SourceBox | None:
    """The box with its corners in order (a source may give them swapped); None for a box of no area, or with a
    corner that is no finite number (a size or scale out of a float's range)."""
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    box = SourceBox(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), label, frame)
    return box if box.x1 > box.x0 and box.y1 > box.y0 else None


def scaled_box(x0: float, y0: float, x1: float, y1: float, label: str, declared: tuple[float, float],
               actual: tuple[int, int] | None, frame: int = -1) -> SourceBox | None:
    """A box drawn on an image of size `declared`, moved to the `actual` size, corners in order; None for an empty
    box. A declared side under one pixel states no size: the box is kept as drawn along it."""
    sx = actual[0] / declared[0] if actual and declared[0] >= 1 else 1.0
    sy = actual[1] / declared[1] if actual and declared[1] >= 1 else 1.0
    return ordered_box(x0 * sx, y0 * sy, x1 * sx, y1 * sy, label, frame)


def distinct_boxes(boxes: Iterable[SourceBox]) -> tuple[SourceBox, ...]:
    """`boxes` in order without repeats: a source that lists one (label, box) twice annotates one region."""
    return tuple(dict.fromkeys(boxes))


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
