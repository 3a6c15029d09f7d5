"""The encode stage: the shard row's PNG, and the near-duplicate signature made from the pixels it holds."""
from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from annotators.duplicates import signature
from annotators.imaging import decode, resize_long_side
from pipeline.records import Provenance
from pipeline.stages.align import Align
from pipeline.stages.deidentify import Deidentify
from pipeline.stages.encode import Encode
from pipeline.stages.parse import Parse
from pipeline.stages.sections import Sections
from schemas.work import WORK


@pytest.fixture(scope="module")
def annotated() -> pa.Table:
    """One real CR chest film, stored size, through the report stages to the encode stage's input."""
    [image] = decode(open(get_testdata_file("RG1_UNCI.dcm"), "rb").read(), "cr.dcm")
    pixels = resize_long_side(image, 512).pixels
    row = {name: None for name in WORK.names} | {
        "id": "r", "source": "s", "source_id": "S1", "patient_key": "p", "license": "CC0-1.0", "split": "",
        "report": "FINDINGS: Right lower lobe consolidation.", "report_truncated": False,
        "report_style": "radiology", "modality": "CR", "view": "PA", "body_part": "CHEST", "pixel_spacing": [],
        "frame": -1, "input_sha256": "0" * 64, "pixels": pixels.tobytes(), "width": pixels.shape[1],
        "height": pixels.shape[0], "orig_width": image.orig_width, "orig_height": image.orig_height,
        "regions": [], "shard": 0, "expected": 1, "input": "cr.dcm", "reject_reason": ""}
    batch = pa.Table.from_pylist([row], schema=WORK)
    for stage in (Sections(), Deidentify(), Parse(None), Align()):
        batch = stage(batch)
    return batch


@pytest.mark.parametrize("signatures", [True, False])
def test_the_signature_is_the_stored_images_own(annotated, signatures):
    [row] = Encode(0.1, 0.1, Provenance("v", "c"), signatures=signatures)(annotated).to_pylist()
    stored = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])))
    assert stored.tobytes() == annotated["pixels"][0].as_py()  # the PNG holds the pixels the stage had
    if not signatures:
        assert row["signature"] is None
        return
    expected = signature(stored).to_row()  # what the near-duplicate step made from the PNG before
    assert row["signature"] == expected and len(np.frombuffer(expected["descriptors"], np.uint8)) > 0
