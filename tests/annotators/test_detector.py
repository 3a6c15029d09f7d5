"""The YOLO detector at the edge: offline, local weights only, and the same boxes as ultralytics' predictor."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import batched_nms

from annotators.detector import Detector, greedy_nms, load_detector, load_yolo
from annotators.imaging import DecodeError, decode, resize_long_side
from annotators.offline import OFFLINE_ENV
from annotators.regions import iou
from pipeline.evaluation.rois import truth_regions
from pipeline.stages.detect import SAMPLE_WEIGHTS
from schemas.labels import DETECTOR_CLASSES

ROOT = Path(__file__).resolve().parents[2]

@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector(str(SAMPLE_WEIGHTS), device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def truth_rows(sample_root) -> list[dict]:
    return [json.loads(line) for line in (sample_root / "truth.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def unannotated(sample_root, truth_rows) -> dict[tuple[str, int], np.ndarray]:
    """Stored pixels (decoded, long side 512) of the sample's images that the source leaves without boxes."""
    keys = truth_regions(truth_rows)
    images = {}
    for row in truth_rows:
        if (row["source_id"], row["frame"]) in keys:
            decoded = decode((sample_root / row["image"]).read_bytes(), row["image"])[0]
            images[(row["source_id"], row["frame"])] = resize_long_side(decoded, 512).pixels
    return images


def test_labels_are_the_corpus_vocabulary(detector):
    assert detector.labels == DETECTOR_CLASSES


def test_same_boxes_as_ultralytics_predict(detector, unannotated):
    images = list(unannotated.values())[:6]
    ours = detector.predict(images)
    theirs = load_yolo(SAMPLE_WEIGHTS).predict(
        [np.repeat(image[..., None], 3, axis=2) for image in images],
        imgsz=512, conf=detector.conf, iou=detector.iou, device="cpu", verbose=False,
    )
    assert sum(map(len, ours)) >= 4
    for regions, result in zip(ours, theirs):
        assert len(regions) == len(result.boxes)
        for box, score, cls in zip(result.boxes.xyxyn.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist()):
            match = max(regions, key=lambda r: iou(r.box, box))
            assert iou(match.box, box) > 0.99
            assert match.label == DETECTOR_CLASSES[int(cls)] and match.origin == "detector"
            assert match.score == pytest.approx(score, abs=0.01)


def test_chunks_and_shapes_do_not_change_the_boxes(detector, unannotated):
    first = next(iter(unannotated.values()))
    small = first[::4, ::4].copy()  # upscaled by the letterbox
    images = [first, small, first.T.copy(), *list(unannotated.values())[1:4]]
    together = detector.predict(images)  # chunks of 4, mixed shapes
    alone = [detector.predict([image])[0] for image in images]
    for batch_regions, single_regions in zip(together, alone):
        labelled = [[(r.label, round(r.score, 3)) for r in regions] for regions in (batch_regions, single_regions)]
        assert labelled[0] == labelled[1]
        assert all(iou(a.box, b.box) > 0.999 for a, b in zip(batch_regions, single_regions))
    with pytest.raises(ValueError, match="greyscale"):
        detector.predict([np.zeros((8, 8, 3), np.uint8)])


def test_a_detector_on_its_own_threads_leaves_the_process_setting_alone(detector, unannotated):
    """The build's CPU detector runs on one thread (the CPU its task reserves) for the forward pass only: torch's
    process-wide thread count is as before, and the boxes are torch's on any thread count within float error."""
    images = list(unannotated.values())[:4]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = load_detector(str(SAMPLE_WEIGHTS), device="cpu", runtime="torch", threads=1).predict(images)
        assert torch.get_num_threads() == 2
        two = load_detector(str(SAMPLE_WEIGHTS), device="cpu", runtime="torch").predict(images)
    finally:
        torch.set_num_threads(before)
    assert [[r.label for r in regions] for regions in one] == [[r.label for r in regions] for regions in two]
    assert all(iou(a.box, b.box) > 0.9999 for x, y in zip(one, two) for a, b in zip(x, y))


def test_greedy_nms_is_torchvision_nms_per_class():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 100, (200, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 40, (200, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 200).astype(np.float32)
    classes = rng.integers(0, 3, 200).astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    ours = order[greedy_nms(boxes[order], classes[order], 0.5)]
    expected = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes).long(), 0.5)
    assert ours.tolist() == expected.tolist()


def test_unreadable_images_still_give_a_decode_error_once_ultralytics_is_loaded(detector):
    """ultralytics swaps Pillow's `Image.open` for one that tries to install pi-heif on an unknown image;
    with a detector loaded in the same process (an in-process build), decoding must still reject cleanly."""
    with pytest.raises(DecodeError) as caught:
        decode(b"\x00" * 64, "a.png")
    assert caught.value.reason == "unknown_format"
    assert Image.open.__module__ == "PIL.Image"


@pytest.mark.parametrize("name", ["yolov8n.pt", "https://example.org/yolov8n.pt", "https://example.org/model.yaml"])
def test_refuses_weights_that_are_not_local_files(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a local file"):
        load_detector(name, device="cpu")
    assert list(tmp_path.iterdir()) == []  # nothing was fetched into the working folder


NO_NETWORK = """
import json, os, socket, sys
import numpy as np
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:]))
    raise OSError("network disabled by the test")
socket.socket.connect = socket.socket.connect_ex = socket.getaddrinfo = socket.create_connection = refuse
from annotators.detector import import_ultralytics, load_detector
load_detector({weights!r}, device="cpu", runtime={runtime!r}).predict([np.zeros((300, 200), np.uint8)])
settings = import_ultralytics().settings
consent = None  # OpenVINO's telemetry sends from a forked process when its consent is on: ask it directly
if "openvino_telemetry" in sys.modules:
    from openvino_telemetry import Telemetry
    consent = Telemetry().consent
print(json.dumps({{"attempts": attempts, "sync": settings["sync"], "raytune": settings["raytune"],
                  "env": {{k: os.environ.get(k) for k in {keys!r}}}, "telemetry_consent": consent}}))
"""


@pytest.mark.parametrize("runtime", ["torch", "onnx", "openvino"])
def test_no_network_attempt_from_import_to_predict(runtime, tmp_path):
    """A fresh process without the offline variables, in a fresh home (no OpenVINO consent file yet): importing,
    loading (exporting, for onnx and openvino) and predicting open no socket and leave OpenVINO's telemetry off."""
    weights = tmp_path / "detector.pt"
    shutil.copyfile(SAMPLE_WEIGHTS, weights)
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    env |= {"YOLO_CONFIG_DIR": str(tmp_path), "HOME": str(tmp_path / "home")}
    script = NO_NETWORK.format(weights=str(weights), runtime=runtime, keys=sorted(OFFLINE_ENV))
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["sync"] is False and report["raytune"] is False
    assert report["env"] == OFFLINE_ENV
    assert report["telemetry_consent"] is {"openvino": False}.get(runtime)  # only openvino imports it
    assert len(list(tmp_path.glob("detector.*.onnx"))) == (runtime != "torch")
