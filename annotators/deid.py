"""De-identification of report text: dates, times, phone and record numbers, e-mail, names after titles.

Each finding is replaced by a neutral placeholder ([DATE], [TIME], [PHONE], [ID], [EMAIL], [NAME]); MIMIC's
"___" (identifiers removed upstream) is kept as it is. Clinical numbers (sizes, levels, ratios such as "2/3",
units such as "ms") are left alone: rules anchor on separators, month names, labels and title words.
"""
from __future__ import annotations

import re

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_RECORD_LABELS = (
    r"mrn|medical record(?: number| no\.?| #)?|record(?: number| no\.?| #)|accession(?: number| no\.?| #)?|"
    r"patient id|pt id|study id|unit no\.?|case(?: number| no\.?| #)|admission(?: number| no\.?| #)|id|acc"
)
# Titles in the case they are written in (so "ms" as a unit or "MS" for multiple sclerosis stay).
_TITLES = r"(?:Dr|DR|Mr|MR|Mrs|MRS|Ms|Mx|Miss|MISS|Prof|PROF|Doctor|DOCTOR|Dres|Drs)"
_NAME_WORD = r"[A-Z][A-Za-z'\u2019-]+"

_RULES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), placeholder)
    for pattern, placeholder in (
        (r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b", "[EMAIL]"),
        (r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b", "[DATE]"),
        (r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b", "[DATE]"),
        (rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b", "[DATE]"),
        (rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?\s+\d{{4}}\b", "[DATE]"),
        (rf"\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?!\s*(?:mm|cm|mg|ml|%))", "[DATE]"),
        (rf"\b{_MONTHS}\s+\d{{4}}\b", "[DATE]"),
        (r"\b((?:on|dated?)\s+)\d{1,2}/\d{1,2}\b(?!/)", r"\1[DATE]"),
        (r"\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s*[ap]\.?m\.?)?(?=\W|$)", "[TIME]"),
        (r"\b\d{1,2}\s*[ap]\.?m\.?(?=\W|$)", "[TIME]"),
        (r"\b(?:[01]\d|2[0-3])[0-5]\d\s*(?:hours|hrs|h)\b", "[TIME]"),
        (r"(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b", "[PHONE]"),
        (r"\b(?:pager|beeper|pgr|ext\.?|extension)\s*(?:no\.?|#|:)?\s*\d{3,6}\b", "[PHONE]"),
        (rf"\b(?:{_RECORD_LABELS})\s*[:#]?\s*[A-Z]*\d[\w-]*", "[ID]"),
        (r"\b\d{6,}\b", "[ID]"),
    )
) + (
    # Names are matched on their capital letters (case-sensitive) so "dr" in words and lower-case text stay.
    (re.compile(rf"\b{_TITLES}\.?\s+(?:{_NAME_WORD}\.?\s+){{0,2}}{_NAME_WORD}"), "[NAME]"),
)


def scrub_text(text: str) -> str:
    """`text` with dates, times, phone and record numbers, e-mail addresses and titled names replaced."""
    if not text:
        return ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return text
