"""folder: a CSV or JSONL index of (image, text[, boxes]), or none (images paired with the .txt reports beside them);
boxes of a volume go to the slice they are drawn on."""

from pathlib import Path

import numpy as np
import pytest

from connectors.folder import Folder
from connectors.tables import SourceLayoutError
from pipeline.build import build
from pipeline.config import BuildConfig, from_dict
from pipeline.inspect import read_shards


def given_ids(make_connector, root, index="index.jsonl") -> dict[str, str]:
    """The folder's published (keyed) source ids -> the ids its index gives (or its image paths)."""
    keyed = make_connector("folder", root, index=index).refs()
    given = make_connector("folder", root, index=index, source_ids="as_given").refs()
    return {k.source_id: g.source_id for k, g in zip(keyed, given, strict=True)}


def test_jsonl_rows_boxes_and_rejects(generated_sources, make_connector, layouts):
    root = generated_sources["folder"]
    refs = list(make_connector("folder", root, index="index.jsonl", source_ids="as_given").refs())
    assert [r.source_id for r in refs] == ["img/a.png", "img/b.jpg", "vol/c.nii.gz", "a-bad"]
    a, b, volume, bad = refs
    assert a.boxes[0].label == "mass" and (a.boxes[0].x0, a.boxes[0].frame) == (40, -1) and a.license == "CC BY 4.0"
    assert b.license == "All rights reserved" and volume.license == "unknown"
    box = volume.boxes[0]
    assert (box.x0, box.y0, box.x1, box.y1, box.frame) == layouts.FOLDER_VOLUME_BOX and box.label == "nodule"
    assert bad.reject == "bad_boxes" and "not a box" in bad.detail
    assert len({a.patient_key, b.patient_key, volume.patient_key}) == 3


def test_csv_index_with_json_boxes_and_a_bad_line(tmp_path, make_connector):
    (tmp_path / "index.csv").write_text(
        'image,text,split,boxes\n'
        'x.png,Left effusion.,test,'
        '"[{""x0"": 1, ""y0"": 2, ""x1"": 30, ""y1"": 40, ""label"": ""pleural effusion""}]"\n'
        ',No image here.,,\n')
    first, second = make_connector("folder", tmp_path).refs()
    assert first.split == "test" and first.boxes[0].label == "effusion" and first.image == str(tmp_path / "x.png")
    assert second.reject == "no_image"
    (tmp_path / "index.jsonl").write_text('{"image": "x.png", "text": "ok"}\nnot json\n')
    good, broken = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert not good.reject and broken.reject == "bad_index_row"


def test_a_spreadsheets_csv_index_with_capitalised_headers_and_semicolons(tmp_path, make_connector):
    (tmp_path / "index.csv").write_text(  # as Excel saves it where the comma is the decimal mark
        'Image ; Text;Split;Boxes\n'
        'x.png;Left effusion, small.;test;'
        '"[{""x0"": 1, ""y0"": 2, ""x1"": 30, ""y1"": 40, ""label"": ""effusion""}]"\n')
    [ref] = make_connector("folder", tmp_path).refs()
    assert (ref.image, ref.split, [b.label for b in ref.boxes]) == (str(tmp_path / "x.png"), "test", ["effusion"])
    (tmp_path / "index.TSV").write_text("image\ttext\tsplit\nx.png\tLeft effusion, small.\ttest\n")
    [ref] = make_connector("folder", tmp_path, index="index.TSV").refs()
    assert (ref.image, ref.split, ref.report) == (str(tmp_path / "x.png"), "test", "Left effusion, small.")


def test_an_index_written_on_windows_names_images_with_backslashes(tmp_path, make_connector):
    (tmp_path / "images").mkdir()
    (tmp_path / "index.csv").write_text("image,text\r\nimages\\x.png,Left effusion.\r\n")
    [ref] = make_connector("folder", tmp_path).refs()
    assert ref.image == str(tmp_path / "images" / "x.png") and not ref.reject


