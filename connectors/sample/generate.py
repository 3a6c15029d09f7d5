"""Render the sample source on disk: images, reports, the study and annotation tables, the truth sidecar.

`generate(folder, n, seed)` renders into `folder`; `ensure(root, n, seed)` keeps each render in a folder of its own
under a shared root, root/n<n>-s<seed>/ (`render_folder`), so a render of another n or seed never replaces it or
touches its files, and builds that need the same render at once make it once.
Layout of a render's folder:
  images/<source_id>.{dcm,png,jpg,nii.gz}   reports/<source_id>.txt
  studies.csv      source_id, patient_id, image, report, view, modality (paths relative to the folder)
  annotations.csv  source_id, label, x0, y0, x1, y1 (original pixels), frame (the NIfTI slice, else -1)
  truth.jsonl      what was drawn and written, per study (for tests; connectors never read it)
  COMPLETE         written last: {"version", "n", "seed", "studies"}
Rows: the n regular studies S000000.., then about 1% near-duplicates, then one broken input per kind.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from connectors.sample.ct import MIDDLE, render_ct
from connectors.sample.encode import dicom_phi, write_dicom, write_jpeg, write_nifti_gz, write_png
from connectors.sample.people import INSTITUTIONS, physician
from connectors.sample.plan import STREAM_REPORT, StudySpec, plan, study_rng
from connectors.sample.radiograph import render_duplicate, render_radiograph
from connectors.sample.reports import Report, write_report
from schemas.runtime import locked_folder

GENERATOR_VERSION = "1"
COMPLETE = "COMPLETE"
OWNER_MARK = ".medregion-sample"  # lets `generate` clear a folder it rendered before, and no other
STUDY_COLUMNS = ("source_id", "patient_id", "image", "report", "view", "modality")
ANNOTATION_COLUMNS = ("source_id", "label", "x0", "y0", "x1", "y1", "frame")


def generate(root: Path | str, n: int = 1000, seed: int = 0) -> None:
    """Render n studies (plus duplicates and broken inputs) from `seed` under `root`, replacing a previous one."""
    root = Path(root)
    _clear(root)
    (root / "images").mkdir()
    (root / "reports").mkdir()
    truth = [_render_study(root, spec, seed) for spec in plan(n, seed)]
    _write_csv(root / "studies.csv", STUDY_COLUMNS, [[t[c] for c in STUDY_COLUMNS] for t in truth])
    annotated = [t for t in truth if t["annotated"]]
    boxes = [[t["source_id"], r["label"], *r["box_px"], t["frame"]] for t in annotated for r in t["regions"]]
    _write_csv(root / "annotations.csv", ANNOTATION_COLUMNS, boxes)
    (root / "truth.jsonl").write_text("".join(json.dumps(t, sort_keys=True) + "\n" for t in truth))
    (root / COMPLETE).write_text(json.dumps(_stamp(n, seed) | {"studies": len(truth)}, sort_keys=True) + "\n")


def is_complete(root: Path | str, n: int, seed: int) -> bool:
    """Whether `root` holds a finished render of (n, seed) by this generator version."""
    try:
        stamp = json.loads((Path(root) / COMPLETE).read_text())
    except (OSError, ValueError):
        return False
    return all(stamp.get(k) == v for k, v in _stamp(n, seed).items())


def render_folder(root: Path | str, n: int, seed: int) -> Path:
    """The folder under `root` that `ensure` renders (n, seed) into."""
    return Path(root) / f"n{n}-s{seed}"


def ensure(root: Path | str, n: int, seed: int) -> Path:
    """The folder under `root` holding the render of (n, seed), rendered first unless it is there. A render holds
    `root` locked: another process that needs a render under it meanwhile waits for it, then finds it done."""
    folder = render_folder(root, n, seed)
    with locked_folder(root):
        if not is_complete(folder, n, seed):
            generate(folder, n, seed)
    return folder


def _stamp(n: int, seed: int) -> dict:
    return {"version": GENERATOR_VERSION, "n": n, "seed": seed}


def _clear(root: Path) -> None:
    if root.exists() and any(root.iterdir()) and not (root / OWNER_MARK).exists():
        raise FileExistsError(f"{root} is not empty and was not rendered by the sample generator")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / OWNER_MARK).write_text("rendered by connectors.sample.generate; safe to delete\n")


def _render_study(root: Path, spec: StudySpec, seed: int) -> dict:
    """Write one study's image and report; its truth row."""
    rng = study_rng(seed, STREAM_REPORT, spec.index)
    institution, referring = str(rng.choice(INSTITUTIONS)), physician(rng)
    render = render_ct if spec.is_ct else render_duplicate if spec.duplicate_of else render_radiograph
    pixels, findings = render(spec, seed)
    if spec.broken != "missing_image":
        _write_image(root / spec.image, spec, pixels, seed, institution, referring)
    phi = dicom_phi(spec, institution, referring) if spec.fmt == "dicom" else []
    report = Report("", [], [], "", []) if spec.broken == "empty_report" else write_report(rng, spec, findings)
    (root / spec.report).write_text(report.text)
    return {
        "source_id": spec.source_id,
        "patient_id": spec.patient.patient_id,
        "image": spec.image,
        "report": spec.report,
        "format": spec.fmt,
        "annotated": spec.annotated,
        "view": spec.view,
        "modality": spec.modality,
        "photometric": spec.photometric,
        "orig_width": spec.width,
        "orig_height": spec.height,
        "pixel_spacing_mm": spec.pixel_spacing,
        "frame": MIDDLE if spec.is_ct else -1,  # the slice the boxes are drawn on (the decoder's "middle")
        "regions": [_region(f, sentence, spec) for f, sentence in zip(findings, report.sentences)],
        "negated": report.negated,
        "impression": report.impression,
        "phi": phi + report.phi,
        "broken": spec.broken,
        "duplicate_of": spec.duplicate_of.source_id if spec.duplicate_of else None,
    }


def _write_image(path: Path, spec: StudySpec, pixels, seed: int, institution: str, referring: str) -> None:
    """The image file in the study's format, broken afterwards when the study is a broken input."""
    if spec.fmt == "nifti":
        write_nifti_gz(path, pixels, flip_x=spec.index // 50 % 2 == 0)
    elif spec.fmt == "dicom":
        write_dicom(path, pixels, spec, seed, institution, referring)
    elif spec.fmt == "jpeg":
        write_jpeg(path, pixels)
    else:
        write_png(path, pixels, bits=16 if spec.fmt == "png16" else 8)
    size = path.stat().st_size
    if spec.broken == "truncated_png":
        os.truncate(path, size * 3 // 5)
    elif spec.broken == "corrupt_dicom":
        pixel_bytes = spec.width * spec.height * 2
        os.truncate(path, size - pixel_bytes + pixel_bytes // 3)


def _region(finding, sentence: str, spec: StudySpec) -> dict:
    x0, y0, x1, y1 = finding.box
    w, h = spec.width, spec.height
    return {
        "label": finding.label,
        "box_px": [x0, y0, x1, y1],
        "box": [round(x0 / w, 6), round(y0 / h, 6), round(x1 / w, 6), round(y1 / h, 6)],
        "laterality": finding.side,
        "zone": finding.zone,
        "sentence": sentence,
    }


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
