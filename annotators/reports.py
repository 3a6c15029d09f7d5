"""Report understanding: sections, the global text, region-level descriptions and hard negatives of a report.

Region-level descriptions are the positive finding mentions of the findings and impression sections (an
impression mention that restates a findings mention, same finding in a place that does not disagree, is left
out); negated mentions become negatives. The build parses de-identified sections (`parse_sections`, after the
pipeline's `deidentify` stage); `parse` and `parse_many` take raw text.
"""
from __future__ import annotations

from dataclasses import dataclass

from annotators.lexicon import LEXICON_PATH, load_lexicon
from annotators.mentions import Mention, doc_mentions
from annotators.report_nlp import build_nlp, quiet_scispacy
from annotators.sections import Sections, split_sections

PIPE_BATCH_SIZE = 256


@dataclass(frozen=True)
class Description:
    """One positive region-level statement."""

    text: str
    label: str
    laterality: str  # "left" | "right" | "bilateral" | "" (patient side)
    zone: str
    anatomy: str
    uncertain: bool


@dataclass(frozen=True)
class ParsedReport:
    findings: str
    impression: str
    other: str
    global_text: str  # impression, else the sentences stating positive findings, else the whole text
    descriptions: tuple[Description, ...]
    negatives: tuple[str, ...]


class ReportParser:
    """spaCy + scispaCy report parser; uses `scispacy_model`'s entities too when that model is installed."""

    def __init__(self, scispacy_model: str | None = None):
        self.lexicon = load_lexicon()
        self.nlp = build_nlp(LEXICON_PATH, scispacy_model)

    def parse(self, text: str, style: str = "radiology") -> ParsedReport:
        return self.parse_many([text], [style])[0]

    def parse_many(self, texts: list[str], styles: list[str]) -> list[ParsedReport]:
        if len(texts) != len(styles):
            raise ValueError(f"{len(texts)} texts but {len(styles)} styles")
        return self.parse_sections([split_sections(text, style) for text, style in zip(texts, styles)])

    def parse_sections(self, sections: list[Sections]) -> list[ParsedReport]:
        mentions = self._mentions([body for s in sections for body in (s.findings, s.impression)])
        return [_report(s, mentions[2 * i], mentions[2 * i + 1]) for i, s in enumerate(sections)]

    def mentions(self, text: str, style: str = "caption") -> list[Mention]:
        """Every finding mention of the findings and impression sections, negated ones included."""
        s = split_sections(text, style)
        return [m for found in self._mentions([s.findings, s.impression]) for m in found]

    def _mentions(self, bodies: list[str]) -> list[list[Mention]]:
        """The mentions of each text; empty texts skip the pipeline."""
        filled = [i for i, body in enumerate(bodies) if body]
        found: list[list[Mention]] = [[] for _ in bodies]
        with quiet_scispacy():
            docs = self.nlp.pipe((bodies[i] for i in filled), batch_size=PIPE_BATCH_SIZE)
            for i, doc in zip(filled, docs):
                found[i] = doc_mentions(doc, self.lexicon)
        return found


def _description(m: Mention) -> Description:
    return Description(m.text, m.label, m.laterality, m.zone, m.anatomy, m.uncertain)


def _restates(m: Mention, stated: list[Mention]) -> bool:
    """Whether a mention repeats one already stated: same finding, and side and zones that do not disagree."""
    return any(
        m.label == s.label
        and (m.laterality == s.laterality or not m.laterality or not s.laterality)
        and (not m.zone or not s.zone or bool(set(m.zone.split(",")) & set(s.zone.split(","))))
        for s in stated
    )


def _report(sections: Sections, findings: list[Mention], impression: list[Mention]) -> ParsedReport:
    positive = [m for m in findings if not m.negated]
    positive += [m for m in impression if not m.negated and not _restates(m, positive)]
    descriptions = tuple(dict.fromkeys(_description(m) for m in positive))
    negatives = tuple(dict.fromkeys(m.text for m in findings + impression if m.negated))
    summary = " ".join(dict.fromkeys(m.sentence for m in positive))
    whole = sections.findings or sections.other
    return ParsedReport(
        findings=sections.findings,
        impression=sections.impression,
        other=sections.other,
        global_text=sections.impression or summary or whole,
        descriptions=descriptions,
        negatives=negatives,
    )
