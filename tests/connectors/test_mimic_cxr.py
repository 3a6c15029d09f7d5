"""mimic_cxr on generated MIMIC-CXR-JPG and MIMIC-CXR (DICOM) trees in the documented layout."""
import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from connectors.tables import SourceLayoutError


def test_jpg_rows_follow_the_metadata_and_the_split(generated_sources, layouts, make_connector):
    refs = list(make_connector("mimic_cxr", generated_sources["mimic_cxr"]).refs())
    assert [r.source_id for r in refs] == sorted(image[2] for image in layouts.MIMIC_IMAGES)
    by_id = {r.source_id: r for r in refs}
    for subject, study, dicom_id, view, split in layouts.MIMIC_IMAGES:
        ref = by_id[dicom_id]
        folder = f"files/p{subject[:2]}/p{subject}/s{study}"
        assert ref.image.endswith(f"{folder}/{dicom_id}.jpg") and Path(ref.image).is_file()
        assert ref.report_path.endswith(f"{folder}.txt") and ref.report_style == "radiology"
        assert (ref.view, ref.split) == (view, split) and subject not in ref.patient_key
    keys = {image[0]: by_id[image[2]].patient_key for image in layouts.MIMIC_IMAGES}
    assert len(set(keys.values())) == len(keys) == 3


def test_view_filter_and_the_dicom_release(generated_sources, make_connector):
    refs = list(make_connector("mimic_cxr", generated_sources["mimic_cxr"], views=("PA", "AP")).refs())
    assert [(r.view, r.reject) for r in refs if r.reject] == [("LATERAL", "view_excluded")]
    dicom = list(make_connector("mimic_cxr", generated_sources["mimic_cxr_dicom"], images="dcm").refs())
    assert len(dicom) == 4 and all(r.image.endswith(".dcm") and Path(r.image).is_file() for r in dicom)
    assert all(r.split == "" and r.view == "" for r in dicom)  # the record list has neither: the header has the view
    with pytest.raises(SourceLayoutError, match="mimic-cxr-2.0.0-metadata"):  # not every image a view_excluded reject
        list(make_connector("mimic_cxr", generated_sources["mimic_cxr_dicom"], images="dcm", views=("PA",)).refs())


def test_missing_tables_and_bad_options_are_clear_errors(tmp_path, make_connector):
    with pytest.raises(SourceLayoutError, match="cxr-record-list"):
        list(make_connector("mimic_cxr", tmp_path).refs())
    with pytest.raises(ValueError, match="jpg or dcm"):
        make_connector("mimic_cxr", tmp_path, images="png")


def test_build_parses_reports_keeps_placeholders_and_drops_identifiers(build_rows, build_rejects, layouts):
    rows = [r for r in build_rows if r["source"].startswith("mimic_cxr")]
    assert len(rows) == 6  # 3 of 4 images per release: one study has no report file
    refused = {(r["source"], r["reason"]) for r in build_rejects if r["source"].startswith("mimic_cxr")}
    assert refused == {("mimic_cxr_jpg", "missing_report"), ("mimic_cxr_dicom", "missing_report")}
    for row in rows:
        assert "consolidation" in row["report"]["findings"].lower()
        assert "pneumonia" in row["report"]["impression"].lower() and "___" in row["report"]["impression"]
        assert "10:45" not in json.dumps(row["report"])
    views = {r["source_id"]: r["view"] for r in rows if r["source"] == "mimic_cxr_dicom"}
    assert views == {image[2]: image[3] for image in layouts.MIMIC_IMAGES if image[0] != layouts.MIMIC_NO_REPORT}
    text = json.dumps([{k: v for k, v in r.items() if k != "image"} for r in rows], default=str)
    assert not any(value in text for value in layouts.PHI + ("Halvorsen", "Elsewhere", "21800506"))


def test_dicom_and_jpeg_of_one_image_look_alike(build_rows, decode_png):
    """MONOCHROME1 is inverted and the window applied: the DICOM row matches its JPEG twin."""
    pairs = {}
    for row in (r for r in build_rows if r["source"] in ("mimic_cxr_jpg", "mimic_cxr_dicom")):
        pairs.setdefault(row["source_id"], {})[row["source"]] = decode_png(row["image"]["bytes"]).astype(float)
    assert len(pairs) == 3
    for images in pairs.values():
        assert np.corrcoef(images["mimic_cxr_jpg"].ravel(), images["mimic_cxr_dicom"].ravel())[0, 1] > 0.95


