"""ROI proposals from an ultralytics YOLO detector, kept at the edge.

ultralytics is imported only after the offline environment is applied, its settings never sync, and weights
come from local files alone (or a model definition `*.yaml`, which builds an untrained model): nothing is ever
downloaded. ultralytics' own predictor is not used: it letterboxes and post-processes image by image. Here a
chunk of images is letterboxed into one uint8 buffer (as ultralytics' `LetterBox` does: bilinear resize of the
long side to `imgsz`, centred, grey 114 padding), run through the model in one pass, cut to its best candidates,
and NMS runs over the few candidates above the threshold.

`load_detector` picks where the model runs (annotators/detector_runtime.py): `TorchDetector`
(annotators/detector_torch.py: the fused model, a CUDA graph on a GPU) or, on the CPU, `ExportedDetector` here,
which runs the ONNX export and, once that is cached, imports neither torch nor ultralytics: a build's CPU worker
starts without them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image

from annotators import detector_runtime, offline
from annotators.regions import Region
from schemas.labels import canonical_label

PAD_VALUE = 114  # ultralytics' letterbox grey
CPU_CHUNK = 8  # images per forward pass on the CPU: YOLOv8n at 512 px ran 1.8x faster than at 32 (channels last)
CANDIDATES = 300  # best anchors per image kept for NMS (far more than an image's objects)


def import_ultralytics() -> Any:
    """The `ultralytics` module, imported under the offline environment with settings sync turned off, and
    with Pillow's own `Image.open` put back: ultralytics replaces it process-wide with one that, on an image
    Pillow cannot identify, tries to install and import pi-heif instead of raising `UnidentifiedImageError`."""
    offline.apply()
    import ultralytics
    from ultralytics.utils import patches

    Image.open = patches._image_open
    ultralytics.settings.update({"sync": False, "raytune": False})
    return ultralytics


def forward_batch(batch_size: int, cuda: bool) -> int:
    """Images per forward pass: `batch_size` on a GPU, at most CPU_CHUNK on the CPU."""
    return batch_size if cuda else min(batch_size, CPU_CHUNK)


def local_weights(weights: str | Path) -> str:
    """`weights` as a path, refused unless it is a local file or a `*.yaml` model definition (never a download)."""
    name = str(weights)
    is_definition = name.endswith((".yaml", ".yml")) and "://" not in name
    if not (Path(name).is_file() or is_definition):
        raise FileNotFoundError(f"detector weights {name!r} are not a local file (nothing is downloaded)")
    return name


def load_yolo(weights: str | Path) -> Any:
    """An ultralytics `YOLO` from a local weights file or a `*.yaml` model definition."""
    return import_ultralytics().YOLO(local_weights(weights), task="detect")


def on_gpu(device: str) -> bool:
    """Whether `device` (auto, cpu, cuda, cuda:N, ...) puts the model on a GPU; `cpu` is answered without torch."""
    if device == "cpu":
        return False
    from annotators.detector_torch import resolve_device

    return resolve_device(device).type == "cuda"


def load_detector(weights: str | Path, device: str = "auto", imgsz: int = 512, conf: float = 0.25,
                  iou: float = 0.5, batch_size: int = 32, max_det: int = 50, runtime: str = "auto",
                  threads: int | None = None, **torch_options: Any) -> "Detector":
    """A detector of local `weights` on `device` under `runtime` (annotators/detector_runtime.py); `threads`
    (None: the runtime's default) fixes the CPU threads of the forward pass; `torch_options` (`half`,
    `cuda_graph`) go to `TorchDetector`."""
    name = local_weights(weights)
    chosen = detector_runtime.choose(runtime, on_gpu(device), name)
    if chosen == "torch":
        from annotators.detector_torch import TorchDetector

        return TorchDetector(name, device=device, imgsz=imgsz, conf=conf, iou=iou, batch_size=batch_size,
                             max_det=max_det, threads=threads, **torch_options)
    return ExportedDetector(name, chosen, imgsz=imgsz, conf=conf, iou=iou, batch_size=batch_size, max_det=max_det,
                            threads=threads)


@dataclass(frozen=True)
class Placement:
    """Where an image of `width` x `height` sits in the square input: resized to `new_width` x `new_height`
    (scale `scale`), then shifted by (`left`, `top`), as ultralytics' `LetterBox` places it."""

    left: int
    top: int
    scale: float
    width: int
    height: int
    new_width: int
    new_height: int

    @classmethod
    def fit(cls, width: int, height: int, size: int) -> "Placement":
        scale = size / max(width, height)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        left, top = round((size - new_w) / 2 - 0.1), round((size - new_h) / 2 - 0.1)
        return cls(left, top, scale, width, height, new_w, new_h)

    def normalise(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """A box in input pixels -> the same box in [0, 1] of the image, clipped to it."""
        nx0, nx1 = (min(1.0, max(0.0, (x - self.left) / self.scale / self.width)) for x in (x0, x1))
        ny0, ny1 = (min(1.0, max(0.0, (y - self.top) / self.scale / self.height)) for y in (y0, y1))
        return nx0, ny0, nx1, ny1


def letterbox(images: Sequence[np.ndarray], canvas: np.ndarray) -> list[Placement]:
    """Each uint8 greyscale HxW image resized into its square of `canvas` ((N, S, S) uint8), grey where it does
    not reach; their placements."""
    size = canvas.shape[1]
    placements = []
    for index, image in enumerate(images):
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 greyscale HxW image, got {image.dtype} {image.shape}")
        height, width = image.shape
        place = Placement.fit(width, height, size)
        if (place.new_height, place.new_width) != (height, width):
            image = cv2.resize(image, (place.new_width, place.new_height), interpolation=cv2.INTER_LINEAR)
        bottom, right = place.top + place.new_height, place.left + place.new_width
        canvas[index, place.top : bottom, place.left : right] = image
        for pad in (np.s_[: place.top], np.s_[bottom:]):  # grey only where the image does not reach
            canvas[index, pad] = PAD_VALUE
        for pad in (np.s_[: place.left], np.s_[right:]):
            canvas[index, place.top : bottom, pad] = PAD_VALUE
        placements.append(place)
    return placements


class Detector:
    """What every runtime shares: class labels (the corpus vocabulary), the square input size, the thresholds,
    and the step from an image's candidates to its `Region`s. `predict` is the runtime's."""

    runtime: str

    def __init__(self, facts: detector_runtime.ModelFacts, conf: float, iou: float, batch_size: int, max_det: int):
        self.labels = tuple(canonical_label(name) for name in facts.names)
        self.imgsz = facts.imgsz
        self.end2end = facts.end2end  # the model's head gives one box per object (no NMS)
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.batch_size = batch_size  # images per forward pass

    def predict(self, images: Sequence[np.ndarray]) -> list[list[Region]]:
        """Regions per image (uint8 greyscale HxW arrays), best score first."""
        raise NotImplementedError

    def regions(self, candidates: np.ndarray, place: Placement) -> list[Region]:
        """One image's candidates: score threshold, per-class NMS, best first, normalised to the image."""
        rows = candidates[candidates[:, 4] > self.conf]
        rows = rows[np.argsort(-rows[:, 4], kind="stable")]
        if not self.end2end:
            rows = rows[greedy_nms(rows[:, :4], rows[:, 5], self.iou)]
        regions = []
        for x0, y0, x1, y1, score, cls in rows[: self.max_det].tolist():
            box = place.normalise(x0, y0, x1, y1)
            if box[2] > box[0] and box[3] > box[1]:
                regions.append(Region(*box, label=self.labels[int(cls)], origin="detector", score=score))
        return regions


class ExportedDetector(Detector):
    """The model's ONNX export on the CPU, under ONNX Runtime or OpenVINO. torch and ultralytics are imported only
    to make the export when none is cached beside the weights yet."""

    def __init__(self, weights: str, runtime: str, imgsz: int = 512, conf: float = 0.25, iou: float = 0.5,
                 batch_size: int = 32, max_det: int = 50, threads: int | None = None):
        model = detector_runtime.exported_model(weights, imgsz)
        super().__init__(model, conf, iou, forward_batch(batch_size, cuda=False), max_det)
        self.runtime, self.threads = runtime, threads
        self.forward = detector_runtime.exported_forward(runtime, model, threads or len(os.sched_getaffinity(0)))

    def predict(self, images: Sequence[np.ndarray]) -> list[list[Region]]:
        regions: list[list[Region]] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            pixels = np.empty((len(chunk), self.imgsz, self.imgsz), dtype=np.uint8)
            placements = letterbox(chunk, pixels)
            batch = np.repeat(pixels[:, None], 3, axis=1).astype(np.float32) / 255  # grey in all three channels
            candidates = best_candidates(self.forward(batch), self.end2end)
            regions += [self.regions(rows, place) for rows, place in zip(candidates, placements)]
        return regions


def best_candidates(output: np.ndarray, end2end: bool) -> np.ndarray:
    """A raw forward output -> (N, K, 6) float32 candidates: x0, y0, x1, y1, score, class in input pixels, best
    first (K = CANDIDATES, or the end-to-end head's own count); `annotators.detector_torch` does the same on the
    device."""
    if end2end:  # (N, K, 6) already, one box per object
        return output.astype(np.float32)
    output = output.transpose(0, 2, 1)  # (N, anchors, 4 + classes): centre x, centre y, w, h, class scores
    cls = output[..., 4:].argmax(-1)
    best = np.take_along_axis(output[..., 4:], cls[..., None], -1)[..., 0]
    anchor = np.argsort(-best, axis=1, kind="stable")[:, :CANDIDATES]
    score = np.take_along_axis(best, anchor, 1)
    xywh = np.take_along_axis(output[..., :4], anchor[..., None], 1)
    corners = np.concatenate((xywh[..., :2] - xywh[..., 2:] / 2, xywh[..., :2] + xywh[..., 2:] / 2), -1)
    classes = np.take_along_axis(cls, anchor, 1).astype(np.float32)
    return np.concatenate((corners, score[..., None], classes[..., None]), -1).astype(np.float32)


def greedy_nms(boxes: np.ndarray, classes: np.ndarray, iou_threshold: float) -> list[int]:
    """Indices kept by greedy per-class NMS over boxes (x0, y0, x1, y1) sorted best first: a box goes when
    a kept box of its class overlaps it by more than `iou_threshold` (as torchvision's `nms`)."""
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0) * (y1 - y0)
    width = np.clip(np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0), 0, None)
    height = np.clip(np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0), 0, None)
    inter = width * height
    overlap = inter / np.maximum(area[:, None] + area - inter, 1e-9)
    suppresses = (overlap > iou_threshold) & (classes[:, None] == classes)
    removed = np.zeros(len(boxes), dtype=bool)
    kept = []
    for index in range(len(boxes)):
        if not removed[index]:
            kept.append(index)
            removed |= suppresses[index]
    return kept


def applies(modalities: Sequence[str], views: Sequence[str], modality: str, view: str) -> bool:
    """Whether a detector meant for `modalities` and `views` (empty: any) runs on an image of this modality and
    view; a view matches by its first word ("AP SUPINE" is an AP view), case aside."""
    first = (view.strip().upper().split() or [""])[0]
    return (not modalities or modality.strip().upper() in {m.upper() for m in modalities}) and (
        not views or first in {v.upper() for v in views}
    )
