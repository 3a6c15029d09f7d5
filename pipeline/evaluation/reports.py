"""Per-field accuracy of the report parser on hand-checked sentences (tests/data/report_sentences.jsonl).

Each line: {"sentence", "style", "mentions": [{"label", "laterality", "zone", "anatomy", "negated", "uncertain"}],
"source", "ref", "field", "split"}. Expected and parsed mentions of a sentence are paired by label (the closest parsed
mention of that label); label recall and precision count the pairs, the other fields are scored on the pairs.

    python -m pipeline.evaluation.reports tests/data/report_sentences.jsonl
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from annotators.mentions import Mention
from annotators.reports import ReportParser

FIELDS = ("laterality", "zone", "anatomy", "negated", "uncertain")


@dataclass(frozen=True)
class FieldAccuracy:
    sentences: int
    expected: int
    parsed: int
    paired: int
    label_recall: float  # paired / expected
    label_precision: float  # paired / parsed
    laterality: float  # share of pairs with the expected value, likewise below
    zone: float
    anatomy: float
    negated: float
    uncertain: float
    sentences_exact: float  # sentences whose parse is exactly the expected mentions


def _agreement(expected: dict, parsed: Mention) -> int:
    return sum(expected[f] == getattr(parsed, f) for f in FIELDS) + 2 * (expected["negated"] == parsed.negated)


def pair(expected: list[dict], parsed: list[Mention]) -> list[tuple[dict, Mention]]:
    """Each expected mention with the unused parsed mention of its label that agrees with it most."""
    free, pairs = list(parsed), []
    for e in expected:
        same = [p for p in free if p.label == e["label"]]
        if same:
            best = max(same, key=lambda p: _agreement(e, p))
            free.remove(best)
            pairs.append((e, best))
    return pairs


def score(items: list[tuple[list[dict], list[Mention]]]) -> FieldAccuracy:
    pairs = [p for expected, parsed in items for p in pair(expected, parsed)]
    n_expected = sum(len(e) for e, _ in items)
    n_parsed = sum(len(p) for _, p in items)
    exact = sum(
        len(e) == len(p) == len(pair(e, p)) and all(x[f] == getattr(y, f) for x, y in pair(e, p) for f in FIELDS)
        for e, p in items
    )

    def share(field: str) -> float:
        return sum(e[field] == getattr(p, field) for e, p in pairs) / len(pairs) if pairs else 0.0

    return FieldAccuracy(
        sentences=len(items),
        expected=n_expected,
        parsed=n_parsed,
        paired=len(pairs),
        label_recall=len(pairs) / n_expected if n_expected else 0.0,
        label_precision=len(pairs) / n_parsed if n_parsed else 0.0,
        sentences_exact=exact / len(items) if items else 0.0,
        **{f: share(f) for f in FIELDS},
    )


def load_sentences(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def evaluate_sentences(parser: ReportParser, rows: list[dict]) -> FieldAccuracy:
    return score([(row["mentions"], parser.mentions(row["sentence"], row["style"])) for row in rows])


def main(argv: list[str]) -> None:
    """Per-field accuracy by split ("dev": written while building the lexicon; "holdout": written after it,
    measured, not tuned on) and by source."""
    rows = load_sentences(argv[0])
    parser = ReportParser()
    for split in sorted({r.get("split", "") for r in rows}) + ["all"]:
        for source in sorted({r["source"] for r in rows}) + ["all"]:
            subset = [r for r in rows if split in ("all", r.get("split", "")) and source in ("all", r["source"])]
            result = asdict(evaluate_sentences(parser, subset))
            print(f"{split:8s}{source:16s}",
                  " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
