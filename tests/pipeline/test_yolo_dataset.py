"""YOLO dataset export: files, label lines, the split by key, and data.yaml as ultralytics reads it."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from annotators.regions import Region
from pipeline.config import ConfigError
from pipeline.yolo_dataset import ExportItem, export_yolo, split_of
from schemas.labels import ANATOMY, DETECTOR_CLASSES


def items(keys: list[str]):
    image = np.zeros((40, 80), np.uint8)
    return [
        (
            image,
            [Region(0.25, 0.5, 0.75, 1.0, "mass"), Region(0.0, 0.0, 0.5, 0.5, "right_lung")],
            key,
        )
        for key in keys
    ]


def test_export_writes_images_labels_and_label_map(tmp_path):
    data_yaml = export_yolo(items([f"p{i}" for i in range(20)]), tmp_path, val_fraction=0.3, seed=1)
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == dict(enumerate(DETECTOR_CLASSES))
    assert (tmp_path / data["train"]).is_dir() and (tmp_path / data["val"]).is_dir()
    pngs = sorted(tmp_path.glob("images/*/*.png"))
    labels = sorted(tmp_path.glob("labels/*/*.txt"))
    assert len(pngs) == len(labels) == 20
    # anatomy is not a detector class: only the mass box is written, centre/size normalised
    assert labels[0].read_text() == f"{DETECTOR_CLASSES.index('mass')} 0.500000 0.750000 0.500000 0.500000\n"
    from PIL import Image

    assert Image.open(pngs[0]).size == (80, 40)


def test_split_is_by_key_and_stable(tmp_path):
    keys = ["a", "a", "b", "c", "c", "c"] * 3
    export_yolo(items(keys), tmp_path, val_fraction=0.5, seed=3)
    assert {split_of(key, 0.5, 3) for key in keys} == {"train", "val"}  # this seed puts keys on both sides
    for index, key in enumerate(keys):
        split = split_of(key, 0.5, 3)
        assert (tmp_path / "images" / split / f"{index:06d}.png").exists()
        assert (tmp_path / "labels" / split / f"{index:06d}.txt").exists()
    assert [split_of(k, 0.2, 0) for k in "abcdef"] == [split_of(k, 0.2, 0) for k in "abcdef"]
    share = sum(split_of(f"k{i}", 0.2, 0) == "val" for i in range(2000)) / 2000
    assert share == pytest.approx(0.2, abs=0.03)


def test_a_bad_share_or_nothing_to_export_is_an_error_that_leaves_the_folder(tmp_path):
    export_yolo(items(["a", "b", "c"]), tmp_path, val_fraction=0.3)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        export_yolo(items(["a"]), tmp_path, val_fraction=1.5)
    with pytest.raises(ConfigError, match="no box-annotated images"):
        export_yolo([], tmp_path, val_fraction=0.3)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_validation_split_is_never_empty(tmp_path):
    keys = [key for key in (f"p{i}" for i in range(50)) if split_of(key, 0.05, 0) == "train"][:3]
    export_yolo(items(keys), tmp_path, val_fraction=0.05, seed=0)
    assert len(list(tmp_path.glob("images/val/*.png"))) == 1
    assert len(list(tmp_path.glob("labels/val/*.txt"))) == 1


def test_anatomy_export_writes_lung_boxes_and_the_fold(tmp_path):
    named = [ExportItem(*item, name=f"image-{i}.png") for i, item in enumerate(items([f"p{i}" for i in range(10)]))]
    data_yaml = export_yolo(named, tmp_path, val_fraction=0.3, seed=1, classes=ANATOMY)
    assert yaml.safe_load(data_yaml.read_text())["names"] == {0: "right_lung", 1: "left_lung"}
    labels = sorted(tmp_path.glob("labels/*/*.txt"))
    assert labels[0].read_text() == "0 0.250000 0.250000 0.500000 0.500000\n"  # the mass is not an anatomy class
    fold = (tmp_path / "fold.csv").read_text().splitlines()
    assert fold[0] == "stem,split,name" and len(fold) == 11
    for line in fold[1:]:
        stem, split, name = line.split(",")
        assert (tmp_path / "images" / split / f"{stem}.png").exists() and name == f"image-{int(stem)}.png"
        assert split == split_of(f"p{int(stem)}", 0.3, 1)
