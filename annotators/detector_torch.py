"""The detector on torch: the fused YOLO model on the CPU or a GPU.

On a GPU, a chunk of images is letterboxed into one pinned uint8 buffer, uploaded in one copy, run through the
model (full chunks as one captured CUDA graph: issuing a forward costs microseconds of CPU instead of one Python
call per layer) and cut to its best candidates on the device without waiting for it; the next chunk is prepared
while the device works, and NMS runs on the CPU over the few candidates above the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from annotators.detector import CANDIDATES, PAD_VALUE, Detector, Placement, forward_batch, letterbox, load_yolo
from annotators.detector_runtime import model_facts
from annotators.regions import Region


def resolve_device(device: str) -> torch.device:
    """`auto` -> the first GPU when there is one, else the CPU; anything else as torch reads it."""
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


class TorchDetector(Detector):
    """The fused YOLO model on one device (`auto`: the first GPU when there is one, else the CPU).

    On a GPU, full chunks run as one captured CUDA graph (upload buffer -> candidates); `cuda_graph=False` runs it
    eagerly. On the CPU the model runs channels-last, and `threads` (None: torch's setting) fixes the threads of
    the forward pass.
    """

    runtime = "torch"

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
        threads: int | None = None,
    ):
        yolo = load_yolo(weights)
        self.device = resolve_device(device)
        self.cuda = self.device.type == "cuda"
        super().__init__(model_facts(yolo, imgsz), conf, iou, forward_batch(batch_size, self.cuda), max_det)
        self.half = self.cuda if half is None else half
        model = yolo.model.fuse(verbose=False).to(self.device).eval()
        self.model = model.half() if self.half else model.float()
        if not self.cuda:  # oneDNN's channels-last convolutions, in small chunks that stay in cache
            self.model = self.model.to(memory_format=torch.channels_last)
        self.threads = None if self.cuda else threads
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
        canvas = torch.empty((len(images), self.imgsz, self.imgsz), dtype=torch.uint8, pin_memory=self.cuda)
        return canvas, letterbox(images, canvas.numpy())

    def candidates(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, imgsz, imgsz) uint8 on the device -> (N, K, 6) float32 candidates: x0, y0, x1, y1, score, class
        in input pixels, best first (K = CANDIDATES, or the end-to-end head's own count), as
        `annotators.detector.best_candidates` on the CPU."""
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
        """The model's raw output for a (N, 3, imgsz, imgsz) batch in [0, 1]."""
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
