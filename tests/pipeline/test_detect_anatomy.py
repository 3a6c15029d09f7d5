"""The shipped lung anatomy detector in the detector stage, on real radiographs of covid-chestxray that were held
out of its training (patient-level fold, configs/detector/CHEST_ANATOMY_MODEL_CARD.md), and the findings
detector's guard: trained on synthetic phantoms, it is scoped to the sample source and leaves real films alone."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

from annotators.regions import Region, iou
from pipeline.config import load_config
from pipeline.stage_list import decode_rows
from pipeline.stages.detect import DetectStage
from schemas.work import WORK

ROOT = Path(__file__).resolve().parents[2]
COVID = ROOT.parent / "shared" / "data" / "real" / "covid-chestxray"
# Held-out images (fold.csv of the card's export): lungs boxed by the COCO file or outlined by a lungVAE mask.
HELD_OUT = ("klebsiella-pneumonia-1.jpg", "pneumocystis-pneumonia-12.png", "pneumonia-7.jpg", "16660_1_1.jpg",
            "covid-19-pneumonia-evolution-over-a-week-1-day0-PA.jpg", "16747_1_1.jpg")
LATERAL = "covid-19-pneumonia-evolution-over-a-week-1-day0-L.jpg"
NO_VIEW = "6770dac454c45c86bc6c2d6193b177_jumbo.jpeg"  # a frontal film whose metadata states no view
CT_SLICES = ("16630_1_1.jpg", "kjr-21-e24-g002-l-c.jpg")  # axial, coronal

pytestmark = pytest.mark.skipif(not COVID.is_dir(), reason="../shared/data/real is not beside this checkout")


@pytest.fixture(scope="module")
def real_config():
    return load_config(ROOT / "configs" / "real.yaml")


@pytest.fixture(scope="module")
def decoded(real_config) -> dict[str, dict]:
    """Decoded rows (as the build's decode stage makes them) of the held-out films and one lateral film."""
    from connectors import get_connector

    connector = get_connector("covid_chestxray")
    options = connector.Options(root=str(COVID))
    refs = {r.source_id: r for r in connector(options, b"anatomy-detector-tests", source="covid_chestxray").refs()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDREGION_DEID_KEY", "anatomy-detector-tests")  # the decode stage keys the input digests
        return {name: decode_rows(real_config, [refs[name]])[0] for name in (*HELD_OUT, LATERAL, NO_VIEW, *CT_SLICES)}


@pytest.fixture(scope="module")
def anatomy(real_config) -> DetectStage:
    (config,) = [d for d in real_config.detectors if d.name == "anatomy"]
    return DetectStage(dataclasses.replace(config, device="cpu"))


def test_held_out_lungs_are_found_on_their_side(anatomy, decoded):
    rows = [{**decoded[name], "regions": []} for name in HELD_OUT]  # the source's boxes are the truth here
    found = anatomy(pa.Table.from_pylist(rows, schema=WORK))["regions"].to_pylist()
    overlaps = []
    for name, regions in zip(HELD_OUT, found):
        assert sorted(r["label"] for r in regions) == ["left_lung", "right_lung"], name
        assert all(r["origin"] == "detector" and r["score"] >= anatomy.config.conf for r in regions)
        proposed = {r["label"]: Region(**r) for r in regions}
        assert proposed["right_lung"].x1 + proposed["right_lung"].x0 < proposed["left_lung"].x0 + proposed[
            "left_lung"].x1  # the patient's right lung on the image's left
        overlaps += [iou(Region(**truth).box, proposed[truth["label"]].box) for truth in decoded[name]["regions"]]
    assert len(overlaps) == 2 * len(HELD_OUT) and min(overlaps) >= 0.5, overlaps


def test_the_source_boxes_stay_and_only_the_missing_lung_is_added(anatomy, decoded):
    row = decoded[HELD_OUT[0]]
    right = next(r for r in row["regions"] if r["label"] == "right_lung")
    (regions,) = anatomy(pa.Table.from_pylist([{**row, "regions": [right]}], schema=WORK))["regions"].to_pylist()
    assert regions[0] == right and [(r["label"], r["origin"]) for r in regions[1:]] == [("left_lung", "detector")]
    (untouched,) = anatomy(pa.Table.from_pylist([row], schema=WORK))["regions"].to_pylist()
    assert untouched == row["regions"]


def test_a_lateral_film_gets_no_lungs(anatomy, decoded):
    row = decoded[LATERAL]
    assert row["view"] == "LATERAL" and row["modality"] == "DX"
    assert len(anatomy.wanted(pa.Table.from_pylist([row], schema=WORK))) == 0


def test_the_findings_detector_leaves_real_films_alone(decoded):
    """Trained on phantoms, the sample detector scores real films as high as its true lesions (see its model
    card), so no threshold separates them: its scope to the sample source is the guard."""
    (findings,) = load_config(ROOT / "configs" / "sample.yaml").detectors
    assert findings.sources == ("sample",)
    stage = DetectStage(dataclasses.replace(findings, device="cpu"))
    rows = [{**decoded[name], "regions": []} for name in HELD_OUT]
    table = pa.Table.from_pylist(rows, schema=WORK)
    assert len(stage.wanted(table)) == 0 and stage(table)["regions"].to_pylist() == [[]] * len(rows)
    unscoped = DetectStage(dataclasses.replace(findings, device="cpu", sources=()))
    assert any(unscoped(table)["regions"].to_pylist()), "without its scope it does put boxes on real films"


def test_films_without_a_stated_view_get_lungs_only_when_they_show_a_frontal_pair(anatomy, decoded):
    """Of covid-chestxray's 21 lateral films, none gave the anatomy detector a right and a left lung side by
    side; its 7 films without a view all did (measured when this was written)."""
    assert anatomy.config.unstated_view and decoded[NO_VIEW]["view"] == ""
    unstated = [{**decoded[NO_VIEW], "regions": []}, {**decoded[LATERAL], "view": "", "regions": []}]
    table = pa.Table.from_pylist(unstated, schema=WORK)
    assert anatomy.wanted(table).tolist() == [0, 1]
    frontal, lateral = anatomy(table)["regions"].to_pylist()
    assert sorted(r["label"] for r in frontal) == ["left_lung", "right_lung"] and lateral == []


def test_ct_slices_get_lungs_from_the_model_free_finder(real_config, decoded):
    (config,) = [d for d in real_config.detectors if d.kind == "lung_fields"]
    stage = DetectStage(config)
    assert stage.resources.actors == 0 and stage.resources.gpus == 0
    rows = [{**decoded[name], "regions": []} for name in CT_SLICES]
    assert [row["view"] for row in rows] == ["axial", "coronal"]
    for regions in stage(pa.Table.from_pylist(rows, schema=WORK))["regions"].to_pylist():
        right, left = (Region(**r) for r in regions)
        assert (right.label, left.label) == ("right_lung", "left_lung") and right.x1 < left.x0
