"""Descriptions linked to regions by label, side (from the view), zone and lung boxes; never forced."""
from __future__ import annotations

import pytest

from annotators.align import ANATOMY_LINK_SCORE, MIN_SCORE, ZONE_UNSTATED, Link, align, box_side
from annotators.regions import Region
from annotators.reports import Description


def described(label: str, laterality: str = "", zone: str = "", anatomy: str = "", uncertain: bool = False):
    return Description(f"{laterality} {zone} {label}".strip(), label, laterality, zone, anatomy, uncertain)


def links_of(descriptions, regions, view):
    return align(descriptions, regions, view).links


RIGHT_UPPER = Region(0.2, 0.2, 0.3, 0.3, "nodule")  # image left = the patient's right on a frontal film
LEFT_LOWER = Region(0.65, 0.6, 0.75, 0.7, "nodule")
LUNGS = [Region(0.08, 0.1, 0.47, 0.85, "right_lung"), Region(0.53, 0.1, 0.92, 0.85, "left_lung")]


@pytest.mark.parametrize("view", ["PA", "AP", "AP Supine", "axial", "Coronal", ""])
def test_side_follows_the_radiological_convention(view):
    links = links_of([described("nodule", "left"), described("nodule", "right")], [RIGHT_UPPER, LEFT_LOWER], view)
    assert [(l.description, l.region) for l in links] == [(0, 1), (1, 0)]
    assert [l.score for l in links] == [ZONE_UNSTATED, ZONE_UNSTATED]  # no zone stated


def test_the_wrong_side_or_label_is_never_linked():
    assert links_of([described("nodule", "left")], [RIGHT_UPPER], "PA") == [Link(0, -1, 0.0)]
    assert links_of([described("pneumothorax")], [RIGHT_UPPER, LEFT_LOWER], "PA") == [Link(0, -1, 0.0)]
    assert links_of([described("nodule")], [], "PA") == [Link(0, -1, 0.0)]


def test_a_lateral_view_tells_no_side():
    lateral = links_of([described("nodule", "left")], [RIGHT_UPPER], "LATERAL")
    frontal = links_of([described("nodule", "right")], [RIGHT_UPPER], "PA")
    assert lateral[0].region == 0 and MIN_SCORE <= lateral[0].score < frontal[0].score
    assert box_side(RIGHT_UPPER, [RIGHT_UPPER], "LL") == "" and box_side(RIGHT_UPPER, [RIGHT_UPPER], "PA") == "right"


def test_zones_pair_same_side_boxes_in_any_order():
    upper, lower = Region(0.2, 0.15, 0.3, 0.25, "mass"), Region(0.2, 0.65, 0.3, 0.75, "mass")
    descriptions = [described("mass", "right", "lower"), described("mass", "right", "upper")]
    assert [l.region for l in links_of(descriptions, [upper, lower], "PA")] == [1, 0]
    assert [l.region for l in links_of(descriptions, [lower, upper], "PA")] == [0, 1]


def test_one_box_per_description_and_related_labels_score_less():
    links = links_of([described("consolidation", "right"), described("opacity", "right")],
                  [Region(0.1, 0.5, 0.4, 0.7, "consolidation")], "PA")
    assert [l.region for l in links] == [0, -1]
    (related,) = links_of([described("opacity", "right")], [Region(0.1, 0.5, 0.4, 0.7, "consolidation")], "PA")
    assert related.region == 0 and MIN_SCORE <= related.score < 1.0


def test_uncertain_descriptions_score_less():
    (sure,) = links_of([described("nodule", "right", "upper")], [RIGHT_UPPER], "PA")
    (hedged,) = links_of([described("nodule", "right", "upper", uncertain=True)], [RIGHT_UPPER], "PA")
    assert hedged.region == sure.region == 0 and hedged.score < sure.score


def test_central_boxes_have_no_side():
    heart = Region(0.3, 0.45, 0.72, 0.8, "cardiomegaly")
    assert box_side(heart, [heart], "PA") == ""
    (link,) = links_of([described("cardiomegaly")], [heart], "PA")
    assert link.region == 0


def test_sided_descriptions_fall_back_to_the_lung_box_of_their_side():
    descriptions = [
        described("consolidation", "left", "lower", "lobe"),
        described("opacity", "right", "", "hilum"),
        described("opacity", "bilateral"),
        described("mass", "left", "", "kidney"),
        described("nodule", "right", "upper", "lobe"),
    ]
    aligned = align(descriptions, LUNGS + [RIGHT_UPPER], "PA")
    assert [l.region for l in aligned.links] == [3, 0, 4, -1, 2]
    assert aligned.links[0].score < aligned.links[4].score
    # the left lung's lower third, and the box around both lungs, are new regions that say they are derived
    left_lower, both = aligned.regions[3:]
    assert (left_lower.label, left_lower.origin) == ("left_lung_lower", "derived")
    assert left_lower.box == pytest.approx((0.53, 0.6, 0.92, 0.85))
    assert (both.label, both.origin, both.box) == ("both_lungs", "derived", (0.08, 0.1, 0.92, 0.85))
    assert [box_side(r, LUNGS, "AP") for r in LUNGS] == ["right", "left"]


