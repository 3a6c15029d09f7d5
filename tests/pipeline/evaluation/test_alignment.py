"""Alignment metrics: the rules on crafted records, the sample corpus, a real build, covid-chestxray lung boxes."""
from __future__ import annotations

from pathlib import Path

import pytest

from annotators.reports import ReportParser
from pipeline.evaluation.alignment import (
    anatomy_grounding,
    covid_records,
    evaluate,
    evaluate_alignment,
    load_truth,
    main,
    sample_records,
    text_matches,
)

COVID = Path(__file__).resolve().parents[4] / "shared" / "data" / "real" / "covid-chestxray"
BOX_A, BOX_B = [0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.8, 0.8]
TRUTH = {"S1": {"source_id": "S1", "negated": ["No pneumothorax."], "regions": [
    {"label": "nodule", "box": BOX_A, "sentence": "There is a 9 mm nodule in the RUL.", "laterality": "right",
     "zone": "upper"},
    {"label": "effusion", "box": BOX_B, "sentence": "Small left pleural effusion.", "laterality": "left",
     "zone": "lower"},
]}}


def record(*descriptions: tuple[str, int], boxes=(BOX_A, BOX_B), source_id="S1") -> dict:
    return {"source_id": source_id, "regions": [{"box": b, "label": "x", "origin": "annotation"} for b in boxes],
            "descriptions": [{"text": t, "label": "", "laterality": "", "zone": "", "region": r, "align_score": 1.0}
                             for t, r in descriptions]}


@pytest.fixture(scope="module")
def parser() -> ReportParser:
    return ReportParser()


def test_text_matching_is_normalised_equality_or_containment():
    assert text_matches("There is a 9 mm nodule in the RUL", "There is a 9 mm nodule in the RUL.")
    assert text_matches("nodule in the RUL", "There is a 9 mm nodule in the RUL.")
    assert not text_matches("Small right pleural effusion", "Small left pleural effusion.")
    assert not text_matches("", "anything")


def test_links_count_when_text_and_box_agree():
    right = evaluate_alignment([record(("There is a 9 mm nodule in the RUL", 0), ("Small left pleural effusion", 1))],
                               TRUTH)
    assert (right.precision, right.recall, right.recall_boxed, right.n_pred, right.n_true) == (1.0, 1.0, 1.0, 2, 2)
    swapped = evaluate_alignment([record(("There is a 9 mm nodule in the RUL", 1), ("Small pleural", 0))], TRUTH)
    assert (swapped.precision, swapped.recall, swapped.n_correct) == (0.0, 0.0, 0)
    unaligned = evaluate_alignment([record(("There is a 9 mm nodule in the RUL", 0), ("Small left pleural", -1))],
                                   TRUTH)
    assert (unaligned.precision, unaligned.recall, unaligned.n_unaligned) == (1.0, 0.5, 1)


def test_recall_boxed_counts_only_truth_regions_with_a_box():
    metrics = evaluate_alignment([record(("There is a 9 mm nodule in the RUL", 0), boxes=(BOX_A,))], TRUTH)
    assert (metrics.recall, metrics.recall_boxed, metrics.n_boxed) == (0.5, 1.0, 1)


def test_negated_sentences_among_descriptions_are_counted():
    metrics = evaluate_alignment([record(("No pneumothorax", -1))], TRUTH)
    assert (metrics.n_negated, metrics.negated_as_description) == (1, 1)
    others = evaluate_alignment([record(("There is a 9 mm nodule in the RUL", 0), source_id="S9")], TRUTH)
    assert (others.records, others.records_without_truth, others.n_true) == (1, 1, 0)


def test_sample_corpus_alignment_meets_the_bar(sample_root, parser):
    records = sample_records(sample_root, parser)
    metrics = evaluate_alignment(records, load_truth(sample_root / "truth.jsonl"))
    assert metrics.records >= 20 and metrics.n_true >= 20
    assert metrics.precision >= 0.95 and metrics.recall >= 0.9, metrics
    assert metrics.n_negated > 0 and metrics.negated_as_description == 0


@pytest.mark.slow
def test_a_real_build_meets_the_bar(sample_build, sample_root):
    metrics = evaluate(sample_build, sample_root / "truth.jsonl")
    assert metrics["records"] > 0 and metrics["n_pred"] > 0
    assert metrics["precision"] >= 0.95 and metrics["recall_boxed"] >= 0.9, metrics
    assert metrics["negated_as_description"] == 0


@pytest.mark.skipif(not COVID.exists(), reason="../shared/data/real is not beside this checkout")
def test_covid_notes_naming_a_side_or_zone_are_grounded_in_the_lungs(parser):
    """The lung boxes of the collection (COCO, else lungVAE masks): sided notes link to that lung, bilateral and
    zone notes to the lung parts cut from both boxes."""
    check = anatomy_grounding(covid_records(COVID, parser))
    assert check.records >= 60 and check.stated >= 40 and check.sided_links >= 10 and check.bilateral_links >= 10
    assert check.precision == 1.0 and check.precision_by_position == 1.0 and check.coverage >= 0.9, check
    assert check.both_sides == check.bilateral_links, check


def test_grounding_counts_sides_by_label_and_by_position():
    lungs = [{"box": [0.05, 0.1, 0.45, 0.9], "label": "right_lung"},
             {"box": [0.55, 0.1, 0.95, 0.9], "label": "left_lung"}]
    parts = [{"box": [0.05, 0.63, 0.45, 0.9], "label": "right_lung_lower"},
             {"box": [0.6, 0.2, 0.7, 0.3], "label": "mass"}, {"box": [0.05, 0.1, 0.95, 0.9], "label": "both_lungs"}]
    said = [("right", "lower", 2), ("left", "", 3), ("right", "", 1), ("bilateral", "", 4), ("", "upper", -1),
            ("", "", -1)]
    records = [{"view": "PA", "regions": lungs + parts, "descriptions": [
        {"laterality": side, "zone": zone, "region": region} for side, zone, region in said]},
        {"view": "PA", "regions": [], "descriptions": [{"laterality": "left", "zone": "", "region": -1}]}]
    check = anatomy_grounding(records)
    assert (check.records, check.stated, check.linked, check.sided_links) == (1, 5, 4, 3)
    assert (check.same_side, check.same_side_by_position, check.bilateral_links, check.both_sides) == (2, 2, 1, 1)
    assert anatomy_grounding(records, lungs_only=False).stated == 6


def test_the_grounding_command_gives_figures_per_source(sample_build, capsys):
    main(["grounding", str(sample_build)])
    figures = dict(line.split(": ") for line in capsys.readouterr().out.splitlines())
    assert int(figures["sample_linked"]) <= int(figures["sample_stated"]) == int(figures["all_records_stated"])
    assert float(figures["sample_coverage"]) == pytest.approx(int(figures["sample_linked"]) / int(
        figures["sample_stated"]), abs=1e-4)
