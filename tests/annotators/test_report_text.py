"""Any report input becomes a clean text of bounded length; nothing raises."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from annotators.report_text import MAX_REPORT_CHARS, MAX_RUN_CHARS, report_text


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
    assert cleaned == "Left  effusion\nNo [31m pneumothorax\n"
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


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.none()))
def test_any_input_gives_a_bounded_clean_text(value):
    read = report_text(value)
    assert isinstance(read.text, str) and len(read.text) <= MAX_REPORT_CHARS
    assert not any(ord(c) < 32 and c not in "\n\t" for c in read.text)
    read.text.encode("utf-8")  # no lone surrogates left
    assert all(len(run) <= MAX_RUN_CHARS for run in read.text.split())
