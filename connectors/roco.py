"""ROCO (Pelka et al. 2018, github razorx89/roco-dataset; layout of its `data/` folder).

Per split and kind, `data/<split>/<radiology|non-radiology>/` holds `captions.txt` (`ROCO_00001<TAB>caption`),
`licences.txt` (CSV `ROCO_ID,PMC_ID,CC`, where PMC_ID is the image file name `PMC<id>_<figure>.jpg`),
`dlinks.txt` (`ROCO_ID<TAB>wget ... PMC<id>.tar.gz ...<TAB><figure>.jpg`) and, after `scripts/fetch.py`,
`images/ROCO_00001.jpg` (named by ROCO id since its commit 0db07be, January 2022), or `images/PMC<id>_<figure>.jpg`
as it named them before: the first that is there is the image, else the PMC name. Kaggle's re-packaging
(virajbagal/roco-dataset, `all_data/<split>/<kind>/`) names each image's PMC file in `traindata.csv`, `valdata.csv`
or `testdata.csv` (id, name, caption) instead. The root is the folder of the split folders, or the one that holds it
(`data/` of the repository, Kaggle's `all_data/`). A row's licence is its CC cell ("NO-CC CODE" stays as written;
"unknown" without licences.txt); the patient key is the article (figures of one article may show one patient).
Captions without an image are rejects, and so are those whose licences row has more fields than its header; an
image not fetched is rejected when decoded, so a partial fetch builds what it holds. ROCOv2 (2024, Zenodo:
`train_captions.csv`, `train/ROCOv2_2023_train_000001.png`) is another layout, refused with a clear error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from connectors.base import Connector, StudyRef
from connectors.tables import (
    ROW_ERROR,
    FolderFiles,
    SourceLayoutError,
    read_table,
    rejected,
    require_dir,
    row_rejected,
    text_lines,
)

UNKNOWN_LICENCE = "unknown"
PMC_ARCHIVE = re.compile(r"(PMC\d+)\.tar\.gz")
ROCO_SUFFIXES = (".jpg", ".jpeg", ".png")  # of an image named by its ROCO id
KAGGLE_TABLES = ("traindata.csv", "valdata.csv", "testdata.csv")  # a Kaggle split folder's (id, name, caption)
ROOT_FOLDERS = ("", "data", "all_data")  # where the split folders lie: the root, GitHub's data/, Kaggle's all_data/
ROCO_V2 = "train_captions.csv"  # ROCOv2's captions table, at the top of its download


@dataclass(frozen=True)
class Links:
    """What licences.txt and dlinks.txt say of the images of one split folder, by ROCO id."""

    licences: dict[str, str]  # the licence (CC cell)
    names: dict[str, str]  # the image's PMC file name, `PMC<id>_<figure>.jpg`
    errors: dict[str, str]  # why its licences row is malformed (ROW_ERROR)


class Roco(Connector):
    name = "roco"

    @dataclass(frozen=True)
    class Options(Connector.Options):
        splits: tuple[str, ...] = ("train", "validation", "test")
        kinds: tuple[str, ...] = ("radiology",)  # add "non-radiology" for the rest
        captions: str = "captions.txt"
        licences: str = "licences.txt"
        dlinks: str = "dlinks.txt"
        images: str = "images"

    def source_refs(self) -> Iterator[StudyRef]:
        root = _data_folder(require_dir(self.options.root, "roco root"), self.options.splits)
        for split in self.options.splits:
            for kind in self.options.kinds:
                yield from self._folder_refs(require_dir(root / split / kind, "roco split folder"), split)

    def _folder_refs(self, folder: Path, split: str) -> Iterator[StudyRef]:
        captions = _tab_lines(folder / self.options.captions)
        links = self._links(folder)
        images = folder / self.options.images
        fetched = FolderFiles(images)
        for line, roco_id, fields in captions:
            if fields is None:  # no TAB: the line is no `id<TAB>caption` pair
                yield self._bad_line(folder, line, split)
                continue
            caption = " ".join(field for field in fields if field)  # a TAB inside a caption is no end
            article = links.names.get(roco_id, "")
            name = _image_name(roco_id, article, fetched)
            ref = StudyRef(
                source=self.source,
                source_id=roco_id,
                patient_key=self.patient_key(article.split("_", 1)[0] if article else roco_id),
                license=links.licences.get(roco_id) or UNKNOWN_LICENCE,
                image=str(images / name) if name else "",
                report=caption,
                split=split,
                report_style="caption",
            )
            if roco_id in links.errors:
                yield row_rejected(ref, links.errors[roco_id])
            elif not name:
                yield rejected(ref, "no_image_link", f"no {self.options.images}/{roco_id}.jpg, and neither licences "
                                                     "nor dlinks names its PMC file")
            elif not caption:
                yield rejected(ref, "empty_caption", f"{roco_id} has no caption")
            else:
                yield ref

    def _bad_line(self, folder: Path, line: int, split: str) -> StudyRef:
        """A reject for a captions line without a TAB, known by its place (its text may hold no id at all)."""
        where = f"{split}/{folder.name}/{self.options.captions}:{line}"
        ref = StudyRef(source=self.source, source_id=where, patient_key=self.patient_key(where),
                       license=UNKNOWN_LICENCE, split=split, report_style="caption")
        return rejected(ref, "bad_caption_line", f"{where}: no TAB between an id and a caption")

    def _links(self, folder: Path) -> Links:
        """Licences and errors from licences.txt, PMC file names from it, else from Kaggle's table, else from
        dlinks.txt."""
        links = Links({}, {}, {})
        dlinks = folder / self.options.dlinks
        if dlinks.is_file():
            for _, roco_id, fields in _tab_lines(dlinks):
                archive = PMC_ARCHIVE.search(fields[0]) if fields and len(fields) >= 2 else None
                if archive:
                    links.names[roco_id] = f"{archive.group(1)}_{fields[-1]}"  # as scripts/fetch.py named it
        kaggle = next((folder / name for name in KAGGLE_TABLES if (folder / name).is_file()), None)
        if kaggle is not None:
            table = read_table(kaggle, ("id", "name"), row_errors=True)  # a comma in a caption (the last cell)
            # shifts nothing before it: a wide row's id and name stand
            links.names.update((k, v) for k, v in zip(table["id"], table["name"]) if v)
        if (folder / self.options.licences).is_file():
            table = read_table(folder / self.options.licences, ("ROCO_ID", "PMC_ID", "CC"), row_errors=True)
            links.licences.update(zip(table["ROCO_ID"], table["CC"]))
            links.names.update((k, v) for k, v in zip(table["ROCO_ID"], table["PMC_ID"]) if v)
            links.errors.update((k, v) for k, v in zip(table["ROCO_ID"], table[ROW_ERROR]) if v)
        return links


def _data_folder(root: Path, splits: tuple[str, ...]) -> Path:
    """The folder of the split folders: the root, or its `data/` or `all_data/` when the root has none of them; a
    ROCOv2 download is a layout error that says so."""
    if (root / ROCO_V2).is_file():
        raise SourceLayoutError(f"roco: {root} holds {ROCO_V2}, the layout of ROCOv2 (2024), which this connector "
                                "does not read: it reads ROCO v1 (data/<split>/<kind>/captions.txt)")
    return next((root / f for f in ROOT_FOLDERS if any((root / f / split).is_dir() for split in splits)), root)


def _image_name(roco_id: str, article: str, fetched: FolderFiles) -> str:
    """The image's file name: `<ROCO id>.jpg` (.jpeg, .png) or `article` (its PMC name) as `fetched` spells it
    ("ROCO_00005.JPG" too), else `article` ("" when there is none)."""
    names = [roco_id + suffix for suffix in ROCO_SUFFIXES] + [article]
    return next((found for name in names if name and (found := fetched.name(name))), article)


def _tab_lines(path: Path) -> list[tuple[int, str, list[str] | None]]:
    """`id<TAB>field<TAB>...` lines -> [(line number, id, [fields, stripped])] in file order, fields None on a line
    without a TAB; blank lines skipped."""
    out = []
    for number, line in enumerate(text_lines(path, "roco table"), start=1):
        key, tab, rest = line.partition("\t")
        if key.strip():
            out.append((number, key.strip(), [f.strip() for f in rest.split("\t")] if tab else None))
    if not out:
        raise SourceLayoutError(f"{path}: no `id<TAB>...` lines")
    return out


CONNECTOR = Roco
