"""Any report input becomes a clean text of bounded length, or a reject with its reason; nothing raises."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotators.report_text import (
    MAX_BYTES_PER_CHAR,
    MAX_REPORT_CHARS,
    MAX_RUN_CHARS,
    NOT_TEXT,
    UNKNOWN_ENCODING,
    report_text,
)

REPORTS = {  # one report's sentences in each script the encodings below cover
    "zh": "右肺上叶见一约5mm结节影，边界清楚。双肺未见明显异常。心影不大。",
    "zh_tw": "右肺上葉見一約五毫米結節影，邊界清楚。雙肺紋理清晰，未見明顯實質性病變。",
    "ja": "右肺上葉に5mm大の結節影を認めます。胸水は認めません。心拡大なし。",
    "ko": "우측 폐 상엽에 5mm 크기의 결절이 보입니다. 흉수는 없습니다.",
    "ru": "В верхней доле правого легкого узел размером 5 мм. Плеврального выпота нет.",
    "el": "Οζίδιο 5 mm στον δεξιό άνω λοβό. Δεν υπάρχει πλευριτική συλλογή.",
    "fr": "Opacité basale droite évoquant une pneumopathie; épanchement pleural à gauche.",
    "de": "Kleiner Pleuraerguss rechts, Größe des Herzens normal. Übersichtsaufnahme: keine Stauung.",
}


def test_long_text_is_cut_at_a_sentence_end_and_flagged():
    sentence = "Small right pleural effusion. "
    read = report_text(sentence * (MAX_REPORT_CHARS // len(sentence) + 10))
    assert read.truncated and len(read.text) <= MAX_REPORT_CHARS and read.text.endswith("effusion.")
    assert not report_text(sentence * 3).truncated


def test_a_text_without_sentence_ends_is_cut_at_a_space_or_the_cap():
    assert report_text("word " * MAX_REPORT_CHARS).text.endswith("word")
    unbroken = report_text("x" * (MAX_REPORT_CHARS * 3))
    assert unbroken.truncated and MAX_REPORT_CHARS - MAX_RUN_CHARS <= len(unbroken.text) <= MAX_REPORT_CHARS


def test_runs_without_a_space_are_broken():
    assert report_text("ab" * 125).text == f"{'ab' * 50} {'ab' * 50} {'ab' * 25}"
    assert report_text("Effusion. ======= ((((((( ...... ___").text == "Effusion. === ((( ... ___"
    assert report_text("pneumothorax " * 3).text == "pneumothorax " * 3


def test_control_characters_bytes_surrogates_and_none():
    cleaned = report_text("Left\x00 effusion\r\nNo\x1b[31m pneumothorax\x85").text
    assert cleaned == "Left  effusion\nNo pneumothorax\n"  # a terminal's colour codes go
    assert report_text("Opacit\u00e9 \xe9".encode("latin-1")).text == "Opacit\u00e9 \u00e9"  # not UTF-8: cp1252
    assert report_text("nodule \ud800 here").text == "nodule ? here"
    assert report_text(None).text == "" and report_text(12).text == "12"
    assert report_text("Cafe\u0301").text == "Caf\u00e9"  # NFC
    assert report_text(b"\xef\xbb\xbfFINDINGS: clear.").text == "FINDINGS: clear."  # a byte-order mark goes
    assert report_text("Left\ufeff effusion").text == "Left effusion"


def test_report_bytes_are_read_by_their_byte_order_mark_else_utf8_else_windows_1252():
    text = "Caf\u00e9 au lait; \u201cground-glass\u201d opacity \u2013 right lower lobe."
    for codec in ("utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-be"):
        data = text.encode(codec)
        if codec.endswith("-be"):
            data = "\ufeff".encode(codec) + data  # the BE codecs write no mark of their own
        assert report_text(data).text == text, codec
    assert report_text(text.encode("utf-8")).text == text
    assert report_text(b"Caf\xe9 au lait; \x93ground-glass\x94 opacity \x96 right lower lobe.").text == text
    assert report_text(b"Opacit\xe9 \xb0 \x81 x").text == "Opacit\u00e9 \u00b0   x"  # 0x81: undefined, a control
    for codec in ("utf-16-le", "utf-16-be"):  # no byte-order mark, as some Windows tools save
        assert report_text(text.encode(codec)).text == text, codec
    assert report_text(b"Left\x00 effusion.").text == "Left  effusion."  # a stray zero byte: UTF-8 still


def test_utf16_and_utf32_without_a_mark_are_read_in_any_script():
    """Windows and SQL Server tools write UTF-16 with no byte-order mark; only Latin text was recognised."""
    for language, text in REPORTS.items():
        for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            assert report_text(text.encode(codec)).text == text, (language, codec)


def test_legacy_encodings_are_read_where_their_bytes_make_text_of_their_language():
    cases = [("ja", "cp932"), ("ja", "euc_jp"), ("zh", "gb18030"), ("zh_tw", "cp950"), ("ko", "euc_kr"),
             ("fr", "mac_roman"), ("de", "mac_roman"), ("fr", "cp850"), ("de", "cp850"), ("fr", "cp1252")]
    for language, codec in cases:
        assert report_text(REPORTS[language].encode(codec)).text == REPORTS[language], (language, codec)
    # a UTF-8 report with a line pasted from a Windows file: its UTF-8 stays UTF-8
    assert report_text(REPORTS["zh"].encode() + b" Caf\xe9.").text == REPORTS["zh"] + " Caf\u00e9."


def test_windows_1252_dashes_and_ellipses_between_words_are_not_mac_roman():
    """Word writes "—", "–" and "…" between words; Mac Roman reads those bytes as "ó", "ñ", "Ö" ("clearóno")."""
    for text in ("Lungs clear\u2014no effusion.", "anterior\u2013posterior view", "Stable\u2026then worse.",
                 "He\u2019s had CABG\u2014sternotomy wires intact.", "IMPRESSION\u2014NORMAL"):
        assert report_text(text.encode("cp1252")).text == text, text


def test_short_windows_1252_files_are_not_read_as_utf16():
    """Bytes with no zero byte are no UTF-16 text of ASCII characters: a few Windows-1252 words read as CJK ("µm" as
    "涵") were taken for UTF-16 without a mark."""
    for text in ("\u00b5m", "\u00c7a", "t\u2019", "g\u2014", "\u201cleft", ", 3\u00d74 cm\u2026 \u2022 Heart no",
                 "te, \u00e9p"):
        assert report_text(text.encode("cp1252")).text == text, text


FRENCH = "Opacit\u00e9 basale droite. No effusion. Heart size normal.\n"
QUOTED = "The \u201cleft\u201d lung\u2019s base \u2013 clear."


@pytest.mark.parametrize("data,text", [
    (FRENCH.encode(), FRENCH), (b"\xef\xbb\xbfIMPRESSION: Normal.", "IMPRESSION: Normal."),
    (b"No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
    (b"N", "N"), (b"OK", "OK"), ("\u00e9".encode(), "\u00e9"), (b"\xe9", "\u00e9"), (b"", ""),
    (QUOTED.encode("cp1252"), QUOTED),
    (b"\xef\xbb\xbfOpacit\xc3\xa9 basale. Sign\xe9.", "Opacit\u00e9 basale. Sign\u00e9."),  # cp1252 after a mark
    (b"Lungs are clear. " * 2000 + "Opacit\u00e9".encode(), "Lungs are clear. " * 2000 + "Opacit\u00e9"),  # past SAMPLE
])
def test_common_report_files(data, text):
    """UTF-8 with a few accents, a byte-order mark (and a Windows-1252 byte after it), ASCII, one line, one or two
    bytes, Windows-1252 smart quotes."""
    assert report_text(data).text == text


def test_a_long_rtf_report_is_read_past_the_plain_texts_window():
    """An RTF's pictures and styles come before its text: past MAX_BYTES_PER_CHAR bytes a character of the cap."""
    picture = "{\\pict\\pngblip " + "89504e47" * (MAX_REPORT_CHARS * MAX_BYTES_PER_CHAR // 8 + 1) + "}"
    data = ("{\\rtf1\\ansi " + picture + "FINDINGS:\\par Clear lungs.}").encode()
    assert report_text(data).text == "FINDINGS:\nClear lungs."


def test_bytes_that_no_encoding_makes_text_of_are_a_reject_not_mojibake():
    for language, codec in (("ru", "cp1251"), ("ru", "koi8_r"), ("el", "cp1253")):
        read = report_text(REPORTS[language].encode(codec))
        assert (read.text, read.reject) == ("", UNKNOWN_ENCODING) and "UTF-8" in read.detail, codec
    for data, what in ((b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"), (b"PK\x03\x04\x14\x00" + bytes(64), "ZIP"),
                       (bytes(range(256)) * 8, "control characters")):
        read = report_text(data)
        assert (read.text, read.reject) == ("", NOT_TEXT) and what in read.detail, what


def test_rtf_and_html_reports_become_their_text():
    rtf = (rb"{\rtf1\ansi\ansicpg1252\uc1{\fonttbl{\f0 Arial;}}{\*\generator Riched20;}\f0 FINDINGS:\par "
           rb"Opacit\'e9 \b basale\b0  \u8211? droite.{\pict\pngblip 89504e47}\line\~IMPRESSION: none.}")
    assert report_text(rtf).text == "FINDINGS:\nOpacit\u00e9 basale \u2013 droite.\n IMPRESSION: none."
    assert report_text(r"{\rtf1\ansi\ansicpg1251 \'cd\'ee\'f0\'ec\'e0.}").text == "\u041d\u043e\u0440\u043c\u0430."
    html = ("<!DOCTYPE html><html><head><title>Report</title><style>p {}</style></head><body><p>FINDINGS: left &amp;"
            " right\n   effusion.</p><script>var x;</script><pre>IMPRESSION:\n  nodule &lt;5 mm.</pre></body></html>")
    assert report_text(html.encode()).text == "FINDINGS: left & right effusion.\nIMPRESSION:\n  nodule <5 mm."
    assert report_text("<5 mm nodule, >3 cm mass.").text == "<5 mm nodule, >3 cm mass."  # not markup


def test_invisible_characters_go_and_odd_spaces_are_spaces():
    text = "pneumo\u00adthorax\u200b left\u00a0lung,\u202fright\u3000base\u200e\u2060."
    assert report_text(text).text == "pneumothorax left lung, right base."


def test_only_the_beginning_of_a_huge_input_is_decoded():
    """A stray Windows byte after the part that is read does not make all of it Windows-1252 ("OpacitÃ©")."""
    data = "Opacit\u00e9 basale. ".encode() * (MAX_REPORT_CHARS * MAX_BYTES_PER_CHAR // 10) + b"\xe9"
    read = report_text(data)
    assert read.truncated and read.text.startswith("Opacit\u00e9 basale.") and read.text.endswith("basale.")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.none()))
def test_any_input_gives_a_bounded_clean_text(value):
    read = report_text(value)
    assert isinstance(read.text, str) and len(read.text) <= MAX_REPORT_CHARS
    assert not read.reject or (read.text == "" and read.detail)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in read.text)
    read.text.encode("utf-8")  # no lone surrogates left
    assert all(len(run) <= MAX_RUN_CHARS for run in read.text.split())
