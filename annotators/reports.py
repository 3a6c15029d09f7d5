"""Report understanding: sections, the global text, region-level descriptions and hard negatives of a report.

Region-level descriptions are the positive finding mentions of the findings and impression sections, of clauses
about the image (not the patient's story, not an earlier study; captions and notes are read as narratives). An
impression mention that restates a findings mention (same finding in a place that does not disagree) is left out.
Negated mentions become negatives, each its negated clause alone. The global text is the impression, else the
sentences stating positive findings, else the findings' sentences about the image; never history or
administration. Any input is read (annotators.report_text: cleaned, capped at MAX_REPORT_CHARS with `truncated`
set). The build parses de-identified sections (`parse_sections`, after the pipeline's `deidentify` stage);
`parse` and `parse_many` take raw text and do not de-identify it.
"""
from __future__ import annotations

from dataclasses import dataclass

from annotators.lexicon import LEXICON_PATH, load_lexicon
from annotators.mentions import Mention, doc_mentions
from annotators.report_nlp import build_nlp, quiet_scispacy
from annotators.report_text import cut_point, report_text
from annotators.sections import Sections, split_sections
from annotators.statements import image_sentences

PIPE_BATCH_SIZE = 256
# Styles whose findings are narrative (captions, case notes: history, treatment and findings in one text); in a
# headed radiology report's findings, "the patient has a small effusion" is still a finding.
NARRATIVE_STYLES = ("caption", "notes")
MAX_DOC_CHARS = 4_000  # the longest text one spaCy doc gets: the matchers, abbreviations and negation scopes cost
# more than linear in a doc's length; real findings and impressions are shorter, longer ones are parsed in pieces


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
    # (a radiology report's whole findings section: all of it is)
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
        return self.parse_sections(sections, styles, [r.truncated for r in read])

    def parse_sections(self, sections: list[Sections], styles: list[str], truncated: list[bool]) -> list[ParsedReport]:
        """One parse per report's sections, of its style (`truncated`: whether it was cut, see report_text)."""
        narrative = [style in NARRATIVE_STYLES for style in styles for _ in range(2)]
        found = self._mentions([body for s in sections for body in (s.findings, s.impression)], narrative)
        return [_report(s, found[2 * i], found[2 * i + 1][0], cut, narrative[2 * i])
                for i, (s, cut) in enumerate(zip(sections, truncated))]

    def mentions(self, text: str, style: str = "caption") -> list[Mention]:
        """Every finding mention of the findings and impression sections, negated ones included."""
        s = split_sections(report_text(text).text, style)
        narrative = [style in NARRATIVE_STYLES] * 2
        return [m for mentions, _ in self._mentions([s.findings, s.impression], narrative) for m in mentions]

    def _mentions(self, bodies: list[str], narrative: list[bool]) -> list[tuple[list[Mention], list[str]]]:
        """The mentions of each text (`narrative`: a caption or notes), and its sentences about the image when no
        mention is positive. Empty texts skip the pipeline; a text longer than MAX_DOC_CHARS is parsed in
        pieces cut at sentence ends."""
        pieces = [(i, piece) for i, body in enumerate(bodies) for piece in _pieces(body)]
        mentions: list[list[Mention]] = [[] for _ in bodies]
        plain: list[list[str]] = [[] for _ in bodies]
        with quiet_scispacy():
            docs = self.nlp.pipe((piece for _, piece in pieces), batch_size=PIPE_BATCH_SIZE)
            for (i, _), doc in zip(pieces, docs):
                found = doc_mentions(doc, self.lexicon, narrative[i])
                mentions[i] += found
                if not any(not m.negated for m in mentions[i]):
                    plain[i] += image_sentences(doc, self.lexicon.cues, narrative[i])
        return [(m, [] if any(not x.negated for x in m) else p) for m, p in zip(mentions, plain)]


def _pieces(body: str) -> list[str]:
    """A text in pieces of at most MAX_DOC_CHARS, cut at sentence ends (else spaces)."""
    pieces = []
    while len(body) > MAX_DOC_CHARS:
        end = cut_point(body, MAX_DOC_CHARS)
        pieces.append(body[:end])
        body = body[end:].lstrip()
    return pieces + [body] if body else pieces


def _words(text: str) -> str:
    """A statement's words, case and spacing aside: one description per statement, however many findings it names
    (the first), and a caption's sentence that its case's text repeats is one."""
    return " ".join(text.lower().split())


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
            truncated: bool, narrative: bool) -> ParsedReport:
    """The parse of one report; a radiology report's findings, all about the image, are its global text when nothing
    narrower is ("FINDINGS: No acute cardiopulmonary process."), a narrative's never (its story is no image text)."""
    findings, plain = parsed_findings
    positive = [m for m in findings if not m.negated]
    positive += [m for m in impression if not m.negated and not _restates(m, positive)]
    described: dict[str, Description] = {}
    for m in positive:
        described.setdefault(_words(m.text), _description(m))
    negatives = tuple(dict.fromkeys(m.text for m in findings + impression if m.negated))
    summary = " ".join(dict.fromkeys(m.sentence for m in positive))
    return ParsedReport(
        findings=sections.findings,
        impression=sections.impression,
        other=sections.other,
        global_text=sections.impression or summary or " ".join(plain) or ("" if narrative else sections.findings),
        descriptions=tuple(described.values()),
        negatives=negatives,
        truncated=truncated,
    )
