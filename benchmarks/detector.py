"""Images per second of the detector stage beside ultralytics' predict and the bare model forward, per runtime.

At each batch size and for each runtime (annotators/detector_runtime.py: torch, and on the CPU the exported
onnx and openvino), over the same images, in one run:
  stage    `DetectStage` on pre-decoded Arrow batches (what the Ray actors run), merge included
  forward  the runtime's bare forward pass on a pre-made batch (no letterbox, candidates or NMS)
  graph    on a GPU: the stage's own CUDA graph replayed on its input buffer (the device's limit for the stage)
  predict  ultralytics' own `model.predict` (torch) over the same image files (its loader, letterbox and NMS)
and each stage's speed-up over the torch stage.

    python benchmarks/detector.py --images out/sample/n1000-s0/images --batch-sizes 8  # CPU: torch, onnx, openvino
    python benchmarks/detector.py --weights configs/detector/sample_yolov8n.pt --images DIR --device cuda
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotators.detector import load_yolo  # noqa: E402
from annotators.detector_torch import TorchDetector, resolve_device  # noqa: E402
from pipeline.config import DetectorConfig  # noqa: E402
from pipeline.stages.detect import CHUNKS_PER_BATCH, SAMPLE_WEIGHTS, DetectStage  # noqa: E402
from schemas.work import WORK  # noqa: E402

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_files(folder: Path, count: int) -> list[Path]:
    """`count` image files from `folder`, cycling through them when it holds fewer."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"no images under {folder}")
    return [files[i % len(files)] for i in range(count)]


def stage_batches(files: list[Path], batch_size: int) -> list[pa.Table]:
    """The decode stage's rows for `files` (schemas.work.WORK: pixels, sizes, no regions yet), in batches."""
    images = [np.asarray(Image.open(path).convert("L")) for path in files]
    rows = [
        dict.fromkeys(WORK.names)
        | {"pixels": image.tobytes(), "width": image.shape[1], "height": image.shape[0], "detect": True,
           "regions": [], "reject_reason": ""}
        for image in images
    ]
    return [pa.Table.from_pylist(rows[i : i + batch_size], schema=WORK) for i in range(0, len(rows), batch_size)]


def rate(images: int, run: Callable[[], object], sync: Callable[[], None], repeats: int) -> float:
    """Images per second of `run` (which handles `images` images), best of `repeats` after one warm-up."""
    run()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return images / best


def runtimes(names: str, device: str) -> list[str]:
    """`auto`: every runtime this device runs (torch alone on a GPU); else the comma-separated list."""
    if names != "auto":
        return names.split(",")
    return ["torch"] if resolve_device(device).type == "cuda" else ["torch", "onnx", "openvino"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(SAMPLE_WEIGHTS))
    parser.add_argument("--images", type=Path, required=True, help="folder of PNG/JPEG images (greyscale or not)")
    parser.add_argument("--count", type=int, default=64, help="images per timed pass")
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runtimes", default="auto", help="comma-separated (torch,onnx,openvino) or auto")
    parser.add_argument("--imgsz", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-predict", action="store_true", help="skip ultralytics' predict (its own loader)")
    args = parser.parse_args()

    files = image_files(args.images, args.count)
    config = DetectorConfig(weights=args.weights, imgsz=args.imgsz, device=args.device)
    yolo = load_yolo(args.weights)
    torch.set_grad_enabled(False)
    header = False
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        tables = stage_batches(files, batch_size * CHUNKS_PER_BATCH)
        predict_rate = torch_stage_rate = float("nan")
        for runtime in runtimes(args.runtimes, args.device):
            stage = DetectStage(replace(config, batch_size=batch_size, runtime=runtime))
            detector = stage.setup()
            on_torch = isinstance(detector, TorchDetector)
            device, half = (detector.device, detector.half) if on_torch else (torch.device("cpu"), False)
            sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
            if not header:
                header = True
                name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
                print(f"device={device} ({name}) half={half} imgsz={detector.imgsz} images/pass={len(files)} "
                      f"chunks per stage batch={CHUNKS_PER_BATCH} stage threads={detector.threads or 'device'} "
                      f"(ultralytics' predict: torch's {torch.get_num_threads()}) "
                      f"torch={torch.__version__}")
                print(f"{'runtime':>8} {'batch':>5} {'stage img/s':>12} {'forward img/s':>14} {'graph img/s':>12} "
                      f"{'predict img/s':>14} {'stage/forward':>14} {'stage/graph':>12} {'stage/predict':>14} "
                      f"{'stage/torch':>12}")
            stage_rate = rate(len(files), lambda: [stage.run(t, detector) for t in tables], sync, args.repeats)
            torch_stage_rate = stage_rate if runtime == "torch" else torch_stage_rate
            if runtime == "torch" and not args.no_predict:
                predict_args = dict(imgsz=detector.imgsz, half=half, device=str(device), conf=config.conf,
                                    iou=config.iou, batch=batch_size, verbose=False, stream=True)
                predict_rate = rate(len(files), lambda: sum(1 for _ in yolo.predict([str(f) for f in files],
                                                                                     **predict_args)),
                                    sync, args.repeats)

            dtype = torch.float16 if half else torch.float32
            inputs = torch.rand(batch_size, 3, detector.imgsz, detector.imgsz, device=device, dtype=dtype)
            if on_torch:
                inputs = inputs.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else inputs
            else:
                inputs = inputs.numpy()
            passes = max(1, len(files) // batch_size)
            forward_rate = rate(passes * batch_size, lambda: [detector.forward(inputs) for _ in range(passes)], sync,
                                args.repeats)
            graph = detector.graph if on_torch else None
            graph_rate = float("nan")
            if graph is not None:
                graph_rate = rate(passes * batch_size, lambda: [graph.graph.replay() for _ in range(passes)], sync,
                                  args.repeats)
            print(f"{runtime:>8} {batch_size:>5} {stage_rate:>12.1f} {forward_rate:>14.1f} {graph_rate:>12.1f} "
                  f"{predict_rate:>14.1f} {stage_rate / forward_rate:>14.2f} {stage_rate / graph_rate:>12.2f} "
                  f"{stage_rate / predict_rate:>14.2f} {stage_rate / torch_stage_rate:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
