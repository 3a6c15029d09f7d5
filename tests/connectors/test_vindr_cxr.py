"""vindr_cxr: readers' boxes fused, "No finding" as no regions, on generated DICOMs and annotation tables."""
import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image

from annotators.regions import iou
from connectors.tables import SourceLayoutError
from connectors.vindr_cxr import ReaderBox, fuse_readers


def test_fusion_clusters_readers_and_averages():
    boxes = [ReaderBox("R8", "Nodule/Mass", (10, 10, 20, 20)), ReaderBox("R9", "Nodule/Mass", (12, 10, 22, 20)),
             ReaderBox("R10", "Nodule/Mass", (60, 60, 70, 70)), ReaderBox("R8", "Cardiomegaly", (10, 10, 20, 20)),
             ReaderBox("R8", "Nodule/Mass", (10, 10, 20, 20))]  # R8 again: never merged with R8's own box
    fused = fuse_readers(boxes, iou_threshold=0.4, min_readers=1)
    assert fused == [("Cardiomegaly", (10, 10, 20, 20)), ("Nodule/Mass", (10, 10, 20, 20)),
                     ("Nodule/Mass", pytest.approx((11.0, 10.0, 21.0, 20.0))), ("Nodule/Mass", (60, 60, 70, 70))]
    agreed = fuse_readers(boxes, iou_threshold=0.4, min_readers=2)
    assert agreed == [("Nodule/Mass", pytest.approx((11.0, 10.0, 21.0, 20.0)))]
    assert fuse_readers(list(reversed(boxes)), 0.4, 1) == fused  # the order of the table does not matter


def test_rows_boxes_and_label_text(generated_sources, layouts, make_connector):
    refs = {r.source_id: r for r in make_connector("vindr_cxr", generated_sources["vindr_cxr"]).refs()}
    assert set(refs) == set(layouts.VINDR_TRUTH) | set(layouts.VINDR_TEST)
    for image_id, findings in {**layouts.VINDR_TRUTH, **layouts.VINDR_TEST}.items():
        ref = refs[image_id]
        assert len(ref.boxes) == len(findings) and ref.image.endswith(f"{ref.split}/{image_id}.dicom")
        for (name, truth), box in zip(sorted(findings), ref.boxes):
            assert iou((box.x0, box.y0, box.x1, box.y1), truth) > 0.7  # readers jitter by up to 3 px
    sick, normal = (refs[k] for k in sorted(layouts.VINDR_TRUTH))
    assert sick.report == "Annotated findings: Cardiomegaly, Nodule/Mass, Lung tumor."
    assert normal.report == "No finding annotated on the image." and not normal.boxes and normal.split == "train"
    strict = {r.source_id: r for r in make_connector("vindr_cxr", generated_sources["vindr_cxr"], min_readers=3).refs()}
    assert "Lung tumor" not in strict[sick.source_id].report  # two of three readers marked it
    for image_id in layouts.VINDR_TEST:  # the test split's consensus names no reader: its boxes stand
        assert strict[image_id].boxes == refs[image_id].boxes and len(strict[image_id].boxes) == 1


def test_a_box_with_swapped_corners_is_put_in_order(generated_sources, make_connector, tmp_path):
    copy = tmp_path / "vindr"
    shutil.copytree(generated_sources["vindr_cxr"], copy)
    table = copy / "annotations" / "annotations_train.csv"
    rows = list(csv.DictReader(table.open()))
    for row in rows:  # every reader drew its boxes from right to left and bottom to top
        row["x_min"], row["x_max"], row["y_min"], row["y_max"] = row["x_max"], row["x_min"], row["y_max"], row["y_min"]
    with table.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = {r.source_id: r for r in make_connector("vindr_cxr", generated_sources["vindr_cxr"]).refs()}
    after = {r.source_id: r for r in make_connector("vindr_cxr", copy).refs()}
    assert {k: (r.boxes, r.report) for k, r in after.items()} == {k: (r.boxes, r.report) for k, r in before.items()}
    assert sum(len(r.boxes) for r in after.values()) == 3


def test_build_regions_match_the_planted_findings(build_rows, layouts, decode_png):
    rows = {r["source_id"]: r for r in build_rows if r["source"] == "vindr_cxr"}
    assert set(rows) == set(layouts.VINDR_TRUTH) | set(layouts.VINDR_TEST)
    for image_id, findings in {**layouts.VINDR_TRUTH, **layouts.VINDR_TEST}.items():
        row = rows[image_id]
        regions = sorted((r for r in row["regions"] if r["origin"] == "annotation"), key=lambda r: r["label"])
        assert [r["label"] for r in regions] == sorted({"Cardiomegaly": "cardiomegaly", "Nodule/Mass": "nodule",
                                                        "Pleural effusion": "effusion"}[n] for n, _ in findings)
        assert row["global_text"]  # a normal image's too: "No finding annotated on the image."
        pixels = decode_png(row["image"]["bytes"])
        for region, (_, truth) in zip(regions, sorted(findings, key=lambda f: f[0].lower())):
            scale = (row["orig_width"], row["orig_height"]) * 2
            assert iou(region["box"], [v / s for v, s in zip(truth, scale)]) > 0.7
            x0, y0, x1, y1 = (round(v * s) for v, s in zip(region["box"], (row["width"], row["height"]) * 2))
            assert pixels[y0:y1, x0:x1].mean() > pixels.mean() + 40  # the bright blob: MONOCHROME1 was inverted


