"""The per-batch stage functions that the Ray Data graph maps: decode, annotate (parse, align, encode).

Each takes and returns a pyarrow table with a fixed schema (schemas.work), so blocks always concatenate.
A row that fails becomes a reject row (reject_stage / reject_reason / reject_detail) and is carried along.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from annotators.align import align
from annotators.imaging import DecodeError, FrameSelection, decode, encode_png, resize_long_side
from annotators.quality import QualityConfig, QualityIssue, check_box, check_image, check_report, perceptual_hash
from annotators.regions import Region, normalise_box
from annotators.reports import ReportParser
from connectors.base import StudyRef, record_id
from pipeline import storage
from pipeline.records import Provenance, assemble, assign_split
from pipeline.stats import StageClock, add_seconds, stamp_node
from schemas.work import DECODED, annotated_schema

REJECT_COLUMNS = ("reject_stage", "reject_reason", "reject_detail")


@dataclass(frozen=True)
class DecodeSettings:
    max_side: int
    frames: FrameSelection
    quality: QualityConfig = QualityConfig()


@dataclass(frozen=True)
class AnnotateSettings:
    scispacy_model: str | None
    validation: float
    test: float
    provenance: Provenance
    quality: QualityConfig = QualityConfig()


def work_item(ref: StudyRef, shard: int) -> dict:
    """A row of the work list: the connector row as JSON (so every block has one schema) and its shard."""
    return {"ref": json.dumps(ref.to_row(), sort_keys=True), "shard": shard}


def reject_row(ref: StudyRef, shard: int, stage: str, reason: str, detail: str, frame: int = -1,
               expected: int = 1) -> dict:
    """The row of an input that fails (or, with `frame` and `expected`, of one of its several images)."""
    return {
        "id": record_id(ref.source, ref.source_id, frame),
        "source": ref.source,
        "source_id": ref.source_id,
        "shard": shard,
        "expected": expected,
        "input": ref.image or ref.report_path or ref.source_id,
        "reject_stage": stage,
        "reject_reason": reason,
        "reject_detail": detail,
    }


def decode_batch(batch: pa.Table, settings: DecodeSettings) -> pa.Table:
    """Work items -> decoded rows: one per selected frame/slice, or one reject row per input that fails."""
    clock, rows = StageClock(), []
    with clock("decode"):
        for item in batch.to_pylist():
            ref = StudyRef.from_row(json.loads(item["ref"]))
            rows.extend(decode_ref(ref, item["shard"], settings))
    return stamp_node(add_seconds(pa.Table.from_pylist(rows, schema=DECODED), clock.seconds))


def decode_ref(ref: StudyRef, shard: int, settings: DecodeSettings) -> list[dict]:
    if ref.reject:
        return [reject_row(ref, shard, ref.reject_stage, ref.reject, ref.detail)]
    try:
        report = ref.report or (storage.read_bytes(ref.report_path).decode("utf-8", "replace") if ref.report_path else "")
    except FileNotFoundError:
        return [reject_row(ref, shard, "decode", "missing_report", f"report file {ref.report_path} does not exist")]
    if not report.strip():
        return [reject_row(ref, shard, "decode", "empty_report", "the report has no text")]
    try:
        data = storage.read_bytes(ref.image)
    except (FileNotFoundError, IsADirectoryError):
        return [reject_row(ref, shard, "decode", "missing_image", f"image file {ref.image} does not exist")]
    try:
        images = decode(data, ref.image, settings.frames, rescale=ref.rescale or None, max_side=settings.max_side)
    except DecodeError as exc:
        return [reject_row(ref, shard, "decode", exc.reason, exc.detail)]
    issue = _box_issue(ref, images[0].orig_width, images[0].orig_height, settings.quality)
    if issue:
        return [reject_row(ref, shard, "quality", issue.reason, issue.detail)]
    digest = hashlib.sha256(data).hexdigest()
    rows = []
    for image in images:
        stored = resize_long_side(image, settings.max_side)
        issue = check_image(stored.pixels, image.orig_width, image.orig_height, settings.quality)
        if issue:
            rows.append(reject_row(ref, shard, "quality", issue.reason, issue.detail, image.frame, len(images)))
            continue
        rows.append(
            {
                "id": record_id(ref.source, ref.source_id, image.frame),
                "source": ref.source,
                "source_id": ref.source_id,
                "patient_key": ref.patient_key,
                "license": ref.license,
                "split": ref.split,
                "report": report,
                "report_style": ref.report_style,
                "modality": ref.modality or image.modality,
                "view": ref.view or image.view,
                "body_part": image.body_part,
                "pixel_spacing": list(stored.pixel_spacing),
                "frame": image.frame,
                "detect": ref.detect,
                "input_sha256": digest,
                "pixels": np.ascontiguousarray(stored.pixels).tobytes(),
                "width": stored.width,
                "height": stored.height,
                "orig_width": image.orig_width,
                "orig_height": image.orig_height,
                "regions": source_regions(ref, image.frame, image.orig_width, image.orig_height),
                "shard": shard,
                "expected": len(images),
                "input": ref.image,
                "reject_stage": "",
                "reject_reason": "",
                "reject_detail": "",
            }
        )
    return rows


def _box_issue(ref: StudyRef, width: int, height: int, quality: QualityConfig) -> QualityIssue | None:
    """The first source box that fails the box filters: the annotation does not fit this image."""
    for box in ref.boxes:
        issue = check_box(box.x0, box.y0, box.x1, box.y1, width, height, quality)
        if issue:
            return issue
    return None


def source_regions(ref: StudyRef, frame: int, width: int, height: int) -> list[dict]:
    """The source's own boxes for this frame, normalised (boxes wholly outside the image are dropped)."""
    regions = []
    for box in ref.boxes:
        if box.frame not in (-1, frame):
            continue
        normalised = normalise_box(box.x0, box.y0, box.x1, box.y1, width, height)
        if normalised:
            regions.append(dataclasses.asdict(Region(*normalised, label=box.label)))
    return regions


