"""medpix on the real MedPix 2.0 copy in ../shared/data/real: one row per image, case splits, research licence."""
import json

import pytest


@pytest.fixture(scope="module")
def root(layouts):
    path = layouts.REAL / "medpix-2.0" / "MedPix-2-0"
    if not path.is_dir():
        pytest.skip("../shared/data/real is not beside this checkout")
    return path


@pytest.fixture(scope="module")
def refs(root, make_connector):
    return list(make_connector("medpix", root).refs())


def test_one_row_per_description_with_caption_and_case_text(root, refs):
    descriptions = json.loads((root / "Descriptions.json").read_text())
    cases = {c["U_id"]: c for c in json.loads((root / "Case_topic.json").read_text())}
    assert [r.source_id for r in refs] == [d["image"] for d in descriptions]
    for ref, entry in zip(refs, descriptions):
        assert not ref.reject and ref.image.endswith(f"images/{entry['image']}.png")
        assert ref.report.startswith(entry["Description"]["Caption"].strip())
        history = cases[entry["U_id"]]["Case"].get("History")
        assert not history or f"History: {history.strip()}" in ref.report
        assert ref.modality == entry["Type"] and ref.report_style == "caption"
        assert ref.license.startswith("research-only") and ref.caption_strip
        assert ref.body_part == {"Thorax": "CHEST", "Head": "HEAD"}.get(entry["Location Category"], ref.body_part)
    assert {r.view for r in refs} >= {"axial", "coronal", "sagittal"}


def test_splits_follow_the_case_lists_and_cases_are_patients(root, refs):
    lists = json.loads((root / "splitted_dataset" / "uid_list.json").read_text())
    descriptions = json.loads((root / "Descriptions.json").read_text())
    expected = {uid: split for split in ("train", "dev", "test") for uid in lists[split]}
    for ref, entry in zip(refs, descriptions):
        assert ref.split == expected[entry["U_id"]]
    keys = {}
    for ref, entry in zip(refs, descriptions):
        keys.setdefault(ref.patient_key, set()).add(entry["U_id"])
    assert all(len(uids) == 1 for uids in keys.values()) and len(keys) == 96


def test_build_keeps_the_case_splits(build_rows, build_rejects, refs):
    rows = [r for r in build_rows if r["source"] == "medpix"]
    rejects = [r for r in build_rejects if r["source"] == "medpix"]
    assert len(rows) + len(rejects) == len(refs) == 300
    split_of = {r.source_id: {"dev": "validation"}.get(r.split, r.split) for r in refs}
    assert all(row["split"] == split_of[row["source_id"]] for row in rows)
    assert {row["modality"] for row in rows} == {"CT", "MR"}
    assert all(row["report"]["findings"] for row in rows)


def test_odd_entries_are_rejects_or_read_as_meant(tmp_path, make_connector):
    """A null entry, a missing-value caption and history, an image whose extension is upper-case."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "MPX2_synpic2.PNG").write_bytes(b"png")
    entry = {"Type": "CT", "U_id": "MPX2", "image": "MPX2_synpic2", "Location Category": "Thorax",
             "Description": {"Caption": "None", "Plane": "Axial"}}
    case = {"U_id": "MPX2", "Case": {"Findings": "CT:\nRight lower lobe consolidation.", "History": None}}
    (tmp_path / "Descriptions.json").write_text(json.dumps([None, entry]))
    (tmp_path / "Case_topic.json").write_text(json.dumps([None, case]))
    null, ref = make_connector("medpix", tmp_path, splits="").refs()
    assert (null.reject, null.source_id) == ("incomplete_entry", "entry#0")
    assert not ref.reject and ref.image.endswith("MPX2_synpic2.PNG") and ref.body_part == "CHEST"
    assert ref.report == "Findings: CT:\nRight lower lobe consolidation."  # no caption "None", no empty history


def test_build_cuts_the_caption_strips(build_rows, root):
    """The stored images end where the strip began: none of them is as tall as its file (where it had a strip)."""
    from PIL import Image
    rows = [r for r in build_rows if r["source"] == "medpix"]
    cut = sum(r["orig_height"] < Image.open(root / "images" / f"{r['source_id']}.png").height for r in rows)
    assert cut >= 0.8 * len(rows)
