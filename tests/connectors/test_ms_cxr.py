"""ms_cxr on a generated MS-CXR table over the generated MIMIC-CXR-JPG images."""
import re
import shutil
from pathlib import Path

import pytest

from connectors.tables import SourceLayoutError


def test_one_row_per_image_with_every_phrase_and_scaled_boxes(generated_sources, layouts, make_connector):
    refs = list(make_connector("ms_cxr", generated_sources["ms_cxr"],
                               images_root=str(generated_sources["mimic_cxr"])).refs())
    first, second = (layouts.MIMIC_IMAGES[i] for i in (0, 2))
    assert [r.source_id for r in refs] == sorted([first[2], second[2]])
    by_id = {r.source_id: r for r in refs}
    one = by_id[first[2]]
    assert one.report == "Right lower lobe consolidation.\n\nSmall left pleural effusion."
    # stated on a 320 x 384 image, the real one is 160 x 192: boxes halve
    assert [(b.label, b.x0, b.y0, b.x1, b.y1) for b in one.boxes] == [("consolidation", 20, 110, 70, 150),
                                                                      ("effusion", 100, 140, 140, 170)]
    assert by_id[second[2]].split == "test" and one.split == "train" and one.report_style == "caption"
    assert by_id[second[2]].boxes[0].label == "cardiomegaly"


def test_a_partial_download_gives_the_images_it_holds_and_a_folder_without_any_is_a_layout_error(
        generated_sources, layouts, make_connector, tmp_path):
    """MS-CXR's images alone, or some of them, are a usable copy; images_root at files/ itself holds none of them."""
    subject, study, dicom_id, _, _ = layouts.MIMIC_IMAGES[0]
    held = Path("files", f"p{subject[:2]}", f"p{subject}", f"s{study}", f"{dicom_id}.jpg")
    (tmp_path / held).parent.mkdir(parents=True)
    shutil.copy(generated_sources["mimic_cxr"] / held, tmp_path / held)
    refs = {r.source_id: r.reject for r in make_connector("ms_cxr", generated_sources["ms_cxr"],
                                                           images_root=str(tmp_path)).refs()}
    assert refs == {dicom_id: "", layouts.MIMIC_IMAGES[2][2]: "missing_image"}
    files = generated_sources["mimic_cxr"] / "files"
    expected = re.escape(f"none of the table's 2 images is under {files} (no {files}/files/p")
    with pytest.raises(SourceLayoutError, match=expected):
        list(make_connector("ms_cxr", generated_sources["ms_cxr"], images_root=str(files)).refs())


def test_build_links_phrases_to_their_boxes(build_rows):
    rows = [r for r in build_rows if r["source"] == "ms_cxr"]
    assert len(rows) == 2
    row = next(r for r in rows if len(r["regions"]) == 2)
    assert sorted(r["label"] for r in row["regions"]) == ["consolidation", "effusion"]
    consolidation = next(r for r in row["regions"] if r["label"] == "consolidation")
    assert consolidation["box"] == pytest.approx([20 / 160, 110 / 192, 70 / 160, 150 / 192])
    assert "consolidation" in consolidation["text"].lower()


def test_a_repeated_row_adds_no_region_and_a_wide_row_is_a_reject(generated_sources, make_connector, tmp_path):
    table = tmp_path / "MS_CXR_Local_Alignment_v1.1.0.csv"
    lines = (generated_sources["ms_cxr"] / table.name).read_text().splitlines()
    first = lines[1].split(",")
    wide = ",".join(first[:2] + ["Opacity", " right base"] + first[3:])  # an unquoted comma in the phrase
    table.write_text("\n".join([lines[0], lines[1], lines[1], *lines[2:], wide.replace(first[0], "other")]) + "\n")
    refs = {r.source_id: r for r in make_connector("ms_cxr", tmp_path,
                                                   images_root=str(generated_sources["mimic_cxr"])).refs()}
    assert [b.label for b in refs[first[0]].boxes] == ["consolidation", "effusion"]
    assert refs["other"].reject == "bad_index_row" and "12 fields where the header has 11" in refs["other"].detail


def test_the_newest_table_is_found_by_its_release_numbers(generated_sources, make_connector, tmp_path):
    table = (generated_sources["ms_cxr"] / "MS_CXR_Local_Alignment_v1.1.0.csv").read_text().splitlines()
    (tmp_path / "MS_CXR_Local_Alignment_v1.2.0.csv").write_text(table[0] + "\n")  # older: no rows
    (tmp_path / "MS_CXR_Local_Alignment_v1.10.0.csv").write_text("\n".join(table) + "\n")
    refs = list(make_connector("ms_cxr", tmp_path, images_root=str(generated_sources["mimic_cxr"])).refs())
    assert len(refs) == len({line.split(",")[0] for line in table[1:]}) > 0

