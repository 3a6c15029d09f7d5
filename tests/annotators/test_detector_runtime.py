"""The detector's exported CPU runtimes: offline export cached by content, and torch's boxes on real images.

Tolerance: every box of torch has one of the same label under the exported runtime at IoU >= 0.999 with a score
within 0.001, and no runtime has a box the other lacks (same count per image).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from annotators import detector_runtime
from annotators.detector import ExportedDetector, load_detector, load_yolo
from annotators.imaging import decode, resize_long_side
from annotators.regions import iou
from pipeline.config import DetectorConfig
from pipeline.stages.detect import SAMPLE_WEIGHTS
from schemas.typed_config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
COVID_IMAGES = ROOT.parent / "shared" / "data" / "real" / "covid-chestxray" / "images"


def stored(path: Path) -> np.ndarray:
    """An image as the build stores it: decoded, long side 512."""
    return resize_long_side(decode(path.read_bytes(), path.name)[0], 512).pixels


@pytest.fixture(scope="module")
def images(sample_root) -> list[np.ndarray]:
    """The sample's first 16 images, a real CR chest DICOM and, where the real copies are, 12 real radiographs."""
    truth = [json.loads(line) for line in (sample_root / "truth.jsonl").read_text().splitlines()]
    sample = [stored(sample_root / row["image"]) for row in truth[:16]]
    real = [stored(Path(get_testdata_file("RG1_UNCI.dcm")))]
    if COVID_IMAGES.is_dir():
        real += [stored(path) for path in sorted(COVID_IMAGES.glob("*.jp*g"))[:12]]
    return sample + real


@pytest.fixture(scope="module")
def torch_regions(images):
    return load_detector(str(SAMPLE_WEIGHTS), device="cpu", runtime="torch", batch_size=8).predict(images)


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_same_boxes_as_torch(runtime, images, torch_regions):
    exported = load_detector(str(SAMPLE_WEIGHTS), device="cpu", runtime=runtime, batch_size=8)
    assert exported.runtime == runtime and isinstance(exported, ExportedDetector)
    theirs = exported.predict(images)
    assert sum(map(len, torch_regions)) >= 20
    for ours, other in zip(torch_regions, theirs):
        assert len(other) == len(ours)
        for region in ours:
            match = max((r for r in other if r.label == region.label), key=lambda r: iou(r.box, region.box))
            assert iou(match.box, region.box) >= 0.999
            assert match.score == pytest.approx(region.score, abs=1e-3)


def test_auto_is_onnx_on_the_cpu_and_torch_elsewhere():
    assert detector_runtime.choose("auto", cuda=False, weights=str(SAMPLE_WEIGHTS)) == "onnx"
    assert detector_runtime.choose("auto", cuda=True, weights=str(SAMPLE_WEIGHTS)) == "torch"
    assert detector_runtime.choose("auto", cuda=False, weights="yolov8n.yaml") == "torch"
    with pytest.raises(ValueError, match="CPU only"):
        detector_runtime.choose("onnx", cuda=True, weights=str(SAMPLE_WEIGHTS))
    with pytest.raises(ValueError, match="not one of"):
        detector_runtime.choose("tensorrt", cuda=False, weights=str(SAMPLE_WEIGHTS))
    with pytest.raises(ConfigError, match="detector findings: runtime"):
        DetectorConfig(weights=str(SAMPLE_WEIGHTS), runtime="tensorrt")
    with pytest.raises(FileNotFoundError, match=r"local \.pt"):
        detector_runtime.exported_model("yolov8n.yaml", 512)


def test_export_is_cached_beside_the_weights_by_content(tmp_path):
    weights = tmp_path / "detector.pt"
    shutil.copyfile(SAMPLE_WEIGHTS, weights)
    first = detector_runtime.exported_model(weights, 500)  # rounded up to the model's stride, 32
    key = detector_runtime.export_key(weights, 500)
    assert first.path == tmp_path / f"detector.{key}.onnx" and first.imgsz == 512 and not first.end2end
    assert first.names == tuple(load_yolo(weights).names.values())
    made = first.path.stat().st_mtime_ns
    assert detector_runtime.exported_model(weights, 500).path.stat().st_mtime_ns == made  # read from the cache
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(["detector.pt", f"detector.{key}.onnx.json", first.path.name])  # no temporary left
    (tmp_path / f"detector.{key}.onnx.json").unlink()  # half an export (an older version's, or an interrupted one)
    assert detector_runtime.exported_model(weights, 500) == first
    assert detector_runtime.export_key(weights, 640) != key
    weights.write_bytes(weights.read_bytes() + b"\0")  # other bytes: another key, never the stale export
    assert detector_runtime.export_key(weights, 500) != key


CACHED_EXPORT = """
import json, sys
import numpy as np
from annotators.detector import load_detector
regions = load_detector({weights!r}, device="cpu", runtime={runtime!r}).predict([np.zeros((300, 200), np.uint8)])
loaded = sorted(m for m in ("torch", "ultralytics") if m in sys.modules)
print(json.dumps({{"regions": len(regions), "loaded": loaded}}))
"""


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_a_cached_export_runs_without_torch_or_ultralytics(runtime):
    """A build's CPU worker loads the detector from the cached export: it never imports torch (1.3 to 1.6 s of
    CPU per process here) nor ultralytics."""
    load_detector(str(SAMPLE_WEIGHTS), device="cpu", runtime=runtime)  # the export is cached
    script = CACHED_EXPORT.format(weights=str(SAMPLE_WEIGHTS), runtime=runtime)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"regions": 1, "loaded": []}
