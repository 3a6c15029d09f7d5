"""chestx_det on generated ChestX_Det_{train,test}.json files and PNG images."""
import json
import shutil
from pathlib import Path

import pytest

from connectors.tables import SourceLayoutError


def _annotated(root, split, entries, name="ChestX_Det_{split}.json"):
    """`root` with `entries` as the split's annotations and its (empty) image folder."""
    (root / name.format(split=split)).write_text(json.dumps(entries))
    (root / split).mkdir(exist_ok=True)


def test_boxes_polygons_and_label_text(generated_sources, make_connector):
    refs = {r.source_id: r for r in make_connector("chestx_det", generated_sources["chestx_det"]).refs()}
    assert sorted(refs) == ["36199.png", "36204.png", "36211.png", "40001.png"]
    assert [(b.label, b.x0, b.y1) for b in refs["36199.png"].boxes] == [("effusion", 150, 420), ("nodule", 90, 122)]
    assert [(b.x0, b.y0, b.x1, b.y1) for b in refs["36211.png"].boxes] == [(40, 44, 80, 90)]  # polygon bounds
    assert refs["36204.png"].report == "No finding annotated on the image." and not refs["36204.png"].boxes
    assert refs["40001.png"].split == "test" and refs["40001.png"].image.endswith("test/40001.png")
    assert refs["36199.png"].report == "Annotated findings: Effusion, Nodule."


def test_a_class_without_box_or_polygon_is_a_reject(tmp_path, make_connector):
    _annotated(tmp_path, "train", [{"file_name": "1.png", "syms": ["Mass"], "boxes": [], "polygons": []}])
    [ref] = make_connector("chestx_det", tmp_path, splits=("train",)).refs()
    assert ref.reject == "bad_box"


def test_build_rows(build_rows):
    rows = {r["source_id"]: r for r in build_rows if r["source"] == "chestx_det"}
    assert sorted(rows) == ["36199.png", "36204.png", "36211.png", "40001.png"]
    assert [r["label"] for r in rows["36211.png"]["regions"] if r["origin"] == "annotation"] == ["fracture"]


def test_swapped_corners_are_put_in_order_and_a_repeated_box_is_one_region(tmp_path, make_connector):
    entries = [{"file_name": "1.png", "syms": ["Atelectasis", "Calcification", "Atelectasis"],
                "boxes": [[393, 256, 488, 428], [488, 428, 393, 256], [393, 256, 488, 428]], "polygons": []},
               {"file_name": "2.png", "syms": ["Effusion"], "boxes": [[100, 100, 100, 300]], "polygons": []}]
    _annotated(tmp_path, "train", entries)
    ordered, flat = make_connector("chestx_det", tmp_path, splits=("train",)).refs()
    assert not ordered.reject and [(b.label, b.x0, b.y0, b.x1, b.y1) for b in ordered.boxes] == [
        ("atelectasis", 393, 256, 488, 428), ("calcification", 393, 256, 488, 428)]
    assert flat.reject == "bad_box"
    assert flat.detail == "2.png: class 'Effusion' has no box of positive area and no polygon"


def test_entries_that_name_one_image_are_one_row_with_the_boxes_of_them_all(tmp_path, make_connector):
    entries = [{"file_name": "1.png", "syms": ["Nodule"], "boxes": [[10, 10, 40, 40]], "polygons": []},
               {"file_name": "2.png", "syms": [], "boxes": [], "polygons": []},
               {"file_name": "1.png", "syms": ["Effusion", "Nodule"], "boxes": [[50, 60, 90, 120], [10, 10, 40, 40]],
                "polygons": []}]
    _annotated(tmp_path, "train", entries)
    _annotated(tmp_path, "test", entries[:1])
    merged, normal, other_split = make_connector("chestx_det", tmp_path).refs()
    assert (merged.source_id, normal.source_id, merged.reject) == ("1.png", "2.png", "")
    assert [(b.label, b.x0, b.y0) for b in merged.boxes] == [("nodule", 10, 10), ("effusion", 50, 60)]
    assert merged.report == "Annotated findings: Nodule, Effusion."
    assert other_split.split == "test" and other_split.image.endswith("test/1.png")  # the build's duplicate check


def test_images_unpacked_into_folders_of_the_archives_names(generated_sources, make_connector, tmp_path):
    """train_data.zip unpacked into train_data/ gives train_data/train/; a split with no image folder is named."""
    copy = tmp_path / "chestx-det"
    shutil.copytree(generated_sources["chestx_det"], copy)
    (copy / "train_data").mkdir()
    shutil.move(copy / "train", copy / "train_data" / "train")
    refs = list(make_connector("chestx_det", copy).refs())
    assert len(refs) == 4 and all(Path(r.image).is_file() for r in refs)
    assert refs[0].image.startswith(str(copy / "train_data" / "train"))
    shutil.rmtree(copy / "test")
    with pytest.raises(SourceLayoutError, match="chestx_det test: no image folder"):  # not every test row missing
        list(make_connector("chestx_det", copy).refs())


def test_the_chestx_det10_release(make_connector, tmp_path):
    """ChestX-Det10 names its annotations train.json and test.json, with boxes and no polygons."""
    _annotated(tmp_path, "train", [{"file_name": "00000042_006.png", "syms": ["Fibrosis"],
                                    "boxes": [[632, 721, 909, 969]]}], name="{split}.json")
    [ref] = make_connector("chestx_det", tmp_path, splits=("train",)).refs()
    assert (ref.source_id, ref.reject) == ("00000042_006.png", "")
    assert [(b.label, b.x0, b.y1) for b in ref.boxes] == [("fibrosis", 632, 969)]
