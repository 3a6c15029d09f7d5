"""The report lexicon (lexicon.yaml) as matcher patterns, location attributes and negex termsets.

Findings become entities labelled FINDING whose id is the canonical label; locations become entities labelled
LOCATION whose id encodes a `Place` (laterality, zones, anatomy, whether it is thoracic).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import yaml
from negspacy.termsets import termset

from schemas.labels import FINDINGS

LEXICON_PATH = Path(__file__).with_name("lexicon.yaml")
FINDING, LOCATION, IGNORED = "FINDING", "LOCATION", "IGNORED"
ZONES = ("upper", "middle", "lower")
_TERMSET_KEYS = ("pseudo_negations", "preceding_negations", "following_negations", "termination")


@dataclass(frozen=True)
class Place:
    """What a location phrase says: patient side, lung zones (in ZONES order), anatomy, thoracic or not."""

    laterality: str = ""
    zones: tuple[str, ...] = ()
    anatomy: str = ""
    lung_field: bool = False

    def key(self) -> str:
        return "|".join((self.laterality, ",".join(self.zones), self.anatomy, "lung_field" if self.lung_field else ""))

    @classmethod
    @lru_cache(maxsize=None)
    def from_key(cls, key: str) -> Place:
        laterality, zones, anatomy, lung_field = key.split("|")
        return cls(laterality, tuple(z for z in zones.split(",") if z), anatomy, lung_field == "lung_field")


def cue_words(words: list[str]) -> list[str]:
    """Lower-case words with "-" and "/" as spaces, as cues are matched ("45-year-old" -> 45 year old)."""
    return [part for w in words for part in w.lower().replace("-", " ").replace("/", " ").split()]


@dataclass(frozen=True)
class Cues:
    """Words that tell whether a clause is about the image (annotators/statements.py)."""

    clinical_words: frozenset[str]
    narrative_words: frozenset[str]  # clinical only in narratives (captions, case notes)
    clinical_phrases: tuple[str, ...]  # " word word " forms of the multi-word clinical cues (see cue_words)
    hypothetical_words: frozenset[str]
    hypothetical_phrases: tuple[str, ...]
    study_words: frozenset[str]
    temporal_words: frozenset[str]
    prior_cues: frozenset[str]
    prior_verbs: frozenset[str]
    comparison_words: frozenset[str]

    @cached_property
    def any_cue(self) -> frozenset[str]:
        """Every single-word cue that can make a clause not about the image (study words only matter with one)."""
        return self.clinical_words | self.narrative_words | self.hypothetical_words | self.prior_cues

    @cached_property
    def story_words(self) -> frozenset[str]:
        """The clinical words of a narrative: the clinical and the narrative cues."""
        return self.clinical_words | self.narrative_words

    @cached_property
    def phrases(self) -> tuple[str, ...]:
        return self.clinical_phrases + self.hypothetical_phrases

    @classmethod
    def from_data(cls, data: dict) -> Cues:
        clinical, hypothetical = ([" ".join(cue_words(cue.split())) for cue in data[key]]
                                  for key in ("clinical_cues", "hypothetical_cues"))
        return cls(
            clinical_words=frozenset(c for c in clinical if " " not in c),
            narrative_words=frozenset(" ".join(cue_words(c.split())) for c in data["narrative_cues"]),
            clinical_phrases=tuple(f" {c} " for c in clinical if " " in c),
            hypothetical_words=frozenset(c for c in hypothetical if " " not in c),
            hypothetical_phrases=tuple(f" {c} " for c in hypothetical if " " in c),
            **{key: frozenset(w.lower() for w in data[key])
               for key in ("study_words", "temporal_words", "prior_cues", "prior_verbs", "comparison_words")},
        )


@dataclass(frozen=True)
class Lexicon:
    patterns: tuple[dict, ...]
    negation: dict[str, list[str]]  # negspacy termset
    uncertainty: dict[str, list[str]]  # negspacy-shaped termset of uncertainty cues
    location_joiners: frozenset[str]
    phrase_stops: frozenset[str]
    hard_breaks: frozenset[str]
    location_prepositions: frozenset[str]
    location_barriers: frozenset[str]
    clause_starts: frozenset[str]
    restating_phrases: tuple[tuple[str, ...], ...]  # each phrase as its words
    model_entity_labels: dict[str, str]  # a model's entity label -> finding label
    lung_field_anatomy: frozenset[str]  # anatomy names of thoracic locations
    cues: Cues


def plural(phrase: str) -> str:
    """The regular plural of a phrase's last word ("airspace opacity" -> "airspace opacities")."""
    head, _, last = phrase.rpartition(" ")
    if last.isupper():
        last += "s"
    elif re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    elif last.endswith("is"):
        last = last[:-2] + "es"
    elif re.search(r"(s|x|z|ch|sh)$", last):
        last += "es"
    elif re.search(r"[a-z]$", last) and not last.endswith(("ed", "al", "ar", "ic", "ous", "ive")):
        last += "s"
    else:
        return phrase
    return f"{head} {last}" if head else last


