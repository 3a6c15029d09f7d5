"""Export of box-annotated images as a YOLO dataset: images/, labels/ and data.yaml with the label map.

The train/val split is by a key (the patient key), hashed with a seed, so one patient's images never sit on
both sides; `fold.csv` lists each image's file stem, split and name (the source id). Boxes whose label is not
one of the exported classes (a class set of `schemas.labels.CLASS_SETS`: the findings detector's
`DETECTOR_CLASSES` by default, or `ANATOMY`) are left out; an image without boxes becomes a background image
(an empty label file). An export for one detector can keep only the images it applies to (modality, view).
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import shutil
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import yaml
from PIL import Image

from annotators.detector import applies
from annotators.regions import Region
from pipeline.build import collect_inputs
from pipeline.config import BuildConfig, ConfigError
from pipeline.stage_list import decode_rows
from schemas.labels import DETECTOR_CLASSES

SPLITS = ("train", "val")


class ExportItem(NamedTuple):
    pixels: np.ndarray  # greyscale HxW uint8
    regions: list[Region]
    key: str  # the split key (patient key)
    name: str = ""  # what fold.csv calls the image (its source id)


def split_of(key: str, val_fraction: float, seed: int) -> str:
    """"val" for about `val_fraction` of keys, "train" for the rest; the same key always lands the same."""
    return "val" if _unit_hash(key, seed) < val_fraction else "train"


def _unit_hash(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def label_lines(regions: Iterable[Region], classes: Sequence[str] = DETECTOR_CLASSES) -> list[str]:
    """YOLO label lines (`class cx cy w h`, normalised) for the regions whose label is one of `classes`."""
    ids = {label: index for index, label in enumerate(classes)}
    return [
        f"{ids[r.label]} {(r.x0 + r.x1) / 2:.6f} {(r.y0 + r.y1) / 2:.6f} {r.x1 - r.x0:.6f} {r.y1 - r.y0:.6f}"
        for r in regions
        if r.label in ids and r.area > 0
    ]


def export_yolo(
    items: Iterable[tuple], out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0,
    classes: Sequence[str] = DETECTOR_CLASSES,
) -> Path:
    """Write `ExportItem`s (or (image, regions, key) tuples) as a YOLO dataset of `classes` under `out_dir`;
    returns data.yaml.

    When the hashed split leaves the validation side empty, the key closest to it moves there, so training
    always has a held-out split.
    """
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"the validation share must lie in [0, 1), got {val_fraction}")
    items = iter(items)
    first = next(items, None)
    if first is None:  # before the folder is emptied: a filter that matches nothing leaves it as it was
        raise ConfigError("no box-annotated images to export (check the sources' boxes and the modality and view "
                          "filters)")
    out = Path(out_dir).resolve()
    for kind in ("images", "labels"):
        for split in SPLITS:
            folder = out / kind / split
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
    stems_by_key: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for index, item in enumerate(itertools.chain([first], items)):
        pixels, regions, key, name = ExportItem(*item)
        stem = f"{index:06d}"
        split = split_of(key, val_fraction, seed)
        Image.fromarray(pixels).save(out / "images" / split / f"{stem}.png")
        lines = label_lines(regions, classes)
        (out / "labels" / split / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
        stems_by_key.setdefault(key, []).append(stem)
        names[stem] = name
    if val_fraction > 0 and not any((out / "images" / "val").iterdir()):
        nearest = min(stems_by_key, key=lambda key: _unit_hash(key, seed))
        for stem in stems_by_key[nearest]:
            for kind, suffix in (("images", ".png"), ("labels", ".txt")):
                (out / kind / "train" / f"{stem}{suffix}").rename(out / kind / "val" / f"{stem}{suffix}")
    with (out / "fold.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("stem", "split", "name"))
        writer.writerows((stem, split, names[stem]) for split in SPLITS
                         for stem in sorted(p.stem for p in (out / "images" / split).iterdir()))
    data_yaml = out / "data.yaml"
    # No `path`: ultralytics then reads the folders relative to data.yaml, so the dataset can move.
    data = {"train": "images/train", "val": "images/val", "names": dict(enumerate(classes))}
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml


def annotated_items(cfg: BuildConfig, modalities: Sequence[str] = (), views: Sequence[str] = ()
                    ) -> Iterator[ExportItem]:
    """Every box-annotated image of `cfg`'s sources (of `modalities` and `views` when given), decoded and resized
    by the build's own image stages, so the detector trains on what it will see."""
    for ref in collect_inputs(cfg).refs:
        if ref.reject or not ref.boxes:
            continue
        for row in decode_rows(cfg, [ref]):
            if row["reject_reason"] or not row["regions"] or not applies(modalities, views, row["modality"],
                                                                         row["view"]):
                continue
            pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
            yield ExportItem(pixels, [Region(**region) for region in row["regions"]], row["patient_key"],
                             row["source_id"])


def export_from_config(cfg: BuildConfig, out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0,
                       classes: Sequence[str] = DETECTOR_CLASSES, modalities: Sequence[str] = (),
                       views: Sequence[str] = ()) -> Path:
    """The YOLO dataset of `cfg`'s box-annotated images (split by patient); returns its data.yaml."""
    return export_yolo(annotated_items(cfg, modalities, views), out_dir, val_fraction, seed, classes)
