"""Export of box-annotated images as a YOLO dataset: images/, labels/ and data.yaml with the label map.

The train/val split is by a key (the patient key), hashed with a seed, so one patient's images never sit on
both sides. Boxes whose label is not a detector class (`schemas.labels.DETECTOR_CLASSES`) are left out; an
image without boxes becomes a background image (an empty label file).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import yaml
from PIL import Image

from annotators.regions import Region
from pipeline.build import collect_inputs
from pipeline.config import BuildConfig
from pipeline.stages import image_stages
from pipeline.stages.decode import work_items
from schemas.labels import DETECTOR_CLASSES

SPLITS = ("train", "val")
CLASS_IDS = {label: index for index, label in enumerate(DETECTOR_CLASSES)}


def split_of(key: str, val_fraction: float, seed: int) -> str:
    """"val" for about `val_fraction` of keys, "train" for the rest; the same key always lands the same."""
    return "val" if _unit_hash(key, seed) < val_fraction else "train"


def _unit_hash(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def label_lines(regions: Iterable[Region]) -> list[str]:
    """YOLO label lines (`class cx cy w h`, normalised) for the regions whose label is a detector class."""
    return [
        f"{CLASS_IDS[r.label]} {(r.x0 + r.x1) / 2:.6f} {(r.y0 + r.y1) / 2:.6f} {r.x1 - r.x0:.6f} {r.y1 - r.y0:.6f}"
        for r in regions
        if r.label in CLASS_IDS and r.area > 0
    ]


def export_yolo(
    items: Iterable[tuple[np.ndarray, list[Region], str]], out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0
) -> Path:
    """Write (greyscale image, regions, split key) items as a YOLO dataset under `out_dir`; returns data.yaml.

    When the hashed split leaves the validation side empty, the key closest to it moves there, so training
    always has a held-out split.
    """
    out = Path(out_dir).resolve()
    for kind in ("images", "labels"):
        for split in SPLITS:
            folder = out / kind / split
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
    stems_by_key: dict[str, list[str]] = {}
    for index, (pixels, regions, key) in enumerate(items):
        stem = f"{index:06d}"
        split = split_of(key, val_fraction, seed)
        Image.fromarray(pixels).save(out / "images" / split / f"{stem}.png")
        (out / "labels" / split / f"{stem}.txt").write_text("".join(f"{line}\n" for line in label_lines(regions)))
        stems_by_key.setdefault(key, []).append(stem)
    if not stems_by_key:
        raise ValueError("no images to export")
    if val_fraction > 0 and not any((out / "images" / "val").iterdir()):
        nearest = min(stems_by_key, key=lambda key: _unit_hash(key, seed))
        for stem in stems_by_key[nearest]:
            for kind, suffix in (("images", ".png"), ("labels", ".txt")):
                (out / kind / "train" / f"{stem}{suffix}").rename(out / kind / "val" / f"{stem}{suffix}")
    data_yaml = out / "data.yaml"
    # No `path`: ultralytics then reads the folders relative to data.yaml, so the dataset can move.
    data = {"train": "images/train", "val": "images/val", "names": dict(enumerate(DETECTOR_CLASSES))}
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml


def annotated_items(cfg: BuildConfig) -> Iterator[tuple[np.ndarray, list[Region], str]]:
    """(stored pixels, source boxes, patient key) of every box-annotated image of `cfg`'s sources, decoded
    and resized by the build's own decode stage, so the detector trains on what it will see."""
    stages = image_stages(cfg)
    for ref in collect_inputs(cfg).refs:
        if ref.reject or not ref.boxes:
            continue
        batch = work_items([ref], [0])
        for stage in stages:
            batch = stage(batch)
        for row in batch.to_pylist():
            if row["reject_reason"] or not row["regions"]:
                continue
            pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
            yield pixels, [Region(**region) for region in row["regions"]], row["patient_key"]


def export_from_config(cfg: BuildConfig, out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0) -> Path:
    """The YOLO dataset of `cfg`'s box-annotated images (split by patient); returns its data.yaml."""
    return export_yolo(annotated_items(cfg), out_dir, val_fraction, seed)
