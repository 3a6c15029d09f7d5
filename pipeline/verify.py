"""`medregion verify`: a finished build checked against its manifest, byte for byte, and its accounting.

Every shard listed must exist with its sha256, size, row count and the exact record schema (the `huggingface`
features metadata included), rows sorted by id and ids unique across shards; no unlisted file may sit in
`shards/`; the rejects table must match its entry; and per source, the manifest's inputs must equal the
distinct inputs found in rows and rejects, with its row and reject counts equal to what the files hold.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from pipeline import storage
from pipeline.shards import BuildLayout
from schemas.record import SCHEMA_VERSION, arrow_schema, reject_arrow_schema


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    rows: int = 0
    rejects: int = 0
    sources: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Seen:
    """What the files hold, per source: inputs (source ids) and row / reject counts."""

    inputs: dict[str, set] = field(default_factory=dict)
    rows: Counter = field(default_factory=Counter)
    rejects: Counter = field(default_factory=Counter)
    ids: set = field(default_factory=set)

    def add(self, source: str, source_id: str) -> None:
        self.inputs.setdefault(source, set()).add(source_id)


def verify(folder: str) -> Verification:
    """Check the build in `folder`; the result lists every mismatch found (none when it is sound)."""
    layout = BuildLayout(folder)
    result = Verification()
    if not storage.exists(layout.manifest):
        result.problems.append(f"{layout.manifest} does not exist: not a finished build")
        return result
    try:
        manifest = json.loads(storage.read_bytes(layout.manifest))
    except (ValueError, OSError) as exc:  # not JSON, not UTF-8, not readable
        result.problems.append(f"manifest.json cannot be read as JSON: {type(exc).__name__}: {exc}")
        return result
    result.problems += manifest_problems(manifest)
    if result.problems:
        return result
    if manifest.get("schema_version") != SCHEMA_VERSION:
        result.problems.append(f"schema_version {manifest.get('schema_version')!r}, this code reads {SCHEMA_VERSION!r}")
    seen = _Seen()
    for entry in manifest.get("shards", []):
        result.problems += _check_shard(layout, entry, seen)
    listed = {posixpath.basename(e["file"]) for e in manifest.get("shards", [])}
    result.problems += [f"{url}: in shards/ but not in the manifest" for url in _all_files(layout.shards)
                        if posixpath.basename(url) not in listed]
    result.problems += _check_rejects(layout, manifest.get("rejects") or {}, seen)
    result.problems += _check_accounting(manifest, seen)
    result.shards, result.sources = len(manifest.get("shards", [])), len(manifest.get("sources", {}))
    result.rows, result.rejects = sum(seen.rows.values()), sum(seen.rejects.values())
    return result


def manifest_problems(manifest) -> list[str]:
    """What in the manifest's layout is not what a build writes (checked before anything is read by it): its files
    are the build's own (`shards/...`, `rejects.arrow`: never a path that leads out of the build folder), with whole
    numbers of rows and bytes."""
    if not isinstance(manifest, dict):
        return [f"manifest.json holds a {type(manifest).__name__}, not an object"]
    missing = [key for key in ("shards", "rejects", "sources", "totals") if key not in manifest]
    problems = [f"manifest.json lacks {', '.join(missing)}"] if missing else []
    shards = manifest.get("shards", [])
    if not isinstance(shards, list) or not all(isinstance(e, dict) and isinstance(e.get("file"), str) for e in shards):
        problems.append("manifest.json: `shards` is not a list of entries that each name a `file`")
    elif not all(_inside(e["file"], "shards/") and _whole(e, "rows", "bytes") for e in shards):
        problems.append("manifest.json: a shard entry names a file outside shards/, or rows or bytes that are no "
                        "whole numbers")
    rejects = manifest.get("rejects") or {}
    if not isinstance(rejects, dict) or (rejects and not isinstance(rejects.get("file"), str)):
        problems.append("manifest.json: `rejects` is not an entry that names a `file`")
    elif rejects and not _inside(rejects["file"], ""):
        problems.append("manifest.json: `rejects` names a file outside the build folder")
    sources = manifest.get("sources", {})
    if not isinstance(sources, dict) or not all(
            isinstance(c, dict) and all(isinstance(c.get(k), int) for k in ("inputs", "rows", "rejects"))
            for c in sources.values()):
        problems.append("manifest.json: `sources` does not give each source whole numbers of inputs, rows, rejects")
    if not isinstance(manifest.get("totals", {}), dict):
        problems.append("manifest.json: `totals` is not an object")
    return problems


def _inside(name: str, folder: str) -> bool:
    """Whether a manifest's file name is a relative path under `folder` of the build ("" for the build itself)."""
    parts = name.split("/")
    return name.startswith(folder) and not name.startswith("/") and ".." not in parts and "\\" not in name \
        and "://" not in name


