"""ChestX-Det (Lian et al. 2021, github Deepwise-AILab/ChestX-Det-Dataset): 3,578 NIH ChestX-ray14 images.

`ChestX_Det_{train,test}.json`: a list of `{file_name, syms: [class...], boxes: [[x1, y1, x2, y2]...],
polygons: [[[x, y]...]...]}` (pixels of the 1024 x 1024 PNG), or ChestX-Det10's `{train,test}.json` (the earlier
release of the same images: no polygons), the first that is there; images by `file_name` in the split's image folder:
`train/`, `test/` as train_data.zip and test_data.zip unpack, or `train_data/train/` when unpacked into a folder of
the archive's name (the first that is there; none is a layout error, a missing image among others is rejected when
decoded, so a partial download builds what it holds). A box with swapped corners is put in order; a box missing
for a class falls back to its polygon's bounds; a class listed twice with the same box is one region. Entries of
one split that name the same file_name describe one image: it is one row with the classes and boxes of them all (a
file_name in both splits is two inputs, the second a `duplicate_source_id` reject). The source has no reports: a
row's text names its classes ("No finding." when there are none).
The file names do not identify patients, so each image is its own patient key.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from connectors.base import Connector, SourceBox, StudyRef
from connectors.tables import (
    MALFORMED,
    SourceLayoutError,
    distinct_boxes,
    first_existing,
    labels_text,
    number,
    ordered_box,
    read_json,
    rejected,
    require_dir,
)
from schemas.labels import canonical_label

LICENCE = "Apache-2.0 (annotations); NIH ChestX-ray14 images (public, citation requested)"
ANNOTATIONS = ("ChestX_Det_{split}.json", "{split}.json")  # ChestX-Det, then ChestX-Det10's names
IMAGE_FOLDERS = ("{split}", "{split}_data/{split}", "{split}_data")  # {split}_data.zip unpacked in place or not


class ChestXDet(Connector):
    name = "chestx_det"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        splits: tuple[str, ...] = ("train", "test")
        annotations: str = ""  # the annotations of a split ({split} in the name), under root; "" = of ANNOTATIONS
        images: str = ""  # the image folder of a split ({split} in the name), under root; "" = of IMAGE_FOLDERS

    def source_refs(self) -> Iterator[StudyRef]:
        root = require_dir(self.options.root, "chestx_det root")
        for split in self.options.splits:
            entries = read_json(_first(root, split, self.options.annotations, ANNOTATIONS, "annotations", Path.is_file))
            if not isinstance(entries, list):
                raise SourceLayoutError(f"chestx_det {split}: expected a list of image entries")
            folder = _first(root, split, self.options.images, IMAGE_FOLDERS, "image folder", Path.is_dir)
            for index, group in _by_image(entries):
                yield self._ref(group, folder, split, index)

    def _ref(self, entries: list, folder, split: str, index: int) -> StudyRef:
        """The row of one image from its entries (`index`: the first one's place in the split's list)."""
        name = _file_name(entries[0])
        ref = StudyRef(source=self.source, source_id=name or f"{split}#entry-{index}",
                       patient_key=self.patient_key(name or f"{split}#entry-{index}"), license=LICENCE,
                       image=str(folder / name) if name else "", view="PA", split=split, report_style="caption")
        if not name:
            return rejected(ref, "incomplete_entry", f"{split} entry {index} is no object with a file_name")
        try:
            annotations = [pair for entry in entries for pair in _annotations(entry)]
        except MALFORMED as exc:
            return rejected(ref, "bad_entry", f"{name}: syms, boxes or polygons malformed ({type(exc).__name__})")
        ref = replace(ref, report=labels_text(label for label, _ in annotations),
                      boxes=distinct_boxes(box for _, box in annotations if box))
        unboxed = [label for label, box in annotations if box is None]
        if unboxed:
            return rejected(ref, "bad_box", f"{name}: class {unboxed[0]!r} has no box of positive area and no polygon")
        return ref


def _first(root: Path, split: str, given: str, names: tuple[str, ...], what: str,
           exists: Callable[[Path], bool]) -> Path:
    """`given` (a name with {split}) under root, or the first of `names` that `exists`; a layout error naming them
    when none does."""
    candidates = [name.format(split=split) for name in ((given,) if given else names)]
    found = first_existing(root, candidates, exists)
    if found is None:
        raise SourceLayoutError(f"chestx_det {split}: no {what} ({' or '.join(str(root / c) for c in candidates)})")
    return found


def _file_name(entry) -> str:
    return str(entry.get("file_name") or "") if isinstance(entry, dict) else ""


def _by_image(entries: list) -> Iterable[tuple[int, list]]:
    """(place of the first, the entries) per image in order of first appearance: entries naming one file_name
    together; an entry without one alone."""
    groups: dict[str | int, tuple[int, list]] = {}
    for index, entry in enumerate(entries):
        groups.setdefault(_file_name(entry) or index, (index, []))[1].append(entry)
    return groups.values()


def _annotations(entry: dict) -> list[tuple[str, SourceBox | None]]:
    """(class, its box or None when it has neither a box of positive area nor a polygon) of each class of an entry."""
    classes = [str(s) for s in entry.get("syms") or []]
    return list(zip(classes, _boxes(classes, entry.get("boxes") or [], entry.get("polygons") or [])))


def _boxes(classes: list[str], boxes: list, polygons: list) -> list[SourceBox | None]:
    out = []
    for index, name in enumerate(classes):
        values = [number(v) for v in boxes[index]] if index < len(boxes) and len(boxes[index]) == 4 else None
        if (values is None or None in values) and index < len(polygons) and polygons[index]:
            xs = [number(p[0]) for p in polygons[index]]
            ys = [number(p[1]) for p in polygons[index]]
            values = None if None in xs + ys else [min(xs), min(ys), max(xs), max(ys)]
        out.append(None if values is None or None in values else ordered_box(*values, canonical_label(name)))
    return out


CONNECTOR = ChestXDet
