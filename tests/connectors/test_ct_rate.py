"""ct_rate on generated CT-RATE volumes (raw values + metadata rescale), reports and metadata tables."""
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from annotators.imaging import FrameSelection, decode
from connectors.ct_rate import volume_path
from connectors.tables import SourceLayoutError


def test_volume_paths_follow_the_names():
    assert volume_path("train_12_b_2.nii.gz") == "dataset/train/train_12/train_12_b/train_12_b_2.nii.gz"
    assert volume_path("valid_3_a_1.nii.gz") == "dataset/valid/valid_3/valid_3_a/valid_3_a_1.nii.gz"
    assert volume_path("valid_3_a_1.nii.gz", "dataset/{prefix}_fixed") == (
        "dataset/valid_fixed/valid_3/valid_3_a/valid_3_a_1.nii.gz")
    assert volume_path("scan.nii.gz") is None


@pytest.mark.parametrize("stored", ["in Hounsfield units", "scaled by its header"])
def test_the_re_release_is_found_and_its_hounsfield_units_not_rescaled_again(generated_sources, make_connector,
                                                                             tmp_path, stored):
    """The re-release keeps its volumes in dataset/train_fixed/ in Hounsfield units (CT-RATE v2), stored as such or
    scaled by the header (scl_slope, scl_inter): the metadata's intercept must not be added again."""
    copy = tmp_path / "ct_rate"
    shutil.copytree(generated_sources["ct_rate"], copy)
    first = next(iter(make_connector("ct_rate", generated_sources["ct_rate"]).refs()))
    raw = nib.load(first.image)
    slope, intercept = first.rescale
    if stored == "in Hounsfield units":
        fixed = nib.Nifti1Image(np.rint(np.asarray(raw.dataobj) * slope + intercept).astype(np.int16), raw.affine)
        fixed.header.set_slope_inter(1.0, 0.0)
    else:
        fixed = nib.Nifti1Image(np.asarray(raw.dataobj), raw.affine)
        fixed.header.set_slope_inter(slope, intercept)
    shutil.move(copy / "dataset" / "train", copy / "dataset" / "train_fixed")
    moved = next(iter(make_connector("ct_rate", copy).refs()))
    assert "dataset/train_fixed/" in moved.image and moved.rescale == () and not moved.reject
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
                                              "train_6_a_1.nii.gz,NA,NA,Clear.,null\n",
                 "train_6_a_1.nii.gz,SIEMENS,1.0,-1024.0,\"[0.7, 0.7]\",2.0\n")
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