def test_a_row_wider_than_its_header_in_either_table_is_a_reject(generated_sources, layouts, make_connector,
                                                                 tmp_path):
    copy = tmp_path / "mimic"
    shutil.copytree(generated_sources["mimic_cxr"], copy)
    first, second = (image[2] for image in layouts.MIMIC_IMAGES[:2])
    for name, wide in (("mimic-cxr-2.0.0-metadata.csv.gz", first), ("mimic-cxr-2.0.0-split.csv.gz", second)):
        lines = gzip.decompress((copy / name).read_bytes()).decode().splitlines()
        text = "\n".join(line + ",extra" if line.startswith(wide) else line for line in lines) + "\n"
        (copy / name).write_bytes(gzip.compress(text.encode()))
    refs = {r.source_id: r for r in make_connector("mimic_cxr", copy).refs()}
    assert refs[first].reject == refs[second].reject == "bad_index_row"
    assert refs[first].detail.startswith("mimic-cxr-2.0.0-metadata.csv.gz line 2:")
    assert refs[second].detail == "mimic-cxr-2.0.0-split.csv.gz line 3: 5 fields where the header has 4"
    assert [r.reject for r in refs.values()].count("") == 2


def test_a_split_row_listed_twice_lists_its_image_once_and_two_splits_are_a_reject(generated_sources, layouts,
                                                                                   make_connector, tmp_path):
    copy = tmp_path / "mimic"
    shutil.copytree(generated_sources["mimic_cxr"], copy)
    split = copy / "mimic-cxr-2.0.0-split.csv.gz"
    (same_subject, same_study, same, _, same_split), (subject, study, other, _, _) = layouts.MIMIC_IMAGES[:2]
    extra = f"{same},{same_study},{same_subject},{same_split}\n{other},{study},{subject},test\n"
    split.write_bytes(gzip.compress(gzip.decompress(split.read_bytes()) + extra.encode()))
    refs = list(make_connector("mimic_cxr", copy).refs())
    assert len(refs) == len(layouts.MIMIC_IMAGES)
    by_id = {r.source_id: r for r in refs}
    assert not by_id[same].reject and by_id[same].split == same_split
    assert by_id[other].reject == "bad_index_row"
    assert by_id[other].detail == f"mimic-cxr-2.0.0-split.csv.gz puts {other} in train and test"


