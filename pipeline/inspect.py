"""A shard folder's summary: rows per source, split and modality, regions per image, rejects by reason."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline import storage


@dataclass(frozen=True)
class Summary:
    rows: int
    rejects: int
    by_source: dict[str, dict[str, int]]  # source -> {inputs, rows, rejects}
    by_split: dict[str, int]
    by_modality: dict[str, int]
    regions_per_image: dict[str, float]  # mean, max, share of images with regions
    regions_by_origin: dict[str, int]
    rejects_by_reason: dict[str, int]


def read_shards(folder: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    """Every shard of a build as one polars frame (Arrow IPC streams, as listed in the manifest); `folder` may be
    a path or an fsspec URL."""
    frames = [_read_shard(folder, entry, columns) for entry in read_manifest(folder)["shards"]]
    return pl.concat(frames) if frames else pl.DataFrame()


def _read_shard(folder: str | Path, entry: dict, columns: list[str] | None) -> pl.DataFrame:
    """A shard the manifest lists; OSError naming it when it does not read as an Arrow stream of its rows (cut
    short: a stream cut at a batch's end reads, with fewer rows)."""
    url = storage.join(str(folder), entry["file"])
    try:
        frame = _read_stream(folder, entry["file"], columns)
    except pl.exceptions.PolarsError as exc:
        raise OSError(f"{url} is no readable Arrow IPC stream ({type(exc).__name__}: {exc}): damaged or cut short "
                      f"(`medregion verify {folder}` says more)") from None
    if frame.height != entry.get("rows", frame.height):
        raise OSError(f"{url} holds {frame.height} rows, the manifest says {entry['rows']}: damaged or cut short "
                      f"(`medregion verify {folder}` says more)")
    return frame


def read_manifest(folder: str | Path) -> dict:
    """A build's manifest.json; OSError naming what is wrong when it is not one a build writes."""
    from pipeline.verify import manifest_problems

    url = storage.join(str(folder), "manifest.json")
    manifest = json.loads(storage.read_bytes(url))
    problems = manifest_problems(manifest)
    if problems:
        raise OSError(f"{url} is damaged: {'; '.join(problems)} (`medregion verify` says more)")
    return manifest


def _read_stream(folder: str | Path, name: str, columns: list[str] | None = None) -> pl.DataFrame:
    return pl.read_ipc_stream(io.BytesIO(storage.read_bytes(storage.join(str(folder), name))), columns=columns)


def summarize(folder: str | Path) -> Summary:
    manifest = read_manifest(folder)
    rows = read_shards(folder, ["source", "split", "modality", "regions"])
    rejects = _read_stream(folder, manifest["rejects"]["file"])
    counts = lambda frame, column: {str(k): int(v) for k, v in frame[column].value_counts(sort=True).iter_rows()}
    n_regions = rows["regions"].list.len() if rows.height else pl.Series([], dtype=pl.UInt32)
    origins = rows.select(pl.col("regions").explode().struct.field("origin")).drop_nulls() if rows.height else None
    reasons = rejects.select(pl.concat_str(["stage", "reason"], separator=":").alias("reason"))
    return Summary(
        rows=rows.height,
        rejects=rejects.height,
        by_source=manifest["sources"],
        by_split=counts(rows, "split") if rows.height else {},
        by_modality=counts(rows, "modality") if rows.height else {},
        regions_per_image={
            "mean": float(n_regions.mean() or 0.0),
            "max": int(n_regions.max() or 0),
            "with_regions": float((n_regions > 0).mean() or 0.0),
        },
        regions_by_origin=counts(origins, "origin") if origins is not None and origins.height else {},
        rejects_by_reason=counts(reasons, "reason") if rejects.height else {},
    )