def _hu_volume(path, hu: np.ndarray, affine: np.ndarray) -> None:
    """The volume stored in Hounsfield units, its header's scaling 1 and 0, as the re-release writes it."""
    image = nib.Nifti1Image(np.rint(hu).astype(np.int16), affine)
    image.header.set_slope_inter(1.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def test_the_hugging_face_layout_and_a_radiological_view_of_the_fixed_volumes(tmp_path, make_connector):
    """The repository keeps its tables inside dataset/ and the re-released volumes in dataset/valid_fixed/. A marker in
    the front of the left lung shows on the image's right and at its top, whichever way the file stores the axes."""
    hu = np.full((96, 80, 6), -1000.0)  # voxel axes towards the patient's left, back and head (LPS)
    hu[10:40, 15:65], hu[56:86, 15:65] = -850.0, -850.0  # right lung, left lung
    hu[70:76, 20:26] = 400.0  # the marker
    scan = tmp_path / "dataset" / "valid_fixed" / "valid_1" / "valid_1_a"
    _hu_volume(scan / "valid_1_a_1.nii.gz", hu, np.diag([-0.7, -0.7, 2.0, 1.0]))
    _hu_volume(scan / "valid_1_a_2.nii.gz", hu[::-1, ::-1], np.diag([0.7, 0.7, 2.0, 1.0]))  # stored RAS
    for folder, header, line in (
            ("radiology_text_reports", "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN",
             ",Dyspnea.,Non-contrast.,Nodule in the left upper lobe.,Left upper lobe nodule."),
            ("metadata", "VolumeName,Manufacturer,RescaleSlope,RescaleIntercept,XYSpacing,ZSpacing",
             ',SIEMENS,1.0,-1024.0,"[0.7, 0.7]",2.0')):
        (tmp_path / "dataset" / folder).mkdir()
        rows = "".join(f"valid_1_a_{recon}.nii.gz{line}\n" for recon in (1, 2))
        (tmp_path / "dataset" / folder / f"validation_{folder.split('_')[-1]}.csv").write_text(f"{header}\n{rows}")
    refs = list(make_connector("ct_rate", tmp_path, splits=("validation",)).refs())
    assert [r.image for r in refs] == [str(scan / f"valid_1_a_{recon}.nii.gz") for recon in (1, 2)]
    assert all((r.reject, r.split, r.rescale, r.pixel_spacing) == ("", "validation", (), (0.7, 0.7)) for r in refs)
    assert refs[0].patient_key == refs[1].patient_key and "FINDINGS: Nodule in the left upper lobe." in refs[0].report
    lps, ras = (decode(open(r.image, "rb").read(), r.image, FrameSelection("middle"), rescale=r.rescale)[0]
                for r in refs)
    assert np.array_equal(lps.pixels, ras.pixels) and lps.pixels.shape == (80, 96)
    assert abs(int(lps.pixels[0, 0]) - 59) <= 1  # air at -1000 HU in the lung window: the intercept counted once
    rows, columns = np.nonzero(lps.pixels == 255)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (20, 25, 70, 75)  # of 80 rows, 96 columns


def test_a_volume_the_metadata_does_not_scale_is_a_reject_and_a_missing_table_an_error(generated_sources,
                                                                                        make_connector, tmp_path):
    copy = _copy(generated_sources, tmp_path, "train_5_a_1.nii.gz,,,Clear.,Normal.\n"
                                              "train_6_a_1.nii.gz,,,Clear.,Normal.\n",
                 "train_6_a_1.nii.gz,SIEMENS,,-1024.0,,\n")
    refs = {r.source_id: r for r in make_connector("ct_rate", copy, splits=("train",)).refs()}
    assert (refs["train_5_a_1.nii.gz"].reject, refs["train_5_a_1.nii.gz"].detail) == (
        "no_metadata", "train_5_a_1.nii.gz has no row in the metadata table")
    assert refs["train_6_a_1.nii.gz"].reject == "no_metadata" and not refs["train_1_a_1.nii.gz"].reject
    (copy / "metadata" / "train_metadata.csv").unlink()
    with pytest.raises(SourceLayoutError, match='metadata: ""'):
        list(make_connector("ct_rate", copy, splits=("train",)).refs())
    assert all(not r.reject and not r.rescale for r in make_connector("ct_rate", copy, splits=("train",), metadata="")
               .refs() if r.source_id.startswith("train_1"))


def test_the_dataset_folder_as_the_root(generated_sources, layouts, make_connector, tmp_path):
    """A copy of the repository's dataset/ folder alone: its volume folders and tables are at the top."""
    copy = tmp_path / "ct_rate"
    shutil.copytree(generated_sources["ct_rate"], copy)
    for folder in ("radiology_text_reports", "metadata"):
        shutil.move(copy / folder, copy / "dataset" / folder)
    refs = list(make_connector("ct_rate", copy / "dataset").refs())
    assert [r.source_id for r in refs] == [*layouts.CT_RATE_VOLUMES["train"], *layouts.CT_RATE_VOLUMES["validation"]]
    assert all(Path(r.image).is_file() and not r.reject and r.rescale for r in refs)


def test_a_split_not_downloaded_and_first_release_sheets_are_named(generated_sources, make_connector, tmp_path):
    copy = tmp_path / "ct_rate"
    shutil.copytree(generated_sources["ct_rate"], copy)
    shutil.rmtree(copy / "dataset" / "valid")
    with pytest.raises(SourceLayoutError, match="no valid volumes .*set splits: to those downloaded"):
        list(make_connector("ct_rate", copy).refs())  # not every validation row a missing volume
    assert len(list(make_connector("ct_rate", copy, splits=("train",)).refs())) == 3
    reports = copy / "radiology_text_reports"
    (reports / "train_reports.csv").rename(reports / "train_reports.xlsx")  # as the first release shipped them
    with pytest.raises(SourceLayoutError, match="train_reports.xlsx is the first release's sheet"):
        list(make_connector("ct_rate", copy, splits=("train",)).refs())


def test_a_volume_of_a_split_not_downloaded_is_no_bad_name(generated_sources, layouts, make_connector, tmp_path):
    """A validation table that names a training volume, with the training volumes not downloaded: the volume goes
    where it belongs (the decode stage rejects it as missing), not a `bad_volume_name` that says its name is wrong."""
    copy = tmp_path / "ct_rate"
    shutil.copytree(generated_sources["ct_rate"], copy)
    shutil.rmtree(copy / "dataset" / "train")
    reports = copy / "radiology_text_reports" / "validation_reports.csv"
    lines = reports.read_text().splitlines()
    name = layouts.CT_RATE_VOLUMES["train"][0]
    reports.write_text("\n".join([*lines, lines[-1].replace(lines[-1].split(",")[0], name)]) + "\n")
    refs = {r.source_id: r for r in make_connector("ct_rate", copy, splits=("validation",), metadata="").refs()}
    assert not refs[name].reject and refs[name].image.endswith(f"dataset/train/train_1/train_1_a/{name}")
