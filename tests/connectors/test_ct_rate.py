"""ct_rate on generated CT-RATE volumes (raw values + metadata rescale), reports and metadata tables."""
import shutil

import nibabel as nib
import numpy as np
import pytest

from annotators.imaging import FrameSelection, decode
from connectors.ct_rate import volume_path


def test_volume_paths_follow_the_names():
    assert volume_path("train_12_b_2.nii.gz") == "dataset/train/train_12/train_12_b/train_12_b_2.nii.gz"
    assert volume_path("valid_3_a_1.nii.gz") == "dataset/valid/valid_3/valid_3_a/valid_3_a_1.nii.gz"
    assert volume_path("valid_3_a_1.nii.gz", "dataset/{prefix}_fixed") == (
        "dataset/valid_fixed/valid_3/valid_3_a/valid_3_a_1.nii.gz")
    assert volume_path("scan.nii.gz") is None


def test_the_re_release_with_corrected_headers_is_found_and_not_rescaled_twice(generated_sources, make_connector,
                                                                               tmp_path):
    """The re-release keeps its volumes in dataset/train_fixed/ with the intercept in the header (scl_inter), which
    nibabel applies: the metadata's intercept must not be added again."""
    copy = tmp_path / "ct_rate"
    shutil.copytree(generated_sources["ct_rate"], copy)
    first = next(iter(make_connector("ct_rate", generated_sources["ct_rate"]).refs()))
    raw = nib.load(first.image)
    fixed = nib.Nifti1Image(np.asarray(raw.dataobj), raw.affine)  # the same stored values, scaled by the header
    fixed.header.set_slope_inter(*first.rescale)
    shutil.move(copy / "dataset" / "train", copy / "dataset" / "train_fixed")
    moved = next(iter(make_connector("ct_rate", copy).refs()))
    assert "dataset/train_fixed/" in moved.image and moved.rescale == first.rescale
    nib.save(fixed, moved.image)
    old, new = (decode(open(ref.image, "rb").read(), ref.image, FrameSelection("middle"), rescale=ref.rescale)[0]
                for ref in (first, moved))
    assert new.modality == "CT" and np.array_equal(old.pixels, new.pixels)


def test_rows_reports_splits_patients_and_rescale(generated_sources, layouts, make_connector):
    refs = list(make_connector("ct_rate", generated_sources["ct_rate"]).refs())
    assert [r.source_id for r in refs] == [*layouts.CT_RATE_VOLUMES["train"], *layouts.CT_RATE_VOLUMES["validation"]]
    assert [r.split for r in refs] == ["train"] * 3 + ["validation"]
    assert refs[0].patient_key == refs[1].patient_key != refs[2].patient_key
    assert all(r.rescale == (1.0, layouts.CT_INTERCEPT) and r.modality == "CT" for r in refs)
    assert "FINDINGS: Heart size is normal." in refs[0].report
    assert "IMPRESSION: Right lower lobe nodule." in refs[0].report


def test_the_metadata_rescale_makes_hounsfield_units(generated_sources, make_connector):
    ref = next(iter(make_connector("ct_rate", generated_sources["ct_rate"]).refs()))
    data = open(ref.image, "rb").read()
    raw = decode(data, ref.image, FrameSelection("middle"))
    [hu] = decode(data, ref.image, FrameSelection("middle"), rescale=ref.rescale)
    assert raw[0].modality == "MR" and hu.modality == "CT"  # raw values do not look like HU
    # lung window: air about 59, lungs (-850 HU) about 85, soft tissue white
    row = hu.pixels[hu.height // 2]
    assert abs(int(row[2]) - 59) <= 6 and np.median(row[row < 150]) == pytest.approx(85, abs=12)


def test_build_rows_are_slices_of_each_volume(build_rows, layouts):
    rows = [r for r in build_rows if r["source"] == "ct_rate"]
    assert len(rows) == 3 * 4 and {r["modality"] for r in rows} == {"CT"}
    assert sorted({r["acquisition"]["frame"] for r in rows}) == [2, 6, 10]
    assert {r["split"] for r in rows} == {"train", "validation"}


def _copy(generated_sources, tmp_path, reports: str = "", metadata: str = ""):
    """A copy of the generated CT-RATE with lines appended to its train reports and metadata tables."""
    copy = tmp_path / "ct_rate"
    shutil.copytree(generated_sources["ct_rate"], copy)
    with open(copy / "radiology_text_reports" / "train_reports.csv", "a") as out:
        out.write(reports)
    with open(copy / "metadata" / "train_metadata.csv", "a") as out:
        out.write(metadata)
    return copy


def test_report_cells_that_say_na_make_an_empty_report(generated_sources, make_connector, tmp_path):
    copy = _copy(generated_sources, tmp_path, "train_5_a_1.nii.gz,NA,None,nan,NA\n"
                                              "train_6_a_1.nii.gz,NA,NA,Clear.,null\n")
    refs = {r.source_id: r for r in make_connector("ct_rate", copy, splits=("train",)).refs()}
    assert refs["train_5_a_1.nii.gz"].reject == "empty_report"
    assert refs["train_6_a_1.nii.gz"].report == "FINDINGS: Clear." and not refs["train_6_a_1.nii.gz"].reject


def test_a_row_wider_than_its_header_is_a_reject(generated_sources, make_connector, tmp_path):
    copy = _copy(generated_sources, tmp_path, "train_5_a_1.nii.gz,,,Nodule, right lung.,Nodule.\n"
                                              "train_6_a_1.nii.gz,,,Clear.,Normal.\n",
                 "train_6_a_1.nii.gz,SIEMENS,1.0,-1024.0,[0.7, 0.7],2.0\n")  # XYSpacing unquoted
    refs = {r.source_id: r for r in make_connector("ct_rate", copy, splits=("train",)).refs()}
    assert refs["train_5_a_1.nii.gz"].reject == refs["train_6_a_1.nii.gz"].reject == "bad_index_row"
    assert refs["train_5_a_1.nii.gz"].detail == "train_reports.csv line 5: 6 fields where the header has 5"
    assert refs["train_6_a_1.nii.gz"].detail == "train_metadata.csv line 5: 7 fields where the header has 6"
    assert not refs["train_1_a_1.nii.gz"].reject


def test_the_metadata_spacing_goes_with_each_volume(generated_sources, make_connector, tmp_path):
    """The first release's headers lack the spacing: XYSpacing `[x, y]` becomes the slices' (row, col) spacing."""
    refs = list(make_connector("ct_rate", generated_sources["ct_rate"]).refs())
    assert all(r.pixel_spacing == (0.7, 0.7) for r in refs)
    copy = _copy(generated_sources, tmp_path, "train_5_a_1.nii.gz,,,Clear.,Normal.\n"
                                              "train_6_a_1.nii.gz,,,Clear.,Normal.\n",
                 'train_5_a_1.nii.gz,SIEMENS,1.0,-1024.0,"[0.6, 0.8]",2.0\n'
                 "train_6_a_1.nii.gz,SIEMENS,1.0,-1024.0,nan,\n")
    refs = {r.source_id: r for r in make_connector("ct_rate", copy, splits=("train",)).refs()}
    assert refs["train_5_a_1.nii.gz"].pixel_spacing == (0.8, 0.6) and refs["train_6_a_1.nii.gz"].pixel_spacing == ()