def _copy_with(generated_sources, tmp_path, table: str, lines: str):
    """A copy of the generated VinDr-CXR with `lines` appended to annotations/`table`."""
    copy = tmp_path / "vindr"
    shutil.copytree(generated_sources["vindr_cxr"], copy)
    with open(copy / "annotations" / table, "a") as out:
        out.write(lines)
    return copy


def test_class_names_in_any_case_and_spacing_fuse_as_one(generated_sources, make_connector, tmp_path):
    copy = _copy_with(generated_sources, tmp_path, "annotations_train.csv",
                      "1f,R8,Nodule/Mass,100,100,200,200\n1f,R9, nodule/mass ,102,98,198,205\n"
                      "1f,R10,NODULE/MASS,101,101,199,199\n")
    [ref] = [r for r in make_connector("vindr_cxr", copy, min_readers=2).refs() if r.source_id == "1f"]
    assert ref.report == "Annotated findings: Nodule/Mass." and len(ref.boxes) == 1


def test_a_box_of_no_area_is_a_reject_not_a_lost_finding(generated_sources, make_connector, tmp_path):
    copy = _copy_with(generated_sources, tmp_path, "annotations_train.csv",
                      "1f,R8,Pleural effusion,500,500,500,600\n1f,R9,Cardiomegaly,,,,\n")
    [ref] = [r for r in make_connector("vindr_cxr", copy).refs() if r.source_id == "1f"]
    assert ref.reject == "bad_box" and ref.detail == "1f: R8's Pleural effusion box [500, 500, 500, 600] has no area"


def test_a_vote_written_as_a_float_counts(generated_sources, make_connector, tmp_path):
    copy = _copy_with(generated_sources, tmp_path, "image_labels_train.csv",
                      "".join(f"00053190460d56c53cc3e57321387478,{r},0,0,1.0,0,0,0,0,0\n" for r in ("R8", "R9")))
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy, min_readers=2).refs()}
    assert refs["00053190460d56c53cc3e57321387478"].report == "Annotated findings: COPD."


def test_an_image_only_in_image_labels_is_a_reject(generated_sources, make_connector, tmp_path):
    copy = _copy_with(generated_sources, tmp_path, "image_labels_train.csv", "ffff,R8,0,0,1,0,0,0,0,0\n")
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy).refs()}
    assert refs["ffff"].reject == "no_annotations" and "annotations_train.csv" in refs["ffff"].detail


def test_repeated_consensus_boxes_are_one_region_and_a_wide_row_a_reject(generated_sources, make_connector, tmp_path):
    copy = _copy_with(generated_sources, tmp_path, "annotations_test.csv",
                      "2f,Pleural effusion,10,20,110,220\n2f,Pleural effusion,10,20,110,220\n"
                      "3f,Pleural effusion,10,20,110,220,0.9\n")
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy, splits=("test",)).refs()}
    assert [(b.x0, b.y1, b.label) for b in refs["2f"].boxes] == [(10, 220, "effusion")]
    assert refs["3f"].reject == "bad_index_row" and "7 fields where the header has 6" in refs["3f"].detail


def test_votes_are_counted_by_reader_when_image_labels_spells_it_rad_ID(generated_sources, make_connector, tmp_path):
    """The release's image_labels_*.csv names its reader column `rad_ID`: one reader's vote is not two readers'."""
    copy = _copy_with(generated_sources, tmp_path, "image_labels_train.csv",
                      "00053190460d56c53cc3e57321387478,R8,0,0,1,0,0,0,0,0\n")
    labels = copy / "annotations" / "image_labels_train.csv"
    labels.write_text(labels.read_text().replace("rad_id", "rad_ID", 1))
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy, min_readers=2).refs()}
    assert refs["00053190460d56c53cc3e57321387478"].report == "No finding annotated on the image."
    assert refs["000434271f63a181c8a5e6d94c1f6e1f"].report.endswith("Lung tumor.")  # two of its three readers


def _kaggle_copy(generated_sources, tmp_path):
    """The generated training set as the Kaggle competition ships it: train.csv (with class_id) at the root, no
    annotations/ folder; its test images unlabelled."""
    copy = tmp_path / "vinbigdata"
    shutil.copytree(generated_sources["vindr_cxr"], copy)
    rows = list(csv.DictReader((copy / "annotations" / "annotations_train.csv").open()))
    shutil.rmtree(copy / "annotations")
    with (copy / "train.csv").open("w", newline="") as out:
        columns = ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows({**row, "class_id": "0"} for row in rows)
    return copy


