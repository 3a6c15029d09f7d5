"""The build configuration: YAML -> typed dataclasses, with clear errors for unknown keys and bad values."""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from annotators.detector_runtime import RUNTIMES
from annotators.duplicates import DedupConfig
from annotators.imaging import FrameSelection
from annotators.quality import QualityConfig
from schemas.runtime import RayConfig
from schemas.typed_config import ConfigError, from_dict, read_yaml, to_dict


@dataclass(frozen=True)
class SourceConfig:
    name: str  # the source name written to every row
    connector: str  # the module under connectors/
    options: dict = field(default_factory=dict)  # validated by the connector's Options dataclass
    detector: bool = True  # propose regions with the configured detectors on this source's images


@dataclass(frozen=True)
class ImageConfig:
    max_side: int = 512  # long side of stored images (downscale only)
    frames: FrameSelection = FrameSelection()  # frames of multi-frame DICOM / slices of volumes


@dataclass(frozen=True)
class SplitConfig:
    validation: float = 0.05  # share of patients, by keyed hash, when the source gives no split
    test: float = 0.05


@dataclass(frozen=True)
class ReportsConfig:
    scispacy_model: str | None = None  # e.g. en_core_sci_sm, used only when installed


@dataclass(frozen=True)
class LicenceConfig:
    """Which licences a build keeps: a row's licence must match an `allow` pattern (none listed: any) and no
    `deny` pattern (regular expressions, searched case-insensitively). Rows left out become rejects."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def __post_init__(self):
        for pattern in self.allow + self.deny:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"licences: {pattern!r} is not a regular expression ({exc})") from None

    def refusal(self, licence: str) -> str:
        """Why a row under `licence` is left out; "" when it is kept."""
        if self.allow and not any(re.search(p, licence, re.IGNORECASE) for p in self.allow):
            return f"licence {licence!r} matches none of licences.allow {list(self.allow)}"
        denied = next((p for p in self.deny if re.search(p, licence, re.IGNORECASE)), None)
        return f"licence {licence!r} matches licences.deny {denied!r}" if denied else ""


# yolo: ultralytics weights (annotators/detector.py); lung_fields: right and left lung boxes found on chest CT
# slices by thresholding, for chest CT sources only (annotators/lung_fields.py)
DETECTOR_KINDS = ("yolo", "lung_fields")


@dataclass(frozen=True)
class DetectorConfig:
    """One detector stage: its weights, label map, calibrated score threshold and the images it applies to."""

    weights: str | None = None  # a local .pt file (made by `medregion train-detector`); never a hub name
    kind: str = "yolo"  # one of DETECTOR_KINDS: yolo (the model in `weights`) or lung_fields (no model)
    name: str = "findings"  # what reports call it (unique within a build)
    labels: tuple[str, ...] = ()  # the labels its class ids must give, in order (checked at load); () = the weights'
    sources: tuple[str, ...] = ()  # run only on these sources' images (the kind it was trained on); () = any source
    modalities: tuple[str, ...] = ()  # run only on these modalities (e.g. CR, DX); () = any
    views: tuple[str, ...] = ()  # run only on these views, by first word (PA, AP: "AP SUPINE" is AP); () = any
    body_parts: tuple[str, ...] = ()  # run only on these body parts (CHEST, ...: the file's or the source's); () = any
    unstated_view: bool = False  # with `views`, also where no view is stated, kept only if a frontal lung pair shows
    one_per_label: bool = False  # the best box of each label the row lacks (anatomy: one right lung, one left lung)
    batch_size: int = 32  # images per forward pass on a GPU (on the CPU at most annotators.detector.CPU_CHUNK)
    actors: int = 1  # actor-pool size on a node with GPUs (at most one per GPU); without GPUs it runs as tasks
    conf: float = 0.25  # score threshold, calibrated on held-out images (see the weights' model card)
    iou: float = 0.5
    imgsz: int = 512
    device: str = "auto"  # auto | cpu | cuda | cuda:N (auto: a GPU where the cluster has one, else the CPU)
    only_unannotated: bool = True  # propose only on images whose source gives no boxes
    runtime: str = "auto"  # auto | torch | onnx | openvino (annotators/detector_runtime.py; auto: onnx on CPUs)

    def __post_init__(self):
        if self.kind not in DETECTOR_KINDS:
            raise ConfigError(f"detector {self.name}: kind: {self.kind!r} is not one of {', '.join(DETECTOR_KINDS)}")
        if self.kind == "yolo" and not self.weights:
            raise ConfigError(f"detector {self.name}: a yolo detector needs weights")
        if self.kind != "yolo" and self.weights:
            raise ConfigError(f"detector {self.name}: a {self.kind} detector takes no weights")
        if self.unstated_view and not self.views:
            raise ConfigError(f"detector {self.name}: unstated_view needs the views it stands in for")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"detector {self.name}: runtime: {self.runtime!r} is not one of {', '.join(RUNTIMES)}")

    def weights_sha256(self) -> str:
        """The weights file's hash (it shapes the rows as much as the settings do); "" without weights."""
        if not self.weights:
            return ""
        try:
            return hashlib.sha256(Path(self.weights).read_bytes()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"detector {self.name}: weights: cannot read {self.weights}: {exc.strerror}") from None