def test_a_study_folders_one_report_goes_to_each_of_its_images_and_the_folder_is_their_patient(tmp_path,
                                                                                                make_connector):
    for path in ("s1/1.dcm", "s1/2.dcm", "s2/1.png", "s2/2.png", "s3/1.png", "s3/2.png", "top.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"pixels")
    for path in ("s1/report.txt", "s2/1.txt", "s3/a.txt", "s3/b.txt", "notes.txt"):
        (tmp_path / path).write_text("Left pleural effusion.")
    refs = {r.image.removeprefix(f"{tmp_path}/"): r for r in make_connector("folder", tmp_path, index="").refs()}
    reports = {image: Path(r.report_path).relative_to(tmp_path).as_posix() if r.report_path else r.reject
               for image, r in refs.items()}
    assert reports == {"s1/1.dcm": "s1/report.txt", "s1/2.dcm": "s1/report.txt",  # a study folder
                       "s2/1.png": "s2/1.txt", "s2/2.png": "no_report",  # reports by image name: none shared
                       "s3/1.png": "no_report", "s3/2.png": "no_report",  # two reports: whose is whose?
                       "top.png": "no_report"}  # the root is no study
    assert refs["s1/1.dcm"].patient_key == refs["s1/2.dcm"].patient_key != refs["s2/1.png"].patient_key
    assert refs["s1/1.dcm"].source_id != refs["s1/2.dcm"].source_id
    assert refs["s3/1.png"].patient_key != refs["s3/2.png"].patient_key  # by image, as before


def test_an_index_less_folder_takes_every_raster_format_the_decoder_reads(tmp_path, make_connector):
    from PIL import Image

    from annotators.imaging import decode

    film = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (48, 1)))
    for name in ("a.TIF", "b.tiff", "c.bmp", "d.webp", "e.pgm"):
        film.save(tmp_path / name)
        (tmp_path / name).with_suffix(".txt").write_text("Left pleural effusion.")
    refs = make_connector("folder", tmp_path, index="").refs()
    assert sorted(Path(r.image).name for r in refs if r.report_path) == ["a.TIF", "b.tiff", "c.bmp", "d.webp",
                                                                         "e.pgm"]
    for ref in refs:  # each decodes to the film (WebP's lossy default aside)
        [image] = decode(Path(ref.image).read_bytes(), ref.image)
        assert image.pixels.shape == (48, 64) and abs(int(image.pixels[0, 63]) - 63) <= 2


def test_dicom_files_of_any_name_are_inputs_as_a_cd_export_names_them(tmp_path, make_connector):
    from pydicom.data import get_testdata_file

    study = tmp_path / "PATIENT1" / "STUDY1"
    study.mkdir(parents=True)
    film = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    for name in ("IM000001", "1.2.840.113619.2.55.3.1"):
        (study / name).write_bytes(film)
    (study / "DICOMDIR").write_bytes(film)  # the export's index, a DICOM file too: no input
    (study / "README").write_text("not an image")
    (study / "report.txt").write_text("Left pleural effusion.")
    (tmp_path / "IM000009").write_bytes(film)
    (tmp_path / "IM000009.txt").write_text("Right lower lobe nodule.")
    found = make_connector("folder", tmp_path, index="").refs()
    refs = {Path(r.image).relative_to(tmp_path).as_posix(): r for r in found}
    assert {image: Path(r.report_path).name for image, r in refs.items()} == {
        "IM000009": "IM000009.txt", "PATIENT1/STUDY1/1.2.840.113619.2.55.3.1": "report.txt",
        "PATIENT1/STUDY1/IM000001": "report.txt"}
    assert not any(r.reject for r in refs.values())


def test_a_byte_order_mark_and_an_id_of_0(tmp_path, make_connector):
    rows = '{"image": "x.png", "text": "ok", "id": 0, "patient_id": 0}\n{"image": "y.png", "text": "ok", "id": 1}\n'
    (tmp_path / "index.jsonl").write_bytes(b"\xef\xbb\xbf" + rows.encode())  # as Windows editors save UTF-8
    first, second = make_connector("folder", tmp_path, index="index.jsonl", source_ids="as_given").refs()
    assert not first.reject and (first.source_id, second.source_id) == ("0", "1")
    assert first.patient_key == make_connector("folder", tmp_path).patient_key("0") != second.patient_key


