"""Finding mentions of a parsed sentence: the finding, where it is, whether it is negated or uncertain.

Findings stated together ("effusion or pneumothorax") form a group; location phrases ("right upper and lower
lung zones") attach to the group they premodify ("right lower lobe consolidation"), else to the group before them
when a preposition leads to them ("opacity in the right lower zone"), else to the nearest group in the statement;
findings joined by "with" share what they lack ("left effusion with adjacent basilar atelectasis").
Each group's clause of the sentence is the text of its mentions; findings of opposite polarity never share a group
or a clause ("a nodular pattern and no interstitial oedema": the negative is "no interstitial oedema"). A clause
that is not about the image (the patient's story, an earlier study: annotators/statements.py) gives no mentions;
"the patient" and the like are a cue only in narratives (captions, case notes). A bracketed aside that names no
finding or place ("(arrows)", "(arrowheads in A)", "(a, b)": a figure's pointers) is read past, as if not there, when
findings and places are linked and clauses bounded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from spacy.tokens import Doc, Span

from annotators.lexicon import FINDING, LOCATION, ZONES, Lexicon, Place
from annotators.statements import about_the_image

MAX_PREMODIFIER_GAP = 4  # words between a location and the finding it modifies ("left ... patchy consolidation")
MAX_PREPOSITION_GAP = 6  # words between a finding and a location led by a preposition
MAX_NEAREST_GAP = 8  # words between a finding and a location with neither link
MAX_GROUP_GAP = 4  # words between findings of one group
MAX_RESTATING_GAP = 7  # words between a finding and its restatement ("..., compatible with consolidation")
MAX_JOINERS = 3  # words between location terms of one phrase
MAX_DEPENDENT_GAP = 10  # words between a finding and one that hangs on it by "with"
LOBAR_ANATOMY = ("lobe", "lingula")
GENERIC_HEADS = ("lesion",)  # "consolidation lesion" is a consolidation
# Findings of the lung parenchyma: a zone word alone places them in the lung fields ("a predominantly lower
# distribution"); a nodule, mass or lesion may be anywhere ("lower pole").
LUNG_FINDINGS = ("opacity", "consolidation", "ild", "atelectasis", "infiltration", "edema", "fibrosis", "emphysema")
ASIDE = "\x00"  # in place of the words of a bracketed aside (_without_asides)
MAX_ASIDE = 6  # words inside the brackets of an aside ("(arrow, Fig. 1a)")


@dataclass(frozen=True)
class Mention:
    label: str
    laterality: str  # "left" | "right" | "bilateral" | "" (patient side)
    zone: str  # lung zones in ZONES order joined by ","; "" when not stated
    anatomy: str
    negated: bool
    uncertain: bool
    text: str  # the clause that states it
    sentence: str  # its sentence, or the clause when the rest of the sentence is not about the image


@dataclass
class _Group:
    findings: list[Span]
    runs: list[list[Span]] = field(default_factory=list)  # the location phrases attached to it
    lent: Place | None = None  # the place of a group joined to it by "with" (_share_locations)

    @property
    def place(self) -> Place:
        """Where its findings are: its location phrases, else the lent place; the lent side when they name none."""
        runs = sorted(self.runs, key=lambda r: r[0].start)
        lung = any(f.ent_id_ in LUNG_FINDINGS for f in self.findings)
        own = _combined([[Place.from_key(p.ent_id_) for p in run] for run in runs], lung)
        if self.lent is None or own.laterality:
            return own
        return self.lent if not runs else replace(own, laterality=self.lent.laterality)

    @property
    def places(self) -> list[Span]:
        return [p for run in self.runs for p in run]

    @property
    def negated(self) -> bool:
        return bool(self.findings[0]._.negex)

    @property
    def start(self) -> int:
        return min(s.start for s in self.findings + self.places)

    @property
    def end(self) -> int:
        return max(s.end for s in self.findings + self.places)


def doc_mentions(doc: Doc, lexicon: Lexicon, narrative: bool = False) -> list[Mention]:
    """The mentions of every sentence of a parsed text about the image (entities and words are read once per text);
    `narrative`: the text is a caption or case notes (annotators.statements.about_the_image)."""
    ents = doc.ents
    if not any(e.label_ == FINDING for e in ents):
        return []
    strings, text = doc.vocab.strings, doc.text  # Doc.text is rebuilt on every access
    words = [strings[key] for key in doc.to_array("LOWER").tolist()]
    links = _without_asides(words, ents, lexicon.hard_breaks)
    mentions, i = [], 0
    for sent in doc.sents:
        own = []
        while i < len(ents) and ents[i].start < sent.end:
            own.append(ents[i])
            i += 1
        mentions += _sentence_mentions(sent, own, text, (words, links), lexicon, narrative)
    return mentions


def _without_asides(words: list[str], ents: tuple[Span, ...], hard_breaks: frozenset[str]) -> list[str]:
    """`words` with each bracketed aside as ASIDE: a few words in brackets that name no finding or place and hold no
    clause of their own ("(arrows)", "(+ in B)"; not "(although a supine projection)")."""
    named = [False] * len(words)
    for e in ents:
        named[e.start:e.end] = [True] * (e.end - e.start)
    out, opened = list(words), None
    for i, word in enumerate(words):
        if word == "(":
            opened = i
        elif word == ")" and opened is not None:
            inside = words[opened + 1:i]
            if len(inside) <= MAX_ASIDE and not any(named[opened:i]) and not any(w in hard_breaks for w in inside):
                out[opened:i + 1] = [ASIDE] * (i + 1 - opened)
            opened = None
    return out


def _between(words: list[str], a: int, b: int) -> list[str]:
    """The words from a to b, asides left out."""
    return [w for w in words[a:b] if w != ASIDE]


def _sentence_mentions(sent: Span, ents: list[Span], text: str, both: tuple[list[str], list[str]], lexicon: Lexicon,
                       narrative: bool) -> list[Mention]:
    """`both`: the text's words as they are, and with asides (for linking findings, places and clauses)."""
    findings = _heads([e for e in ents if e.label_ == FINDING])
    if not findings:
        return []
    words, links = both
    places = [e for e in ents if e.label_ == LOCATION]
    groups = _groups(links, findings, places, lexicon)
    for run in _location_runs(links, places, lexicon):
        target = _attachment(links, run, groups, lexicon)
        if target is not None:
            target.runs.append(run)
    _share_locations(links, groups, lexicon)
    sentence = text[sent.start_char:sent.end_char].strip()
    whole = about_the_image(words[sent.start:sent.end], lexicon.cues, narrative)
    mentions = []
    for group, (a, b) in zip(groups, _clauses(sent, links, groups, lexicon)):
        if not about_the_image(words[a:b], lexicon.cues, narrative):
            continue
        clause = _trimmed(sent.doc, text, words, a, b, lexicon)
        place = group.place
        seen = set()
        for finding in group.findings:
            if finding.ent_id_ in seen:
                continue
            seen.add(finding.ent_id_)
            mentions.append(Mention(finding.ent_id_, place.laterality, ",".join(place.zones), place.anatomy,
                                    bool(finding._.negex), bool(finding._.uncertain), clause,
                                    sentence if whole else clause))
    return mentions


