"""The detector stage: run in an actor pool whose actors load YOLO once and add ROI proposals to rows.

Rows arrive decoded (`pixels`, `width`, `height`) from the decode stage, so the model's device never waits on a
decoder. Rows with `detect` false and reject rows pass through untouched; the others get their `regions`
replaced by the annotated boxes plus the detector's proposals that no annotated box of the same label covers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from annotators.detector import Detector, forward_batch
from annotators.regions import Region, merge_detections
from pipeline.config import DetectorConfig
from pipeline.stage import Resources, Stage

SAMPLE_WEIGHTS = Path(__file__).resolve().parents[2] / "configs" / "detector" / "sample_yolov8n.pt"
CHUNKS_PER_BATCH = 4  # forward passes per Ray batch: one chunk is prepared while the device runs another


@dataclass(frozen=True)
class DetectStage(Stage):
    """The detector stage: one `Detector` per actor, on a GPU when `gpus` (the cluster's) allows."""

    config: DetectorConfig
    gpus: int = 0  # GPUs in the cluster: each actor takes one when there are any (and the device allows)

    name = "detect"

    def __post_init__(self):
        if not self.config.weights:
            raise ValueError("the detector stage needs weights")

    @property
    def resources(self) -> Resources:
        gpus = self.gpus if self.config.device != "cpu" else 0
        return Resources(gpus=1 if gpus else 0, actors=min(self.config.actors, gpus) if gpus else self.config.actors)

    @property
    def batch_size(self) -> int:
        return forward_batch(self.config.batch_size, cuda=self.resources.gpus > 0) * CHUNKS_PER_BATCH

    def setup(self) -> Detector:
        config = self.config
        detector = Detector(config.weights, device=config.device, imgsz=config.imgsz, conf=config.conf,
                            iou=config.iou, batch_size=config.batch_size)
        if not detector.cuda:
            # Ray gives a 1-CPU actor one thread; on a CPU-only node the detector bounds the build, so let it use
            # every core and share them with the lighter decode and annotate tasks (the OS schedules the two).
            torch.set_num_threads(config.cpu_threads or len(os.sched_getaffinity(0)))
        return detector

    def process(self, batch: pa.Table, detector: Detector) -> pa.Table:
        wanted = pc.fill_null(batch["detect"], False).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(wanted)
        if len(rows) == 0:
            return batch
        regions = batch["regions"].to_pylist()
        for row, proposals in zip(rows, detector.predict(_images(batch, rows))):
            annotated = [Region(**region) for region in regions[row] or ()]
            merged = merge_detections(annotated, proposals, self.config.iou, min_score=self.config.conf)
            regions[row] = [region.to_row() for region in merged]
        column = pa.array(regions, type=batch.schema.field("regions").type)
        return batch.set_column(batch.schema.get_field_index("regions"), "regions", column)


def _images(batch: pa.Table, rows: np.ndarray) -> list[np.ndarray]:
    """The greyscale HxW arrays of `rows`, viewing the Arrow buffers without a copy."""
    pixels = batch["pixels"]
    widths, heights = (pc.fill_null(batch[k], 0).to_numpy() for k in ("width", "height"))  # rejects hold nulls
    return [np.frombuffer(pixels[row].as_buffer(), dtype=np.uint8).reshape(heights[row], widths[row]) for row in rows]


def detect_stage(config: DetectorConfig, gpus: int) -> DetectStage:
    """The detector stage of `config`, its weights made absolute so that workers in any folder find them."""
    if Path(config.weights).is_file():
        config = replace(config, weights=str(Path(config.weights).resolve()))
    return DetectStage(config, int(gpus))
