"""How right the parser's statements are on real reports, against a hand-checked set
(tests/data/report_statements.jsonl; how it was judged: tests/data/report_statements.md).

Each line of the set is one statement the parser made from a real report of the dev data, judged by reading it in
its report: {"source": connector, "ref": source id, "kind": "description" | "negative" | "global", "text"} and
- description: "finding" (a positive imaging finding of the study?), and when it is one the true "label", "side"
  (patient side: left / right / bilateral / "") and "zone" (lung zones, "" when none is stated);
- negative: "clean" (the negated finding clause alone, stating no positive finding?);
- global: "useful" (states what the image shows, not history or administration?).

The reports of the refs in the set are read in place by their connectors and parsed again as a build parses them
(split into parts, each part de-identified, then parsed: `as_built`); each statement made now
is paired with a judged one of its ref, kind and text (descriptions preferring the judged label). Statements made
now that no judgement covers are counted as unjudged (the set no longer covers the parser: judge them).

    python -m pipeline.evaluation.report_statements [SET] [--real ../shared/data/real]
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from annotators.deid import scrub_text
from annotators.report_text import report_text
from annotators.reports import ParsedReport, ReportParser
from annotators.sections import Sections, join_parts, report_parts

ROOT = Path(__file__).resolve().parents[2]
STATEMENTS = ROOT / "tests" / "data" / "report_statements.jsonl"
REAL = ROOT.parent / "shared" / "data" / "real"
SOURCE_ROOTS = {"covid_chestxray": "covid-chestxray", "medpix": "medpix-2.0/MedPix-2-0"}
KINDS = ("description", "negative", "global")


@dataclass(frozen=True)
class Statement:
    kind: str
    text: str
    label: str = ""
    side: str = ""
    zone: str = ""


@dataclass(frozen=True)
class StatementScores:
    reports: int
    descriptions: int  # judged descriptions made now
    description_precision: float  # positive imaging findings / descriptions
    label_correct: float  # of the positive findings, the label right
    side_correct: float  # of the positive findings, the side right
    zone_correct: float  # of the positive findings, the zones right
    negatives: int
    negatives_clean: float
    globals: int
    global_useful: float
    unjudged: int  # statements made now that the set does not judge
    judged_not_made: int  # judged statements the parser no longer makes


def statements(report: ParsedReport) -> list[Statement]:
    """The statements of a parse: its descriptions, negatives and (when not empty) global text."""
    made = [Statement("description", d.text, d.label, d.laterality, d.zone) for d in report.descriptions]
    made += [Statement("negative", n) for n in report.negatives]
    return made + ([Statement("global", report.global_text)] if report.global_text else [])


def load_judged(path: str | Path = STATEMENTS) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if row["kind"] not in KINDS or row["source"] not in SOURCE_ROOTS:
            raise ValueError(f"judged statement of unknown kind or source: {row}")
    return rows


def real_reports(real: str | Path, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(source, ref) -> (report text, style) of the wanted refs, read by their connectors from the real folder."""
    from connectors import get_connector

    found = {}
    for source in sorted({s for s, _ in wanted}):
        connector = get_connector(source)
        options = connector.Options(root=str(Path(real) / SOURCE_ROOTS[source]))
        for ref in connector(options, secret=b"report-statements-eval").refs():
            if (source, ref.source_id) in wanted:
                found[(source, ref.source_id)] = (ref.report, ref.report_style)
    return found


def as_built(text: str, style: str) -> tuple[Sections, bool]:
    """A report's sections as the build's stages make them (decode, sections, deidentify), and whether it was cut."""
    read = report_text(text)
    parts = [(kind, scrub_text(part)) for kind, part in report_parts(read.text, style)]
    return join_parts(parts, style), read.truncated


def pair(made: list[Statement], judged: list[dict]) -> tuple[list[tuple[Statement, dict]], list[Statement], int]:
    """(made, judged) pairs of one report by kind and text (first with a judgement of the label made), the made
    statements without a judgement, and the count of judgements left over."""
    free = defaultdict(list)
    for j in judged:
        free[(j["kind"], j["text"])].append(j)
    pairs, waiting, unjudged = [], [], []
    for s in made:
        candidates = free[(s.kind, s.text)]
        match = next((j for j in candidates if j.get("label", "") == s.label), None)
        if match is None:
            waiting.append(s)
            continue
        candidates.remove(match)
        pairs.append((s, match))
    for s in waiting:
        candidates = free[(s.kind, s.text)]
        if candidates:
            pairs.append((s, candidates.pop(0)))
        else:
            unjudged.append(s)
    return pairs, unjudged, sum(len(v) for v in free.values())


def score(reports: dict[tuple[str, str], ParsedReport], judged: list[dict]) -> StatementScores:
    by_ref = defaultdict(list)
    for j in judged:
        by_ref[(j["source"], j["ref"])].append(j)
    pairs, unjudged, left = [], 0, 0
    for key, report in reports.items():
        p, u, n = pair(statements(report), by_ref[key])
        pairs, unjudged, left = pairs + p, unjudged + len(u), left + n
    kinds = {k: [(s, j) for s, j in pairs if s.kind == k] for k in KINDS}
    findings = [(s, j) for s, j in kinds["description"] if j["finding"]]

    def share(items, right) -> float:
        return sum(1 for item in items if right(*item)) / len(items) if items else 0.0

    return StatementScores(
        reports=len(reports),
        descriptions=len(kinds["description"]),
        description_precision=share(kinds["description"], lambda s, j: j["finding"]),
        label_correct=share(findings, lambda s, j: s.label == j["label"]),
        side_correct=share(findings, lambda s, j: s.side == j["side"]),
        zone_correct=share(findings, lambda s, j: s.zone == j["zone"]),
        negatives=len(kinds["negative"]),
        negatives_clean=share(kinds["negative"], lambda s, j: j["clean"]),
        globals=len(kinds["global"]),
        global_useful=share(kinds["global"], lambda s, j: j["useful"]),
        unjudged=unjudged,
        judged_not_made=left,
    )


def evaluate(path: str | Path = STATEMENTS, real: str | Path = REAL,
             parser: ReportParser | None = None) -> dict[str, StatementScores]:
    """Scores per source and over all, the refs of the set parsed again from the real folder."""
    judged = load_judged(path)
    wanted = {(j["source"], j["ref"]) for j in judged}
    texts = real_reports(real, wanted)
    missing = wanted - set(texts)
    if missing:
        raise FileNotFoundError(f"{len(missing)} judged refs are not in {real}, e.g. {sorted(missing)[0]}")
    keys = sorted(texts)
    styles = [texts[k][1] for k in keys]
    sections, truncated = zip(*(as_built(*texts[k]) for k in keys)) if keys else ((), ())
    parsed = (parser or ReportParser()).parse_sections(list(sections), styles, list(truncated))
    reports = dict(zip(keys, parsed))
    result = {source: score({k: r for k, r in reports.items() if k[0] == source},
                            [j for j in judged if j["source"] == source])
              for source in sorted({s for s, _ in keys})}
    result["all"] = score(reports, judged)
    return result


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("statements", nargs="?", default=str(STATEMENTS))
    args.add_argument("--real", default=str(REAL))
    opts = args.parse_args(argv)
    for source, s in evaluate(opts.statements, opts.real).items():
        print(source, json.dumps(s.__dict__))


if __name__ == "__main__":
    main()
