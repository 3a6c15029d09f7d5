"""Free-text radiology reports for sample studies, in the usual sections, with fake PHI now and then.

Each rendered finding gets exactly one FINDINGS sentence naming it, its side and zone; findings that are
absent are negated; the impression sums up. The truth sidecar records every sentence and PHI value placed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from connectors.sample.lesions import Finding
from connectors.sample.people import phone, physician
from connectors.sample.plan import StudySpec

LOCATIONS = {
    ("right", "upper"): ("right upper lobe", "RUL", "right upper zone"),
    ("right", "middle"): ("right middle lobe", "RML", "right mid zone"),
    ("right", "lower"): ("right lower lobe", "RLL", "right lower zone", "right lung base"),
    ("left", "upper"): ("left upper lobe", "LUL", "left upper zone"),
    ("left", "middle"): ("left mid zone", "left midlung zone", "left mid lung"),
    ("left", "lower"): ("left lower lobe", "LLL", "left lower zone", "left lung base"),
    ("right", ""): ("right lung",),
    ("left", ""): ("left lung",),
}
SENTENCES = {
    "nodule": (
        "There is a {size} nodule in the {loc}.",
        "A {size} nodular opacity is noted in the {loc}.",
        "Rounded {size} pulmonary nodule in the {loc}.",
        "A well-circumscribed {size} nodule projects over the {loc}.",
    ),
    "mass": (
        "There is a {size} mass in the {loc}.",
        "Large lobulated mass in the {loc}, measuring {size}.",
        "A {size} lobulated soft tissue mass is present in the {loc}.",
    ),
    "consolidation": (
        "Patchy consolidation in the {loc}.",
        "There is airspace consolidation in the {loc}.",
        "Focal patchy airspace consolidation is seen in the {loc}.",
        "Patchy opacity in the {loc}, compatible with consolidation.",
    ),
    "effusion": (
        "{grade} {side} pleural effusion.",
        "There is a {grade} {side} pleural effusion.",
        "{grade} {side} pleural effusion with blunting of the costophrenic angle.",
        "Blunting of the {side} costophrenic angle, consistent with a {grade} pleural effusion.",
    ),
    "pneumothorax": (
        "There is a {grade} {side} apical pneumothorax.",
        "{grade} {side} pneumothorax with a visible pleural line.",
        "{side}-sided pneumothorax, {grade} in size.",
        "A {grade} {side} apical pneumothorax is present.",
    ),
    "cardiomegaly": (
        "The heart is enlarged.",
        "{grade} cardiomegaly.",
        "The cardiac silhouette is enlarged, consistent with cardiomegaly.",
        "Enlarged cardiac silhouette.",
    ),
}
IMPRESSIONS = {
    "nodule": ("{loc} nodule ({size}); CT follow-up recommended.", "{size} {loc} pulmonary nodule."),
    "mass": ("{loc} mass ({size}), suspicious for neoplasm.", "{size} {loc} mass; recommend CT chest."),
    "consolidation": ("{loc} consolidation, likely pneumonia.", "Consolidation in the {loc}."),
    "effusion": ("{grade} {side} pleural effusion.", "{side} pleural effusion."),
    "pneumothorax": ("{grade} {side} pneumothorax.", "{side} apical pneumothorax."),
    "cardiomegaly": ("Cardiomegaly.", "{grade} cardiomegaly."),
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
CARDIAC_NORMAL = ("Heart size is normal.", "The cardiomediastinal silhouette is within normal limits.")
CARDIAC_NEGATED = ("No cardiomegaly.", "The heart is not enlarged.")
NEGATABLE = {"consolidation": "focal consolidation", "effusion": "pleural effusion", "pneumothorax": "pneumothorax"}
NORMAL_IMPRESSIONS = (
    "No acute cardiopulmonary abnormality.",
    "No acute cardiopulmonary process.",
    "Normal chest radiograph.",
    "No radiographic evidence of acute disease.",
)
INDICATIONS = (
    "Cough.", "Shortness of breath.", "Fever and productive cough.", "Chest pain.", "Hypoxia.",
    "Preoperative evaluation.", "Follow-up.", "Dyspnea on exertion.", "Fall, chest wall pain.",
)
EXAMS = {
    "PA": ("CHEST RADIOGRAPH, PA VIEW", "CXR PA", "CHEST X-RAY (PA)", "XR CHEST PA"),
    "AP": ("CHEST RADIOGRAPH, AP VIEW", "CXR AP PORTABLE", "PORTABLE AP CHEST"),
    "axial": ("CT CHEST WITHOUT CONTRAST", "CT THORAX"),
}


@dataclass
class Report:
    text: str
    sentences: list[str]  # one per finding, in the findings' order
    negated: list[str]
    impression: str
    phi: list[str] = field(default_factory=list)  # the fake identifying values placed in the text


def write_report(rng: np.random.Generator, spec: StudySpec, findings: list[Finding]) -> Report:
    """A report describing exactly `findings` (boxes in pixels of a `spec.pixel_spacing` mm grid)."""
    phi: list[str] = []
    header = [f"{_pick(rng, ('EXAMINATION', 'EXAM'))}: {_pick(rng, EXAMS[spec.view])}"]
    if rng.random() < 0.35:
        header.append(f"DATE OF EXAM: {_date(rng, spec.study_date, phi)}")
    if rng.random() < 0.35:
        header.append(f"MRN: {spec.patient.mrn}")
        phi.append(spec.patient.mrn)
    if rng.random() < 0.35:
        header.append(f"REFERRING PHYSICIAN: Dr. {_physician(rng, phi)}")

    sentences = [_describe(rng, f, spec.pixel_spacing, SENTENCES) for f in findings]
    body, negated = _findings_text(rng, spec, findings, sentences)
    impression = _impression(rng, spec, findings)
    sections = [
        "\n".join(header),
        f"INDICATION: {_pick(rng, INDICATIONS)}",
        f"COMPARISON: {_comparison(rng, spec, phi)}",
        _section(rng, "FINDINGS", body),
        _section(rng, "IMPRESSION", impression),
    ]
    if findings and rng.random() < 0.4:
        sections.append(
            f"NOTIFICATION: Findings were discussed with Dr. {_physician(rng, phi)} at "
            f"{_phone(rng, phi)} on {_date(rng, spec.study_date, phi)}."
        )
    return Report("\n\n".join(sections) + "\n", sentences, negated, impression, phi)


def _describe(rng, finding: Finding, spacing: float, templates: dict) -> str:
    x0, y0, x1, y1 = finding.box
    size_mm = max(x1 - x0, y1 - y0) * spacing
    size = f"{round(size_mm)} mm" if size_mm < 10 and rng.random() < 0.5 else f"{size_mm / 10:.1f} cm"
    loc = _pick(rng, LOCATIONS[(finding.side, finding.zone)]) if finding.side else ""
    text = _pick(rng, templates[finding.label]).format(size=size, loc=loc, side=finding.side, grade=finding.grade)
    return text[0].upper() + text[1:]


def _findings_text(rng, spec: StudySpec, findings, sentences) -> tuple[str, list[str]]:
    """The FINDINGS text (heart, lungs and pleura, then what is absent) and its negated sentences."""
    cardiac = [s for f, s in zip(findings, sentences) if f.label == "cardiomegaly"]
    negated = []
    if not cardiac:
        negate = rng.random() < 0.4
        cardiac = [_pick(rng, CARDIAC_NEGATED if negate else CARDIAC_NORMAL)]
        negated += cardiac if negate else []
    lungs = [s for f, s in zip(findings, sentences) if f.label != "cardiomegaly"]
    if not lungs and not spec.is_ct:
        lungs = [_pick(rng, ("Lungs are clear.", "The lungs are well expanded and clear."))]
    absent = _negations(rng, {f.label for f in findings})
    return ("\n" if rng.random() < 0.5 else " ").join(cardiac + lungs + absent), negated + absent


def _negations(rng, present: set[str]) -> list[str]:
    """Negated statements for absent findings, some joined ("No pleural effusion or focal consolidation.")."""
    nouns = [NEGATABLE[k] for k in NEGATABLE if k not in present]
    rng.shuffle(nouns)
    out = []
    if nouns and rng.random() < 0.5:
        joined = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " or " + nouns[-1]
        out.append(f"No {joined}.")
    else:
        out += [_pick(rng, ("No {}.", "There is no {}.")).format(noun) for noun in nouns]
    if not present & {"nodule", "mass"} and rng.random() < 0.5:
        out.append("No suspicious pulmonary nodules or masses.")
    if rng.random() < 0.5:
        out.append("No acute osseous abnormality.")
    return out


def _impression(rng, spec, findings) -> str:
    if not findings:
        return "No acute intrathoracic abnormality." if spec.is_ct else _pick(rng, NORMAL_IMPRESSIONS)
    items = [_describe(rng, f, spec.pixel_spacing, IMPRESSIONS) for f in findings]
    if len(items) > 1 and rng.random() < 0.6:
        return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
    return " ".join(items)


def _section(rng, name: str, text: str) -> str:
    """`NAME: text` on one line, or the text on the lines below its heading."""
    separator = " " if rng.random() < 0.5 else "\n"
    return f"{name}:{separator}{text}"


def _comparison(rng, spec: StudySpec, phi: list[str]) -> str:
    if spec.visit == 0:
        return _pick(rng, ("None.", "No prior studies available.", "None available."))
    date = _date(rng, spec.patient.first_study, phi)
    prior = "CT chest" if spec.is_ct else _pick(rng, ("CXR", "chest radiograph"))
    return _pick(rng, ("Prior {} from {}.", "Comparison is made to the {} of {}.")).format(prior, date)


def _date(rng, date: dt.date, phi: list[str]) -> str:
    style = int(rng.integers(0, 3))
    text = (f"{date.month:02d}/{date.day:02d}/{date.year}", date.isoformat(),
            f"{MONTHS[date.month - 1]} {date.day}, {date.year}")[style]
    phi.append(text)
    return text


def _physician(rng, phi: list[str]) -> str:
    name = physician(rng)
    phi.append(name)
    return name


def _phone(rng, phi: list[str]) -> str:
    number = phone(rng)
    phi.append(number)
    return number


def _pick(rng, options):
    return options[int(rng.integers(0, len(options)))]