def test_the_kaggle_competition_copy_of_the_training_set(generated_sources, make_connector, tmp_path):
    copy = _kaggle_copy(generated_sources, tmp_path)
    with pytest.raises(SourceLayoutError, match=r"test images are unlabelled: set splits: \[train\]"):
        list(make_connector("vindr_cxr", copy).refs())
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy, splits=("train",)).refs()}
    physionet = {r.source_id: r for r in make_connector("vindr_cxr", generated_sources["vindr_cxr"]).refs()
                 if r.split == "train"}
    assert set(refs) == set(physionet) and all(refs[k].boxes == physionet[k].boxes for k in refs)
    assert all(Path(r.image).is_file() and not r.reject for r in refs.values())


@pytest.mark.parametrize("stated", ["train_meta.csv", "width and height columns"])
def test_resized_png_conversions_get_their_boxes_scaled(generated_sources, make_connector, tmp_path, stated):
    """Kaggle's PNG conversions are resized (here to half): their boxes, drawn on the DICOM (200 x 240), are scaled
    by the sizes the copy states; a suffix in upper case is found too."""
    copy = _kaggle_copy(generated_sources, tmp_path)
    for index, dicom in enumerate(sorted((copy / "train").iterdir())):
        Image.new("L", (100, 120)).save(dicom.with_suffix(".PNG" if index else ".png"))
        dicom.unlink()
    with pytest.raises(SourceLayoutError, match="state the DICOM sizes"):  # not boxes at the DICOM's scale
        list(make_connector("vindr_cxr", copy, splits=("train",)).refs())
    if stated == "train_meta.csv":
        (copy / "train_meta.csv").write_text("image_id,dim0,dim1\n" + "".join(
            f"{path.stem},240,200\n" for path in (copy / "train").iterdir()))
    else:
        table = copy / "train.csv"
        lines = table.read_text().splitlines()
        table.write_text("\n".join([lines[0] + ",width,height", *(line + ",200,240" for line in lines[1:])]) + "\n")
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy, splits=("train",)).refs()}
    dicom = {r.source_id: r for r in make_connector("vindr_cxr", generated_sources["vindr_cxr"]).refs()}
    for image_id, ref in refs.items():
        assert Path(ref.image).is_file() and ref.image.lower().endswith(".png") and not ref.reject
        assert [(b.x0, b.y1) for b in ref.boxes] == [pytest.approx((b.x0 / 2, b.y1 / 2)) for b in dicom[image_id].boxes]
    assert sum(len(r.boxes) for r in refs.values()) == 2


def test_boxes_are_scaled_by_width_in_x_and_height_in_y(generated_sources, make_connector, tmp_path):
    """A conversion squeezed unevenly (200 x 240 -> 100 x 60): x by 1/2, y by 1/4; dim0 is the DICOM's rows (height),
    dim1 its columns (width)."""
    copy = _kaggle_copy(generated_sources, tmp_path)
    for dicom in sorted((copy / "train").iterdir()):
        Image.new("L", (100, 60)).save(dicom.with_suffix(".png"))
        dicom.unlink()
    (copy / "train_meta.csv").write_text("image_id,dim0,dim1\n" + "".join(
        f"{path.stem},240,200\n" for path in (copy / "train").iterdir()))
    refs = {r.source_id: r for r in make_connector("vindr_cxr", copy, splits=("train",)).refs()}
    dicom = {r.source_id: r for r in make_connector("vindr_cxr", generated_sources["vindr_cxr"]).refs()}
    boxes = [(b, d) for image_id, ref in refs.items() for b, d in zip(ref.boxes, dicom[image_id].boxes)]
    assert boxes and all((b.x0, b.y0, b.x1, b.y1) == pytest.approx((d.x0 / 2, d.y0 / 4, d.x1 / 2, d.y1 / 4))
                         for b, d in boxes)


def test_a_split_folder_not_downloaded_is_named(generated_sources, make_connector, tmp_path):
    copy = tmp_path / "vindr"
    shutil.copytree(generated_sources["vindr_cxr"], copy)
    for dicom in (copy / "test").iterdir():
        dicom.unlink()
    with pytest.raises(SourceLayoutError, match="vindr_cxr test: no image"):  # not every test row a missing image
        list(make_connector("vindr_cxr", copy).refs())
    (copy / "test").rmdir()
    with pytest.raises(SourceLayoutError, match="set splits: to those downloaded"):
        list(make_connector("vindr_cxr", copy).refs())
    assert len(list(make_connector("vindr_cxr", copy, splits=("train",)).refs())) == 2
