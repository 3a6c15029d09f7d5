"""The decode stage: a work item (one input) -> one row per selected frame or slice, pixels normalised and resized.

It reads the report (text, or its file; cleaned and capped by annotators.report_text) and the image, decodes it
(annotators.imaging) and states the source's boxes; an input that cannot be read or decoded becomes one reject
row. Filters judge the rows afterwards.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from annotators.imaging import DecodeError, FrameSelection, decode, resize_long_side
from annotators.imaging.caption_strip import cut_caption_strip
from annotators.regions import Region, normalise_box
from annotators.report_text import report_text
from connectors.base import StudyRef, record_id, shown
from pipeline import storage
from pipeline.stage import Stage
from schemas.work import WORK, WORK_ITEM

DECODE_BATCH = 8


def work_item(ref: StudyRef, shard: int) -> dict:
    """A `WORK_ITEM` row: the connector row as JSON, its shard, and the reject columns of a connector refusal."""
    return {
        "id": record_id(ref.source, ref.source_id, -1),
        "source": ref.source,
        "source_id": ref.source_id,
        "ref": json.dumps(ref.to_row(), sort_keys=True),
        "shard": shard,
        "expected": 1,
        "input": shown(ref.image or ref.report_path or ref.source_id),
        "reject_stage": ref.reject_stage if ref.reject else "",
        "reject_reason": ref.reject,
        "reject_detail": shown(ref.detail) if ref.reject else "",
    }


def work_items(refs: list[StudyRef], shards: list[int]) -> pa.Table:
    return pa.Table.from_pylist([work_item(ref, shard) for ref, shard in zip(refs, shards)], schema=WORK_ITEM)


@dataclass(frozen=True)
class Decode(Stage):
    max_side: int
    frames: FrameSelection
    secret: bytes = field(repr=False)  # the de-identification key: a row's input digest is keyed under it

    name = "decode"
    output_schema = WORK
    stamps_node = True
    batch_size = DECODE_BATCH

    def process(self, batch: pa.Table, state: Any) -> pa.Table:
        rows = []
        for item in batch.to_pylist():
            rows.extend(decode_ref(StudyRef.from_row(json.loads(item["ref"])), item, self))
        return pa.Table.from_pylist(rows, schema=WORK)


def _reject(item: dict, reason: str, detail: str) -> list[dict]:
    return [{**item, "reject_stage": "decode", "reject_reason": reason, "reject_detail": detail}]


def decode_ref(ref: StudyRef, item: dict, settings: Decode) -> list[dict]:
    """The `WORK` rows of one input (`item`: its work item row), or its one reject row."""
    report = _read(ref.report_path, "report") if ref.report_path and not ref.report else ref.report or ""
    if isinstance(report, Unreadable):
        return _reject(item, report.reason, report.detail)
    read = report_text(report)
    if read.reject:  # a binary file, or bytes in no encoding read here
        return _reject(item, read.reject, read.detail)
    if not read.text.strip():
        return _reject(item, "empty_report", "the report has no text")
    data = _read(ref.image, "image")
    if isinstance(data, Unreadable):
        return _reject(item, data.reason, data.detail)
    try:
        images = decode(data, ref.image, settings.frames, rescale=ref.rescale or None, max_side=settings.max_side)
    except DecodeError as exc:
        return _reject(item, exc.reason, exc.detail)
    if ref.caption_strip:
        images = [cut_caption_strip(image) for image in images]
    if ref.pixel_spacing:  # the source states what the file does not (CT-RATE's metadata)
        images = [dataclasses.replace(image, pixel_spacing=tuple(ref.pixel_spacing)) for image in images]
    if [image.frame for image in images] == [-1] and any(box.frame >= 0 for box in ref.boxes):
        frame = next(box.frame for box in ref.boxes if box.frame >= 0)
        return _reject(item, "bad_boxes", f"a box is drawn on frame {frame} of a 2-D image (frame -1, or none)")
    digest = hmac.new(settings.secret, data, hashlib.sha256).hexdigest()  # a plain hash of a DICOM file, headers
    # and all, would let anyone holding the file find its row
    rows = []
    for image in images:
        stored = resize_long_side(image, settings.max_side)
        rows.append(
            {
                **item,
                "id": record_id(ref.source, ref.source_id, image.frame),
                "patient_key": ref.patient_key,
                "license": shown(ref.license),
                "split": shown(ref.split),
                "report": read.text,
                "report_truncated": read.truncated or ref.report_truncated,
                "report_style": ref.report_style,
                "modality": shown(ref.modality or image.modality),
                "view": shown(ref.view or image.view),
                "body_part": shown(ref.body_part) or image.body_part,
                "pixel_spacing": list(stored.pixel_spacing),
                "frame": image.frame,
                "detect": ref.detect,
                "input_sha256": digest,
                "pixels": np.ascontiguousarray(stored.pixels).tobytes(),
                "width": stored.width,
                "height": stored.height,
                "orig_width": image.orig_width,
                "orig_height": image.orig_height,
                "source_boxes": [{"x0": b.x0, "y0": b.y0, "x1": b.x1, "y1": b.y1} for b in ref.boxes],
                "regions": source_regions(ref, image.frame, image.orig_width, image.orig_height),
                "expected": len(images),
                "input": item["input"],
            }
        )
    return rows


@dataclass(frozen=True)
class Unreadable:
    """Why an input file could not be read: its reject's reason and detail."""

    reason: str
    detail: str


def _read(url: str, what: str) -> bytes | Unreadable:
    """The bytes of the input's `what` ("image" or "report") file, or why they cannot be had. The detail names
    the error, not the path (the reject row carries the input)."""
    try:
        return storage.read_input(url)
    except FileNotFoundError:
        return Unreadable(f"missing_{what}", f"the {what} file does not exist")
    except storage.NotAFile as exc:
        return Unreadable(f"{what}_not_a_file", str(exc))
    except storage.TooLarge as exc:
        return Unreadable(f"{what}_too_large", str(exc))
    except OSError as exc:  # a name too long, a loop of links, no permission, an I/O error
        return Unreadable(f"unreadable_{what}", exc.strerror or type(exc).__name__)
    except ValueError as exc:  # a NUL character in the path
        return Unreadable(f"unreadable_{what}", str(exc))


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
