"""What each sample study is: format, view, size, lesions, patient, and which are duplicates or broken.

Study k is planned from its own random stream (seed, k), so it does not depend on n; near-duplicates and
broken inputs come after the n regular studies.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

import numpy as np

from connectors.sample.people import Patient, make_patient

# Random streams: every draw comes from np.random.default_rng([seed, stream, index, ...]).
STREAM_STUDY, STREAM_PATIENTS, STREAM_PATIENT, STREAM_DUPLICATE, STREAM_BROKEN, STREAM_REPORT = range(6)
BROKEN_KINDS = ("truncated_png", "corrupt_dicom", "empty_report", "missing_image")
DUPLICATE_EDITS = ("resize", "crop", "jpeg")
LESION_KINDS = ("nodule", "mass", "consolidation", "effusion", "pneumothorax", "cardiomegaly")
FOCAL = ("nodule", "mass", "consolidation")
ZONES = ("upper", "middle", "lower")
SIDES = ("right", "left")  # the patient's sides
ANNOTATED_SHARE = 0.6
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class LesionSpec:
    label: str
    side: str  # patient side, "right" | "left" | "" (cardiomegaly)
    zone: str  # "upper" | "middle" | "lower" | ""


@dataclass(frozen=True)
class StudySpec:
    index: int  # its place in the source; the random streams are keyed on it
    source_id: str
    patient: Patient
    visit: int  # 0 for the patient's first study
    fmt: str  # dicom | png8 | png16 | nifti | jpeg
    view: str  # PA | AP | axial
    modality: str  # CR | DX | CT
    photometric: str  # MONOCHROME2 | MONOCHROME1 (DICOM only, else "")
    width: int
    height: int
    pixel_spacing: float  # mm per original pixel
    annotated: bool
    lesions: tuple[LesionSpec, ...]
    study_date: dt.date
    accession: str
    broken: str | None = None
    duplicate_of: "StudySpec | None" = None
    edit: str = ""  # for a duplicate: how it was derived (DUPLICATE_EDITS)
    crop: tuple[int, int, int, int] = ()  # for a duplicate: the part of the original kept (x0, y0, x1, y1)

    @property
    def is_ct(self) -> bool:
        return self.fmt == "nifti"

    @property
    def extension(self) -> str:
        return {"dicom": "dcm", "png8": "png", "png16": "png", "nifti": "nii.gz", "jpeg": "jpg"}[self.fmt]

    @property
    def image(self) -> str:
        return f"images/{self.source_id}.{self.extension}"

    @property
    def report(self) -> str:
        return f"reports/{self.source_id}.txt"


def study_rng(seed: int, stream: int, index: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index, *more])


def duplicate_count(n: int) -> int:
    """About 1% of n, at least one per kind of edit."""
    return max(len(DUPLICATE_EDITS), round(n / 100))


def plan(n: int, seed: int) -> list[StudySpec]:
    """All studies: n regular ones, then the near-duplicates, then one broken input of each kind."""
    owners = _patient_of_study(n, seed)
    n_patients = int(owners[-1]) + 1 if n else 0
    patients = [make_patient(study_rng(seed, STREAM_PATIENT, p), p) for p in range(n_patients)]
    first_visit = np.unique(owners, return_index=True)[1]
    regular = [_regular(seed, k, patients[owners[k]], int(k - first_visit[owners[k]])) for k in range(n)]
    extra_patients = iter(range(n_patients, n_patients + duplicate_count(n) + len(BROKEN_KINDS)))
    candidates = [s for s in regular if not s.is_ct]
    duplicates = [
        _duplicate(seed, d, n + d, candidates, next(extra_patients)) for d in range(duplicate_count(n))
    ] if candidates else []
    first_broken = n + len(duplicates)
    broken = [
        _broken(seed, b, kind, first_broken + b, next(extra_patients)) for b, kind in enumerate(BROKEN_KINDS)
    ]
    return regular + duplicates + broken


def _patient_of_study(n: int, seed: int) -> np.ndarray:
    """Consecutive studies grouped into patients of 1-4 studies (a prefix of the same grouping for any n)."""
    u = study_rng(seed, STREAM_PATIENTS, 0).random(n)
    sizes = 1 + (u > 0.55) + (u > 0.8) + (u > 0.93)
    return np.repeat(np.arange(n), sizes)[:n]


def _format_of(k: int) -> str:
    slot = k % 50
    if slot == 7:
        return "nifti"
    if slot in (1, 12, 18, 29, 38, 46):
        return "png8"
    if slot in (9, 35):
        return "png16"
    return "dicom"


def _regular(seed: int, k: int, patient: Patient, visit: int) -> StudySpec:
    rng = study_rng(seed, STREAM_STUDY, k)
    fmt = _format_of(k)
    lesions = _sample_lesions(rng, ct=fmt == "nifti")
    annotated = fmt == "nifti" or (k * GOLDEN) % 1 < ANNOTATED_SHARE  # evenly spread over any prefix
    return _study(rng, k, patient, visit, fmt, lesions, annotated)


def _study(rng, k, patient, visit, fmt, lesions, annotated) -> StudySpec:
    if fmt == "nifti":
        width = height = 96
        view, modality, spacing = "axial", "CT", 3.6
    else:
        width = int(rng.integers(640, 1401))
        height = int(np.clip(round(width * rng.uniform(0.85, 1.2)), 640, 1400))
        view = "AP" if rng.random() < 0.25 else "PA"
        modality = "DX" if rng.random() < 0.5 else "CR"
        spacing = round(float(rng.uniform(350.0, 430.0)) / width, 4)
    days = 200 * visit + int(rng.integers(0, 150))
    return StudySpec(
        index=k,
        source_id=f"S{k:06d}",
        patient=patient,
        visit=visit,
        fmt=fmt,
        view=view,
        modality=modality,
        photometric=("MONOCHROME1" if k % 6 == 5 else "MONOCHROME2") if fmt == "dicom" else "",
        width=width,
        height=height,
        pixel_spacing=spacing,
        annotated=annotated,
        lesions=lesions,
        study_date=patient.first_study + dt.timedelta(days=days),
        accession=f"A{int(rng.integers(10**7, 10**8))}",
    )


def _sample_lesions(rng: np.random.Generator, ct: bool) -> tuple[LesionSpec, ...]:
    """0-3 lesions with distinct (label, side, zone); one pleural finding per side; one heart."""
    if ct:
        return (LesionSpec(str(rng.choice(("nodule", "mass"))), str(rng.choice(SIDES)), ""),)
    count = int(rng.choice(4, p=(0.3, 0.35, 0.25, 0.1)))
    lesions: list[LesionSpec] = []
    while len(lesions) < count:
        label, side = str(rng.choice(LESION_KINDS)), str(rng.choice(SIDES))
        if label == "cardiomegaly":
            lesion = LesionSpec(label, "", "")
        elif label in FOCAL:
            lesion = LesionSpec(label, side, str(rng.choice(ZONES)))
        else:
            lesion = LesionSpec(label, side, "lower" if label == "effusion" else "upper")
        pleural_sides = {x.side for x in lesions if x.label in ("effusion", "pneumothorax")}
        if lesion in lesions or (lesion.label in ("effusion", "pneumothorax") and side in pleural_sides):
            continue
        lesions.append(lesion)
    return tuple(lesions)


def _duplicate(seed: int, d: int, index: int, candidates: list[StudySpec], patient_index: int) -> StudySpec:
    """A near-copy of another study's image, under another patient id (as a re-submission would be)."""
    rng = study_rng(seed, STREAM_DUPLICATE, d)
    original = candidates[int(rng.integers(0, len(candidates)))]
    edit = DUPLICATE_EDITS[d % len(DUPLICATE_EDITS)]
    width, height = original.width, original.height
    crop, spacing = (0, 0, width, height), original.pixel_spacing
    if edit == "resize":
        scale = rng.uniform(0.7, 0.9)
        width, height = round(width * scale), round(height * scale)
        spacing = round(spacing * original.width / width, 4)
    elif edit == "crop":
        x0, y0, x1, y1 = (round(side * rng.uniform(0.02, 0.04)) for side in (width, height, width, height))
        crop = (x0, y0, width - x1, height - y1)
        width, height = crop[2] - crop[0], crop[3] - crop[1]
    return replace(
        original,
        index=index,
        source_id=f"S{index:06d}",
        patient=make_patient(study_rng(seed, STREAM_PATIENT, patient_index), patient_index),
        visit=0,
        fmt="jpeg" if edit == "jpeg" else "png8",
        photometric="",
        width=width,
        height=height,
        pixel_spacing=spacing,
        annotated=False,
        accession=f"A{int(rng.integers(10**7, 10**8))}",
        duplicate_of=original,
        edit=edit,
        crop=crop,
    )


def _broken(seed: int, b: int, kind: str, index: int, patient_index: int) -> StudySpec:
    """A normal study whose file or report is broken in the way `kind` names."""
    rng = study_rng(seed, STREAM_BROKEN, b)
    patient = make_patient(study_rng(seed, STREAM_PATIENT, patient_index), patient_index)
    fmt = "dicom" if kind in ("corrupt_dicom", "empty_report") else "png8"
    return replace(_study(rng, index, patient, 0, fmt, (), annotated=False), broken=kind)
