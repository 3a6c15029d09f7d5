"""The report parser's statements on real reports against the hand-checked set, and the eval-reports command."""
from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from annotators.reports import ParsedReport
from pipeline.cli import app
from pipeline.evaluation.report_statements import REAL, STATEMENTS, Statement, as_built, load_judged, pair, score

FLOORS = {"description_precision": 0.90, "label_correct": 0.90, "side_correct": 0.95, "negatives_clean": 0.90,
          "global_useful": 0.90}
needs_real = pytest.mark.skipif(not REAL.exists(), reason="the real data folder is not here")


def test_the_set_is_large_and_judged_by_kind():
    rows = load_judged(STATEMENTS)
    assert len(rows) >= 300 and {r["source"] for r in rows} == {"covid_chestxray", "medpix"}
    for row in rows:
        key = {"description": "finding", "negative": "clean", "global": "useful"}[row["kind"]]
        assert isinstance(row[key], bool), row
        if row["kind"] == "description" and row["finding"]:
            assert {"label", "side", "zone"} <= set(row), row


def test_pairing_prefers_the_judged_label_and_counts_what_is_not_judged():
    made = [Statement("description", "A and B", "b"), Statement("description", "A and B", "a"),
            Statement("negative", "No C"), Statement("global", "new text")]
    judged = [{"kind": "description", "text": "A and B", "label": "a", "finding": True},
              {"kind": "description", "text": "A and B", "label": "b", "finding": True},
              {"kind": "negative", "text": "No C", "clean": True}, {"kind": "global", "text": "old", "useful": True}]
    pairs, unjudged, left = pair(made, judged)
    assert [(s.label, j["label"]) for s, j in pairs if s.kind == "description"] == [("b", "b"), ("a", "a")]
    assert unjudged == [Statement("global", "new text")] and left == 1


def test_reports_are_read_as_a_build_reads_them_de_identified_part_by_part():
    """The set judges what a build stores: the statements of de-identified text, never the raw report's."""
    sections, truncated = as_built("FINDINGS: Opacity seen on 27 January 2020 by Dr. Smith.\nIMPRESSION: Pneumonia.",
                                   "radiology")
    assert sections.findings == "Opacity seen on [DATE] by [NAME]." and sections.impression == "Pneumonia."
    assert not truncated


def test_score_of_one_crafted_report():
    report = ParsedReport("", "", "", "Right lower lobe opacity.", (), ("No effusion",))
    judged = [{"source": "s", "ref": "r", "kind": "negative", "text": "No effusion", "clean": False},
              {"source": "s", "ref": "r", "kind": "global", "text": "Right lower lobe opacity.", "useful": True}]
    s = score({("s", "r"): report}, judged)
    assert (s.negatives, s.negatives_clean, s.globals, s.global_useful, s.unjudged) == (1, 0.0, 1, 1.0, 0)


@needs_real
def test_eval_reports_on_the_shipped_set_meets_the_targets():
    """`medregion eval-reports` parses the set's real reports again; every target is read from its printed table."""
    result = CliRunner().invoke(app, ["eval-reports"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "description_precision" in line)
    names = [c.strip() for c in re.split(r"[┃│]", header) if c.strip()]
    rows = {cells[0]: dict(zip(names, cells)) for line in lines
            if (cells := [c.strip() for c in line.split("│") if c.strip()]) and cells[0] in ("all", "medpix",
                                                                                           "covid_chestxray")}
    overall = rows["all"]
    below = {k: overall[k] for k, floor in FLOORS.items() if float(overall[k]) < floor}
    assert not below, f"below the targets: {below}"
    judged = sum(int(rows["all"][k]) for k in ("descriptions", "negatives", "globals"))
    assert judged >= 300 and int(overall["unjudged"]) <= 0.02 * judged, overall
    assert "project (lexicon.yaml)" in result.output and "negspacy en_clinical" in result.output


def test_eval_reports_without_the_real_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["eval-reports", "--real", str(tmp_path)])
    assert result.exit_code == 2 and "error" in result.output and "covid-chestxray" in result.output
