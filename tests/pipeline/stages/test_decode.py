"""The decode stage: each input's rows, or one reject whose reason says what is wrong with the input."""
from __future__ import annotations

import numpy as np
from PIL import Image

from annotators.imaging import FrameSelection
from connectors.base import SourceBox, StudyRef
from pipeline.stages.decode import Decode, work_items


def test_a_box_on_a_frame_of_a_2d_image_is_a_reject_and_an_unframed_one_a_region(tmp_path):
    Image.fromarray(np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8)).save(tmp_path / "film.png")
    refs = [StudyRef("s", f"r{frame}", "p", "CC BY", image=str(tmp_path / "film.png"), report="Left effusion.",
                     boxes=(SourceBox(8, 8, 32, 32, "effusion", frame),)) for frame in (-1, 0, 3)]
    rows = Decode(512, FrameSelection())(work_items(refs, [0, 0, 0])).to_pylist()
    assert [(r["reject_reason"], len(r["regions"] or ())) for r in rows] == [("", 1), ("bad_boxes", 0),
                                                                              ("bad_boxes", 0)]
    assert rows[2]["reject_detail"] == "a box is drawn on frame 3 of a 2-D image (frame -1, or none)"
