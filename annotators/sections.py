"""Report sections for the styles our sources write, as single-paragraph texts.

`report_parts` cuts a report into (section kind, text) parts; `join_parts` makes them sections of one paragraph
each. De-identification (annotators.deid) runs on the parts in between, each part on its own (pipeline stage
`deidentify`); `split_sections` does both steps, without de-identification.

Styles: "radiology" (MIMIC-like headers), "iu_xray" ("FINDINGS: ...\\nIMPRESSION: ..."), "caption" (ROCO captions;
MedPix's caption followed by its case's "History:", "Findings:", "Diagnosis:" parts) and "notes" (covid_chestxray
clinical notes). Every style reads the same headers: "FINDINGS:" / "Findings:" open the findings, "IMPRESSION:" /
"Diagnosis:" the impression, "History:", "Exam:", "Treatment:" and the like the other part. Unheaded text is findings
in captions and notes (a caption comes before its case's parts), and in radiology reports without a findings header.
Captions and notes keep their lines as sentences (they do not wrap lines).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

STYLES = ("radiology", "iu_xray", "caption", "notes")
HEADERS = {
    "findings": ("findings", "finding", "findings and impression", "report", "description", "caption",
                 "imaging findings", "radiographic findings", "radiological findings", "imaging notes", "imaging note",
                 "imaging"),
    "impression": ("impression", "impressions", "conclusion", "conclusions", "summary", "opinion", "diagnosis",
                   "case diagnosis", "final diagnosis", "imaging diagnosis"),
    "other": ("examination", "exam", "indication", "indications", "history", "clinical history", "technique",
              "physical exam", "physical examination", "labs", "laboratory", "laboratory findings", "treatment",
              "treatment & follow up", "follow up", "follow-up", "outcome", "discussion", "differential diagnosis",
              "differential", "diagnosis by", "title", "label", "clinical notes", "presentation", "symptoms",
              "comparison", "comparisons", "notification", "recommendation", "recommendations", "recommendation(s)",
              "procedure",
              "clinical information", "reason for exam", "reason for examination", "date of exam", "mrn",
              "referring physician", "wet read", "addendum", "attending", "dictated by", "signed by"),
}
BOILERPLATE_LINES = ("final report", "wet read", "preliminary report", "addendum")
# A header opens a line, or (a known name only) follows a sentence end ("... breath. Imaging notes: ..."): words
# then a colon. A known name opens its section; another upper-case name ("LUNGS:") continues the section it is in.
_HEADER = re.compile(r"(?:^|(?<=[.!?]))[ \t]*(?P<name>[A-Za-z][A-Za-z /&()-]{1,40}?)[ \t]*:[ \t]*", re.MULTILINE)
# Paragraph breaks, bullets ("•", and "-", "*", ">>" opening a line) and "1)" items.
_BREAKS = re.compile(r"\n[ \t]*\n|[•\u2022\u25cf]|^[ \t]*(?:[-*]|>>)+|(?:^|\s)\d{1,2}\)\s", re.MULTILINE)
_BREAKS_AND_LINES = re.compile(_BREAKS.pattern + r"|\n", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_REPEATED_STOPS = re.compile(r"\.(?:[ \t]*\.)+")  # "zone.. No effusion" and ". ." end one sentence


@dataclass(frozen=True)
class Sections:
    findings: str
    impression: str
    other: str


def flatten(text: str, lines_are_sentences: bool = False) -> str:
    """One line of text; paragraphs, bullets and "1)" items (and lines, if asked) end with a full stop so they
    stay sentences. Radiology reports wrap lines inside sentences; captions and notes do not."""
    breaks = _BREAKS_AND_LINES if lines_are_sentences else _BREAKS
    pieces = (_REPEATED_STOPS.sub(".", _SPACE.sub(" ", piece)).strip() for piece in breaks.split(text))
    return " ".join(p if p[-1] in ".!?:;" else p + "." for p in pieces if p)


def _kind(name: str) -> str | None:
    """The section a header opens: findings / impression / other; "" to continue the current one; None if the
    words before the colon are no header."""
    key = " ".join(name.lower().split())
    known = next((kind for kind, names in HEADERS.items() if key in names), None)
    return known or ("" if name.isupper() and len(key) > 2 else None)


def _opens_line(text: str, at: int) -> bool:
    return at == 0 or text[at - 1] == "\n"


def _parts(text: str) -> list[tuple[str, str]]:
    """(kind, text) in order. Text before the first header has kind ""; a known header's text is its body
    ("INDICATION: ..." for other sections); an unknown one keeps its name in the findings or impression it
    continues, else it is unheaded text too."""
    lines = (line for line in text.splitlines() if line.strip().lower() not in BOILERPLATE_LINES)
    text = "\n".join(lines)
    headers = [m for m in _HEADER.finditer(text) if _kind(m.group("name")) is not None
               and (_opens_line(text, m.start()) or _kind(m.group("name")))]
    ends = [m.start() for m in headers[1:]] + [len(text)]
    parts, kind = [("", text[: headers[0].start()] if headers else text)], ""
    for m, end in zip(headers, ends):
        name, body = m.group("name").strip(), text[m.end(): end]
        opened = _kind(name)
        kind = opened or (kind if kind in ("findings", "impression") else "")
        if opened in ("", "other"):  # an unknown header, or a section that keeps its name
            body = f"{name.upper() if opened else name}: {body}"
        parts.append((kind, body))
    return [(kind, body) for kind, body in parts if body.strip()]


def report_parts(text: str, style: str) -> list[tuple[str, str]]:
    """(kind, raw text) of each part of a report in order: kind findings / impression / other, or "" for
    unheaded text."""
    if style not in STYLES:
        raise ValueError(f"report style {style!r} is not one of {STYLES}")
    return _parts(text or "")


def join_parts(parts: list[tuple[str, str]], style: str) -> Sections:
    """The findings / impression / other of a report's parts, each one paragraph."""
    lines_are_sentences = style in ("caption", "notes")
    parts = [(kind, flatten(body, lines_are_sentences)) for kind, body in parts]
    if lines_are_sentences or not any(kind == "findings" for kind, _ in parts):  # the unheaded text is findings
        parts = [("findings" if not kind else kind, body) for kind, body in parts]
    joined = {kind: " ".join(body for k, body in parts if k == kind) for kind in ("findings", "impression")}
    other = " ".join(body for kind, body in parts if kind not in ("findings", "impression"))
    return Sections(joined["findings"], joined["impression"], other)


def split_sections(text: str, style: str) -> Sections:
    """Findings / impression / other of one report."""
    return join_parts(report_parts(text, style), style)
