"""Property-based tests of the index and box parsers: any input gives rows, rejects with a reason, or a clear
SourceLayoutError, never another exception."""
import csv
import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from annotators.text_encoding import binary_format, decoded
from connectors.tables import SourceLayoutError, number, scaled_box
from connectors.vindr_cxr import ReaderBox, _box, fuse_readers

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCALARS = st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=8)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=5), max_leaves=25)
NUMBERISH = st.integers(-1000, 5000) | st.floats(-1e6, 1e6) | st.sampled_from(["", "nan", "inf", "1e999", "x", "-0"])
BOX = st.lists(NUMBERISH, min_size=0, max_size=6)
INDEX_KEYS = ("image", "text", "id", "patient_id", "split", "license", "view", "modality", "boxes")
BOX_ITEM = (st.fixed_dictionaries({k: NUMBERISH for k in ("x0", "y0", "x1", "y1")},
                                  optional={"label": SCALARS, "frame": SCALARS})
            | st.lists(NUMBERISH | SCALARS, max_size=7) | JSON)
FOLDER_ROW = st.fixed_dictionaries({}, optional={
    "image": st.sampled_from(["a.png", "", "../x.png", "/abs.png"]) | SCALARS, "text": SCALARS | JSON,
    "id": SCALARS, "patient_id": SCALARS | JSON, "split": SCALARS, "license": SCALARS, "view": SCALARS,
    "modality": SCALARS, "boxes": st.lists(BOX_ITEM, max_size=3) | JSON | st.text(max_size=20)})
FOLDER_REASONS = {"bad_index_row", "no_image", "bad_boxes", "path_outside_root"}
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])  # Unix, Windows, classic Mac OS
MAGIC = st.sampled_from([b"%PDF-1.7\n", b"PK\x03\x04", b"\x89PNG\r\n\x1a\n"])  # a PDF, a workbook, an image as an index


def _assert_refs(refs, reasons: set[str]) -> None:
    for ref in refs:
        assert ref.reject in reasons | {""}, ref.reject
        assert not ref.reject or ref.detail
        for box in ref.boxes:
            assert all(math.isfinite(v) for v in (box.x0, box.y0, box.x1, box.y1)) and box.x1 > box.x0
            assert box.y1 > box.y0 and isinstance(box.label, str) and isinstance(box.frame, int)


@FAST
@given(lines=st.lists(FOLDER_ROW.map(json.dumps) | JSON.map(lambda v: json.dumps(v, ensure_ascii=False))
                      | st.text(max_size=40), max_size=6), ends=st.lists(LINE_ENDS, min_size=1),
       magic=st.just(b"") | MAGIC, raw=st.binary(max_size=30))
def test_folder_jsonl_index_gives_rows_or_rejects(make_connector, lines, ends, magic, raw):
    """Rows or rejects, one for each line that is not blank, whatever ends it; a layout error naming the index when
    it is a binary file (a PDF, a workbook, an image) or text in no encoding read here."""
    text = "".join(line.replace("\n", " ") + ends[i % len(ends)] for i, line in enumerate(lines))
    data = magic + text.encode("utf-8", "surrogatepass") + raw
    refused = binary_format(data) or not decoded(data).codec
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "index.jsonl").write_bytes(data)
        try:
            refs = list(make_connector("folder", Path(root), index="index.jsonl").refs())
        except SourceLayoutError as exc:
            assert refused and str(Path(root) / "index.jsonl") in str(exc)
            return
    assert not refused
    read = decoded(data).text  # decoded as the index is; a lone "\r" ends a line only in a file without "\n"
    read = read.replace("\r\n", "\n") if "\n" in read else read.replace("\r", "\n")
    assert len(refs) == sum(1 for line in read.split("\n") if line.strip())
    _assert_refs(refs, FOLDER_REASONS)


CSV_CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ['"[[1, 2, 30, 40, ""mass""]]"', '"[{""x0"": 1}]"', "a.png", '"', ",", "\r\n"])


@FAST
@given(header=st.lists(st.sampled_from(INDEX_KEYS) | st.text(max_size=5), max_size=6),
       rows=st.lists(st.lists(CSV_CELLS, max_size=7), max_size=5), raw=st.binary(max_size=60))
def test_folder_csv_index_gives_rows_rejects_or_a_layout_error(make_connector, header, rows, raw):
    with tempfile.TemporaryDirectory() as root:
        text = "\n".join(",".join(cells) for cells in [header, *rows]).encode("utf-8", "surrogatepass")
        (Path(root) / "index.csv").write_bytes(text + raw)
        try:
            refs = list(make_connector("folder", Path(root)).refs())
        except SourceLayoutError as exc:
            assert str(exc)
            return
    _assert_refs(refs, FOLDER_REASONS)


CHESTX_ENTRY = st.fixed_dictionaries({}, optional={
    "file_name": st.sampled_from(["a.png", ""]) | SCALARS, "syms": st.lists(SCALARS, max_size=4) | JSON,
    "boxes": st.lists(BOX | JSON, max_size=4) | JSON,
    "polygons": st.lists(st.lists(st.lists(NUMBERISH, max_size=3) | JSON, max_size=4) | JSON, max_size=4) | JSON})


