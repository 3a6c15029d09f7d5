"""A tiny real training run: weights that the detector loads, and a model card that says how they were made."""
from __future__ import annotations

import numpy as np

from annotators.detector import load_detector
from annotators.regions import Region
from pipeline.detector_training import train_detector
from pipeline.yolo_dataset import export_yolo
from schemas.labels import DETECTOR_CLASSES


def squares(count: int):
    rng = np.random.default_rng(0)
    for index in range(count):
        image = rng.integers(0, 60, (64, 80), dtype=np.uint8)
        x, y = int(rng.integers(10, 60)), int(rng.integers(10, 44))
        image[y - 8 : y + 8, x - 8 : x + 8] = 230
        yield image, [Region((x - 8) / 80, (y - 8) / 64, (x + 8) / 80, (y + 8) / 64, "mass")], f"p{index}"


def test_train_writes_weights_and_card(tmp_path):
    data_yaml = export_yolo(squares(10), tmp_path / "data", val_fraction=0.3, seed=0)
    result = train_detector(data_yaml, tmp_path / "out", epochs=2, imgsz=64, batch=4, name="tiny", command="make it")
    assert result.weights == tmp_path / "out" / "tiny.pt" and result.weights.is_file()
    assert result.epochs == 2 and result.train_images + result.val_images == 10 and result.val_images >= 1
    assert 0.0 <= result.map50 <= 1.0
    card = result.card.read_text()
    assert "make it" in card and f"{result.map50:.3f}" in card and "0: nodule" in card
    assert load_detector(str(result.weights), device="cpu", imgsz=64).labels == DETECTOR_CLASSES
