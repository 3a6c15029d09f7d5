"""Negation against a published clinical benchmark: the NegEx test kit (tests/data/negex), sentences with a target
phrase and its gold value (Affirmed / Negated).

The target phrase becomes the one finding entity of its sentence (the parser's tokenizer and sentencizer), and the
parser's negation component runs on it with a termset: the project's (lexicon.yaml's additions to negspacy's
`en_clinical`) and negspacy's stock `en_clinical`, side by side on the same docs. Negated is the positive class.

    python -m pipeline.evaluation.negation [tests/data/negex/Annotations-1-120-random.txt]
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from negspacy.termsets import termset
from spacy.tokens import Doc, Span

from annotators.lexicon import FINDING, load_lexicon
from annotators.report_nlp import EntitiesOnceNegex, build_nlp, quiet_scispacy

NEGEX_KIT = Path(__file__).resolve().parents[2] / "tests" / "data" / "negex" / "Annotations-1-120-random.txt"


@dataclass(frozen=True)
class NegexCase:
    phrase: str
    sentence: str
    negated: bool


@dataclass(frozen=True)
class NegationScore:
    cases: int
    negated: int  # gold negated cases
    precision: float
    recall: float
    f1: float
    accuracy: float


def load_kit(path: str | Path = NEGEX_KIT) -> list[NegexCase]:
    """The kit's rows (tab-separated: report, phrase, sentence, Affirmed / Negated); a header line is skipped."""
    cases = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 4 and fields[3].strip() in ("Affirmed", "Negated"):
            cases.append(NegexCase(fields[1].strip(), fields[2].strip().strip('"'), fields[3].strip() == "Negated"))
    return cases


def _target_doc(nlp, case: NegexCase) -> Doc | None:
    """The sentence parsed, its target phrase (the upper-case occurrence, else any) its only finding entity."""
    doc = nlp.make_doc(case.sentence)
    for sent in nlp.get_pipe("sentencizer").pipe([doc]):
        doc = sent
    words = r"\s+".join(re.escape(w) for w in case.phrase.split())
    found = re.search(words.upper(), case.sentence) or re.search(words, case.sentence, re.IGNORECASE)
    span = found and doc.char_span(found.start(), found.end(), label=FINDING, alignment_mode="expand")
    if not span:
        return None
    doc.ents = [Span(doc, span.start, span.end, label=FINDING)]
    return doc


def score(gold: list[bool], predicted: list[bool]) -> NegationScore:
    tp = sum(g and p for g, p in zip(gold, predicted))
    fp = sum(p and not g for g, p in zip(gold, predicted))
    fn = sum(g and not p for g, p in zip(gold, predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else 0.0
    return NegationScore(len(gold), sum(gold), precision, recall, f1, accuracy)


def compare_termsets(cases: list[NegexCase]) -> dict[str, NegationScore]:
    """Negation scores of the project's termset and of negspacy's stock en_clinical on the same cases (a case
    whose phrase is not found in its sentence counts as predicted affirmed)."""
    nlp = build_nlp()
    termsets = {"project (lexicon.yaml)": load_lexicon().negation,
                "negspacy en_clinical": termset("en_clinical").get_patterns()}
    gold = [c.negated for c in cases]
    scores = {}
    with quiet_scispacy():
        docs = [_target_doc(nlp, c) for c in cases]
        for name, terms in termsets.items():
            negex = EntitiesOnceNegex(nlp, "negex", neg_termset=terms, ent_types=[FINDING], extension_name="negex",
                                      chunk_prefix=[])
            predicted = []
            for doc in docs:
                if doc is None:
                    predicted.append(False)
                    continue
                for e in doc.ents:
                    e._.negex = False
                predicted.append(bool(negex(doc).ents[0]._.negex))
            scores[name] = score(gold, predicted)
    return scores


def main(argv: list[str]) -> None:
    cases = load_kit(argv[0] if argv else NEGEX_KIT)
    for name, s in compare_termsets(cases).items():
        print(f"{name:24s} cases={s.cases} negated={s.negated} precision={s.precision:.3f} recall={s.recall:.3f} "
              f"f1={s.f1:.3f} accuracy={s.accuracy:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