def test_json_nested_past_the_parsers_depth_is_a_reject_not_a_crash(tmp_path, make_connector):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "index.jsonl").write_text(f'{deep}\n{{"image": "x.png", "text": "ok", "boxes": "{deep}"}}\n')
    line, boxes = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert line.reject == "bad_index_row" and "RecursionError" not in line.detail
    assert boxes.reject == "bad_boxes" and "RecursionError" in boxes.detail


def test_missing_columns_and_bad_options_are_clear_errors(tmp_path, make_connector):
    (tmp_path / "index.csv").write_text("path,caption\nx.png,hi\n")
    with pytest.raises(SourceLayoutError, match="missing column"):
        list(make_connector("folder", tmp_path).refs())
    with pytest.raises(ValueError, match="report_style"):
        make_connector("folder", tmp_path, report_style="poem")
    with pytest.raises(ValueError, match="source_ids"):
        make_connector("folder", tmp_path, source_ids="plain")


def test_published_ids_are_keyed_hashes_of_what_the_index_gives(tmp_path, make_connector):
    """A hospital's file names and ids (names, dates, accession numbers) never become the published id."""
    rows = ['{"image": "Doe_Jane_19610502/20190314.png", "text": "ok"}',
            '{"image": "b.png", "text": "ok", "id": "ACC 44871236", "patient_id": "MRN 7731942"}',
            '{"image": "c.png", "text": "ok", "id": "ACC 44871236"}']
    (tmp_path / "index.jsonl").write_text("\n".join(rows) + "\n")
    first, second, third = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert all(len(r.source_id) == 25 and r.source_id.startswith("k") for r in (first, second, third))
    assert second.source_id == third.source_id != first.source_id  # still a duplicate of the same id
    assert "Doe" not in first.source_id and "4487" not in second.source_id
    again = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert [r.source_id for r in again] == [first.source_id, second.source_id, third.source_id]
    other_key = Folder(Folder.Options(root=str(tmp_path), index="index.jsonl"), b"another key")
    assert next(other_key.refs()).source_id != first.source_id
    given = make_connector("folder", tmp_path, index="index.jsonl", source_ids="as_given")
    assert first.patient_key == given.patient_key("Doe_Jane_19610502/20190314.png")  # the default patient id
    assert second.patient_key == given.patient_key("MRN 7731942") != third.patient_key


def test_volume_box_lands_only_on_its_slice(build_rows, build_rejects, layouts, generated_sources, make_connector):
    given = given_ids(make_connector, generated_sources["folder"])
    rows = {(given[r["source_id"]], r["acquisition"]["frame"]): r for r in build_rows if r["source"] == "folder"}
    assert sorted(rows) == [("img/a.png", -1), ("vol/c.nii.gz", 1), ("vol/c.nii.gz", 4), ("vol/c.nii.gz", 6)]
    x0, y0, x1, y1, frame = layouts.FOLDER_VOLUME_BOX
    for (source_id, index), row in rows.items():
        if source_id != "vol/c.nii.gz":
            continue
        assert row["modality"] == "CT" and (row["orig_width"], row["orig_height"]) == (80, 64)
        boxes = [r["box"] for r in row["regions"] if r["origin"] == "annotation"]
        expected = [pytest.approx([x0 / 80, y0 / 64, x1 / 80, y1 / 64])] if index == frame else []
        assert boxes == expected, index
    refused = {given[r["source_id"]]: (r["stage"], r["reason"]) for r in build_rejects if r["source"] == "folder"}
    assert refused == {"img/b.jpg": ("licence", "licence_excluded"), "a-bad": ("connector", "bad_boxes")}