@functools.lru_cache(maxsize=2)
def _parser(scispacy_model: str | None) -> ReportParser:
    """One report parser per worker process (spaCy pipelines are loaded once, then reused)."""
    return ReportParser(scispacy_model)


def annotate_batch(batch: pa.Table, settings: AnnotateSettings) -> pa.Table:
    """Decoded rows -> shard rows: report parsed and aligned to the regions, image encoded; rejects carried."""
    clock, rows = StageClock(), batch.to_pylist()
    kept = [row for row in rows if not row["reject_reason"]]
    with clock("parse"):
        parsed = _parser(settings.scispacy_model).parse_many(
            [row["report"] for row in kept], [row["report_style"] for row in kept]
        )
    by_id = {row["id"]: report for row, report in zip(kept, parsed)}
    out = []
    for row in rows:
        bookkeeping = {k: row[k] for k in ("shard", "expected", "input", "node", "seconds", *REJECT_COLUMNS)}
        report = by_id.get(row["id"])
        issue = report and check_report(" ".join((report.findings, report.impression, report.other)), settings.quality)
        if issue:
            bookkeeping.update(reject_stage="quality", reject_reason=issue.reason, reject_detail=issue.detail)
        if bookkeeping["reject_reason"]:
            out.append({"id": row["id"], "source": row["source"], "source_id": row["source_id"], **bookkeeping})
            continue
        regions = [Region(**r) for r in row["regions"]]
        with clock("align"):
            aligned = align(report.descriptions, regions, row["view"])
            regions, links = aligned.regions, aligned.links
        with clock("encode"):
            pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["height"], row["width"])
            split = assign_split(row["patient_key"], row["split"], settings.validation, settings.test)
            record = assemble(row, encode_png(pixels), perceptual_hash(pixels), regions, report, links, split,
                              settings.provenance)
        out.append({**record, **bookkeeping})
    return add_seconds(pa.Table.from_pylist(out, schema=annotated_schema()), clock.seconds)
