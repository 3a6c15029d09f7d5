"""The detector stages: one per configured detector, each adding ROI proposals to rows.

On a node with GPUs a YOLO detector is an actor pool whose actors hold the model on a GPU (or a share of one),
fed rows that the decode tasks have already decoded (`pixels`, `width`, `height`), so the device never waits on
a decoder. Without GPUs it is a task stage like the others, fused into the chain that decodes and annotates a
block (pipeline.stage.Resources): each task's process loads the model once and runs it on one thread, the CPU the
task reserves, so the CPUs are shared by the chains rather than by a detector's threads and the decoders, and
every CPU node computes the same boxes (torch's CPU sums depend on the thread count). The model-free CT
lung-field finder is always a task stage.

A detector runs on the rows it applies to: `detect` true (the source allows it), not a reject, of its
sources, body parts, modalities and views (with `unstated_view`, also where the source states no view: there the
proposals are kept only when they show a frontal pair of lungs, which a lateral film never does), and (with
`only_unannotated`) without the source's own boxes; other rows pass untouched. Those get their `regions`
replaced by the regions they had (annotations, earlier detectors' proposals) plus this detector's proposals
above its score threshold that no region of the same label covers.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotators.detector import Detector, applies, forward_batch, load_detector
from annotators.lung_fields import LungFields
from annotators.regions import Region, best_per_label, frontal_lung_pair, merge_detections
from pipeline.config import DetectorConfig
from pipeline.stage import Resources, Stage

SAMPLE_WEIGHTS = Path(__file__).resolve().parents[2] / "configs" / "detector" / "sample_yolov8n.pt"
CHUNKS_PER_BATCH = 4  # forward passes per Ray batch: one chunk is prepared while the device runs another
CPU_THREADS = 1  # a CPU detector's threads: the one CPU its task reserves


@dataclass(frozen=True)
class DetectStage(Stage):
    """One detector: a `Detector` (or `LungFields`) per actor, a YOLO one on a GPU (or a share of one) when `gpus`
    (the cluster's) allows."""

    config: DetectorConfig
    gpus: int = 0  # GPUs in the cluster: each actor takes `gpu_share` of one when there are any
    gpu_share: float = 1.0  # the detectors of a build share each GPU

    name = "detect"

    @property
    def on_gpu(self) -> bool:
        return self.config.kind == "yolo" and self.gpus > 0 and self.config.device != "cpu"

    @property
    def resources(self) -> Resources:
        if not self.on_gpu:
            return Resources()  # tasks, in the chain of the other stages
        return Resources(gpus=self.gpu_share, actors=min(self.config.actors, self.gpus))

    @property
    def batch_size(self) -> int:
        return forward_batch(self.config.batch_size, cuda=self.on_gpu) * CHUNKS_PER_BATCH

    def setup(self) -> Detector | LungFields:
        config = self.config
        if config.kind == "lung_fields":
            detector = LungFields()
        else:
            device = config.device if self.gpus or config.device != "auto" else "cpu"  # no GPU in the cluster
            detector = load_detector(config.weights, device=device, imgsz=config.imgsz, conf=config.conf,
                                     iou=config.iou, batch_size=config.batch_size, runtime=config.runtime,
                                     threads=CPU_THREADS)
        if config.labels and tuple(config.labels) != tuple(detector.labels):
            raise ValueError(f"detector {config.name}: {config.weights or config.kind} gives labels "
                             f"{list(detector.labels)}, the config expects {list(config.labels)}")
        return detector

    def wanted(self, batch: pa.Table) -> np.ndarray:
        """The indices of the rows this detector runs on."""
        config = self.config
        rows = np.flatnonzero(pc.fill_null(batch["detect"], False).to_numpy(zero_copy_only=False))
        sources, modalities, views, parts = (batch[k].to_pylist() for k in ("source", "modality", "view", "body_part"))
        regions = batch["regions"].to_pylist() if config.only_unannotated else None
        body_parts = {part.upper() for part in config.body_parts}
        return np.array([
            row for row in rows
            if (not config.sources or sources[row] in config.sources)
            and (not body_parts or (parts[row] or "").strip().upper() in body_parts)
            and (applies(config.modalities, config.views, modalities[row] or "", views[row] or "")
                 or (config.unstated_view and not (views[row] or "").strip()
                     and applies(config.modalities, (), modalities[row] or "", "")))
            and not (regions and any(r["origin"] == "annotation" for r in regions[row] or ()))
        ], dtype=np.int64)

    def process(self, batch: pa.Table, detector: Detector | LungFields) -> pa.Table:
        rows = self.wanted(batch)
        if len(rows) == 0:
            return batch
        regions, views = batch["regions"].to_pylist(), batch["view"].to_pylist()
        for row, proposals in zip(rows, detector.predict(_images(batch, rows))):
            existing = [Region(**region) for region in regions[row] or ()]
            if self.config.views and not (views[row] or "").strip() and not _frontal(proposals, self.config.conf):
                continue  # a view the source does not state, and the image does not show as frontal
            if self.config.one_per_label:  # an image has one of each: none where the row already has it
                present = {region.label for region in existing}
                proposals = [p for p in best_per_label(proposals) if p.label not in present]
            merged = merge_detections(existing, proposals, self.config.iou, min_score=self.config.conf)
            regions[row] = [region.to_row() for region in merged]
        column = pa.array(regions, type=batch.schema.field("regions").type)
        return batch.set_column(batch.schema.get_field_index("regions"), "regions", column)


def _frontal(proposals: list[Region], conf: float) -> bool:
    return frontal_lung_pair(best_per_label([p for p in proposals if p.score >= conf]))


def _images(batch: pa.Table, rows: np.ndarray) -> list[np.ndarray]:
    """The greyscale HxW arrays of `rows`, viewing the Arrow buffers without a copy."""
    pixels = batch["pixels"]
    widths, heights = (pc.fill_null(batch[k], 0).to_numpy() for k in ("width", "height"))  # rejects hold nulls
    return [np.frombuffer(pixels[row].as_buffer(), dtype=np.uint8).reshape(heights[row], widths[row]) for row in rows]


def detect_stages(configs: tuple[DetectorConfig, ...], gpus: int) -> list[DetectStage]:
    """One stage per detector, in order, their weights made absolute so that workers in any folder find them;
    on a GPU node the YOLO ones share each GPU."""
    stages = []
    share = 1 / max(1, sum(config.kind == "yolo" for config in configs))
    for config in configs:
        if config.weights and Path(config.weights).is_file():
            config = replace(config, weights=str(Path(config.weights).resolve()))
        stages.append(DetectStage(config, int(gpus), gpu_share=share))
    return stages