def _reports_moved(generated_sources, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A copy of the generated MIMIC-CXR-JPG without its report files, and those files by their path under the root."""
    copy = tmp_path / "mimic"
    shutil.copytree(generated_sources["mimic_cxr"], copy)
    reports = {}
    for path in sorted((copy / "files").rglob("s*.txt")):
        reports[path.relative_to(copy).as_posix()] = path.read_bytes()
        path.unlink()
    return copy, reports


@pytest.mark.parametrize("prefix", ["", "mimic-cxr-reports/"])
def test_reports_kept_in_their_zip_are_read_from_it(generated_sources, layouts, make_connector, tmp_path, prefix):
    """MIMIC-CXR-JPG has no reports: a copy often holds MIMIC-CXR's mimic-cxr-reports.zip alone, kept zipped."""
    copy, reports = _reports_moved(generated_sources, tmp_path)
    elsewhere = tmp_path / "mimic-cxr"
    elsewhere.mkdir()
    with zipfile.ZipFile(elsewhere / "mimic-cxr-reports.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in reports.items():
            archive.writestr(prefix + name, data)
    refs = list(make_connector("mimic_cxr", copy, reports_root=str(elsewhere)).refs())
    with_text = [r for r in refs if r.report]
    assert len(with_text) == 3 and all(r.report == layouts.MIMIC_REPORT and not r.report_path for r in with_text)
    [unreported] = [r for r in refs if not r.report]  # in no folder and not in the zip: the decode stage rejects it
    assert unreported.report_path.startswith(str(elsewhere / "files" / f"p11/p{layouts.MIMIC_NO_REPORT}/"))


def test_reports_unzipped_into_a_folder_of_the_zips_name_are_found(generated_sources, make_connector, tmp_path):
    copy, reports = _reports_moved(generated_sources, tmp_path)
    for name, data in reports.items():
        (copy / "mimic-cxr-reports" / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / "mimic-cxr-reports" / name).write_bytes(data)
    refs = list(make_connector("mimic_cxr", copy).refs())
    found = [r.report_path for r in refs if Path(r.report_path).is_file()]
    assert len(found) == 3 and all(path.startswith(str(copy / "mimic-cxr-reports" / "files")) for path in found)


def test_a_damaged_reports_zip_is_a_clear_error(generated_sources, make_connector, tmp_path):
    copy, _ = _reports_moved(generated_sources, tmp_path)
    (copy / "mimic-cxr-reports.zip").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(SourceLayoutError, match="mimic-cxr-reports.zip is not a readable zip"):
        list(make_connector("mimic_cxr", copy).refs())


def test_a_zipped_report_that_holds_no_text_is_a_reject_that_says_why(generated_sources, make_connector, tmp_path):
    copy, reports = _reports_moved(generated_sources, tmp_path)
    with zipfile.ZipFile(copy / "mimic-cxr-reports.zip", "w") as archive:
        for number, name in enumerate(reports):
            archive.writestr(name, b"%PDF-1.7 \x00\x01" if number == 0 else reports[name])
    refs = list(make_connector("mimic_cxr", copy).refs())
    pdf = [r for r in refs if r.reject == "report_not_text"]  # each image of that study
    assert pdf and {r.detail for r in pdf} == {"mimic-cxr-reports.zip: the report file is a PDF document, not text"}
    assert sum(bool(r.report) for r in refs) == len(reports) - 1  # the other studies' texts as before


def test_a_zipped_report_cut_to_the_cap_says_so_in_its_rows(generated_sources, make_connector, tmp_path):
    """The connector reads a zipped report cut to annotators.report_text's cap; its rows still say it was cut
    (`report.truncated`), as those of a report file the decode stage cuts do."""
    from annotators.imaging import FrameSelection
    from annotators.report_text import MAX_REPORT_CHARS
    from pipeline.stages.decode import Decode, work_items

    copy, reports = _reports_moved(generated_sources, tmp_path)
    long_one = next(iter(reports))
    with zipfile.ZipFile(copy / "mimic-cxr-reports.zip", "w") as archive:
        for name, data in reports.items():
            archive.writestr(name, data + b"Lungs are clear. " * (MAX_REPORT_CHARS // 16) if name == long_one else data)
    refs = [r for r in make_connector("mimic_cxr", copy).refs() if r.report and r.image.endswith(".jpg")]
    cut = [r for r in refs if r.report_truncated]
    assert cut and all(len(r.report) <= MAX_REPORT_CHARS for r in cut) and len(cut) < len(refs)
    rows = Decode(512, FrameSelection(), b"decode-test-key")(work_items(refs, [0] * len(refs))).to_pylist()
    assert {r["source_id"] for r in rows if r["report_truncated"]} == {r.source_id for r in cut}


def test_a_zipped_report_is_read_once_for_all_images_of_its_study(generated_sources, make_connector, tmp_path,
                                                                   monkeypatch):
    """377,110 images, 227,835 studies: each study's member is unzipped and decoded once; no report file is looked
    for one by one where the zip holds the study's (the unzipped copy beside it holds the same text)."""
    import connectors.mimic_cxr as mimic_cxr

    copy = tmp_path / "mimic"
    shutil.copytree(generated_sources["mimic_cxr"], copy)
    with zipfile.ZipFile(copy / "mimic-cxr-reports.zip", "w") as archive:
        for path in sorted((copy / "files").rglob("s*.txt")):
            archive.write(path, path.relative_to(copy).as_posix())
    decoded = []
    monkeypatch.setattr(mimic_cxr, "report_text", lambda data: decoded.append(data) or mimic_cxr.ReportText("x", False))
    is_file = Path.is_file

    def no_report_looked_for(path: Path) -> bool:
        assert path.suffix != ".txt", f"{path} looked for"
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", no_report_looked_for)
    refs = list(make_connector("mimic_cxr", copy).refs())
    assert len(decoded) == 2 and sum(r.report == "x" for r in refs) == 3  # two studies, three images
