"""The de-identification stage: every part of a report scrubbed on its own before the parser sees any text."""
from __future__ import annotations

import pyarrow as pa

from pipeline.stages.deidentify import Deidentify
from pipeline.stages.parse import Parse
from pipeline.stages.sections import Sections
from schemas.work import WORK

REPORT = ("INDICATION: ___F with cough, seen by Dr. Alan Reed on 03/14/2021\n"
          "FINDINGS: On 03/14/2021 Dr. Alan Reed saw a right upper lobe nodule. No effusion since January 5, 2020.\n"
          "IMPRESSION: Nodule, discussed at 555-123-4567.")
SECRETS = ("03/14/2021", "Alan", "Reed", "January 5", "555-123-4567")


def test_parsed_text_comes_from_scrubbed_parts_only():
    row = {name: None for name in WORK.names} | {"id": "r", "report": REPORT, "report_style": "radiology",
                                                  "reject_reason": ""}
    batch = pa.Table.from_pylist([row], schema=WORK)
    parts = Sections()(batch)
    assert parts.column("report")[0].as_py() is None  # the raw text leaves the row once it is cut into parts
    scrubbed = Deidentify()(parts)
    [parsed] = Parse(None)(scrubbed).to_pylist()
    kinds = [part["kind"] for part in parsed["report_parts"]]
    assert kinds == ["other", "findings", "impression"]
    texts = [parsed["findings"], parsed["impression"], parsed["other"], parsed["global_text"],
             *parsed["negatives"], *(d["text"] for d in parsed["descriptions"])]
    assert not [secret for text in texts for secret in SECRETS if secret in text]
    assert parsed["descriptions"][0]["text"] == "On [DATE] [NAME] saw a right upper lobe nodule"
    assert "INDICATION: ___F with cough, seen by [NAME] on [DATE]" in parsed["other"]


def test_image_attributes_keep_their_code_words_only():
    rows = [{name: None for name in WORK.names} | {"id": f"r{i}", "report_parts": [], "reject_reason": "",
                                                    "modality": modality, "view": view, "body_part": part}
            for i, (modality, view, part) in enumerate([
                ("CR", "AP Supine", "CHEST"), ("CT", "axial", ""),
                ("CR john.smith@hospital.org", "PA - Dr. Quentin Blake 03/04/2021", "CHEST MRN 1234567"),
                ("CR SMITH JOHN 14/03/1950", "PA - John Smith", "Kevin Ward")])]
    out = Deidentify()(pa.Table.from_pylist(rows, schema=WORK)).to_pylist()
    assert [(r["modality"], r["view"], r["body_part"]) for r in out] == [
        ("CR", "AP Supine", "CHEST"), ("CT", "axial", ""), ("CR", "PA", "CHEST"), ("CR", "PA", "")]
