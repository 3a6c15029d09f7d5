"""covid_chestxray on the real copy in ../shared/data/real: rows, rejects, licences, and where the lung boxes land."""
import json
import shutil

import numpy as np
import polars as pl
import pytest
from PIL import Image

ROOT_NAME = "covid-chestxray"


@pytest.fixture(scope="module")
def root(layouts):
    path = layouts.REAL / ROOT_NAME
    if not path.is_dir():
        pytest.skip("../shared/data/real is not beside this checkout")
    return path


@pytest.fixture(scope="module")
def refs(root, make_connector):
    return list(make_connector("covid_chestxray", root).refs())


def test_every_metadata_row_is_a_row_or_a_reject_with_its_reason(root, refs):
    metadata = pl.read_csv(root / "metadata.csv", infer_schema=False).fill_null("")
    assert [r.source_id for r in refs] == metadata["filename"].to_list()
    present = {p.name for p in (root / "images").iterdir()}
    for ref, folder, name, notes in zip(refs, metadata["folder"], metadata["filename"], metadata["clinical_notes"]):
        if folder == "volumes":
            assert ref.reject == "ct_volume" and name in ref.detail
        elif name not in present:
            assert ref.reject == "missing_image" and name in ref.detail
        elif not notes.strip():  # "Label: COVID-19." alone was a report_too_short, "Label: No Finding." a row
            assert (ref.reject, ref.detail) in {("empty_report", f"no clinical_notes, only the finding label {label!r}")
                                                for label in ("COVID-19", "No Finding")}
        else:
            assert not ref.reject
    assert [sum(r.reject == reason for r in refs) for reason in ("ct_volume", "missing_image", "empty_report")] == [
        10, 10, 54]


def test_licence_view_patient_and_text_come_from_each_row(root, refs):
    metadata = pl.read_csv(root / "metadata.csv", infer_schema=False).fill_null("")
    for ref, row in zip(refs, metadata.iter_rows(named=True)):
        assert ref.license == (row["license"] or "unknown")
        assert ref.report_style == "notes" and row["clinical_notes"].strip()[:40] in ref.report
    by_patient = {}
    for ref, patient in zip(refs, metadata["patientid"]):
        by_patient.setdefault(patient, set()).add(ref.patient_key)
    assert all(len(keys) == 1 for keys in by_patient.values())
    assert len({k for keys in by_patient.values() for k in keys}) == len(by_patient)
    assert {r.view for r in refs} >= {"PA", "AP", "AP SUPINE", "LATERAL", "axial"}
    assert {r.modality for r in refs} == {"DX", "CT"}


def test_right_lung_boxes_lie_on_the_image_left(refs):
    boxed = [r for r in refs if r.boxes]
    assert len(boxed) == 31 + 34  # the COCO file's images, then the radiographs only a lungVAE mask outlines (4
    # masks lost a lung's base: annotators.lung_masks gives no boxes from them; a CT image's mask is not read)
    for ref in boxed:
        by_label = {b.label: b for b in ref.boxes}
        assert set(by_label) == {"right_lung", "left_lung"}
        right, left = by_label["right_lung"], by_label["left_lung"]
        assert (right.x0 + right.x1) / 2 < (left.x0 + left.x1) / 2, ref.source_id


def test_images_the_coco_file_leaves_out_get_their_mask_lungs(root, refs, make_connector):
    from annotators.lung_masks import lung_boxes

    coco = {i["file_name"] for i in json.loads(
        (root / "annotations" / "imageannotation_ai_lung_bounding_boxes.json").read_text())["images"]}
    masked = {p.name.removesuffix("_mask.png"): p for p in (root / "annotations" / "lungVAE-masks").iterdir()}
    from_masks = [r for r in refs if r.boxes and r.source_id not in coco]
    assert from_masks and all(r.source_id.rsplit(".", 1)[0] in masked for r in from_masks)
    ct_masked = [r for r in refs if r.modality == "CT" and r.source_id.rsplit(".", 1)[0] in masked]
    assert ct_masked and not any(r.boxes for r in ct_masked)  # the radiograph segmenter's masks of CT images
    for ref in from_masks:
        mask = np.asarray(Image.open(masked[ref.source_id.rsplit(".", 1)[0]]).convert("L"))
        assert [(b.x0, b.y0, b.x1, b.y1, b.label) for b in ref.boxes] == [tuple(map(float, box[:4])) + (box[4],)
                                                                         for box in lung_boxes(mask)]
    without = {r.source_id: r for r in make_connector("covid_chestxray", root, masks="").refs()}
    assert all(not without[r.source_id].boxes for r in from_masks)


