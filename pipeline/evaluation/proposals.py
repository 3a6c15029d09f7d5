"""A detector's proposals on images it should put no box on (another kind of image than it was trained on): the
share of images with a proposal per score threshold, and a threshold calibrated on one half of the patients and
tried on the other.

    MEDREGION_DEID_KEY=... python -m pipeline.evaluation.proposals CONFIG WEIGHTS [--source S] [--modalities CR,DX]

Images are decoded by the build's own decode stage from CONFIG's sources (of `--source` and `--modalities` when
given). The calibrated threshold is the lowest that leaves no image of the calibration half with a proposal (its
best score, rounded up to 0.01); the other half's share of images with a proposal above it is the false-positive
rate to expect on unseen images of that kind.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

THRESHOLDS = (0.25, 0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Calibration:
    threshold: float  # lowest threshold with no proposal on the calibration half
    calibration_images: int
    held_out_images: int
    held_out_with_proposal: int  # held-out images with a proposal above the threshold

    @property
    def false_positive_rate(self) -> float:
        return self.held_out_with_proposal / self.held_out_images if self.held_out_images else 0.0


def calibrate(best_scores: Sequence[float], calibration: Sequence[bool]) -> Calibration:
    """The threshold from the images marked `calibration` (each image's best proposal score), tried on the rest."""
    fitted = [s for s, c in zip(best_scores, calibration) if c]
    held_out = [s for s, c in zip(best_scores, calibration) if not c]
    threshold = min(1.0, math.ceil(max(fitted, default=0.0) * 100) / 100)
    return Calibration(threshold, len(fitted), len(held_out), sum(s > threshold for s in held_out))


def best_scores(cfg, weights: str, source: str = "", modalities: Sequence[str] = (), imgsz: int = 512
                ) -> tuple[list[float], list[str]]:
    """Each decoded image's best proposal score (0 without one) and its patient key."""
    from annotators.detector import load_detector
    from pipeline.build import collect_inputs
    from pipeline.stage_list import decode_rows

    images, keys = [], []
    for ref in collect_inputs(cfg).refs:
        if ref.reject or (source and ref.source != source):
            continue
        for row in decode_rows(cfg, [ref]):
            if row["reject_reason"] or (modalities and row["modality"] not in modalities):
                continue
            images.append(np.frombuffer(row["pixels"], np.uint8).reshape(row["height"], row["width"]))
            keys.append(row["patient_key"])
    found = load_detector(weights, device="cpu", imgsz=imgsz, conf=0.01).predict(images)
    return [max((r.score for r in regions), default=0.0) for regions in found], keys


def main(argv: list[str] | None = None) -> None:
    from pipeline.config import load_config
    from pipeline.yolo_dataset import split_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("weights")
    parser.add_argument("--source", default="")
    parser.add_argument("--modalities", default="", help="comma-separated, e.g. CR,DX")
    parser.add_argument("--imgsz", type=int, default=512)
    args = parser.parse_args(argv)
    modalities = tuple(m for m in args.modalities.split(",") if m)
    scores, keys = best_scores(load_config(args.config), args.weights, args.source, modalities, args.imgsz)
    print(f"{len(scores)} images of {len({*keys})} patients")
    for threshold in THRESHOLDS:
        hits = sum(s > threshold for s in scores)
        print(f"conf {threshold}: {hits} images with a proposal ({hits / max(1, len(scores)):.1%})")
    result = calibrate(scores, [split_of(key, 0.5, 0) == "val" for key in keys])
    print(f"calibrated on {result.calibration_images} images: threshold {result.threshold:.2f}; on the other "
          f"{result.held_out_images}: {result.held_out_with_proposal} with a proposal "
          f"(false-positive rate {result.false_positive_rate:.1%})")


if __name__ == "__main__":
    main()
