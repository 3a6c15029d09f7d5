"""connectors.tables: reading a source's CSV and JSON tables (quirks kept, a row wider than its header never shifted,
a file that is no table a clear error) and the box helpers the connectors share."""
import gzip

import pytest

from connectors.base import SourceBox
from connectors.tables import (
    ROW_ERROR,
    FolderFiles,
    SourceLayoutError,
    distinct_boxes,
    ordered_box,
    read_json,
    read_table,
    scaled_box,
    text_lines,
)


def test_a_row_wider_than_its_header_is_an_error_naming_its_line_or_a_row_error(tmp_path):
    """An unquoted comma in a cell shifts the cells after it: "right base" must never become a licence."""
    path = tmp_path / "index.csv"
    path.write_text('image,text,license\na.png,"Opacity,\nright base",CC BY\nb.png,Opacity, right base,CC BY\n')
    with pytest.raises(SourceLayoutError, match="index.csv: line 4: 4 fields where the header has 3"):
        read_table(path)
    rows = read_table(path, row_errors=True).rows(named=True)
    assert rows[0] == {"image": "a.png", "text": "Opacity,\nright base", "license": "CC BY", ROW_ERROR: ""}
    assert rows[1][ROW_ERROR] == "index.csv line 4: 4 fields where the header has 3"


def test_quirks_of_real_tables_still_read(tmp_path):
    text = ('\ufeffid,text,extra,\r\n007," a, b ",x,\r\n\r\n0008,"say ""hi""\r\nagain"\r\n')
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    frame = read_table(path, ("id", "text"))
    assert frame.columns == ["id", "text", "extra"]  # the trailing comma's unnamed column is dropped
    assert frame.rows() == [("007", "a, b", "x"), ("0008", 'say "hi"\r\nagain', "")]  # a short row is padded