def test_without_an_index_images_pair_with_the_reports_beside_them(tmp_path, make_connector):
    for path in ("a/1.png", "a/2.JPG", "b/3.nii.gz", "b/4.dcm", ".cache/5.png", "a/._1.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"pixels")
    for path in ("a/1.txt", "b/3.txt", "b/4.txt", ".cache/5.txt", "c/only-a-report.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("Left pleural effusion.")
    refs = list(make_connector("folder", tmp_path, index="", source_ids="as_given").refs())
    assert [r.source_id for r in refs] == ["a/1.png", "a/2.JPG", "b/3.nii.gz", "b/4.dcm"]  # hidden ones left out
    assert [Path(r.report_path).name if r.report_path else r.reject for r in refs] == [
        "1.txt", "no_report", "3.txt", "4.txt"]
    assert len({r.patient_key for r in refs}) == 4
    keyed = list(make_connector("folder", tmp_path, index="").refs())
    assert [r.patient_key for r in keyed] == [r.patient_key for r in refs]
    assert all(r.source_id.startswith("k") and "/" not in r.source_id for r in keyed)


def test_an_index_less_folder_builds_with_its_reports(ray_cluster, tmp_path, sample_root, monkeypatch):
    """The reports are read in the workers, and every image is a row or a reject."""
    monkeypatch.setenv("MEDREGION_DEID_KEY", "index-less-test-secret")
    for i, image in enumerate(sorted((sample_root / "images").glob("*.png"))[:3]):
        (tmp_path / "src" / f"study{i}.png").parent.mkdir(exist_ok=True)
        (tmp_path / "src" / f"study{i}.png").write_bytes(image.read_bytes())
    (tmp_path / "src" / "study0.txt").write_text("Small right pleural effusion.")
    (tmp_path / "src" / "study1.txt").write_text("Left lower lobe consolidation.")
    cfg = from_dict(BuildConfig, {"output": str(tmp_path / "out"), "sources": [
        {"name": "pairs", "connector": "folder", "detector": False,
         "options": {"root": str(tmp_path / "src"), "index": "", "source_ids": "as_given"}}]})
    result = build(cfg)
    assert result.manifest["totals"] == {"inputs": 3, "rows": 2, "rejects": 1}
    rows = read_shards(cfg.output, ["source_id", "global_text"]).to_dicts()
    assert {r["source_id"]: r["global_text"] for r in rows} == {
        "study0.png": "Small right pleural effusion.", "study1.png": "Left lower lobe consolidation."}


def test_a_csv_row_with_an_unquoted_comma_is_a_reject_not_shifted_cells(tmp_path, make_connector):
    (tmp_path / "index.csv").write_text("image,text,license,split\nimg/a.png,Opacity, right base,CC BY,\n"
                                        "img/b.png,Normal,CC BY,test\n")
    shifted, sound = make_connector("folder", tmp_path, source_ids="as_given").refs()
    assert (shifted.source_id, shifted.reject) == ("img/a.png", "bad_index_row")
    assert shifted.detail == "index.csv line 2: 5 fields where the header has 4"
    assert not sound.reject and (sound.license, sound.split) == ("CC BY", "test")


def test_a_csv_row_cut_short_of_its_text_is_a_reject_and_one_without_trailing_empty_cells_is_not(tmp_path,
                                                                                                  make_connector):
    """A spreadsheet's export drops trailing empty cells (b.png's split); c.png's line ends before its text
    (an unquoted line break in the cell before it, say)."""
    (tmp_path / "index.csv").write_text("image,license,text,split\nimg/a.png,CC BY,Opacity.,test\n"
                                        "img/b.png,CC BY,Normal\nimg/c.png,CC BY\n")
    sound, short, cut = make_connector("folder", tmp_path, source_ids="as_given").refs()
    assert not sound.reject and not short.reject and (short.report, short.split) == ("Normal", "")
    assert (cut.source_id, cut.reject) == ("img/c.png", "bad_index_row")
    assert cut.detail == "index.csv line 4: 2 of the header's 4 fields, none for text"


def test_a_jsonl_index_with_classic_mac_line_ends_reads_and_a_binary_one_is_refused(tmp_path, make_connector):
    (tmp_path / "index.jsonl").write_bytes(b'{"image": "x.png", "text": "ok"}\r{"image": "y.png", "text": "ok"}\r')
    assert [r.image for r in make_connector("folder", tmp_path, index="index.jsonl").refs()] == [
        str(tmp_path / "x.png"), str(tmp_path / "y.png")]
    (tmp_path / "index.jsonl").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n")
    with pytest.raises(SourceLayoutError, match="index.jsonl: a PDF document, not a text file \\(folder index\\)"):
        list(make_connector("folder", tmp_path, index="index.jsonl").refs())


def test_text_that_says_na_is_no_text_and_a_repeated_box_one_region(tmp_path, make_connector):
    box = '"[[1, 2, 30, 40, ""mass""], [1, 2, 30, 40, ""Mass""], [1, 2, 30, 40, ""nodule""]]"'
    (tmp_path / "index.csv").write_text(f"image,text,boxes\na.png,NA,{box}\nb.png, null ,\n")
    first, second = make_connector("folder", tmp_path).refs()
    assert first.report == second.report == ""
    assert [b.label for b in first.boxes] == ["mass", "nodule"]
    (tmp_path / "index.jsonl").write_text('{"image": "a.png", "text": "NaN"}\n')
    assert next(make_connector("folder", tmp_path, index="index.jsonl").refs()).report == ""


def test_a_report_pairs_with_its_image_whatever_the_case_of_its_suffix(tmp_path, make_connector):
    for name in ("scan1.png", "scan2.png", "scan3.PNG", "scan4.nii.gz"):
        (tmp_path / name).write_bytes(b"pixels")
    for name in ("scan1.TXT", "scan2.txt", "scan2.Txt", "scan3.Txt", "SCAN4.txt"):
        (tmp_path / name).write_text("Normal chest.")
    refs = list(make_connector("folder", tmp_path, index="", source_ids="as_given").refs())
    assert [Path(r.report_path).name if r.report_path else r.reject for r in refs] == [
        "scan1.TXT", "scan2.txt", "scan3.Txt", "no_report"]  # the name itself is matched as it is


def test_a_jsonl_text_cell_holding_an_object_or_an_array_is_a_reject_not_its_repr(tmp_path, make_connector):
    (tmp_path / "index.jsonl").write_text(
        '{"image": "x.png", "text": {"findings": "Effusion.", "impression": "Small effusion."}}\n'
        '{"image": ["x.png"], "text": "Effusion."}\n{"image": "x.png", "text": 12, "id": 7}\n')
    structured, listed, number = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert (structured.reject, structured.detail) == ("bad_index_row", "line 1: `text` is a JSON object, not a text")
    assert (listed.reject, listed.detail) == ("bad_index_row", "line 2: `image` is a JSON array, not a text")
    assert "findings" not in structured.report and listed.image == ""
    assert not number.reject and number.report == "12"


@pytest.mark.parametrize("box, why", [
    ('[1, 2, 30, 40, null]', "has no label name (None)"),
    ('{"x0": 1, "y0": 2, "x1": 30, "y1": 40, "label": " "}', "has no label name (' ')"),
    ('[1, 2, 30, 40]', "has no label name (None)"),
    ('[1, 2, 30, 40, "mass", 1.5]', "has frame 1.5, not a whole number from -1 up"),
    ('{"x0": 1, "y0": 2, "x1": 30, "y1": 40, "label": "mass", "frame": "2"}', "has frame '2'"),
    ('{"x": 1, "y": 2, "w": 30, "h": 40, "label": "mass"}', "is not a box: an object with x0, y0, x1, y1"),
    ("null", "None is not a box"),
    ("[1, 2, 30]", "[1, 2, 30] is not a box"),
])
def test_a_box_without_a_label_or_on_a_fractional_frame_is_a_reject(tmp_path, make_connector, box, why):
    (tmp_path / "index.jsonl").write_text(f'{{"image": "v.nii.gz", "text": "ok", "boxes": [{box}]}}\n')
    [ref] = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert ref.reject == "bad_boxes" and why in ref.detail and not ref.boxes


def test_an_unknown_label_is_other_and_a_whole_frame_may_be_written_2_0(tmp_path, make_connector):
    (tmp_path / "index.jsonl").write_text(
        '{"image": "v.nii.gz", "text": "ok", "boxes": [[1, 2, 30, 40, "Bochdalek hernia", 2.0], '
        '{"x0": 1, "y0": 2, "x1": 30, "y1": 40, "label": "mass", "frame": null}]}\n')
    [ref] = make_connector("folder", tmp_path, index="index.jsonl").refs()
    assert not ref.reject and [(b.label, b.frame) for b in ref.boxes] == [("other", 2), ("mass", -1)]
