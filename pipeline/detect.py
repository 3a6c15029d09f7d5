"""The detector stages: one Ray Data actor pool per configured detector, whose actors load YOLO once and add ROI
proposals to rows.

Rows arrive decoded (`pixels`, `width`, `height`) from the decode stage, so the model's device never waits on a
decoder. A detector runs on the rows it applies to: `detect` true (the source allows it), not a reject, of its
sources, modalities and views, and (with `only_unannotated`) without the source's own boxes; other rows pass
untouched. Those get their `regions` replaced by the regions they had (annotations, earlier detectors'
proposals) plus this detector's proposals above its score threshold that no region of the same label covers.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import torch

from annotators.detector import Detector, applies, forward_batch
from annotators.regions import Region, best_per_label, merge_detections
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
        self.detector = Detector(
            config.weights,
            device=config.device,
            imgsz=config.imgsz,
            conf=config.conf,
            iou=config.iou,
            batch_size=config.batch_size,
        )
        if config.labels and tuple(config.labels) != self.detector.labels:
            raise ValueError(f"detector {config.name}: {config.weights} gives labels {list(self.detector.labels)}, "
                             f"the config expects {list(config.labels)}")
        if not self.detector.cuda:
            # Ray gives a 1-CPU actor one thread; on a CPU-only node the detector bounds the build, so let it use
            # every core and share them with the lighter decode and annotate tasks (the OS schedules the two).
            torch.set_num_threads(config.cpu_threads or len(os.sched_getaffinity(0)))

    def __call__(self, batch: pa.Table) -> pa.Table:
        clock = StageClock()
        with clock("detect"):
            batch = self._propose(batch)
        return add_seconds(batch, clock.seconds)

    def wanted(self, batch: pa.Table) -> np.ndarray:
        """The indices of the rows this detector runs on."""
        config = self.config
        candidates = pc.and_(pc.fill_null(batch["detect"], False),
                             pc.equal(pc.fill_null(batch["reject_reason"], ""), ""))
        rows = np.flatnonzero(candidates.to_numpy(zero_copy_only=False))
        sources, modalities, views = (batch[k].to_pylist() for k in ("source", "modality", "view"))
        regions = batch["regions"].to_pylist() if config.only_unannotated else None
        return np.array([
            row for row in rows
            if (not config.sources or sources[row] in config.sources)
            and applies(config.modalities, config.views, modalities[row] or "", views[row] or "")
            and not (regions and any(r["origin"] == "annotation" for r in regions[row] or ()))
        ], dtype=np.int64)

    def _propose(self, batch: pa.Table) -> pa.Table:
        rows = self.wanted(batch)
        if len(rows) == 0:
            return batch
        regions = batch["regions"].to_pylist()
        for row, proposals in zip(rows, self.detector.predict(_images(batch, rows))):
            existing = [Region(**region) for region in regions[row] or ()]
            if self.config.one_per_label:  # an image has one of each: none where the row already has it
                present = {region.label for region in existing}
                proposals = [p for p in best_per_label(proposals) if p.label not in present]
            merged = merge_detections(existing, proposals, self.config.iou, min_score=self.config.conf)
            regions[row] = [region.to_row() for region in merged]
        column = pa.array(regions, type=batch.schema.field("regions").type)
        return batch.set_column(batch.schema.get_field_index("regions"), "regions", column)


def _images(batch: pa.Table, rows: np.ndarray) -> list[np.ndarray]:
    """The greyscale HxW arrays of `rows`, viewing the Arrow buffers without a copy."""
    pixels = batch["pixels"]
    widths, heights = (pc.fill_null(batch[k], 0).to_numpy() for k in ("width", "height"))  # rejects hold nulls
    return [np.frombuffer(pixels[row].as_buffer(), dtype=np.uint8).reshape(heights[row], widths[row]) for row in rows]


def add_detect_stages(ds: Any, configs: Sequence[DetectorConfig]) -> Any:
    """`ds` with one detector stage per config appended, in order; on a GPU node they share each GPU."""
    for config in configs:
        ds = add_detect_stage(ds, config, gpu_share=1 / len(configs))
    return ds


def add_detect_stage(ds: Any, config: DetectorConfig, gpu_share: float = 1.0) -> Any:
    """`ds` with the detector stage appended (unchanged when no weights are configured).

    Each actor takes `gpu_share` of a GPU when the cluster has one (and the device is not forced to the CPU),
    else it runs on the CPU. Weights are made absolute here so that workers in any folder find them.
    """
    if not config.weights:
        return ds
    if Path(config.weights).is_file():
        config = replace(config, weights=str(Path(config.weights).resolve()))
    gpus = ray.cluster_resources().get("GPU", 0) if config.device != "cpu" else 0
    return ds.map_batches(
        DetectStage,
        fn_constructor_kwargs={"config": config},
        compute=ray.data.ActorPoolStrategy(size=min(config.actors, int(gpus)) if gpus >= 1 else config.actors),
        num_gpus=gpu_share if gpus >= 1 else 0,
        batch_size=forward_batch(config.batch_size, cuda=gpus >= 1) * CHUNKS_PER_BATCH,
        batch_format="pyarrow",
    )
