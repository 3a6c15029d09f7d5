"""The decode stage: each input's rows, or one reject whose reason says what is wrong with the input."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from annotators.imaging import FrameSelection
from connectors.base import SourceBox, StudyRef
from pipeline.stages.decode import Decode, work_items


def test_a_box_on_a_frame_of_a_2d_image_is_a_reject_and_an_unframed_one_a_region(tmp_path):
    Image.fromarray(np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)).save(tmp_path / "film.png")
    refs = [StudyRef("s", f"r{frame}", "p", "CC BY", image=str(tmp_path / "film.png"), report="Left effusion.",
                     boxes=(SourceBox(8, 8, 32, 32, "effusion", frame),)) for frame in (-1, 0, 3)]
    rows = Decode(512, FrameSelection(), b"decode-test-key")(work_items(refs, [0, 0, 0])).to_pylist()
    assert [(r["reject_reason"], len(r["regions"] or ())) for r in rows] == [("", 1), ("bad_boxes", 0),
                                                                              ("bad_boxes", 0)]
    assert rows[2]["reject_detail"] == "a box is drawn on frame 3 of a 2-D image (frame -1, or none)"


def test_a_source_caption_strip_is_cut_and_its_body_part_stated(tmp_path):
    import cv2

    picture = np.full((200, 256), 120, np.uint8)
    strip = np.zeros((24, 256), np.uint8)
    cv2.putText(strip, "0fb6af91-1c7c,Uploader : Jane Roe,02-27-2008", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 220)
    Image.fromarray(np.vstack([picture, strip])).save(tmp_path / "slice.png")
    refs = [StudyRef("s", name, "p", "CC BY", image=str(tmp_path / "slice.png"), report="Right lower lobe mass.",
                     caption_strip=cut, body_part=part)
            for name, cut, part in (("cut", True, "CHEST"), ("as is", False, ""))]
    cut, whole = Decode(512, FrameSelection(), b"decode-test-key")(work_items(refs, [0, 0])).to_pylist()
    assert 200 <= cut["height"] == cut["orig_height"] < 212 and cut["body_part"] == "CHEST"  # blank rows may stay
    assert (whole["height"], whole["orig_height"], whole["body_part"]) == (224, 224, "")
    assert max(np.frombuffer(cut["pixels"], np.uint8)) == 120  # not a trace of the letters


def test_the_input_digest_is_keyed(tmp_path):
    import hashlib
    import hmac

    Image.fromarray(np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)).save(tmp_path / "film.png")
    data = (tmp_path / "film.png").read_bytes()
    refs = [StudyRef("s", "r", "p", "CC BY", image=str(tmp_path / "film.png"), report="Left effusion.")]
    digests = [Decode(512, FrameSelection(), key)(work_items(refs, [0])).column("input_sha256")[0].as_py()
               for key in (b"one-key-for-test", b"another-test-key")]
    assert digests[0] == hmac.new(b"one-key-for-test", data, hashlib.sha256).hexdigest() != digests[1]
    assert hashlib.sha256(data).hexdigest() not in digests  # holding the file finds no row without the key


def test_a_spacing_the_source_states_is_the_rows_and_follows_the_resize(tmp_path):
    Image.fromarray(np.add.outer(np.arange(64), np.arange(128)).astype(np.uint8)).save(tmp_path / "slice.png")
    refs = [StudyRef("s", "r", "p", "CC BY", image=str(tmp_path / "slice.png"), report="Left effusion.",
                     pixel_spacing=(0.75, 0.5))]
    for max_side, spacing in ((512, [0.75, 0.5]), (64, [1.5, 1.0])):
        [row] = Decode(max_side, FrameSelection(), b"decode-test-key")(work_items(refs, [0])).to_pylist()
        assert row["pixel_spacing"] == pytest.approx(spacing)


def test_a_report_file_that_holds_no_text_is_a_reject_that_says_why(tmp_path):
    Image.fromarray(np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)).save(tmp_path / "film.png")
    (tmp_path / "report.pdf.txt").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj")  # exported under a .txt name
    (tmp_path / "report.cp1251.txt").write_bytes("Справа плевральный выпот, слева без изменений.".encode("cp1251"))
    refs = [StudyRef("s", name, "p", "CC BY", image=str(tmp_path / "film.png"), report_path=str(tmp_path / name))
            for name in ("report.pdf.txt", "report.cp1251.txt")]
    rows = Decode(512, FrameSelection(), b"decode-test-key")(work_items(refs, [0, 0])).to_pylist()
    assert [r["reject_reason"] for r in rows] == ["report_not_text", "report_encoding"]
    assert "PDF" in rows[0]["reject_detail"] and "UTF-8" in rows[1]["reject_detail"]
