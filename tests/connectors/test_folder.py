"""folder: a CSV or JSONL index of (image, text[, boxes]); boxes of a volume go to the slice they are drawn on."""

import pytest

from connectors.tables import SourceLayoutError


def test_jsonl_rows_boxes_and_rejects(generated_sources, make_connector, layouts):
    refs = list(make_connector("folder", generated_sources["folder"], index="index.jsonl").refs())
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


def test_a_byte_order_mark_and_an_id_of_0(tmp_path, make_connector):
    rows = '{"image": "x.png", "text": "ok", "id": 0, "patient_id": 0}\n{"image": "y.png", "text": "ok", "id": 1}\n'
    (tmp_path / "index.jsonl").write_bytes(b"\xef\xbb\xbf" + rows.encode())  # as Windows editors save UTF-8
    first, second = make_connector("folder", tmp_path, index="index.jsonl").refs()
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


def test_volume_box_lands_only_on_its_slice(build_rows, build_rejects, layouts):
    rows = {(r["source_id"], r["acquisition"]["frame"]): r for r in build_rows if r["source"] == "folder"}
    assert sorted(rows) == [("img/a.png", -1), ("vol/c.nii.gz", 1), ("vol/c.nii.gz", 4), ("vol/c.nii.gz", 6)]
    x0, y0, x1, y1, frame = layouts.FOLDER_VOLUME_BOX
    for (source_id, index), row in rows.items():
        if source_id != "vol/c.nii.gz":
            continue
        assert row["modality"] == "CT" and (row["orig_width"], row["orig_height"]) == (80, 64)
        boxes = [r["box"] for r in row["regions"] if r["origin"] == "annotation"]
        expected = [pytest.approx([x0 / 80, y0 / 64, x1 / 80, y1 / 64])] if index == frame else []
        assert boxes == expected, index
    refused = {r["source_id"]: (r["stage"], r["reason"]) for r in build_rejects if r["source"] == "folder"}
    assert refused == {"img/b.jpg": ("licence", "licence_excluded"), "a-bad": ("connector", "bad_boxes")}
