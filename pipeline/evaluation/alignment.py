"""How right the description-to-region links of built records are.

    python -m pipeline.evaluation.alignment build FOLDER TRUTH     # a built corpus against the sample's truth.jsonl
    python -m pipeline.evaluation.alignment sample ROOT            # a rendered sample, its reports aligned to its boxes
    python -m pipeline.evaluation.alignment covid ROOT             # covid-chestxray notes against its lung boxes
    python -m pipeline.evaluation.alignment grounding FOLDER       # a built corpus: side / zone descriptions grounded

Against a truth file (the sample corpus's truth.jsonl: source_id -> {"regions": [{"label", "box", "sentence",
...}], "negated": [sentences]}): a link is correct when its description's text matches a truth sentence
(normalised equality or containment either way) and the linked box has IoU >= IOU_THRESHOLD with that
sentence's truth box. Precision is over links (descriptions with a region), recall over truth regions. Negated
truth sentences must never appear among the descriptions.

Without truth, for records with lung boxes (covid_chestxray's, or the anatomy detector's): of the descriptions
that state a side or a zone, how many link to a region (a finding box or a lung part); of the links of those
naming the left or the right side, how many go to a region of that side, by the label of a lung part and by
where the box lies for the view (the patient's right on the image's left on PA/AP films and axial/coronal
slices); of those naming both sides, how many go to a region spanning both lungs.
"""
from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

from annotators.regions import Region, iou, normalise_box
from schemas.labels import ANATOMY, BOTH_LUNGS, lung_of

IOU_THRESHOLD = 0.5
_NOT_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class AlignmentMetrics:
    precision: float  # correct links / links
    recall: float  # truth regions reached by a correct link / truth regions
    recall_boxed: float  # the same over truth regions that the record has a box for (IoU >= IOU_THRESHOLD)
    n_pred: int  # links (descriptions aligned to a region)
    n_true: int  # truth regions of the evaluated records
    n_correct: int
    n_recalled: int
    n_boxed: int  # truth regions with a record box at IoU >= IOU_THRESHOLD
    n_descriptions: int
    n_unaligned: int
    n_negated: int  # negated truth sentences of the evaluated records
    negated_as_description: int  # of those, how many became a description (must be 0)
    records: int
    records_without_truth: int


@dataclass(frozen=True)
class GroundingCheck:
    stated: int  # descriptions stating a side or a zone, in records with lung boxes
    linked: int  # of those, linked to a region
    sided_links: int  # of those linked, naming the left or the right side
    same_side: int  # of those, to a lung part of that side (by its label) or a finding box on that side
    same_side_by_position: int  # of those, to a box lying on that side of the image for the view
    bilateral_links: int  # linked descriptions naming both sides
    both_sides: int  # of those, to a box spanning both lungs
    records: int  # records with lung boxes (all records when not counting only those)

    @property
    def precision(self) -> float:
        return _share(self.same_side, self.sided_links)

    @property
    def precision_by_position(self) -> float:
        return _share(self.same_side_by_position, self.sided_links)

    @property
    def coverage(self) -> float:
        return _share(self.linked, self.stated)


