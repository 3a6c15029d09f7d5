"""Quality filters: each drops what it should with its reason, keeps ordinary images, reports and boxes."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from annotators.imaging import FrameSelection, decode
from annotators.quality import (
    QualityConfig,
    check_box,
    check_image,
    check_report,
    perceptual_hash,
    report_fingerprint,
    shared_fingerprints,
)

CFG = QualityConfig()
REPORT = "FINDINGS: Small right pleural effusion. Heart size is normal.\nIMPRESSION: Right pleural effusion."


@pytest.fixture(scope="module")
def radiograph(sample_root) -> np.ndarray:
    """A real decoded sample radiograph."""
    path = sorted((sample_root / "images").glob("*.png"))[0]
    return decode(path.read_bytes(), str(path), FrameSelection())[0].pixels


def test_ordinary_image_report_and_box_pass(radiograph):
    height, width = radiograph.shape
    assert check_image(radiograph, width, height, CFG) is None
    assert check_report(REPORT, CFG) is None
    assert check_box(0.2 * width, 0.3 * height, 0.45 * width, 0.6 * height, width, height, CFG) is None


@pytest.mark.parametrize(
    ("pixels", "size", "reason"),
    [
        (np.full((300, 300), 128, np.uint8), (300, 300), "blank_image"),
        ((128 + np.random.default_rng(0).integers(0, 2, (300, 300))).astype(np.uint8), (300, 300),
         "near_constant_image"),
        (np.random.default_rng(0).integers(0, 255, (40, 300)).astype(np.uint8), (300, 40), "image_too_small"),
    ],
)
def test_image_filters(pixels, size, reason):
    issue = check_image(pixels, *size, CFG)
    assert issue is not None and issue.reason == reason and issue.detail


def test_image_too_small_is_judged_on_the_original_size(radiograph):
    assert check_image(radiograph, 50, 900, CFG).reason == "image_too_small"
    assert check_image(radiograph, 50, 900, dataclasses.replace(CFG, min_side=0)) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Normal.", "report_too_short"),
        ("", "report_too_short"),
        ("Правосторонний плевральный выпот.", "unsupported_script"),
        ("右下叶实变，少量胸腔积液。", "unsupported_script"),
        ("Épanché.", "report_too_short"),
        ("See attached report. Dictated by ___ on [DATE].", "boilerplate_report"),
        ("FINDINGS: Report to follow. IMPRESSION: Wet read.", "boilerplate_report"),
    ],
)
def test_report_filters(text, reason):
    assert check_report(text, CFG).reason == reason


def test_boilerplate_patterns_are_configurable():
    text = "Images reviewed. Report to follow."
    assert check_report(text, CFG) is not None
    assert check_report(text, dataclasses.replace(CFG, boilerplate=())) is None


@pytest.mark.parametrize(
    ("box", "reason"),
    [
        ((100, 100, 100.5, 300), "box_degenerate"),
        ((50, 50, 50, 50), "box_degenerate"),
        ((900, 100, 1400, 300), "box_outside_image"),
        ((-400, -400, 100, 100), "box_outside_image"),
        ((2, 2, 998, 798), "box_covers_image"),
    ],
)
def test_box_filters(box, reason):
    issue = check_box(*box, 1000, 800, CFG)
    assert issue is not None and issue.reason == reason and "1000x800" in issue.detail


def test_box_slightly_outside_is_kept():
    assert check_box(-20, 100, 300, 400, 1000, 800, CFG) is None


def test_perceptual_hash_is_stable_hex_and_tells_images_apart(radiograph):
    value = perceptual_hash(radiograph)
    assert re.fullmatch(r"[0-9a-f]{16}", value) and value == perceptual_hash(radiograph.copy())
    flipped = perceptual_hash(np.ascontiguousarray(radiograph[::-1]))
    assert bin(int(value, 16) ^ int(flipped, 16)).count("1") > 8  # an upside-down film is another image


def test_templated_reports_share_a_fingerprint_and_are_counted():
    a = report_fingerprint("No acute cardiopulmonary process.")
    assert a == report_fingerprint("  no acute  cardiopulmonary process ")
    assert a != report_fingerprint("No acute process.")
    counts = shared_fingerprints([(a, ("s", "1")), (a, ("s", "2")), (a, ("s", "2")), ("b", ("s", "3"))])
    assert counts == {a: 2}


@pytest.mark.parametrize("settings, message", [
    ({"min_side": -1}, "min_side: -1 is under 0"),
    ({"max_box_area": 1.5}, "max_box_area: 1.5 is not a share between 0 and 1"),
    ({"min_pixel_std": 300.0}, "min_pixel_std: 300.0 is over 255"),
    ({"boilerplate": ("(unclosed",)}, "boilerplate: '(unclosed' is not a regular expression"),
])
def test_thresholds_out_of_range_are_refused(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        QualityConfig(**settings)