def test_links_come_one_per_description_in_order_with_scores_in_range():
    descriptions = [described(label, side) for label in ("nodule", "mass", "effusion") for side in ("left", "right")]
    regions = [RIGHT_UPPER, LEFT_LOWER, Region(0.1, 0.7, 0.4, 0.85, "effusion")] + LUNGS
    links = links_of(descriptions, regions, "PA")
    assert [l.description for l in links] == list(range(len(descriptions)))
    assert all(0.0 <= l.score <= 1.0 and -1 <= l.region < len(regions) for l in links)
    assert [l.region for l in links] == [1, 0, 4, 3, 4, 2]  # the masses, with no box of their own, take a lung box


def test_zones_ground_in_thirds_of_the_lung_box_shared_by_descriptions():
    descriptions = [
        described("opacity", "right", "lower", "lung"),
        described("consolidation", "right", "lower"),
        described("opacity", "left", "upper", "apex"),
        described("opacity", "bilateral", "lower", "base"),
        described("opacity", "", "middle,lower"),
        described("opacity", "left", "upper,middle,lower"),
        described("effusion", "", "", "heart"),
    ]
    aligned = align(descriptions, LUNGS, "PA")
    regions = aligned.regions
    assert [l.region for l in aligned.links] == [2, 2, 3, 4, 5, 1, -1]  # one region per lung part
    assert [(r.label, r.origin) for r in regions[2:]] == [
        ("right_lung_lower", "derived"), ("left_lung_upper", "derived"), ("both_lungs_lower", "derived"),
        ("both_lungs_middle_lower", "derived")]
    third = (0.85 - 0.1) / 3
    assert regions[2].box == pytest.approx((0.08, 0.1 + 2 * third, 0.47, 0.85))
    assert regions[3].box == pytest.approx((0.53, 0.1, 0.92, 0.1 + third))
    assert regions[5].box == pytest.approx((0.08, 0.1 + third, 0.92, 0.85))
    assert [box_side(r, regions, "PA") for r in regions[2:4]] == ["right", "left"]
    assert all(l.score == ANATOMY_LINK_SCORE for l in aligned.links[:6])


@pytest.mark.parametrize("view", ["axial", "Axial", "transverse"])
def test_on_an_axial_slice_a_zone_takes_the_whole_lung(view):
    """An axial slice's height runs front to back: "right lower lobe" is that lung at this level, not its
    bottom third, and a zone does not score a finding box's height."""
    descriptions = [described("opacity", "right", "lower", "lobe"), described("opacity", "", "upper", "apex"),
                    described("nodule", "left", "upper")]
    aligned = align(descriptions, [*LUNGS, LEFT_LOWER], view)
    assert [l.region for l in aligned.links] == [0, 3, 2]
    assert aligned.regions[3].label == "both_lungs" and aligned.regions[3].box == pytest.approx((0.08, 0.1, 0.92, 0.85))
    assert aligned.links[2].score == align(descriptions[2:], [*LUNGS, LEFT_LOWER], "axial").links[0].score
    upright = align(descriptions, [*LUNGS, LEFT_LOWER], "coronal")
    assert upright.regions[3].label == "right_lung_lower" and upright.links[2].score < aligned.links[2].score


def test_finding_boxes_keep_priority_and_missing_lungs_ground_nothing():
    aligned = align([described("nodule", "right", "upper")], LUNGS + [RIGHT_UPPER], "PA")
    assert aligned.links[0].region == 2 and len(aligned.regions) == 3  # no lung part is cut when a finding fits
    only_right = align([described("opacity", "left", "lower"), described("opacity", "bilateral")], LUNGS[:1], "PA")
    assert [l.region for l in only_right.links] == [-1, -1] and only_right.regions == tuple(LUNGS[:1])


def test_diffuse_or_many_lung_findings_without_a_side_ground_in_both_lungs():
    """Real report sentences (MedPix, covid-chestxray) parsed by the real parser: findings stated as many or
    diffuse, and interstitial lung disease, lie in both lungs; a focal one, or one elsewhere, is not grounded."""
    from annotators.reports import ReportParser

    text = ("Findings: Multiple small, scattered masses. Axial CT demonstrates nodular interstitial lung disease. "
            "Multifocal patchy opacities. Numerous splenic and renal nodules are also present. "
            "Multiple rib fractures. Note the large cyst.")
    descriptions = ReportParser().parse(text, "radiology").descriptions
    aligned = align(descriptions, LUNGS, "axial")
    assert [l.region for l in aligned.links] == [2, 2, 2, -1, -1, -1]
    assert aligned.regions[2].label == "both_lungs"
