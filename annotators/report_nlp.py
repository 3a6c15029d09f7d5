"""The spaCy pipeline of the report parser.

blank("en") with scispaCy's combined_rule_tokenizer ("/" and "-" between letters also split words, so that
"mid/lower" and "left-midzone" show their location words), the sentencizer, scispaCy's
AbbreviationDetector, a named scispaCy/spaCy model's entity components when it is installed, the lexicon's
phrase matcher (LexiconEntities), then negspacy's NegEx twice: once for negation (`Span._.negex`) and once,
with the uncertainty cues, for uncertainty (`Span._.uncertain`), ConText-style.
"""
# no `from __future__ import annotations`: spaCy resolves factory signatures at run time

import contextlib
import functools
import re
import warnings
from pathlib import Path

import scispacy.abbreviation  # noqa: F401  (registers the "abbreviation_detector" factory)
import spacy
from negspacy.negation import Negex
from scispacy.custom_tokenizer import combined_rule_tokenizer
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from annotators.lexicon import FINDING, IGNORED, LEXICON_PATH, load_lexicon

MODEL_ENTITY_FACTORIES = ("tok2vec", "ner", "entity_ruler", "span_ruler")


@contextlib.contextmanager
def quiet_scispacy():
    """Silence two harmless warnings: scispaCy's tokenizer regex, and its abbreviation matcher when empty."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Possible set union", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
        yield


@Language.factory("medregion_entities", default_config={"lexicon_path": str(LEXICON_PATH)})
class LexiconEntities:
    """The lexicon's findings and locations as entities (longest match wins; ignored phrases block what they
    contain), a model's entities with a mapped label as findings where the lexicon found nothing, and an
    abbreviation defined in the text taking its long form's entity where it is used, none where it is defined
    ("ground-glass opacities (GGO)" is one mention)."""

    def __init__(self, nlp: Language, name: str, lexicon_path: str):
        lexicon = load_lexicon(Path(lexicon_path))
        self.model_labels = lexicon.model_entity_labels
        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.tokens = Matcher(nlp.vocab)
        self.meaning: dict[int, tuple[str, str]] = {}
        by_meaning: dict[tuple[str, str], list] = {}
        for p in lexicon.patterns:
            by_meaning.setdefault((p["label"], p["id"]), []).append(p["pattern"])
        for (label, ent_id), patterns in by_meaning.items():
            name = f"{label}|{ent_id}"
            self.meaning[nlp.vocab.strings.add(name)] = (label, ent_id)  # the match id is the name's hash
            phrases = [p for p in patterns if isinstance(p, str)]
            self.phrases.add(name, list(nlp.tokenizer.pipe(phrases)))
            if len(phrases) < len(patterns):
                self.tokens.add(name, [p for p in patterns if not isinstance(p, str)])

    def __call__(self, doc: Doc) -> Doc:
        matches = self.phrases(doc) + (self.tokens(doc) if len(self.tokens) else [])
        found = filter_spans([Span(doc, start, end, label=self.meaning[key][0], span_id=self.meaning[key][1])
                              for key, start, end in matches])
        taken = {i for span in found for i in range(span.start, span.end)}
        found += [Span(doc, e.start, e.end, label=FINDING, span_id=self.model_labels[e.label_]) for e in doc.ents
                  if e.label_ in self.model_labels and not taken.intersection(range(e.start, e.end))]
        ents = [span for span in found if span.label_ != IGNORED]
        for short in doc._.abbreviations:
            long_form = short._.long_form
            long_ents = [e for e in ents if long_form.start <= e.start and e.end <= long_form.end]
            if not long_ents or short.text.islower():  # "(arrows)" after a finding is a remark, not its name
                continue
            ents = [e for e in ents if e.end <= short.start or e.start >= short.end]
            if short.start != long_form.end + 1:  # a use, not the definition
                ents.append(Span(doc, short.start, short.end, label=long_ents[-1].label_, span_id=long_ents[-1].id_))
        doc.ents = sorted(ents, key=lambda e: e.start)
        return doc


@Language.factory(
    "medregion_negex",
    default_config={"neg_termset": {}, "ent_types": [], "extension_name": "negex", "chunk_prefix": []},
)
class EntitiesOnceNegex(Negex):
    """negspacy's Negex with the same result, reading the entities once per text instead of once per boundary."""

    def negex(self, doc: Doc) -> Doc:
        preceding, following, terminating = self.process_negations(doc)
        ents = [e for e in doc.ents if not self.ent_types or e.label_ in self.ent_types]
        for start, end in self.termination_boundaries(doc, terminating):
            before = [m[1] for m in preceding if start <= m[1] < end]
            after = [m[2] for m in following if start <= m[1] < end]
            for e in ents:
                if start <= e.start and e.end <= end and (
                    any(b < e.start for b in before) or any(a > e.end for a in after) or any(
                        e.text.lower().startswith(c.text.lower()) for c in self.chunk_prefix)
                ):
                    e._.set(self.extension_name, True)
        return doc


def _tokenizer(nlp: Language) -> Tokenizer:
    """scispaCy's combined_rule_tokenizer with "/" and "-" between letters as infixes too (built once: setting
    an affix rule on a built tokenizer reloads its special cases)."""
    base = combined_rule_tokenizer(nlp)
    infix = re.compile(base.infix_finditer.__self__.pattern + r"|(?<=[A-Za-z])[/-](?=[A-Za-z])")
    return Tokenizer(nlp.vocab, base.rules, prefix_search=base.prefix_search, suffix_search=base.suffix_search,
                     infix_finditer=infix.finditer, token_match=base.token_match)


def model_available(name: str | None) -> bool:
    """Whether a spaCy/scispaCy model is installed as a package or present as a pipeline folder."""
    return bool(name) and (spacy.util.is_package(name) or (Path(name) / "config.cfg").is_file())


def build_nlp(lexicon_path: Path = LEXICON_PATH, scispacy_model: str | None = None) -> Language:
    """The pipeline for a lexicon and an optional model; one per process and arguments (a model that is not
    installed is the same as none)."""
    return _build_nlp(Path(lexicon_path), scispacy_model if model_available(scispacy_model) else None)


@functools.lru_cache(maxsize=4)
def _build_nlp(lexicon_path: Path, scispacy_model: str | None) -> Language:
    lexicon = load_lexicon(lexicon_path)
    nlp = spacy.blank("en")
    with quiet_scispacy():
        nlp.tokenizer = _tokenizer(nlp)
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("abbreviation_detector")
    if scispacy_model:
        model = spacy.load(scispacy_model)
        for component in model.pipe_names:  # names kept: a model's ner listens to its tok2vec by name
            if model.get_pipe_meta(component).factory in MODEL_ENTITY_FACTORIES:
                nlp.add_pipe(component, source=model)
    nlp.add_pipe("medregion_entities", config={"lexicon_path": str(lexicon_path)})
    nlp.add_pipe("medregion_negex", name="negex", config={"neg_termset": lexicon.negation, "ent_types": [FINDING]})
    nlp.add_pipe("medregion_negex", name="uncertainty",
                 config={"neg_termset": lexicon.uncertainty, "ent_types": [FINDING], "extension_name": "uncertain"})
    return nlp