@dataclass(frozen=True)
class FailureConfig:
    """When rows that raised in a stage (rejects `internal_error:<Type>`) stop the build: once a stage has failed
    on at least `min_rows` rows and on more than `max_share` of the rows written so far. Fewer stay rejects."""

    max_share: float = 0.01
    min_rows: int = 10


@dataclass(frozen=True)
class PublishOptions:
    """How `medregion publish` lays out and uploads a build."""

    repo_id: str
    private: bool = False
    revision: str | None = None  # a branch; created from main when missing
    shard_bytes: int = 300 * 2**20  # target size of one Parquet file
    row_group_bytes: int = 100 * 2**20  # target size of one row group
    retries: int = 5  # further attempts of each Hub call after a transient failure
    backoff_s: float = 2.0  # first wait between attempts, doubled each time
    files_per_commit: int = 20


@dataclass(frozen=True)
class DetectorTrainingOptions:
    """The defaults of `medregion train-detector` (and of `pipeline.detector_training.train_detector`)."""

    model: str = "yolov8n.yaml"  # a model yaml (random init) or a local checkpoint
    epochs: int = 30
    imgsz: int = 512
    batch: int = 16
    device: str = "cpu"
    name: str = "detector"  # the weights file's name, without .pt
    seed: int = 0
    workers: int = 0  # data-loading processes


NOT_SHAPING_ROWS = ("output", "ray", "failures")  # config keys left out of its hash and of the manifest


@dataclass(frozen=True)
class BuildConfig:
    sources: tuple[SourceConfig, ...]
    output: str = "out/corpus"
    rows_per_shard: int = 1000
    image: ImageConfig = ImageConfig()
    split: SplitConfig = SplitConfig()
    reports: ReportsConfig = ReportsConfig()
    licences: LicenceConfig = LicenceConfig()
    quality: QualityConfig = QualityConfig()  # filters: image size and spread, report text, source boxes
    dedup: DedupConfig = DedupConfig()  # near-duplicate images across the corpus
    detectors: tuple[DetectorConfig, ...] = ()  # run in this order; YAML `detector:` (one mapping) is one of them
    failures: FailureConfig = FailureConfig()  # how many rows that raised a build tolerates
    ray: RayConfig = RayConfig()
    deid_key_env: str = "MEDREGION_DEID_KEY"  # the environment variable that holds the patient-key secret

    def __post_init__(self):
        if not self.sources:
            raise ConfigError("sources: at least one source is needed")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"sources: names must be unique, got {names}")
        if self.rows_per_shard < 1:
            raise ConfigError("rows_per_shard must be at least 1")
        if self.image.max_side < 16:
            raise ConfigError("image.max_side must be at least 16")
        if not 0 <= self.split.validation + self.split.test < 1:
            raise ConfigError("split: validation + test must lie in [0, 1)")
        detectors = [d.name for d in self.detectors]
        if len(set(detectors)) != len(detectors):
            raise ConfigError(f"detectors: names must be unique, got {detectors}")

    def content_sha256(self) -> str:
        """Hash of everything that shapes the rows (not where they go nor how many CPUs make them)."""
        data = to_dict(self)
        for key in NOT_SHAPING_ROWS:
            data.pop(key)
        for detector, entry in zip(self.detectors, data["detectors"]):
            entry["weights"] = detector.weights_sha256()  # the file's content, not where it lies
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


SAMPLE_SECRET = b"medregion-sample-corpus"  # only for the embedded sample source, whose patients are fake
MIN_SECRET_CHARS = 16  # a shorter key could be guessed, and every keyed id with it


def patient_secret(cfg: BuildConfig) -> bytes:
    """The de-identification secret from the environment (patient keys, ids and input digests are keyed hashes
    under it); only an all-sample build may go without one."""
    value = os.environ.get(cfg.deid_key_env, "")
    if len(value.strip()) >= MIN_SECRET_CHARS:
        return value.encode()
    if value.strip():
        raise ConfigError(f"{cfg.deid_key_env} holds {len(value.strip())} characters: use a secret of at least "
                          f"{MIN_SECRET_CHARS} (e.g. `openssl rand -hex 32`), and keep it: the same key gives the "
                          "same ids")
    if all(source.connector == "sample" for source in cfg.sources):
        return SAMPLE_SECRET
    raise ConfigError(f"set {cfg.deid_key_env} to a secret of at least {MIN_SECRET_CHARS} characters (e.g. "
                      "`openssl rand -hex 32`): patient keys are keyed hashes under it")


def load_config(path: str | Path, overrides: dict | None = None) -> BuildConfig:
    """Read a YAML build config; `overrides` replace top-level keys (from the command line)."""
    return from_dict(BuildConfig, detector_section(read_yaml(path) | (overrides or {})))


def detector_section(data: dict) -> dict:
    """`data` with its `detector:` key (one detector's mapping, or a list of them) as the `detectors` list; a
    mapping without weights or kind (an old config's way to say "no detector") is no detector."""
    if "detector" not in data:
        return data
    if "detectors" in data:
        raise ConfigError("give either detector or detectors, not both")
    data = dict(data)
    section = data.pop("detector") or []
    if isinstance(section, dict):
        section = [section] if section.get("weights") or section.get("kind") else []
    data["detectors"] = section
    return data
