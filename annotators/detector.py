"""ROI proposals from an ultralytics YOLO detector, kept at the edge.

ultralytics is imported only after the offline environment is applied, its settings never sync, and weights
come from local files alone (or a model definition `*.yaml`, which builds an untrained model): nothing is ever
downloaded. ultralytics' own predictor is not used: it letterboxes, uploads and post-processes image by image.
Here a chunk of images is letterboxed on the CPU into one pinned uint8 buffer (as ultralytics' `LetterBox`
does: bilinear resize of the long side to `imgsz`, centred, grey 114 padding), uploaded in one copy, run
through the fused model (a CUDA graph on a GPU), and cut to its best candidates on the device without
waiting for it; the next chunk is prepared while the device works, and NMS runs on the CPU over the few
candidates above the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
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


def load_yolo(weights: str | Path) -> Any:
    """An ultralytics `YOLO` from a local weights file or a `*.yaml` model definition; never a download."""
    name = str(weights)
    is_definition = name.endswith((".yaml", ".yml")) and "://" not in name
    if not (Path(name).is_file() or is_definition):
        raise FileNotFoundError(f"detector weights {name!r} are not a local file (nothing is downloaded)")
    return import_ultralytics().YOLO(name, task="detect")


def resolve_device(device: str) -> torch.device:
    """`auto` -> the first GPU when there is one, else the CPU; anything else as torch reads it."""
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


@dataclass
class _InFlight:
    """A chunk whose candidates are on their way back from the device."""

    candidates: torch.Tensor  # (N, CANDIDATES, 6): x0, y0, x1, y1, score, class, in input pixels
    placements: list[Placement]
    done: torch.cuda.Event | None


@dataclass(frozen=True)
class _Graph:
    graph: torch.cuda.CUDAGraph
    pixels: torch.Tensor  # the captured input buffer: (batch_size, imgsz, imgsz) uint8 on the device
    output: torch.Tensor  # the captured candidates, overwritten by each replay


class Detector:
    """A YOLO model on one device that turns greyscale images into normalised `Region` proposals.

    On a GPU, full chunks run as one captured CUDA graph (upload buffer -> candidates), so issuing a forward
    costs microseconds of CPU instead of one Python call per layer; `cuda_graph=False` runs it eagerly.
    On the CPU, `runtime` may hand the forward pass to an exported model (annotators/detector_runtime.py), and
    `threads` (None: torch's setting) fixes the threads of the forward pass.
    """

    def __init__(
        self,
        weights: str,
        device: str = "auto",
        imgsz: int = 512,
        conf: float = 0.25,
        iou: float = 0.5,
        half: bool | None = None,
        batch_size: int = 32,
        max_det: int = 50,
        cuda_graph: bool = True,
        runtime: str = "auto",
        threads: int | None = None,
    ):
        yolo = load_yolo(weights)
        self.device = resolve_device(device)
        self.cuda = self.device.type == "cuda"
        self.half = self.cuda if half is None else half
        model = yolo.model.fuse(verbose=False).to(self.device).eval()
        self.model = model.half() if self.half else model.float()
        if not self.cuda:  # oneDNN's channels-last convolutions, in small chunks that stay in cache
            self.model = self.model.to(memory_format=torch.channels_last)
        batch_size = forward_batch(batch_size, self.cuda)
        stride = int(max(self.model.stride))
        self.imgsz = -(-imgsz // stride) * stride
        self.conf, self.iou, self.batch_size, self.max_det = conf, iou, batch_size, max_det
        names = yolo.names
        self.labels = tuple(canonical_label(names[i]) for i in range(len(names)))
        self.end2end = bool(getattr(self.model.model[-1], "end2end", False))
        self.threads = None if self.cuda else threads
        self.runtime = detector_runtime.choose(runtime, self.cuda, weights)
        self.exported: detector_runtime.Forward | None = None
        if self.runtime != "torch":
            self.exported = detector_runtime.exported_forward(self.runtime, weights, self.imgsz,
                                                              threads or torch.get_num_threads())
        self.graph: _Graph | None = None
        if self.cuda:
            torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
            if cuda_graph:
                self.graph = self.capture()

    @torch.inference_mode()
    def capture(self) -> _Graph:
        """The candidates of a full chunk as a CUDA graph over a fixed uint8 input buffer."""
        pixels = torch.full((self.batch_size, self.imgsz, self.imgsz), PAD_VALUE, dtype=torch.uint8, device=self.device)
        warm_up = torch.cuda.Stream(self.device)
        warm_up.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(warm_up):  # cuDNN picks its kernels before capture
            for _ in range(3):
                self.candidates(pixels)
        torch.cuda.current_stream(self.device).wait_stream(warm_up)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = self.candidates(pixels)
        return _Graph(graph, pixels, output)

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray]) -> list[list[Region]]:
        """Regions per image (uint8 greyscale HxW arrays), in chunks of `batch_size`, best score first."""
        regions: list[list[Region]] = []
        in_flight: _InFlight | None = None
        for start in range(0, len(images), self.batch_size):
            launched = self.launch(images[start : start + self.batch_size])
            if in_flight is not None:
                regions += self.collect(in_flight)
            in_flight = launched
        if in_flight is not None:
            regions += self.collect(in_flight)
        return regions

    def letterbox(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[Placement]]:
        """The chunk as one (N, imgsz, imgsz) uint8 tensor (pinned when the device is a GPU) and placements."""
        size = self.imgsz
        canvas = torch.empty((len(images), size, size), dtype=torch.uint8, pin_memory=self.cuda)
        pixels = canvas.numpy()
        placements = []
        for index, image in enumerate(images):
            if image.ndim != 2 or image.dtype != np.uint8:
                raise ValueError(f"expected a uint8 greyscale HxW image, got {image.dtype} {image.shape}")
            height, width = image.shape
            place = Placement.fit(width, height, size)
            if (place.new_height, place.new_width) != (height, width):
                image = cv2.resize(image, (place.new_width, place.new_height), interpolation=cv2.INTER_LINEAR)
            bottom, right = place.top + place.new_height, place.left + place.new_width
            pixels[index, place.top : bottom, place.left : right] = image
            for pad in (np.s_[: place.top], np.s_[bottom:]):  # grey only where the image does not reach
                pixels[index, pad] = PAD_VALUE
            for pad in (np.s_[: place.left], np.s_[right:]):
                pixels[index, place.top : bottom, pad] = PAD_VALUE
            placements.append(place)
        return canvas, placements

    def candidates(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, imgsz, imgsz) uint8 on the device -> (N, K, 6) float32 candidates: x0, y0, x1, y1, score, class
        in input pixels, best first (K = CANDIDATES, or the end-to-end head's own count)."""
        batch = pixels[:, None].expand(-1, 3, -1, -1).to(torch.float16 if self.half else torch.float32) / 255
        output = self.forward(batch)  # greyscale in all three channels: BGR = RGB
        output = output[0] if isinstance(output, (list, tuple)) else output
        if self.end2end:  # (N, K, 6) already, one box per object
            return output.float()
        output = output.transpose(1, 2)  # (N, anchors, 4 + classes): centre x, centre y, w, h, class scores
        best, cls = output[..., 4:].max(-1)
        score, anchor = best.topk(min(CANDIDATES, best.shape[1]), dim=1)
        xywh = output[..., :4].gather(1, anchor[..., None].expand(-1, -1, 4))
        corners = torch.cat((xywh[..., :2] - xywh[..., 2:] / 2, xywh[..., :2] + xywh[..., 2:] / 2), -1)
        return torch.cat((corners, score[..., None], cls.gather(1, anchor)[..., None].to(score.dtype)), -1).float()

    def forward(self, batch: torch.Tensor) -> torch.Tensor | tuple:
        """The model's raw output for a (N, 3, imgsz, imgsz) batch in [0, 1], under the chosen runtime."""
        if self.exported is not None:
            return torch.from_numpy(self.exported(np.ascontiguousarray(batch.numpy())))
        if self.threads is None:
            return self.model(batch)
        before = torch.get_num_threads()  # torch's thread count is the process's: set for this pass only
        torch.set_num_threads(self.threads)
        try:
            return self.model(batch)
        finally:
            torch.set_num_threads(before)

    def launch(self, images: Sequence[np.ndarray]) -> _InFlight:
        """Letterbox, upload and run a chunk, and start copying its candidates back, without waiting."""
        canvas, placements = self.letterbox(images)
        if self.graph is not None and len(images) == self.batch_size:
            self.graph.pixels.copy_(canvas, non_blocking=True)
            self.graph.graph.replay()
            candidates = self.graph.output
        else:
            candidates = self.candidates(canvas.to(self.device, non_blocking=True))
        host = torch.empty(candidates.shape, dtype=torch.float32, pin_memory=self.cuda)
        host.copy_(candidates, non_blocking=True)
        done = None
        if self.cuda:
            done = torch.cuda.Event()
            done.record()
        return _InFlight(host, placements, done)

    def collect(self, chunk: _InFlight) -> list[list[Region]]:
        """Wait for a launched chunk and turn each image's candidates into `Region`s."""
        if chunk.done is not None:
            chunk.done.synchronize()
        return [self.regions(rows, place) for rows, place in zip(chunk.candidates.numpy(), chunk.placements)]

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
