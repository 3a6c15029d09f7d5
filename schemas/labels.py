"""The corpus's finding vocabulary and the names sources use for its labels.

Every box label in a shard is one of `FINDINGS` or `ANATOMY`; connectors map their source's class names
through `canonical_label`, and the detector's class ids index `DETECTOR_CLASSES`.
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


def canonical_label(name: str) -> str:
    """Map a source's class name to the vocabulary; unknown names become "other"."""
    key = " ".join(name.strip().lower().replace("_", " ").split())
    if key.replace(" ", "_") in FINDINGS + ANATOMY:
        return key.replace(" ", "_")
    return SYNONYMS.get(key, "other")
