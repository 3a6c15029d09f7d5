"""The detector stage: a Ray Data actor pool whose actors load YOLO once and add ROI proposals to rows.

Rows arrive decoded (`pixels`, `width`, `height`) from the decode stage, so the model's device never waits on a
decoder. Rows with `detect` false and reject rows pass through untouched; the others get their `regions`
replaced by the annotated boxes plus the detector's proposals that no annotated box of the same label covers.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from annotators.detector import Detector, forward_batch, resolve_device
from annotators.regions import Region, merge_detections
from pipeline.config import DetectorConfig
from pipeline.stats import StageClock, add_seconds

SAMPLE_WEIGHTS = Path(__file__).resolve().parents[1] / "configs" / "detector" / "sample_yolov8n.pt"
CHUNKS_PER_BATCH = 4  # forward passes per Ray batch: one chunk is prepared while the device runs another


class DetectStage:
    """A callable class for `map_batches(batch_format="pyarrow")`: one `Detector` per actor."""

    def __init__(self, config: DetectorConfig):
        if not config.weights:
            raise ValueError("the detector stage needs weights")
        self.config = config
        if resolve_device(config.device).type != "cuda":
            # Ray gives a 1-CPU actor one thread; on a CPU-only node the detector bounds the build, so let it use
            # every core and share them with the lighter decode and annotate tasks (the OS schedules the two).
            torch.set_num_threads(config.cpu_threads or len(os.sched_getaffinity(0)))
        self.detector = Detector(
            config.weights,
            device=config.device,
            imgsz=config.imgsz,
            conf=config.conf,
            iou=config.iou,
            batch_size=config.batch_size,
            runtime=config.runtime,
        )

    def __call__(self, batch: pa.Table) -> pa.Table:
        clock = StageClock()
        with clock("detect"):
            batch = self._propose(batch)
        return add_seconds(batch, clock.seconds)

    def _propose(self, batch: pa.Table) -> pa.Table:
        wanted = pc.and_(pc.fill_null(batch["detect"], False), pc.equal(pc.fill_null(batch["reject_reason"], ""), ""))
        rows = np.flatnonzero(wanted.to_numpy(zero_copy_only=False))
        if len(rows) == 0:
            return batch
        regions = batch["regions"].to_pylist()
        for row, proposals in zip(rows, self.detector.predict(_images(batch, rows))):
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


def add_detect_stage(ds: Any, config: DetectorConfig) -> Any:
    """`ds` with the detector stage appended (unchanged when no weights are configured).

    Each actor takes one GPU when the cluster has one (and the device is not forced to the CPU), else it runs
    on the CPU. Weights are made absolute here so that workers in any folder find them.
    """
    import ray  # here, not at the top: the stage itself runs without Ray (benchmarks/gpu_check.sh)

    if not config.weights:
        return ds
    if Path(config.weights).is_file():
        config = replace(config, weights=str(Path(config.weights).resolve()))
    gpus = ray.cluster_resources().get("GPU", 0) if config.device != "cpu" else 0
    return ds.map_batches(
        DetectStage,
        fn_constructor_kwargs={"config": config},
        compute=ray.data.ActorPoolStrategy(size=min(config.actors, int(gpus)) if gpus >= 1 else config.actors),
        num_gpus=1 if gpus >= 1 else 0,
        batch_size=forward_batch(config.batch_size, cuda=gpus >= 1) * CHUNKS_PER_BATCH,
        batch_format="pyarrow",
    )
