"""Report understanding: sections, the global text, region-level descriptions and hard negatives of a report.

Region-level descriptions are the positive finding mentions of the findings and impression sections that are about
the image (not the patient's story, not an earlier study; an impression mention that restates a findings mention,
same finding in a place that does not disagree, is left out); negated mentions become negatives, each the negated
clause alone. The global text is the impression, else the sentences stating positive findings, else the findings'
sentences about the image; never history or administration. Any input is read (annotators.report_text: cleaned,
capped at MAX_REPORT_CHARS with `truncated` set). The build parses de-identified sections (`parse_sections`, after
the pipeline's `deidentify` stage); `parse` and `parse_many` take raw text and do not de-identify it.
"""
from __future__ import annotations

from dataclasses import dataclass

from annotators.lexicon import LEXICON_PATH, load_lexicon
from annotators.mentions import Mention, doc_mentions
from annotators.report_nlp import build_nlp, quiet_scispacy
from annotators.report_text import report_text
from annotators.sections import Sections, split_sections
from annotators.statements import image_sentences

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
    global_text: str  # impression, else the sentences stating positive findings, else the findings about the image
    descriptions: tuple[Description, ...]
    negatives: tuple[str, ...]
    truncated: bool = False  # the input was longer than report_text.MAX_REPORT_CHARS and was cut at a sentence end


class ReportParser:
    """spaCy + scispaCy report parser; uses `scispacy_model`'s entities too when that model is installed."""

    def __init__(self, scispacy_model: str | None = None):
        self.lexicon = load_lexicon()
        self.nlp = build_nlp(LEXICON_PATH, scispacy_model)

    def parse(self, text: str, style: str = "radiology") -> ParsedReport:
        return self.parse_many([text], [style])[0]

    def parse_many(self, texts: list[str], styles: list[str]) -> list[ParsedReport]:
        """One parse per text; any text is read (a style outside sections.STYLES is a ValueError)."""
        if len(texts) != len(styles):
            raise ValueError(f"{len(texts)} texts but {len(styles)} styles")
        read = [report_text(text) for text in texts]
        sections = [split_sections(r.text, style) for r, style in zip(read, styles)]
        return self.parse_sections(sections, [r.truncated for r in read])

    def parse_sections(self, sections: list[Sections], truncated: list[bool]) -> list[ParsedReport]:
        """One parse per report's sections (`truncated`: whether each report was cut, see report_text)."""
        found = self._mentions([body for s in sections for body in (s.findings, s.impression)])
        return [_report(s, found[2 * i], found[2 * i + 1][0], cut)
                for i, (s, cut) in enumerate(zip(sections, truncated))]

    def mentions(self, text: str, style: str = "caption") -> list[Mention]:
        """Every finding mention of the findings and impression sections, negated ones included."""
        s = split_sections(report_text(text).text, style)
        return [m for mentions, _ in self._mentions([s.findings, s.impression]) for m in mentions]

    def _mentions(self, bodies: list[str]) -> list[tuple[list[Mention], list[str]]]:
        """The mentions of each text, and its sentences about the image when no mention is positive; empty texts
        skip the pipeline."""
        filled = [i for i, body in enumerate(bodies) if body]
        found: list[tuple[list[Mention], list[str]]] = [([], []) for _ in bodies]
        with quiet_scispacy():
            docs = self.nlp.pipe((bodies[i] for i in filled), batch_size=PIPE_BATCH_SIZE)
            for i, doc in zip(filled, docs):
                mentions = doc_mentions(doc, self.lexicon)
                plain = [] if any(not m.negated for m in mentions) else image_sentences(doc, self.lexicon.cues)
                found[i] = (mentions, plain)
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


def _report(sections: Sections, parsed_findings: tuple[list[Mention], list[str]], impression: list[Mention],
            truncated: bool) -> ParsedReport:
    findings, plain = parsed_findings
    positive = [m for m in findings if not m.negated]
    positive += [m for m in impression if not m.negated and not _restates(m, positive)]
    descriptions = tuple(dict.fromkeys(_description(m) for m in positive))
    negatives = tuple(dict.fromkeys(m.text for m in findings + impression if m.negated))
    summary = " ".join(dict.fromkeys(m.sentence for m in positive))
    return ParsedReport(
        findings=sections.findings,
        impression=sections.impression,
        other=sections.other,
        global_text=sections.impression or summary or " ".join(plain),
        descriptions=descriptions,
        negatives=negatives,
        truncated=truncated,
    )