def test_report_columns_that_say_na_are_empty(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,notes,other\n1,NA,NA\n2, nan ,x\n3,None,x\n4,NULL,x\n5,NA of note,x\n")
    frame = read_table(path, report_columns=("notes", "absent"))
    assert frame["notes"].to_list() == ["", "", "", "", "NA of note"] and frame["other"][0] == "NA"


def test_a_repeated_column_name_is_a_layout_error(tmp_path):
    (tmp_path / "t.csv").write_text("id,text,text\n1,a,b\n")
    with pytest.raises(SourceLayoutError, match="more than once"):
        read_table(tmp_path / "t.csv")


def test_boxes_are_put_in_order_and_repeats_dropped():
    assert ordered_box(30, 40, 10, 20, "mass") == SourceBox(10, 20, 30, 40, "mass")
    assert ordered_box(10, 20, 10, 40, "mass") is None
    one, other = SourceBox(1, 2, 3, 4, "mass"), SourceBox(1, 2, 3, 4, "nodule")
    assert distinct_boxes([one, other, one, SourceBox(1, 2, 3, 4, "mass", frame=2)]) == (
        one, other, SourceBox(1, 2, 3, 4, "mass", frame=2))


def test_a_table_saved_by_a_windows_spreadsheet_reads_as_written(tmp_path):
    path = tmp_path / "index.csv"
    path.write_bytes("image,text\na.png,Café au lait spot; “ground-glass” opacity\n".encode("cp1252"))
    assert read_table(path).rows() == [("a.png", "Café au lait spot; “ground-glass” opacity")]
    path.write_bytes("image,text\r\nb.png,Hilar mass\r\n".encode("utf-16"))  # "Unicode text" with its mark
    assert read_table(path).rows() == [("b.png", "Hilar mass")]
    assert text_lines(path, "captions") == ["image,text", "b.png,Hilar mass", ""]


def test_a_quoted_cell_left_open_to_the_end_of_the_file_is_a_layout_error(tmp_path):
    """The csv reader would read every line after the opening quote into that cell: their rows would be lost."""
    path = tmp_path / "index.csv"
    path.write_text('image,text\na.png,"Opacity, right base.\nb.png,Left effusion.\nc.png,Normal.\n')
    with pytest.raises(SourceLayoutError, match="opened on line 2 is never closed"):
        read_table(path, row_errors=True)
    path.write_text('image,text\na.png,Opacity.\nb.png,"Left\neffusion."\n')  # a cell over two lines, closed
    assert read_table(path).rows() == [("a.png", "Opacity."), ("b.png", "Left\neffusion.")]


def test_the_separator_is_the_one_the_header_line_holds(tmp_path):
    """European spreadsheets save ";" (their decimal mark is ","), "Unicode text" is tab-separated UTF-16."""
    rows = [("a.png", "Opacity, right base"), ("b.png", "Left effusion")]
    for name, separator, codec in (("t.csv", ";", "utf-8"), ("t.tsv", "\t", "utf-8"), ("t.txt", "\t", "utf-16"),
                                   ("p.csv", "|", "utf-8")):
        lines = [f"image{separator}text", *(separator.join(row) for row in rows)]
        (tmp_path / name).write_bytes("\r\n".join(lines).encode(codec))
        assert read_table(tmp_path / name, ("image", "text")).rows() == rows, name


def test_header_names_are_stripped_and_matched_in_case(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\ufeff Image ,TEXT\u00a0,\u200bLicense,view\na.png,Opacity.,CC BY,PA\n", encoding="utf-8")
    frame = read_table(path, ("image", "text"), optional=("license",))
    assert frame.columns == ["image", "text", "license", "view"]
    assert frame.row(0) == ("a.png", "Opacity.", "CC BY", "PA")
    path.write_text("image,text,text \na.png,a,b\n")
    with pytest.raises(SourceLayoutError, match="more than once"):
        read_table(path)
    path.write_text("Image,IMAGE,text\na.png,b.png,c\n")
    with pytest.raises(SourceLayoutError, match="both read as 'image'"):
        read_table(path, ("image",))


def test_a_cell_longer_than_the_csv_field_limit_is_read(tmp_path):
    """A whole report in one cell passes csv's default limit of 131,072 characters; report_text caps it later."""
    (tmp_path / "t.csv").write_text(f"image,text\na.png,{'Opacity. ' * 20_000}\n")
    assert len(read_table(tmp_path / "t.csv")["text"][0]) == len("Opacity. " * 20_000) - 1


def test_tables_in_east_asian_encodings_are_read_and_a_workbook_or_unknown_one_refused(tmp_path):
    path = tmp_path / "t.csv"
    for text, codec in (("右肺上葉に結節影を認めます。", "cp932"), ("右肺上叶见结节影，边界清楚。", "gb18030")):
        path.write_bytes(f"image,text\na.png,{text}\n".encode(codec))  # as Excel saves CSV in Japan, China
        assert read_table(path).rows() == [("a.png", text)], codec
    path.write_bytes("image,text\na.png,Узел в правом легком\n".encode("cp1251"))
    with pytest.raises(SourceLayoutError, match="save it as UTF-8"):
        read_table(path)
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(100))  # an .xlsx renamed or saved as .csv
    with pytest.raises(SourceLayoutError, match="Excel .xlsx"):
        read_table(path)


def test_json_files_as_editors_and_python_write_them(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"a": 1}\n\n{"a": 2}\n')  # JSON Lines
    assert read_json(path) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(SourceLayoutError, match="line 2"):
        read_json(path)
    path.write_bytes('{"text": "Opacité"}'.encode("utf-16"))
    assert read_json(path) == {"text": "Opacité"}
    path.write_bytes('{"text": "Opacité"}'.encode("cp1252"))
    assert read_json(path) == {"text": "Opacité"}
    path.write_text('{"box": [NaN, 1, Infinity, -Infinity]}')  # json.dumps writes them; no JSON reader else does
    assert read_json(path) == {"box": [None, 1, None, None]}


def test_a_header_of_one_column_or_with_separators_inside_quoted_names(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text\n"Opacity, right base; small effusion"\nClear.\n')  # one column: "," by default
    assert read_table(path, ("text",)).rows() == [("Opacity, right base; small effusion",), ("Clear.",)]
    path.write_text('image;"Befund, Text";"a ""b"", c"\na.png;Erguss, rechts;x\n')  # ";" outside the quotes only
    assert read_table(path, ("image",)).row(0) == ("a.png", "Erguss, rechts", "x")
    path.write_text("Image,TEXT,image_id\na.png,Clear.,7\n")  # case alone: "image_id" is no spelling of "image"
    assert read_table(path, ("image", "text")).columns == ["image", "text", "image_id"]


def test_folder_files_are_found_whatever_the_case_of_their_names(tmp_path):
    for name in ("b.PNG", "a.png", "A.PNG", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    pngs = FolderFiles(tmp_path, (".png",))
    assert pngs.names == {"a.png": "A.PNG", "b.png": "b.PNG"}  # of names equal but for case, the first sorted
    assert pngs.path("B.png") == tmp_path / "b.PNG" and pngs.path("c.png") == tmp_path / "c.png"
    assert pngs.name("NOTES.TXT") is None and FolderFiles(tmp_path).name("NOTES.TXT") == "notes.txt"
    assert not FolderFiles(tmp_path / "absent") and not FolderFiles(tmp_path, (".jpg",))


def test_text_lines_end_at_any_line_break_and_a_binary_or_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_bytes("ROCO_1\tChest\rfilm\r\nROCO_2\tCafé\u2028x\x0cy\n".encode())  # Windows, Unix; a stray \r inside
    assert text_lines(path, "captions") == ["ROCO_1\tChest\rfilm", "ROCO_2\tCafé\u2028x\x0cy", ""]
    path.write_bytes(b"ROCO_1\tChest film\rROCO_2\tHead CT\r")  # classic Mac OS
    assert text_lines(path, "captions") == ["ROCO_1\tChest film", "ROCO_2\tHead CT", ""]
    for data, why in ((b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "a PDF document, not a text file \\(captions\\)"),
                      (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "a PNG image"),
                      (bytes(range(256)) * 4, "not text in any encoding")):
        path.write_bytes(data)
        with pytest.raises(SourceLayoutError, match=f"captions.txt: {why}"):
            text_lines(path, "captions")


def test_a_row_short_of_a_required_cell_is_a_row_error_and_one_short_of_trailing_empty_cells_is_not(tmp_path):
    """Spreadsheets drop a row's trailing empty cells on export: b.png lacks only its licence, c.png its text."""
    path = tmp_path / "index.csv"
    path.write_text("image,text,license,view\na.png,Opacity.,CC BY,PA\nb.png,Effusion.\nc.png\n")
    rows = read_table(path, ("image", "text"), row_errors=True, optional=("license",)).rows(named=True)
    assert [row[ROW_ERROR] for row in rows] == ["", "", "index.csv line 4: 1 of the header's 4 fields, none for text"]
    assert rows[1] == {"image": "b.png", "text": "Effusion.", "license": "", "view": "", ROW_ERROR: ""}
    with pytest.raises(SourceLayoutError, match="index.csv: line 4: 1 of the header's 4 fields, none for text"):
        read_table(path, ("image", "text"))  # without row errors, a layout error as a row too wide is
    assert read_table(path, ("image",)).rows()[2] == ("c.png", "", "", "")  # short of optional cells: padded


def test_a_box_scaled_out_of_a_floats_range_or_from_no_size_is_no_box_of_inf():
    """MS-CXR's image_width of 5e-324 made every corner inf (or nan); a corner of 1e308 overflowed when scaled."""
    assert scaled_box(-1, 0, 2, 1, "pneumonia", (5e-324, 5e-324), (512, 512)) == ordered_box(-1, 0, 2, 1, "pneumonia")
    assert scaled_box(0, 0, 1e308, 10, "mass", (100, 100), (1000, 1000)) is None
    assert ordered_box(0, 0, float("nan"), 1, "mass") is None
