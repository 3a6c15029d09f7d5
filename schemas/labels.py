"""The corpus's finding vocabulary and the names sources use for its labels.

Every box label in a shard is one of `FINDINGS`, `ANATOMY` or a lung part (`lung_part_label`, the regions
that alignment derives from the lung boxes); connectors map their source's class names through
`canonical_label`, and a detector's class ids index its class set (`CLASS_SETS`).
"""
from __future__ import annotations

FINDINGS = (
    "nodule",
    "mass",
    "consolidation",
    "effusion",
    "pneumothorax",
    "cardiomegaly",
    "atelectasis",
    "opacity",
    "infiltration",
    "edema",
    "fibrosis",
    "emphysema",
    "calcification",
    "fracture",
    "pleural_thickening",
    "aortic_enlargement",
    "ild",
    "lesion",
    "other",
)
ANATOMY = ("right_lung", "left_lung")
BOTH_LUNGS = "both_lungs"  # the box around both lungs, for bilateral descriptions (derived, never detected)

# Source class names (lower-cased) -> canonical label. Names already canonical need no entry.
SYNONYMS = {
    "lung nodule": "nodule",
    "nodule/mass": "nodule",
    "pleural effusion": "effusion",
    "pleural thickening": "pleural_thickening",
    "aortic enlargement": "aortic_enlargement",
    "lung opacity": "opacity",
    "pulmonary fibrosis": "fibrosis",
    "other lesion": "lesion",
    "diffuse nodule": "nodule",
    "calcified nodule": "calcification",
    "right lung": "right_lung",
    "left lung": "left_lung",
    "pneumonia": "consolidation",
    "ild": "ild",
    "interstitial lung disease": "ild",
    "enlarged cardiomediastinum": "cardiomegaly",
    "infiltrate": "infiltration",
}

# The sample corpus's lesion kinds, in detector class-id order.
DETECTOR_CLASSES = ("nodule", "mass", "consolidation", "effusion", "pneumothorax", "cardiomegaly")
# The class sets a detector can be trained on (`medregion export-yolo --classes`), each in class-id order.
CLASS_SETS = {"findings": DETECTOR_CLASSES, "anatomy": ANATOMY}


def lung_part_label(lung: str, zones: tuple[str, ...] = ()) -> str:
    """The label of a part of `lung` (right_lung, left_lung or both_lungs): its zones (contiguous, top to bottom:
    annotators.lexicon.ZONES) joined, e.g. right_lung_lower, both_lungs_upper_middle; the lung without zones."""
    return "_".join((lung, *zones))


def lung_of(label: str) -> str:
    """The lung a lung box or lung part label belongs to (right_lung, left_lung, both_lungs); "" for others."""
    return next((lung for lung in (*ANATOMY, BOTH_LUNGS) if label == lung or label.startswith(f"{lung}_")), "")


def canonical_label(name: str) -> str:
    """Map a source's class name to the vocabulary; unknown names become "other"."""
    key = " ".join(name.strip().lower().replace("_", " ").split())
    if key.replace(" ", "_") in FINDINGS + ANATOMY:
        return key.replace(" ", "_")
    return SYNONYMS.get(key, "other")