@FAST
@given(entries=st.lists(CHESTX_ENTRY | JSON, max_size=5) | JSON)
def test_chestx_det_entries_give_rows_rejects_or_a_layout_error(make_connector, entries):
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "ChestX_Det_train.json").write_text(json.dumps(entries))
        try:
            refs = list(make_connector("chestx_det", Path(root), splits=("train",)).refs())
        except SourceLayoutError as exc:
            assert str(exc)
            return
    _assert_refs(refs, {"incomplete_entry", "bad_box", "bad_entry", "path_outside_root"})


COCO = st.fixed_dictionaries({}, optional={
    "images": st.lists(st.fixed_dictionaries({}, optional={"id": SCALARS, "file_name": SCALARS, "width": NUMBERISH,
                                                           "height": NUMBERISH}) | JSON, max_size=3) | JSON,
    "categories": st.lists(st.fixed_dictionaries({}, optional={"id": SCALARS, "name": SCALARS}) | JSON,
                           max_size=3) | JSON,
    "annotations": st.lists(st.fixed_dictionaries({}, optional={"image_id": SCALARS, "category_id": SCALARS,
                                                                "bbox": BOX | JSON}) | JSON, max_size=4) | JSON})


@FAST
@given(coco=COCO | JSON)
def test_covid_chestxray_box_file_gives_boxes_or_a_layout_error(make_connector, coco):
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "boxes.json").write_text(json.dumps(coco))
        connector = make_connector("covid_chestxray", Path(root), boxes="boxes.json")
        try:
            boxes = connector._boxes(Path(root))
        except SourceLayoutError as exc:
            assert str(exc)
            return
    for name, items in boxes.items():
        assert isinstance(name, str)
        for x0, y0, x1, y1, label, declared in items:
            assert all(math.isfinite(v) for v in (x0, y0, x1, y1, *declared)) and isinstance(label, str)


@FAST
@given(row=st.fixed_dictionaries({k: st.text(max_size=8) | NUMBERISH.map(str)
                                  for k in ("x_min", "y_min", "x_max", "y_max")}),
       readers=st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["Nodule", "Mass"]),
                                  st.tuples(*[st.floats(0, 100)] * 4)), max_size=6),
       iou=st.floats(0.01, 1.0), min_readers=st.integers(1, 3))
def test_vindr_boxes_parse_or_drop_and_fusion_never_fails(row, readers, iou, min_readers):
    box = _box(row)
    assert box is None or (all(math.isfinite(v) for v in box) and box[2] > box[0] and box[3] > box[1])
    boxes = [ReaderBox(reader, label, b) for reader, label, b in readers if b[2] > b[0] and b[3] > b[1]]
    for label, fused in fuse_readers(boxes, iou, min_readers):
        assert label in ("Nodule", "Mass") and len(fused) == 4


@FAST
@given(value=SCALARS | JSON, coords=st.tuples(*[st.floats(-1e6, 1e6)] * 4),
       declared=st.tuples(NUMBERISH, NUMBERISH).map(lambda d: tuple(number(v) or 0.0 for v in d)),
       actual=st.none() | st.tuples(st.integers(0, 5000), st.integers(0, 5000)))
def test_number_and_box_scaling_are_total(value, coords, declared, actual):
    parsed = number(value) if not isinstance(value, (list, dict)) else number(json.dumps(value))
    assert parsed is None or math.isfinite(parsed)
    box = scaled_box(*coords, "mass", declared, actual)
    assert box is None or (box.x1 > box.x0 and box.y1 > box.y0)


MS_CXR_COLUMNS = ("dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width",
                  "image_height")


@FAST
@given(rows=st.lists(st.tuples(st.sampled_from(["d1", "d2", ""]), st.sampled_from(["Pneumonia", "", "x"]),
                               st.text(max_size=10), st.sampled_from(["img.png", "../img.png", "", "nope.png"]),
                               *[NUMBERISH.map(str)] * 6), min_size=1, max_size=5))
def test_ms_cxr_rows_give_rows_or_rejects(make_connector, rows):
    """Rows or rejects, one for each image, where the folder holds an image the table names; a layout error naming
    the folder where it holds none of them."""
    firsts = {}  # dicom_id -> the path of its first row, the image's
    for dicom_id, _, _, path, *_ in rows:
        firsts.setdefault(dicom_id, path)
    images = [path for path in firsts.values() if path]
    with tempfile.TemporaryDirectory() as root:
        Image.new("L", (64, 48), 128).save(Path(root) / "img.png")
        with open(Path(root) / "MS_CXR_Local_Alignment_v1.1.0.csv", "w", newline="") as f:
            csv.writer(f).writerows([MS_CXR_COLUMNS, *rows])
        try:
            refs = list(make_connector("ms_cxr", Path(root)).refs())
        except SourceLayoutError as exc:
            assert images and "img.png" not in images and f"is under {root} " in str(exc)
            return
    assert not images or "img.png" in images
    assert len(refs) == len({row[0] for row in rows})
    _assert_refs(refs, {"missing_image", "bad_box", "path_outside_root"})
