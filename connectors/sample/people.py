"""Fake identities for the sample source: patients, physicians, institutions, phone numbers.

All of it is invented; it is planted in reports and DICOM headers so de-identification is tested for real.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

GIVEN_NAMES = (
    "Alan", "Maria", "James", "Linda", "Robert", "Susan", "Michael", "Karen", "David", "Nancy", "Thomas",
    "Helen", "Daniel", "Sandra", "Paul", "Carol", "Mark", "Ruth", "George", "Sharon", "Kevin", "Laura",
    "Brian", "Emily", "Edward", "Donna", "Ronald", "Janet", "Peter", "Grace", "Victor", "Irene",
)
FAMILY_NAMES = (
    "Reed", "Chen", "Novak", "Okafor", "Halvorsen", "Morales", "Brennan", "Whitlock", "Castellano", "Dubois",
    "Fairbanks", "Gallagher", "Hargrove", "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Mercer", "Nakamura",
    "Oyelaran", "Pemberton", "Quintero", "Rasmussen", "Sorensen", "Thornbury", "Underhill", "Valdivia",
    "Westbrook", "Yilmaz", "Zeller", "Ashworth", "Blackwood",
)
INSTITUTIONS = (
    "St. Elsewhere General Hospital",
    "Mercy Valley Medical Center",
    "Northgate Community Hospital",
    "Riverside Imaging Clinic",
    "Lakeshore University Hospital",
    "Pine Ridge Regional Medical Center",
)
AREA_CODES = ("212", "312", "415", "503", "617", "713", "804", "919")


@dataclass(frozen=True)
class Patient:
    patient_id: str
    given: str
    family: str
    sex: str  # M | F
    birth_date: dt.date
    mrn: str
    first_study: dt.date

    @property
    def dicom_name(self) -> str:
        return f"{self.family}^{self.given}"


def make_patient(rng: np.random.Generator, index: int) -> Patient:
    """The fake patient number `index` (rng: that patient's own stream)."""
    birth = dt.date(1935, 1, 1) + dt.timedelta(days=int(rng.integers(0, 65 * 365)))
    return Patient(
        patient_id=f"SAMPLE-P{index:06d}",
        given=str(rng.choice(GIVEN_NAMES)),
        family=str(rng.choice(FAMILY_NAMES)),
        sex=str(rng.choice(("M", "F"))),
        birth_date=birth,
        mrn=str(rng.integers(1_000_000, 10_000_000)),
        first_study=dt.date(2014, 1, 1) + dt.timedelta(days=int(rng.integers(0, 8 * 365))),
    )


def physician(rng: np.random.Generator) -> str:
    """A fake physician's name, "Given Family"."""
    return f"{rng.choice(GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}"


def phone(rng: np.random.Generator) -> str:
    """A fake phone number from the 555-01xx block reserved for fiction."""
    return f"({rng.choice(AREA_CODES)}) 555-01{int(rng.integers(0, 100)):02d}"
