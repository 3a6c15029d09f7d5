"""Negation on the NegEx test kit: the project's termset beside negspacy's stock en_clinical, in one run."""
from __future__ import annotations

import pytest

from pipeline.evaluation.negation import NEGEX_KIT, compare_termsets, load_kit, score


def test_the_kit_is_read_whole():
    cases = load_kit(NEGEX_KIT)
    assert len(cases) == 2376 and sum(c.negated for c in cases) == 491
    assert all(c.phrase and c.sentence for c in cases)


def test_score_counts_negated_as_the_positive_class():
    s = score([True, True, False, False], [True, False, True, False])
    assert (s.precision, s.recall, s.f1, s.accuracy) == (0.5, 0.5, 0.5, 0.5)
    assert score([False], [False]).f1 == 0.0


@pytest.fixture(scope="module")
def scores():
    return compare_termsets(load_kit(NEGEX_KIT))


def test_project_termset_reaches_f1_and_keeps_the_stock_precision(scores):
    ours, stock = scores["project (lexicon.yaml)"], scores["negspacy en_clinical"]
    assert ours.cases == stock.cases == 2376
    assert ours.f1 >= 0.95, ours
    assert ours.precision >= stock.precision, (ours, stock)
