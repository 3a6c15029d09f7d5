"""The sample source: deterministic rendering, a truth sidecar that matches the files, and the connector."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import FrozenInstanceError
from multiprocessing import get_context
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from connectors import get_connector
from connectors.sample import CONNECTOR, SampleConnector, generate
from connectors.sample.ct import MIDDLE
from connectors.sample.generate import ensure, is_complete, render_folder
from connectors.sample.plan import BROKEN_KINDS, duplicate_count, plan
from connectors.sample.radiograph import render_radiograph, working_factor
from schemas.labels import DETECTOR_CLASSES

SECRET = b"test-secret"


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _times(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def _truth(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "truth.jsonl").read_text().splitlines()]


def _display12(path: Path) -> np.ndarray:
    """An image file as 12-bit display brightness (bright = dense), whatever its format."""
    if path.suffix == ".dcm":
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array.astype(np.int32)
        return 4095 - pixels if ds.PhotometricInterpretation == "MONOCHROME1" else pixels
    with Image.open(path) as image:
        pixels = np.asarray(image)
    return pixels.astype(np.int32) >> 4 if pixels.dtype == np.uint16 else pixels.astype(np.int32) << 4


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, Path]:
    """Two renders of (n=6, seed=0) in different folders."""
    roots = {name: tmp_path_factory.mktemp(f"sample-{name}") for name in ("a", "b")}
    for root in roots.values():
        generate(root, n=6, seed=0)
    return roots


@pytest.fixture(scope="module")
def truth(sample_root) -> list[dict]:
    return _truth(sample_root)


@pytest.fixture(scope="module")
def n(sample_root) -> int:
    """The n of the session's sample (tests/conftest.py renders it with seed 0)."""
    stamp = json.loads((sample_root / "COMPLETE").read_text())
    assert stamp["seed"] == 0 and stamp["n"] >= 40
    return stamp["n"]


@pytest.fixture(scope="module")
def connector(sample_root, n) -> SampleConnector:
    return CONNECTOR(CONNECTOR.Options(root=str(sample_root.parent), n=n, seed=0), secret=SECRET)


# --- the generator -------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes_in_any_folder(renders):
    a, b = _digests(renders["a"]), _digests(renders["b"])
    assert a == b
    assert len(a) == 2 * (6 + duplicate_count(6) + len(BROKEN_KINDS)) + 5 - 1  # one image is missing on purpose


def test_a_study_does_not_depend_on_n(renders, sample_root):
    small, large = _digests(renders["a"]), _digests(sample_root)  # n = 6 and a larger n, both seed 0
    for k in range(6):
        names = [p for p in small if re.fullmatch(rf"(images|reports)/S{k:06d}\..+", p)]
        assert len(names) == 2 and all(small[p] == large[p] for p in names)
    assert small["reports/S000006.txt"] != large["reports/S000006.txt"]  # a duplicate here, a study there


def test_another_seed_gives_other_images(tmp_path, renders):
    generate(tmp_path, n=1, seed=4)
    assert _digests(tmp_path)["images/S000000.dcm"] != _digests(renders["a"])["images/S000000.dcm"]


