"""pipeline.records: one split per patient, whatever the source's rows state."""
from __future__ import annotations

from connectors.base import StudyRef
from pipeline.records import assign_split, one_split_per_patient


def ref(image: str, patient: str, split: str = "", reject: str = "") -> StudyRef:
    return StudyRef("folder", image, patient, "CC BY", image=image, split=split, reject=reject)


def test_a_patient_stated_in_two_splits_keeps_the_held_out_one_and_the_others_are_rejects():
    refs = [ref("a", "p1", "train"), ref("b", "p1", "Test"), ref("c", "p1"), ref("d", "p1", "dev"),
            ref("e", "p2", "train"), ref("f", "p2"), ref("g", "p3"), ref("h", "p4", "validation"),
            ref("i", "p4", "test", reject="missing_image")]
    out = {r.source_id: r for r in one_split_per_patient(refs)}
    assert [(r.source_id, r.split, r.reject) for r in out.values()] == [
        ("a", "train", "split_conflict"), ("b", "Test", ""), ("c", "test", ""), ("d", "dev", "split_conflict"),
        ("e", "train", ""), ("f", "train", ""),  # a row without a split takes the one its patient's rows state
        ("g", "", ""),  # no split stated for the patient: drawn from its key later
        ("h", "validation", ""), ("i", "test", "missing_image")]  # a reject's split counts for nothing
    assert out["a"].detail == ("the source puts this patient's images in test, train, validation: "
                               "a patient belongs in one split (kept: test)")


def test_split_names_are_read_in_their_common_spellings():
    stated = {name: assign_split("p1", name, validation=0.0, test=0.0) for name in
              ("Training", "TRAIN", " Validation ", "val", "Testing", "test")}
    assert stated == {"Training": "train", "TRAIN": "train", " Validation ": "validation", "val": "validation",
                      "Testing": "test", "test": "test"}

