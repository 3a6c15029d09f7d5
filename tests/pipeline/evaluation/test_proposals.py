"""Calibrating a score threshold on one half of the images a detector should leave alone, tried on the other."""
from __future__ import annotations

import pytest

from pipeline.evaluation.proposals import calibrate


def test_a_threshold_calibrated_on_one_half_is_tried_on_the_other():
    result = calibrate([0.3, 0.912, 0.2, 0.95, 0.1], [True, True, False, False, False])
    assert result.threshold == 0.92 and (result.calibration_images, result.held_out_images) == (2, 3)
    assert result.held_out_with_proposal == 1 and result.false_positive_rate == pytest.approx(1 / 3)