def test_generate_refuses_a_folder_it_did_not_render(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate(tmp_path, n=2, seed=0)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_tables_and_truth_agree(sample_root, truth, n):
    studies = (sample_root / "studies.csv").read_text().splitlines()
    assert studies[0] == "source_id,patient_id,image,report,view,modality"
    assert [row.split(",")[0] for row in studies[1:]] == [t["source_id"] for t in truth]
    assert len(truth) == n + duplicate_count(n) + len(BROKEN_KINDS)
    annotated = [
        (t["source_id"], r["label"], *r["box_px"]) for t in truth if t["annotated"] for r in t["regions"]
    ]
    rows = [line.split(",") for line in (sample_root / "annotations.csv").read_text().splitlines()[1:]]
    assert [(s, label, *map(int, box)) for s, label, *box, _frame in rows] == annotated
    assert {label for _, label, *_ in annotated} <= set(DETECTOR_CLASSES)
    regular = [t for t in truth if not t["broken"] and not t["duplicate_of"]]
    assert 0.4 <= sum(t["annotated"] for t in regular) / len(regular) <= 0.8
    assert all(t["annotated"] for t in truth if t["format"] == "nifti")
    assert {t["format"] for t in truth} == {"dicom", "png8", "png16", "nifti", "jpeg"}
    assert any(not t["regions"] for t in regular) and any(len(t["regions"]) >= 2 for t in regular)
    assert max(Counter(t["patient_id"] for t in truth).values()) >= 2


def test_boxes_lie_inside_their_images(truth):
    regions = [(t, r) for t in truth for r in t["regions"]]
    assert {r["label"] for _, r in regions} == set(DETECTOR_CLASSES)
    for t, r in regions:
        x0, y0, x1, y1 = r["box_px"]
        assert 0 <= x0 < x1 <= t["orig_width"] and 0 <= y0 < y1 <= t["orig_height"]
        w, h = t["orig_width"], t["orig_height"]
        assert r["box"] == pytest.approx([x0 / w, y0 / h, x1 / w, y1 / h], abs=1e-6)
        if r["laterality"] and t["view"] in ("PA", "AP", "axial"):  # the patient's right is on the image's left
            assert (x0 + x1) / 2 < w / 2 if r["laterality"] == "right" else (x0 + x1) / 2 > w / 2


def test_reports_hold_each_sentence_negation_impression_and_phi(sample_root, truth):
    for t in truth:
        text = (sample_root / t["report"]).read_text()
        if t["broken"] == "empty_report":
            assert text == ""
            continue
        assert re.search(r"^INDICATION:.+^COMPARISON:.+^FINDINGS:.+^IMPRESSION:", text, re.S | re.M)
        for sentence in [r["sentence"] for r in t["regions"]] + t["negated"] + [t["impression"]]:
            assert sentence and sentence in text
        for r in t["regions"]:
            assert r["laterality"] in r["sentence"].lower() or re.search(r"\b[RL][UML]L\b", r["sentence"])
        header = ""
        if t["format"] == "dicom":  # a corrupt DICOM still has its header
            header = str(pydicom.dcmread(sample_root / t["image"], stop_before_pixels=True))
        assert all(value in text or value in header for value in t["phi"])
    assert sum("MRN:" in (sample_root / t["report"]).read_text() for t in truth) >= 3
    assert any(" Dr. " in (sample_root / t["report"]).read_text() for t in truth)


def test_each_broken_kind_is_present_and_really_broken(sample_root, truth):
    broken = {t["broken"]: t for t in truth if t["broken"]}
    assert set(broken) == set(BROKEN_KINDS)
    with pytest.raises(OSError), Image.open(sample_root / broken["truncated_png"]["image"]) as image:
        image.load()
    with pytest.raises(Exception):
        pydicom.dcmread(sample_root / broken["corrupt_dicom"]["image"]).pixel_array
    assert (sample_root / broken["empty_report"]["report"]).read_text() == ""
    assert (sample_root / broken["empty_report"]["image"]).is_file()
    assert not (sample_root / broken["missing_image"]["image"]).exists()
    assert (sample_root / broken["missing_image"]["report"]).read_text()


def test_near_duplicates_copy_another_studys_image(sample_root, truth, n):
    by_id = {t["source_id"]: t for t in truth}
    specs = {s.source_id: s for s in plan(n, 0)}
    duplicates = [t for t in truth if t["duplicate_of"]]
    assert len(duplicates) == duplicate_count(n)
    for dup in duplicates:
        original = by_id[dup["duplicate_of"]]
        assert not original["duplicate_of"] and not original["broken"] and dup["patient_id"] != original["patient_id"]
        copy, source = _display12(sample_root / dup["image"]), _display12(sample_root / original["image"])
        edit = specs[dup["source_id"]]
        if edit.edit == "crop":
            x0, y0, x1, y1 = edit.crop
            source = source[y0:y1, x0:x1]
        elif edit.edit == "resize":
            source = np.asarray(Image.fromarray(source.astype(np.float32)).resize(copy.shape[::-1]), np.float64)
        assert copy.shape == source.shape == (dup["orig_height"], dup["orig_width"])
        assert np.corrcoef(copy.ravel(), source.ravel())[0, 1] > 0.98, edit.edit
        assert np.abs(copy - source).mean() < 40, edit.edit  # 12-bit levels
        assert {r["label"] for r in dup["regions"]} <= {r["label"] for r in original["regions"]}


def test_dicoms_decode_and_carry_the_fake_identity(sample_root, truth, n):
    specs = {s.source_id: s for s in plan(n, 0)}
    dicoms = [t for t in truth if t["format"] == "dicom" and not t["broken"]]
    assert {t["photometric"] for t in dicoms} == {"MONOCHROME1", "MONOCHROME2"}
    for t in dicoms:
        ds = pydicom.dcmread(sample_root / t["image"])
        assert (ds.Modality, ds.ViewPosition, ds.BodyPartExamined) == (t["modality"], t["view"], "CHEST")
        assert ds.PatientID == t["patient_id"] and str(ds.PatientName) in t["phi"]
        assert str(ds.ReferringPhysicianName) in t["phi"] and ds.InstitutionName in t["phi"]
        assert ds.PatientBirthDate in t["phi"] and ds.AccessionNumber in t["phi"]
        assert (ds.BitsAllocated, ds.BitsStored, ds.PhotometricInterpretation) == (16, 12, t["photometric"])
        stored = ds.pixel_array
        assert stored.shape == (t["orig_height"], t["orig_width"]) and stored.max() < 4096
        rescaled = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        centre, half = float(ds.WindowCenter), float(ds.WindowWidth) / 2
        assert centre - half <= rescaled.min() and rescaled.max() <= centre + half
    for photometric in ("MONOCHROME1", "MONOCHROME2"):  # what is stored is what was drawn, inverted for MONOCHROME1
        t = next(t for t in dicoms if t["photometric"] == photometric)
        drawn, _ = render_radiograph(specs[t["source_id"]], seed=0)
        assert np.array_equal(_display12(sample_root / t["image"]), drawn)


def test_boxes_hold_exactly_what_was_drawn():
    """Rendering without the lesions changes nothing (by 0.6%) beyond 2 working pixels (blur and upsampling)
    around their boxes, and at least a tenth of each box (a pneumothorax is a rim)."""
    specs = [s for s in plan(40, 0) if s.lesions and not s.is_ct][:16]
    assert {f.label for s in specs for f in s.lesions} == set(DETECTOR_CLASSES)
    for spec in specs:
        with_lesions, findings = render_radiograph(spec, 0)
        without, _ = render_radiograph(spec, 0, with_lesions=False)
        changed = np.abs(with_lesions.astype(np.int32) - without) > 24
        margin = 2 * working_factor(spec.width) + 1
        inside = np.zeros_like(changed)
        for f in findings:
            x0, y0, x1, y1 = f.box
            assert changed[y0:y1, x0:x1].mean() > 0.1, (spec.source_id, f)
            inside[max(0, y0 - margin): y1 + margin, max(0, x0 - margin): x1 + margin] = True
        assert not (changed & ~inside).any(), spec.source_id


def test_ct_volumes_follow_the_display_convention(sample_root, truth):
    volumes = [t for t in truth if t["format"] == "nifti"]
    assert volumes
    for t in volumes:
        image = nib.load(sample_root / t["image"])
        canonical = nib.as_closest_canonical(image).get_fdata()
        axial = canonical[::-1, ::-1, MIDDLE].T
        assert axial.shape == (t["orig_height"], t["orig_width"]) and t["frame"] == MIDDLE
        assert canonical.min() <= -900 and canonical.max() >= 200  # Hounsfield units
        for r in t["regions"]:
            x0, y0, x1, y1 = r["box_px"]
            assert axial[y0:y1, x0:x1].max() > -100  # the lesion, in soft-tissue HU
            assert axial[max(0, y0 - 3): y1 + 3, max(0, x0 - 3): x1 + 3].min() < -700  # inside a lung
    assert any(nib.load(sample_root / t["image"]).affine[0, 0] < 0 for t in volumes)  # stored LAS, not RAS


# --- the connector -------------------------------------------------------------------------------------------


def test_connector_is_found_by_name_with_frozen_options():
    assert get_connector("sample") is SampleConnector and SampleConnector.name == "sample"
    options = SampleConnector.Options()
    assert (options.root, options.n, options.seed, options.license) == ("out/sample", 1000, 0, "CC0-1.0")
    with pytest.raises(FrozenInstanceError):
        options.n = 3


def test_prepare_keeps_a_matching_render(sample_root, connector, n):
    before = (sample_root / "COMPLETE").stat().st_mtime_ns
    connector.prepare()
    assert (sample_root / "COMPLETE").stat().st_mtime_ns == before and is_complete(sample_root, n, 0)


def test_refs_follow_the_tables(sample_root, connector, truth, n):
    refs = list(connector.refs())
    assert [r.source_id for r in refs] == sorted(t["source_id"] for t in truth)
    by_id = {t["source_id"]: t for t in truth}
    for ref in refs:
        t = by_id[ref.source_id]
        assert (ref.source, ref.license, ref.report_style, ref.view, ref.modality) == (
            "sample", "CC0-1.0", "radiology", t["view"], t["modality"])
        assert Path(ref.report_path) == (sample_root / t["report"]).resolve() and not ref.report
        expected = [(r["label"], *r["box_px"]) for r in t["regions"]] if t["annotated"] else []
        assert [(b.label, b.x0, b.y0, b.x1, b.y1) for b in ref.boxes] == expected
        assert all(b.frame == t["frame"] for b in ref.boxes)
        if t["broken"] == "missing_image":
            assert (ref.image, ref.reject) == ("", "missing_image") and ref.detail
        else:  # broken files are found by decoding, not here
            assert Path(ref.image) == (sample_root / t["image"]).resolve() and not ref.reject
    assert sum(bool(r.boxes) for r in refs) == sum(bool(t["annotated"] and t["regions"]) for t in truth) > n / 4


def test_patient_keys_are_keyed_hashes(connector, truth):
    refs = list(connector.refs())
    by_id = {t["source_id"]: t["patient_id"] for t in truth}
    keys = {}
    for ref in refs:
        assert re.fullmatch(r"[0-9a-f]{24}", ref.patient_key) and "SAMPLE" not in ref.patient_key
        keys.setdefault(by_id[ref.source_id], set()).add(ref.patient_key)
    assert all(len(k) == 1 for k in keys.values())
    assert len({next(iter(k)) for k in keys.values()}) == len(keys)
    other = CONNECTOR(connector.options, secret=b"another secret")
    assert next(other.refs()).patient_key != refs[0].patient_key


def test_connector_reads_no_truth_and_keeps_each_n_in_its_own_folder(tmp_path):
    """A render of another n beside a finished one leaves its files, and so their times (a build's inputs), alone."""
    root = tmp_path / "sample"
    first = CONNECTOR(CONNECTOR.Options(root=str(root), n=1, seed=1), secret=SECRET)
    first.prepare()
    (render_folder(root, 1, 1) / "truth.jsonl").unlink()
    times = _times(render_folder(root, 1, 1))
    second = CONNECTOR(CONNECTOR.Options(root=str(root), n=2, seed=1), secret=SECRET)
    second.prepare()
    first.prepare()
    assert _times(render_folder(root, 1, 1)) == times and is_complete(render_folder(root, 2, 1), 2, 1)
    assert len(list(first.refs())) == 1 + duplicate_count(1) + len(BROKEN_KINDS)
    assert len(list(second.refs())) == 2 + duplicate_count(2) + len(BROKEN_KINDS)


def test_renders_needed_at_once_under_one_root_are_each_made_once(tmp_path, renders):
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        folders = list(pool.map(ensure, [tmp_path] * 3, [6, 6, 2], [0, 0, 0]))
    assert folders[0] == folders[1] == render_folder(tmp_path, 6, 0) and is_complete(folders[2], 2, 0)
    assert _digests(folders[0]) == _digests(renders["a"])