def _heads(findings: list[Span]) -> list[Span]:
    """Of two adjacent finding words keep the head ("nodular consolidation" -> consolidation), unless the head is
    generic ("consolidation lesion" -> consolidation)."""
    kept: list[Span] = []
    for finding in findings:
        if kept and kept[-1].end == finding.start:
            if finding.ent_id_ in GENERIC_HEADS:
                continue
            kept.pop()
        kept.append(finding)
    return kept


def _groups(words: list[str], findings: list[Span], places: list[Span], lexicon: Lexicon) -> list[_Group]:
    """Findings of one polarity joined only by "and" / "or" / commas / adjectives, or restated as a diagnosis, share
    a group."""
    groups = [_Group([findings[0]])]
    for finding in findings[1:]:
        if bool(finding._.negex) != groups[-1].negated:
            groups.append(_Group([finding]))
            continue
        gap = _between(words, groups[-1].end, finding.start)
        listed = len(gap) <= MAX_GROUP_GAP and not any(w in lexicon.phrase_stops for w in gap) and not any(
            groups[-1].end <= p.start < finding.start for p in places
        )
        if listed or _restates(gap, lexicon):
            groups[-1].findings.append(finding)
        else:
            groups.append(_Group([finding]))
    return groups


def _restates(gap: list[str], lexicon: Lexicon) -> bool:
    """Whether the words between two findings restate the first as the second: a restating phrase, no hard break
    but the "which" that leads it ("opacity, which may reflect pneumonia")."""
    if len(gap) > MAX_RESTATING_GAP:
        return False
    for phrase in lexicon.restating_phrases:
        at = next((i for i in range(len(gap)) if tuple(gap[i:i + len(phrase)]) == phrase), None)
        if at is not None:
            lead = at - 1 if gap[at - 1:at] == ["which"] else at
            return not any(w in lexicon.hard_breaks for w in gap[:lead] + gap[at + len(phrase):])
    return False