def _whole(entry: dict, *keys: str) -> bool:
    return all(isinstance(entry.get(key, 0), int) and not isinstance(entry.get(key, 0), bool) for key in keys)


def _all_files(url: str) -> list[str]:
    """Every entry directly under `url`, temporary files of an interrupted write included."""
    fs, path = storage.filesystem(url)
    return sorted(fs.ls(path, detail=False)) if fs.exists(path) else []


def _read_checked(url: str, entry: dict, schema: pa.Schema) -> tuple[pa.Table | None, list[str]]:
    """The table of a listed file, and its mismatches with its manifest entry (sha256, size, rows, schema)."""
    if not storage.exists(url):
        return None, [f"{url}: listed in the manifest but missing"]
    try:
        data = storage.read_bytes(url)
    except OSError as exc:  # a folder in its place, no permission to read
        return None, [f"{url}: cannot be read ({type(exc).__name__}: {exc})"]
    problems = []
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        problems.append(f"{url}: sha256 differs from the manifest")
    if "bytes" in entry and len(data) != entry["bytes"]:
        problems.append(f"{url}: {len(data)} bytes, the manifest says {entry['bytes']}")
    try:
        table = pa.ipc.open_stream(data).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        return None, problems + [f"{url}: not a readable Arrow IPC stream ({exc})"]
    if table.num_rows != entry.get("rows"):
        problems.append(f"{url}: {table.num_rows} rows, the manifest says {entry.get('rows')}")
    if not table.schema.equals(schema, check_metadata=True):
        problems.append(f"{url}: schema (or its features metadata) differs from the record schema")
    return table, problems


def _check_shard(layout: BuildLayout, entry: dict, seen: _Seen) -> list[str]:
    url = storage.join(layout.output, entry["file"])
    table, problems = _read_checked(url, entry, arrow_schema())
    if table is None:
        return problems
    ids = table.column("id").to_pylist()
    if ids != sorted(set(ids)):
        problems.append(f"{url}: ids are not sorted and unique")
    repeated = seen.ids.intersection(ids)
    if repeated:
        problems.append(f"{url}: {len(repeated)} ids also appear in another shard, e.g. {sorted(repeated)[0]}")
    seen.ids.update(ids)
    for source, source_id in zip(table.column("source").to_pylist(), table.column("source_id").to_pylist()):
        seen.add(source, source_id)
        seen.rows[source] += 1
    return problems


def _check_rejects(layout: BuildLayout, entry: dict, seen: _Seen) -> list[str]:
    if not entry:
        return ["the manifest has no rejects entry"]
    table, problems = _read_checked(storage.join(layout.output, entry["file"]), entry, reject_arrow_schema())
    if table is not None:
        for source, source_id in zip(table.column("source").to_pylist(), table.column("source_id").to_pylist()):
            seen.add(source, source_id)
            seen.rejects[source] += 1
    return problems


def _check_accounting(manifest: dict, seen: _Seen) -> list[str]:
    """Per source: inputs = distinct inputs in rows and rejects; rows and rejects as counted in the files."""
    sources = manifest.get("sources", {})
    problems = [f"source {s!r} has rows or rejects but is not in the manifest" for s in sorted(seen.inputs)
                if s not in sources]
    for name, counts in sorted(sources.items()):
        found = len(seen.inputs.get(name, ()))
        if counts.get("inputs") != found:
            problems.append(f"source {name!r}: {counts.get('inputs')} inputs in the manifest, "
                            f"{found} found in rows and rejects")
        for key, counter in (("rows", seen.rows), ("rejects", seen.rejects)):
            if counts.get(key) != counter[name]:
                problems.append(f"source {name!r}: {counts.get(key)} {key} in the manifest, "
                                f"{counter[name]} in the files")
    totals = manifest.get("totals", {})
    expected = {"inputs": sum(c.get("inputs", 0) for c in sources.values()),
                "rows": sum(seen.rows.values()), "rejects": sum(seen.rejects.values())}
    problems += [f"totals.{k}: {totals.get(k)} in the manifest, {v} counted" for k, v in expected.items()
                 if totals.get(k) != v]
    return problems