def _phrase_patterns(label: str, ent_id: str, phrases: list[str]) -> list[dict]:
    forms = {form for phrase in phrases for form in (phrase, plural(phrase))}
    return [{"label": label, "pattern": form, "id": ent_id} for form in sorted(forms)]


def _place(entry: dict) -> Place:
    zones = tuple(z for z in ZONES if z in str(entry.get("zone", "")).split(","))
    return Place(entry.get("laterality", ""), zones, entry.get("anatomy", ""), bool(entry.get("lung_field", False)))


def _termset(changes: dict, base: dict[str, list[str]]) -> dict[str, list[str]]:
    """A base termset with the changes' additions per key, and without its `not_negations`."""
    removed = set(changes.get("not_negations", []))
    return {key: sorted((set(base.get(key, [])) - removed) | set(changes.get(key, []))) for key in _TERMSET_KEYS}


def _check_unambiguous(patterns: list[dict]) -> None:
    meaning: dict[str, tuple[str, str]] = {}
    for p in patterns:
        if isinstance(p["pattern"], str):
            key = p["pattern"].lower()
            if meaning.setdefault(key, (p["label"], p["id"])) != (p["label"], p["id"]):
                raise ValueError(f"lexicon phrase {key!r} has two meanings: {meaning[key]} and {(p['label'], p['id'])}")


@lru_cache(maxsize=4)
def load_lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    """Read and check the lexicon; every finding label must be in the corpus vocabulary."""
    data = yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    unknown = (set(data["findings"]) | set(data["finding_patterns"]) | set(data["model_entity_labels"].values()))
    unknown -= set(FINDINGS)
    if unknown:
        raise ValueError(f"lexicon labels outside schemas.labels.FINDINGS: {sorted(unknown)}")
    patterns: list[dict] = []
    for label, phrases in data["findings"].items():
        patterns += _phrase_patterns(FINDING, label, phrases)
    for label, token_patterns in data["finding_patterns"].items():
        patterns += [{"label": FINDING, "pattern": p, "id": label} for p in token_patterns]
    patterns += _phrase_patterns(IGNORED, "", data["ignored_phrases"])
    for entry in data["locations"]:
        patterns += _phrase_patterns(LOCATION, _place(entry).key(), entry["terms"])
    _check_unambiguous(patterns)
    words = {key: frozenset(data[key]) for key in
             ("location_joiners", "phrase_stops", "hard_breaks", "location_prepositions", "location_barriers",
              "clause_starts")}
    return Lexicon(
        patterns=tuple(patterns),
        negation=_termset(data["negation"], termset("en_clinical").get_patterns()),
        uncertainty=_termset(data["uncertainty"], {}),
        model_entity_labels=dict(data["model_entity_labels"]),
        restating_phrases=tuple(tuple(phrase.split()) for phrase in data["restating_phrases"]),
        lung_field_anatomy=frozenset(
            e["anatomy"] for e in data["locations"] if e.get("lung_field") and e.get("anatomy")
        ),
        cues=Cues.from_data(data),
        **words,
    )
