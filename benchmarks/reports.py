"""Reports per second per core of the full report stage, beside spaCy's bare tokenizer + sentencizer.

    .venv/bin/python benchmarks/reports.py --sample-root out/sample --n 200 --reports 3000

Texts: the rendered sample's reports (style "radiology"), the covid-chestxray clinical notes ("notes") and the
MedPix captions ("caption") of ../shared/data/real when present, cycled to `--reports`. All rows run in this one
process; "per core" divides by the process's CPU time (the machine may be shared), wall time is shown beside it.
The full stage is ReportParser.parse_many: sections, de-identification, the scispaCy tokenizer, sentencizer,
abbreviation detector, lexicon entity ruler, negation and uncertainty, mentions, descriptions. Last, the seconds of
the slowest of a few pathological inputs (runs of marks, repeated abbreviations, one endless sentence; each about
1.9 million characters, cut at report_text.MAX_REPORT_CHARS) beside a real report's.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from pathlib import Path

import spacy

from annotators.reports import ReportParser
from connectors.sample.generate import ensure

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


def corpus(sample_root: Path, n: int, real: Path) -> list[tuple[str, str]]:
    """(text, style) pairs: the sample's reports, then the real notes and captions when the folder exists."""
    reports = ensure(sample_root, n, seed=0) / "reports"
    texts = [(p.read_text(), "radiology") for p in sorted(reports.glob("*.txt"))]
    covid = real / "covid-chestxray" / "metadata.csv"
    if covid.exists():
        texts += [(r["clinical_notes"], "notes") for r in csv.DictReader(covid.open(newline=""))]
    medpix = real / "medpix-2.0" / "MedPix-2-0" / "Descriptions.json"
    if medpix.exists():
        texts += [(d["Description"].get("Caption") or "", "caption") for d in json.loads(medpix.read_text())]
    return texts


PATHOLOGICAL = {
    "marks": "(" * 1_900_000,
    "spaced marks": "( " * 950_000,
    "abbreviations": "ground-glass opacities (GGO) " * 65_000,
    "one sentence": "right lower lobe opacity and left effusion and " * 40_000,
}


def timed(run, texts: list[str], styles: list[str]) -> tuple[float, float]:
    """(reports per CPU second, reports per wall second) of one run over the texts."""
    wall, cpu = time.perf_counter(), time.process_time()
    run(texts, styles)
    return len(texts) / (time.process_time() - cpu), len(texts) / (time.perf_counter() - wall)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--sample-root", type=Path, default=ROOT / "out" / "sample-reports")
    args.add_argument("--n", type=int, default=200, help="sample studies to render if the root lacks them")
    args.add_argument("--reports", type=int, default=3000, help="reports per run (the corpus is cycled)")
    args.add_argument("--real", type=Path, default=REAL)
    opts = args.parse_args()
    pairs = list(itertools.islice(itertools.cycle(corpus(opts.sample_root, opts.n, opts.real)), opts.reports))
    texts, styles = [t for t, _ in pairs], [s for _, s in pairs]

    parser = ReportParser()
    bare = spacy.blank("en")
    bare.add_pipe("sentencizer")
    runs = {
        "spaCy blank('en') tokenizer + sentencizer": lambda t, _: list(bare.pipe(t, batch_size=256)),
        "full report stage (ReportParser.parse_many)": parser.parse_many,
    }
    parser.parse_many(texts[:50], styles[:50])  # warm-up: lazy imports, first batches
    print(f"{len(texts)} reports ({', '.join(f'{s}: {styles.count(s)}' for s in sorted(set(styles)))}), one process")
    print(f"{'':46s} {'reports/s/core (CPU)':>22s} {'reports/s (wall)':>18s}")
    for name, run in runs.items():
        per_cpu, per_wall = timed(run, texts, styles)
        print(f"{name:46s} {per_cpu:22.0f} {per_wall:18.0f}")
    seconds = {name: 1 / timed(parser.parse_many, [text], ["radiology"])[0] for name, text in PATHOLOGICAL.items()}
    worst = max(seconds, key=seconds.get)
    print(f"slowest pathological report ({worst}): {seconds[worst]:.2f} s CPU; a real report: "
          f"{1 / timed(parser.parse_many, texts[:1], styles[:1])[0]:.4f} s")


if __name__ == "__main__":
    main()