def _location_runs(words: list[str], places: list[Span], lexicon: Lexicon) -> list[list[Span]]:
    runs: list[list[Span]] = []
    for place in places:
        gap = _between(words, runs[-1][-1].end, place.start) if runs else None
        if gap is not None and len(gap) <= MAX_JOINERS and all(w in lexicon.location_joiners for w in gap):
            runs[-1].append(place)
        else:
            runs.append([place])
    return runs


def _attachment(words: list[str], run: list[Span], groups: list[_Group], lexicon: Lexicon) -> _Group | None:
    """The group a location phrase belongs to: the one it premodifies, else the one before it when a
    preposition leads to it, else the nearest one within the statement. Never across a barrier ("without")."""
    start, end = run[0].start, run[-1].end
    following = [(f.start, g) for g in groups for f in g.findings if f.start >= end]
    preceding = [(max(s.end for s in g.findings + g.places if s.end <= start), g)
                 for g in groups if any(f.end <= start for f in g.findings)]
    after = min(following, key=lambda c: c[0], default=None)
    before = max(preceding, key=lambda c: c[0], default=None)
    if after and not _blocked(gap := _between(words, end, after[0]), lexicon):
        stops = lexicon.phrase_stops | lexicon.clause_starts
        if len(gap) <= MAX_PREMODIFIER_GAP and not any(w in stops for w in gap):
            return after[1]
    if before and not _blocked(gap := _between(words, before[0], start), lexicon):
        if len(gap) <= MAX_PREPOSITION_GAP and (not gap or any(w in lexicon.location_prepositions for w in gap)):
            return before[1]
    nearest = []
    if before:
        gap = _between(words, before[0], start)
        nearest.append((len(gap), gap, before[1]))
    if after:  # forwards across a clause start only with nothing before, or into a restatement
        gap = _between(words, end, after[0])
        if before is None or not any(w in lexicon.clause_starts for w in gap) or _restates(gap, lexicon):
            nearest.append((len(gap), gap, after[1]))
    for distance, gap, group in sorted(nearest, key=lambda c: c[0]):
        if distance <= MAX_NEAREST_GAP and not _blocked(gap, lexicon):
            return group
    return None


def _blocked(gap: list[str], lexicon: Lexicon) -> bool:
    return any(w in lexicon.hard_breaks or w in lexicon.location_barriers for w in gap)


def _share_locations(words: list[str], groups: list[_Group], lexicon: Lexicon) -> None:
    """A group that hangs on the previous one by "with" takes that group's location (and statement) when it names
    none, else its side when it names none ("left effusion with adjacent basilar atelectasis"); a group without a
    location takes the one that ends the group hanging on it ("consolidation with air bronchograms in the right
    lower lobe"), each keeping its statement."""
    for previous, group in zip(groups, groups[1:]):
        gap = _between(words, previous.end, group.start)
        if "with" not in gap or len(gap) > MAX_DEPENDENT_GAP or _blocked(gap, lexicon):
            continue
        if not group.runs:
            group.runs = list(previous.runs)
        elif not previous.runs and group.runs[0][0].start >= group.findings[-1].end:
            previous.lent = group.place
        else:
            group.lent = previous.place


