"""The detector's forward pass on the CPU through a runtime exported from the local weights file.

`ExportedDetector` (annotators/detector.py) keeps the detector's own letterbox, candidate selection and NMS; only
the model's forward pass changes hands. The `.pt` is exported once to ONNX by ultralytics' own exporter (offline:
no auto-install, no simplifier) and cached beside it as `<stem>.<key>.onnx`, where the key hashes the `.pt`'s
bytes and the export settings, with what the detector needs of the model (class names, input size, head) in
`<stem>.<key>.onnx.json`; both are written in a temporary folder beside it and renamed into place, the ONNX file last,
so concurrent actors never read half an export. A cached export is used without torch or ultralytics. ONNX
Runtime or OpenVINO then runs that file (OpenVINO reads ONNX directly: one export serves both).

Runtimes (`detector.runtime`): `torch` (the fused PyTorch model; the GPU path with its CUDA graph), `onnx`
(ONNX Runtime), `openvino`, and `auto`: torch on a GPU or for a `*.yaml` model definition, else onnx.
Why onnx on the CPU: a build runs the detector on one thread per task (pipeline.stages.detect), and there, on
this 2-core machine, in fp32, with torch's boxes (tests/annotators/test_detector_runtime.py states the
tolerance), ONNX Runtime took 1.2x less CPU per image than torch and as little as OpenVINO, without OpenVINO's
telemetry to decline or its thread pool beside torch's in one process (docs/scale.md has the runs).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

RUNTIMES = ("auto", "torch", "onnx", "openvino")
EXPORT_SETTINGS = {"format": "onnx", "dynamic": True, "simplify": False, "half": False, "nms": False, "batch": 1}

Forward = Callable[[np.ndarray], np.ndarray]  # (N, 3, S, S) float32 in [0, 1] -> the model's raw (N, 4 + C, A)


def choose(runtime: str, cuda: bool, weights: str) -> str:
    """The runtime that `runtime` names on this device (`auto` resolved); an exported one only on the CPU."""
    if runtime not in RUNTIMES:
        raise ValueError(f"detector runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "torch" if cuda or not Path(weights).is_file() else "onnx"
    if runtime != "torch" and cuda:
        raise ValueError(f"detector runtime {runtime!r} runs on the CPU only; use torch (or auto) on a GPU")
    return runtime


def export_key(weights: Path, imgsz: int) -> str:
    """A hash of the weights' bytes, the export settings and the exporter's version."""
    settings = json.dumps(EXPORT_SETTINGS | {"imgsz": imgsz, "ultralytics": metadata.version("ultralytics")},
                          sort_keys=True)
    return hashlib.sha256(weights.read_bytes() + settings.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelFacts:
    """What the detector needs of a model besides its weights."""

    names: tuple[str, ...]  # class names, by class index
    imgsz: int  # the side of the square input (the asked size rounded up to the model's stride)
    end2end: bool  # the head gives one box per object (no NMS)


@dataclass(frozen=True)
class ExportedModel(ModelFacts):
    """An ONNX export and the facts of the model it came from."""

    path: Path


def model_facts(yolo: Any, imgsz: int) -> ModelFacts:
    """The facts of an ultralytics `YOLO` asked to run at `imgsz`."""
    stride = int(max(yolo.model.stride))
    return ModelFacts(tuple(yolo.names[i] for i in range(len(yolo.names))), -(-imgsz // stride) * stride,
                      bool(getattr(yolo.model.model[-1], "end2end", False)))


def exported_model(weights: str | Path, imgsz: int) -> ExportedModel:
    """The ONNX export of a local `.pt` at `imgsz`, made by ultralytics' exporter once and cached beside it."""
    weights = Path(weights)
    if weights.suffix != ".pt" or not weights.is_file():
        raise FileNotFoundError(f"an exported detector runtime needs a local .pt weights file, not {str(weights)!r}")
    target = weights.with_name(f"{weights.stem}.{export_key(weights, imgsz)}.onnx")
    about = target.with_name(f"{target.name}.json")
    if not (target.is_file() and about.is_file()):
        _export(weights, imgsz, target, about)
    facts = json.loads(about.read_text())
    return ExportedModel(tuple(facts["names"]), int(facts["imgsz"]), bool(facts["end2end"]), target)


def _export(weights: Path, imgsz: int, target: Path, about: Path) -> None:
    from annotators.detector import import_ultralytics

    yolo_module = import_ultralytics()
    with tempfile.TemporaryDirectory(dir=weights.parent, prefix=f".{weights.stem}-export-") as folder:
        copy = Path(folder) / weights.name  # the exporter writes beside its input: keep that out of sight
        shutil.copyfile(weights, copy)
        yolo = yolo_module.YOLO(str(copy), task="detect")
        facts = model_facts(yolo, imgsz)
        made = yolo.export(imgsz=facts.imgsz, device="cpu", **EXPORT_SETTINGS)
        (Path(folder) / "about.json").write_text(json.dumps(asdict(facts)))
        os.replace(Path(folder) / "about.json", about)
        os.replace(made, target)


def onnxruntime_forward(path: Path, threads: int) -> Forward:
    """ONNX Runtime's CPU session over the exported file, with `threads` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def import_openvino():
    """The `openvino` module with its usage telemetry declined first: importing it sends an event otherwise.

    This writes the opt-out that OpenVINO's own `opt_in_out --opt_out` writes, unless a choice is already there
    (`~/intel/openvino_telemetry`); `offline_telemetry_declined` checks the outcome.
    """
    consent = Path.home() / "intel" / "openvino_telemetry"
    if not consent.exists():
        consent.parent.mkdir(parents=True, exist_ok=True)
        consent.write_text("0")
    if not offline_telemetry_declined():
        raise RuntimeError(f"OpenVINO telemetry is turned on in {consent}: write 0 there to run it offline")
    import openvino

    return openvino


def offline_telemetry_declined() -> bool:
    """Whether OpenVINO's telemetry checker reads the consent as declined (nothing would be sent)."""
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

    return OptInChecker().check(enable_opt_in_dialog=False) == ConsentCheckResult.DECLINED


def openvino_forward(path: Path, threads: int, imgsz: int) -> Forward:
    """OpenVINO's CPU plugin over the exported file, shaped to (any batch, 3, imgsz, imgsz), `threads` threads.

    Precision is fp32 on every CPU. The plugin's default is bf16 where the CPU has bf16 units (AMX, AVX512-BF16):
    on this machine that ran about 3x faster again, but moved scores by up to 0.1 and boxes to IoU 0.89 on real
    radiographs (boxes near the threshold came and went), and it would make the corpus depend on the CPU model.
    """
    openvino = import_openvino()
    core = openvino.Core()
    model = core.read_model(str(path))
    model.reshape([-1, 3, imgsz, imgsz])
    settings = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
                "ENABLE_CPU_PINNING": False}  # pinned threads wait for their core when other work holds it
    compiled = core.compile_model(model, "CPU", settings)
    request = compiled.create_infer_request()
    return lambda batch: request.infer([batch], share_inputs=True)[0]


def exported_forward(runtime: str, model: ExportedModel, threads: int) -> Forward:
    """The forward pass of the exported `model` under `runtime` (onnx or openvino)."""
    if runtime == "onnx":
        return onnxruntime_forward(model.path, threads)
    if runtime == "openvino":
        return openvino_forward(model.path, threads, model.imgsz)
    raise ValueError(f"{runtime!r} is not an exported detector runtime")
