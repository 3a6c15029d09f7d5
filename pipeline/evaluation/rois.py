"""ROI recall: the share of true boxes that some proposed region covers at an IoU threshold; and one-to-one box
matching (recall, precision, mean IoU) of a detector on a held-out split of an exported YOLO dataset:

    python -m pipeline.evaluation.rois DATA_YAML WEIGHTS [--split val] [--conf 0.25] [--imgsz 320] [--one-per-label]

Images are keyed by (source_id, frame). True boxes come from the sample's `truth.jsonl` rows (or any rows of
that shape) or a YOLO dataset's label files; proposals from shard records or straight from a detector.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from annotators.regions import Region, best_per_label, iou

ImageKey = tuple[str, int]  # (source_id, frame)


@dataclass(frozen=True)
class RoiRecall:
    recalled: int
    total: int  # true boxes on the images that were evaluated
    images: int  # images evaluated
    missing: int  # images with true boxes but no proposals entry (no record): not evaluated
    by_label: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (recalled, total)

    @property
    def recall(self) -> float:
        return self.recalled / self.total if self.total else 0.0


def truth_regions(rows: Iterable[dict], annotated: bool | None = False) -> dict[ImageKey, list[Region]]:
    """True boxes per image from truth.jsonl rows (broken inputs left out); by default only the studies
    that the source does not annotate, the ones the detector has to find boxes on."""
    return {
        (row["source_id"], row["frame"]): [Region(*r["box"], label=r["label"]) for r in row["regions"]]
        for row in rows
        if not row.get("broken") and (annotated is None or row["annotated"] == annotated)
    }


def record_regions(records: Iterable[dict], origin: str | None = "detector") -> dict[ImageKey, list[Region]]:
    """Regions per image from shard records (`box` lists), only those of `origin` unless it is None."""
    return {
        (record["source_id"], record["acquisition"]["frame"]): [
            Region(*r["box"], label=r["label"], origin=r["origin"], score=r["score"])
            for r in record["regions"]
            if origin is None or r["origin"] == origin
        ]
        for record in records
    }


def roi_recall(
    predicted: Mapping[ImageKey, list[Region]],
    truth: Mapping[ImageKey, list[Region]],
    iou_threshold: float = 0.5,
    match_label: bool = False,
) -> RoiRecall:
    """How many true boxes have a proposal at IoU >= `iou_threshold` (of the same label if `match_label`)."""
    counts: dict[str, list[int]] = {}
    images = missing = 0
    for key, boxes in truth.items():
        if key not in predicted:
            missing += bool(boxes)
            continue
        images += 1
        for box in boxes:
            hit = any(
                iou(box.box, p.box) >= iou_threshold and (not match_label or p.label == box.label)
                for p in predicted[key]
            )
            tally = counts.setdefault(box.label, [0, 0])
            tally[0] += hit
            tally[1] += 1
    by_label = {label: (hits, total) for label, (hits, total) in sorted(counts.items())}
    recalled = sum(hits for hits, _ in by_label.values())
    total = sum(total for _, total in by_label.values())
    return RoiRecall(recalled, total, images, missing, by_label)


@dataclass(frozen=True)
class BoxMatch:
    """Proposals against true boxes of the same label at one IoU threshold (each proposal matches one box)."""

    iou_threshold: float
    true_boxes: int
    proposals: int
    matched: int
    mean_iou: float  # mean over true boxes of the best IoU of a same-label proposal (0 when none)

    @property
    def recall(self) -> float:
        return self.matched / self.true_boxes if self.true_boxes else 0.0

    @property
    def precision(self) -> float:
        return self.matched / self.proposals if self.proposals else 0.0


def box_match(predicted: Mapping[ImageKey, list[Region]], truth: Mapping[ImageKey, list[Region]],
              iou_threshold: float) -> BoxMatch:
    """Greedy one-to-one matching per image and label, best score first, at IoU >= `iou_threshold`."""
    matched = proposals = total = 0
    best_ious: list[float] = []
    for key, boxes in truth.items():
        found = sorted(predicted.get(key, []), key=lambda r: r.score, reverse=True)
        proposals += len(found)
        total += len(boxes)
        best_ious += [max((iou(b.box, p.box) for p in found if p.label == b.label), default=0.0) for b in boxes]
        free = list(boxes)
        for proposal in found:
            scored = [(iou(b.box, proposal.box), i) for i, b in enumerate(free) if b.label == proposal.label]
            overlap, index = max(scored, default=(0.0, -1))
            if overlap >= iou_threshold:
                matched += 1
                free.pop(index)
    mean = sum(best_ious) / len(best_ious) if best_ious else 0.0
    return BoxMatch(iou_threshold, total, proposals, matched, mean)


def yolo_truth(data_yaml: str | Path, split: str = "val") -> dict[ImageKey, list[Region]]:
    """The true boxes of a YOLO dataset's split, per image (keyed by the image's file name, frame -1)."""
    import yaml

    data_yaml = Path(data_yaml)
    data = yaml.safe_load(data_yaml.read_text())
    names = data["names"]
    truth = {}
    for image in sorted((data_yaml.parent / data[split]).iterdir()):
        label_file = data_yaml.parent / "labels" / split / f"{image.stem}.txt"
        boxes = []
        for line in label_file.read_text().splitlines() if label_file.is_file() else ():
            cls, cx, cy, w, h = line.split()
            cx, cy, w, h = map(float, (cx, cy, w, h))
            boxes.append(Region(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, names[int(cls)]))
        truth[(image.name, -1)] = boxes
    return truth


def detect_split(data_yaml: str | Path, weights: str, split: str = "val", conf: float = 0.25, imgsz: int = 512,
                 one_per_label: bool = False) -> dict[ImageKey, list[Region]]:
    """The detector's proposals (the build's own inference path, on the CPU) on a YOLO dataset's split."""
    import numpy as np
    import yaml
    from PIL import Image

    from annotators.detector import load_detector

    data_yaml = Path(data_yaml)
    folder = data_yaml.parent / yaml.safe_load(data_yaml.read_text())[split]
    images = sorted(folder.iterdir())
    detector = load_detector(weights, device="cpu", imgsz=imgsz, conf=conf)
    found = detector.predict([np.asarray(Image.open(path).convert("L")) for path in images])
    return {(path.name, -1): best_per_label(regions) if one_per_label else regions
            for path, regions in zip(images, found)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a detector on a held-out split of an exported YOLO dataset")
    parser.add_argument("data_yaml")
    parser.add_argument("weights")
    parser.add_argument("--split", default="val")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--imgsz", type=int, default=512)
    parser.add_argument("--one-per-label", action="store_true", help="keep the best box of each label")
    args = parser.parse_args(argv)
    truth = yolo_truth(args.data_yaml, args.split)
    predicted = detect_split(args.data_yaml, args.weights, args.split, args.conf, args.imgsz, args.one_per_label)
    print(f"{len(truth)} images, {sum(map(len, truth.values()))} true boxes, conf {args.conf}")
    for threshold in (0.5, 0.75):
        match = box_match(predicted, truth, threshold)
        print(f"IoU {threshold}: recall {match.recall:.3f} ({match.matched}/{match.true_boxes}), precision "
              f"{match.precision:.3f} ({match.matched}/{match.proposals}), mean IoU {match.mean_iou:.3f}")
    for label in sorted({b.label for boxes in truth.values() for b in boxes}):
        only = {k: [b for b in v if b.label == label] for k, v in truth.items()}
        match = box_match({k: [p for p in v if p.label == label] for k, v in predicted.items()}, only, 0.5)
        print(f"  {label}: recall@0.5 {match.recall:.3f}, precision@0.5 {match.precision:.3f}, "
              f"mean IoU {match.mean_iou:.3f}")
    scores = sorted(r.score for v in predicted.values() for r in v)
    print("lowest scores kept:", [round(s, 3) for s in scores[:5]])


if __name__ == "__main__":
    main()
