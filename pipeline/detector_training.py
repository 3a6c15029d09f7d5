"""Training a YOLO detector on an exported dataset (offline), with a model card and held-out mAP50.

ultralytics' run folder (checkpoints, logs) goes to `<out_dir>/run`; the best weights are copied to
`<out_dir>/<name>.pt` and described in `<out_dir>/MODEL_CARD.md`.
"""
from __future__ import annotations

import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from annotators.detector import load_yolo
from pipeline.config import DetectorTrainingOptions

TRAINING = DetectorTrainingOptions()


@dataclass(frozen=True)
class TrainedDetector:
    weights: Path
    card: Path
    map50: float  # on the dataset's val split
    map50_95: float
    epochs: int  # epochs run (fewer than asked when `minutes` ran out first)
    train_images: int
    val_images: int
    seconds: float


def train_detector(
    data_yaml: str | Path,
    out_dir: str | Path,
    model: str = TRAINING.model,
    epochs: int = TRAINING.epochs,
    imgsz: int = TRAINING.imgsz,
    batch: int = TRAINING.batch,
    device: str = TRAINING.device,
    name: str = TRAINING.name,
    seed: int = TRAINING.seed,
    command: str | None = None,
    minutes: float | None = None,
    workers: int = TRAINING.workers,
    settings: dict | None = None,
) -> TrainedDetector:
    """Train `model` (a model yaml for random init, or a local checkpoint) on `data_yaml`; write weights + card.

    `minutes` bounds the training time (ultralytics then fits the epochs into it); `workers` are data-loading
    processes (0 loads in this one); `settings` override ultralytics' other training arguments (augmentation:
    `fliplr: 0` where sides matter; `nbs`: the nominal batch gradients accumulate to); `command` is what the
    card says made the weights (default: this process's command line).
    """
    data_yaml, out = Path(data_yaml).resolve(), Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    yolo = load_yolo(model)
    start = time.perf_counter()
    yolo.train(
        data=str(data_yaml),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        project=str(out),
        name="run",
        exist_ok=True,
        pretrained=False,  # nothing is downloaded; a checkpoint given as `model` is its own starting point
        amp=False,  # ultralytics' AMP check downloads a model
        plots=False,
        workers=workers,
        seed=seed,
        time=minutes / 60 if minutes else None,
        verbose=False,
        **(settings or {}),
    )
    seconds = time.perf_counter() - start
    best = Path(yolo.trainer.best)
    weights = out / f"{name}.pt"
    shutil.copyfile(best, weights)
    metrics = load_yolo(weights).val(
        data=str(data_yaml), split="val", imgsz=imgsz, batch=batch, device=device, plots=False, verbose=False
    )
    data = yaml.safe_load(data_yaml.read_text())
    root = data_yaml.parent
    result = TrainedDetector(
        weights=weights,
        card=out / "MODEL_CARD.md",
        map50=float(metrics.box.map50),
        map50_95=float(metrics.box.map),
        epochs=yolo.trainer.epoch + 1,
        train_images=_count_images(root / data["train"]),
        val_images=_count_images(root / data["val"]),
        seconds=seconds,
    )
    result.card.write_text(
        model_card(result, data["names"], model, imgsz, batch, device, command or shlex.join(sys.argv), settings)
    )
    return result


def _count_images(folder: Path) -> int:
    return sum(1 for path in folder.iterdir() if path.suffix == ".png")


def model_card(
    result: TrainedDetector, names: dict, model: str, imgsz: int, batch: int, device: str, command: str,
    settings: dict | None = None,
) -> str:
    """The Markdown card beside the weights: what made them, on what, and how well they do on held-out images."""
    labels = ", ".join(f"{index}: {label}" for index, label in sorted(names.items()))
    return f"""# Detector `{result.weights.name}`

Made by:

```
{command}
```

| | |
|---|---|
| model | `{model}` (ultralytics; no downloaded weights, a local checkpoint is its own start) |
| label map | {labels} |
| training images | {result.train_images} |
| held-out (val) images | {result.val_images} |
| epochs / image size / batch | {result.epochs} / {imgsz} / {batch} |
| settings beside ultralytics' defaults | {", ".join(f"{k}={v}" for k, v in (settings or {}).items()) or "none"} |
| device | {device} |
| training time | {result.seconds:.0f} s |
| mAP50 on held-out | {result.map50:.3f} |
| mAP50-95 on held-out | {result.map50_95:.3f} |
"""
