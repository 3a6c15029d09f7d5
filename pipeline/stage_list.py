"""The build's stages in order, one list that Ray maps (pipeline.executor) and the in-process loop runs.

A stage is one module in pipeline/stages/ (a `pipeline.stage.Stage` or `Filter`) plus its line below. The list lives
apart from the stage package so that importing one stage (the detector's benchmark on a GPU machine) does not import
every stage's dependencies (spaCy, scispaCy).
"""
from __future__ import annotations

from connectors.base import StudyRef
from pipeline.config import BuildConfig, patient_secret
from pipeline.records import Provenance
from pipeline.stage import Stage
from pipeline.stages.align import Align
from pipeline.stages.decode import Decode, work_items
from pipeline.stages.deidentify import Deidentify
from pipeline.stages.detect import detect_stages
from pipeline.stages.encode import Encode
from pipeline.stages.filters import ImageFilter, LicenceFilter, ReportFilter, SourceBoxFilter
from pipeline.stages.parse import Parse
from pipeline.stages.sections import Sections
from pipeline.version import PIPELINE_VERSION


def image_stages(cfg: BuildConfig) -> list[Stage]:
    """Work items -> decoded images that passed the image filters (what the detector's training set reads too)."""
    return [
        LicenceFilter(cfg.licences),
        Decode(cfg.image.max_side, cfg.image.frames, patient_secret(cfg)),
        SourceBoxFilter(cfg.quality),
        ImageFilter(cfg.quality),
    ]


def decode_rows(cfg: BuildConfig, refs: list[StudyRef]) -> list[dict]:
    """The rows of `refs` after the image stages, in this process: what a detector sees in a build of `cfg`."""
    batch = work_items(refs, [0] * len(refs))
    for stage in image_stages(cfg):
        batch = stage(batch)
    return batch.to_pylist()


def build_stages(cfg: BuildConfig, gpus: int = 0) -> list[Stage]:
    """Every stage of a build of `cfg`, on a cluster with `gpus` GPUs."""
    return [
        *image_stages(cfg),
        *detect_stages(cfg.detectors, gpus),
        Sections(),
        Deidentify(),
        Parse(cfg.reports.scispacy_model),
        ReportFilter(cfg.quality),
        Align(),
        Encode(cfg.split.validation, cfg.split.test, Provenance(PIPELINE_VERSION, cfg.content_sha256()),
               signatures=cfg.dedup.near_duplicates),
    ]
