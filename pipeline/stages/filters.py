"""The filters: stages that reject rows with a reason (annotators.quality's checks, the licence rule)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from annotators.quality import QualityConfig, QualityIssue, check_box, check_image, check_report
from pipeline.config import LicenceConfig
from pipeline.stage import Filter
from pipeline.stages.decode import DECODE_BATCH


@dataclass(frozen=True)
class LicenceFilter(Filter):
    """Inputs whose licence the build's `licences:` rule leaves out, before anything is read (in the decode
    tasks)."""

    licences: LicenceConfig

    name = "licence"
    reject_stage = "licence"
    columns = ("ref",)
    batch_size = DECODE_BATCH

    def check(self, row: dict) -> QualityIssue | None:
        refusal = self.licences.refusal(json.loads(row["ref"])["license"])
        return QualityIssue("licence_excluded", refusal) if refusal else None


@dataclass(frozen=True)
class SourceBoxFilter(Filter):
    """Images with a source box that is degenerate, mostly outside or covering nearly all of it: the annotation
    does not fit the image (in the decode tasks)."""

    quality: QualityConfig

    name = "source_boxes"
    columns = ("source_boxes", "orig_width", "orig_height")
    batch_size = DECODE_BATCH

    def check(self, row: dict) -> QualityIssue | None:
        for box in row["source_boxes"] or ():
            issue = check_box(box["x0"], box["y0"], box["x1"], box["y1"], row["orig_width"], row["orig_height"],
                              self.quality)
            if issue:
                return issue
        return None


@dataclass(frozen=True)
class ImageFilter(Filter):
    """Images too small, blank or near-constant (in the decode tasks)."""

    quality: QualityConfig

    name = "image_quality"
    columns = ("pixels", "width", "height", "orig_width", "orig_height")
    batch_size = DECODE_BATCH

    def check(self, row: dict) -> QualityIssue | None:
        pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
        return check_image(pixels, row["orig_width"], row["orig_height"], self.quality)


@dataclass(frozen=True)
class ReportFilter(Filter):
    """Reports too short, or nothing but boilerplate, once parsed and de-identified."""

    quality: QualityConfig

    name = "report_quality"
    columns = ("findings", "impression", "other")

    def check(self, row: dict) -> QualityIssue | None:
        return check_report(" ".join((row["findings"], row["impression"], row["other"])), self.quality)