def test_boxes_are_scaled_to_the_real_image_and_null_boxes_skipped(root, tmp_path, make_connector):
    coco = json.loads((root / "annotations" / "imageannotation_ai_lung_bounding_boxes.json").read_text())
    image = next(i for i in coco["images"] if i["file_name"] == "ARDSSevere.png")
    real = dict(zip(("width", "height"), Image.open(root / "images" / "ARDSSevere.png").size))
    image["width"], image["height"] = real["width"] // 2, real["height"] // 2  # a JSON size that disagrees
    notes = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
    notes[1]["bbox"] = None  # as two boxes are upstream
    shutil.copy(root / "metadata.csv", tmp_path / "metadata.csv")
    (tmp_path / "images").symlink_to(root / "images")  # a linked folder leaves the root: allowed by an option
    (tmp_path / "boxes.json").write_text(json.dumps(coco))
    refs = list(make_connector("covid_chestxray", tmp_path, boxes="boxes.json", allow_outside_paths=True).refs())
    [ref] = [r for r in refs if r.source_id == "ARDSSevere.png"]
    x, y, w, h = notes[0]["bbox"]
    sx, sy = real["width"] / image["width"], real["height"] / image["height"]
    expected = (x * sx, y * sy, (x + w) * sx, (y + h) * sy)
    assert [(b.x0, b.y0, b.x1, b.y1) for b in ref.boxes] == [pytest.approx(expected)]


def test_build_accounts_for_every_row(all_sources_build, build_rows, build_rejects, refs):
    manifest = json.loads((all_sources_build / "manifest.json").read_text())
    counts = manifest["sources"]["covid_chestxray"]
    rows = {r["source_id"] for r in build_rows if r["source"] == "covid_chestxray"}
    rejects = {r["source_id"]: r for r in build_rejects if r["source"] == "covid_chestxray"}
    assert counts["inputs"] == len(refs) == 240 and counts["rows"] == len(rows) and counts["rejects"] == len(rejects)
    assert rows | set(rejects) == {r.source_id for r in refs} and not rows & set(rejects)
    for ref in refs:
        if ref.reject:
            assert (rejects[ref.source_id]["stage"], rejects[ref.source_id]["reason"]) == ("connector", ref.reject)


def test_lung_boxes_cover_the_lungs_after_resize(build_rows, root, decode_png):
    """Against the lungVAE masks, on the stored (resized) image: each lung box holds most of the mask on its own
    side (the patient's right lung is on the image's left) and almost none of the other side's."""
    checked = 0
    for row in (r for r in build_rows if r["source"] == "covid_chestxray" and r["regions"]):
        mask_path = root / "annotations" / "lungVAE-masks" / f"{row['source_id'].rsplit('.', 1)[0]}_mask.png"
        if not mask_path.is_file():
            continue
        assert decode_png(row["image"]["bytes"]).shape == (row["height"], row["width"])
        size = (row["width"], row["height"])
        mask = np.asarray(Image.open(mask_path).convert("L").resize(size, Image.NEAREST)) > 127
        image_left, image_right = mask.copy(), mask.copy()
        image_left[:, row["width"] // 2:] = False
        image_right[:, : row["width"] // 2] = False
        for region in (r for r in row["regions"] if r["origin"] == "annotation"):  # not the lung parts derived
            x0, y0, x1, y1 = (round(v * s) for v, s in zip(region["box"], size * 2))
            own, other = (image_left, image_right) if region["label"] == "right_lung" else (image_right, image_left)
            assert own[y0:y1, x0:x1].sum() > 0.8 * own.sum(), (row["source_id"], region["label"])
            assert other[y0:y1, x0:x1].sum() < 0.2 * other.sum(), (row["source_id"], region["label"])
        checked += 1
    assert checked >= 20  # the boxed images with a lungVAE mask that the quality filters keep