def _clauses(sent: Span, words: list[str], groups: list[_Group], lexicon: Lexicon) -> list[tuple[int, int]]:
    """Each group's clause (token bounds): a new clause starts at the first clause start after a group, or, between
    groups of opposite polarity, at the negation word before the second ("without", "no") or at its start; groups
    with neither between them share one. Hard breaks ("but", ";") around a group bound its clause."""
    segments = [[sent.start, sent.end]]
    for left, right in zip(groups, groups[1:]):
        starts = [i for i in range(left.end, right.start) if words[i] in lexicon.clause_starts]
        if not starts and left.negated != right.negated:
            cues = [i for i in range(left.end, right.start) if words[i] in lexicon.location_barriers]
            starts = [cues[0] if cues and right.negated else right.start]
        segments.append([starts[0], sent.end] if starts else segments[-1])
        segments[-2][1] = segments[-1][0] if starts else segments[-2][1]
    clauses = []
    for group, (a, b) in zip(groups, segments):
        breaks_before = [i for i in range(a, group.start) if words[i] in lexicon.hard_breaks]
        breaks_after = [i for i in range(group.end, b) if words[i] in lexicon.hard_breaks]
        clauses.append((breaks_before[-1] + 1 if breaks_before else a, breaks_after[0] if breaks_after else b))
    return clauses


PLACEHOLDER = re.compile(r"\[[A-Z]+\]")  # what de-identification put in place of an identifier: [NAME], [DATE]


def _trimmed(doc: Doc, text: str, words: list[str], a: int, b: int, lexicon: Lexicon) -> str:
    """The text of tokens a..b without leading or trailing punctuation and clause starts."""
    def loose(i: int) -> bool:
        return words[i] in lexicon.clause_starts or not any(ch.isalnum() for ch in words[i])

    while a < b and loose(a):
        a += 1
    while b > a and loose(b - 1):
        b -= 1
    if a == b:
        return ""
    start, end = doc[a].idx, doc[b - 1].idx + len(doc[b - 1])
    if start and PLACEHOLDER.match(text, start - 1):  # "[NAME] reviewed ...": the placeholder keeps its bracket
        start -= 1
    if text.startswith("]", end) and PLACEHOLDER.fullmatch(text, text.rfind("[", start, end), end + 1):
        end += 1
    if text.startswith(")", end) and text.count("(", start, end) > text.count(")", start, end):
        end += 1  # "consolidation (white arrows)" keeps the bracket it opened
    opened = text.rfind("(", start, end)
    if opened > start and ")" not in text[opened:end]:  # cut inside a bracket ("nodules (arrows; ...)"): before it
        end = len(text[start:opened].rstrip()) + start
    return text[start:end]


def _combined(runs: list[list[Place]], lung_finding: bool = False) -> Place:
    """One place from a group's location phrases: both sides make bilateral; zones count only in lung fields (named,
    or, for a finding of the lung itself, where no organ outside them is: "opacities with a lower distribution");
    the anatomy is the first most specific structure: an organ outside the lung fields (the "lobe" of a liver is
    the liver's), then a lobe, then another lung-field structure (hilum, apex, ...), then the lung."""
    places = [p for run in runs for p in run]
    sides = {p.laterality for p in places} - {""}
    laterality = "bilateral" if "bilateral" in sides or len(sides) > 1 else next(iter(sides), "")
    named = [p for p in places if p.anatomy]
    lung_field = any(p.lung_field for p in places) or (lung_finding and all(p.lung_field for p in named))
    zones = tuple(z for z in ZONES if lung_field and any(z in p.zones for p in places))
    anatomy = min(named, key=_anatomy_rank).anatomy if named else ""
    return Place(laterality, zones, anatomy, lung_field)


def _anatomy_rank(place: Place) -> int:
    if not place.lung_field:
        return 0
    if place.anatomy in LOBAR_ANATOMY:
        return 1
    return 3 if place.anatomy == "lung" else 2