def normalise(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


def text_matches(a: str, b: str) -> bool:
    """Normalised equality or containment either way (both non-empty)."""
    a, b = normalise(a), normalise(b)
    return bool(a and b) and (a in b or b in a)


def load_truth(path: str | Path) -> dict[str, dict]:
    """truth.jsonl -> source_id -> truth object."""
    lines = Path(path).read_text().splitlines()
    return {obj["source_id"]: obj for obj in map(json.loads, filter(str.strip, lines))}


def evaluate_alignment(records: Iterable[dict], truth: dict[str, dict]) -> AlignmentMetrics:
    n_pred = n_correct = n_descriptions = n_unaligned = negated_hits = n_records = missing = 0
    recalled: dict[str, set[int]] = {}
    boxed: dict[str, set[int]] = {}
    for record in records:
        n_records += 1
        sample = truth.get(record["source_id"])
        if sample is None:
            missing += 1
            continue
        reached = recalled.setdefault(record["source_id"], set())
        boxed.setdefault(record["source_id"], set()).update(
            i for i, r in enumerate(sample["regions"])
            if any(iou(region["box"], r["box"]) >= IOU_THRESHOLD for region in record["regions"])
        )
        texts = [d["text"] for d in record["descriptions"]]
        negated_hits += sum(any(text_matches(t, n) for t in texts) for n in sample.get("negated", []))
        for description in record["descriptions"]:
            n_descriptions += 1
            if description["region"] < 0:
                n_unaligned += 1
                continue
            n_pred += 1
            box = record["regions"][description["region"]]["box"]
            hits = [i for i, r in enumerate(sample["regions"])
                    if text_matches(description["text"], r["sentence"]) and iou(box, r["box"]) >= IOU_THRESHOLD]
            n_correct += bool(hits)
            reached.update(hits)
    evaluated = [truth[s] for s in recalled]
    n_true = sum(len(t["regions"]) for t in evaluated)
    n_recalled = sum(len(r) for r in recalled.values())
    n_boxed = sum(len(b) for b in boxed.values())
    return AlignmentMetrics(
        precision=_share(n_correct, n_pred),
        recall=_share(n_recalled, n_true),
        recall_boxed=_share(sum(len(recalled[s] & boxed[s]) for s in recalled), n_boxed),
        n_pred=n_pred,
        n_true=n_true,
        n_correct=n_correct,
        n_recalled=n_recalled,
        n_boxed=n_boxed,
        n_descriptions=n_descriptions,
        n_unaligned=n_unaligned,
        n_negated=sum(len(t.get("negated", [])) for t in evaluated),
        negated_as_description=negated_hits,
        records=n_records,
        records_without_truth=missing,
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def anatomy_grounding(records: Iterable[dict], lungs_only: bool = True) -> GroundingCheck:
    """How descriptions that state a side or a zone are grounded in records with lung boxes (see the module);
    in every record when not `lungs_only`."""
    from annotators.align import box_side

    counts = dict.fromkeys(("stated", "linked", "sided_links", "same_side", "same_side_by_position",
                            "bilateral_links", "both_sides", "records"), 0)
    for record in records:
        regions = [Region(*r["box"], label=r["label"]) for r in record["regions"]]
        if lungs_only and not set(ANATOMY) & {r.label for r in regions}:
            continue
        counts["records"] += 1
        view = record.get("view", "")
        for description in record["descriptions"]:
            side = description["laterality"]
            if not (side or description["zone"]):
                continue
            counts["stated"] += 1
            if description["region"] < 0:
                continue
            counts["linked"] += 1
            region = regions[description["region"]]
            position = box_side(region, regions, view)
            if side in ("left", "right"):
                counts["sided_links"] += 1
                lung = lung_of(region.label)
                counts["same_side"] += lung == f"{side}_lung" if lung else position == side
                counts["same_side_by_position"] += position == side
            elif side == "bilateral":
                counts["bilateral_links"] += 1
                counts["both_sides"] += lung_of(region.label) == BOTH_LUNGS
    return GroundingCheck(**counts)


def _grounding_figures(check: GroundingCheck) -> dict[str, float]:
    return asdict(check) | {"precision": check.precision, "precision_by_position": check.precision_by_position,
                            "coverage": check.coverage}


def read_records(folder: str | Path) -> list[dict]:
    """The source, source_id, view, regions and descriptions of every shard row of a build (shards in its manifest)."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    rows: list[dict] = []
    for shard in manifest["shards"]:
        with pa.OSFile(str(folder / shard["file"])) as handle:
            table = pa.ipc.open_stream(handle).read_all()
        rows += table.select(["source", "source_id", "view", "regions", "descriptions"]).to_pylist()
    return rows


def evaluate(folder: str | Path, truth: str | Path) -> dict[str, float]:
    """The alignment metrics of a build against a truth file, as one flat mapping (for reports and the CLI)."""
    records = read_records(folder)
    metrics = asdict(evaluate_alignment(records, load_truth(truth)))
    grounding = anatomy_grounding(records)
    if grounding.stated:
        metrics |= {f"lung_box_{key}": value for key, value in _grounding_figures(grounding).items()}
    return metrics


# Evaluation without a build: parse the reports of a source with boxes on disk and align them to its boxes.

def aligned_record(source_id: str, regions: Sequence[Region], parsed, view: str) -> dict:
    """The columns the metrics read, for one parsed report aligned to `regions`."""
    from annotators.align import align

    aligned = align(parsed.descriptions, regions, view)
    return {
        "source_id": source_id,
        "view": view,
        "regions": [{"box": list(r.box), "label": r.label, "origin": r.origin} for r in aligned.regions],
        "descriptions": [{"text": d.text, "label": d.label, "laterality": d.laterality, "zone": d.zone,
                          "region": link.region, "align_score": link.score}
                         for d, link in zip(parsed.descriptions, aligned.links)],
    }


def sample_records(root: str | Path, parser, annotated_only: bool = True) -> list[dict]:
    """A rendered sample's reports aligned to its truth boxes (of the annotated studies, as a build has them)."""
    from schemas.labels import canonical_label

    root = Path(root)
    studies = [t for t in load_truth(root / "truth.jsonl").values()
               if not t["broken"] and (t["annotated"] or not annotated_only)]
    parsed = parser.parse_many([(root / t["report"]).read_text() for t in studies], ["radiology"] * len(studies))
    return [aligned_record(t["source_id"], [Region(*r["box"], label=canonical_label(r["label"])) for r in t["regions"]],
                           p, t["view"]) for t, p in zip(studies, parsed)]


def covid_records(root: str | Path, parser) -> list[dict]:
    """covid-chestxray images with lung boxes, read by its connector ("Right Lung" is the patient's right):
    their notes aligned to the boxes."""
    from connectors import get_connector
    from connectors.tables import image_size

    connector = get_connector("covid_chestxray")
    refs = [r for r in connector(connector.Options(root=str(root)), secret=b"alignment-eval").refs()
            if not r.reject and r.boxes]
    parsed = parser.parse_many([r.report for r in refs], [r.report_style for r in refs])
    records = []
    for ref, report in zip(refs, parsed):
        width, height = image_size(ref.image)
        regions = [Region(*box, label=b.label) for b in ref.boxes
                   if (box := normalise_box(b.x0, b.y0, b.x1, b.y1, width, height))]
        records.append(aligned_record(ref.source_id, regions, report, ref.view))
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("build", "sample", "covid", "grounding"))
    parser.add_argument("path", help="the build folder, the rendered sample root, or the covid-chestxray folder")
    parser.add_argument("truth", nargs="?", help="truth.jsonl (mode build)")
    parser.add_argument("--all-studies", action="store_true", help="sample: also the studies without annotations")
    args = parser.parse_args(argv)
    if args.mode == "build":
        result = evaluate(args.path, args.truth)
    elif args.mode == "grounding":
        records = read_records(args.path)
        result = _grounding_figures(anatomy_grounding(records))
        result |= {f"all_records_{k}": v for k, v in _grounding_figures(anatomy_grounding(records, False)).items()}
        for source in sorted({r["source"] for r in records}):  # every record of the source, lung boxes or not
            check = anatomy_grounding([r for r in records if r["source"] == source], False)
            result |= {f"{source}_{k}": v for k, v in _grounding_figures(check).items()
                       if k in ("stated", "linked", "coverage", "precision")}
    else:
        from annotators.reports import ReportParser

        if args.mode == "sample":
            records = sample_records(args.path, ReportParser(), annotated_only=not args.all_studies)
            result = asdict(evaluate_alignment(records, load_truth(Path(args.path) / "truth.jsonl")))
        else:
            result = _grounding_figures(anatomy_grounding(covid_records(args.path, ReportParser())))
    for key, value in result.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
